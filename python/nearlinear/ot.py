"""Entropic optimal transport: log-stabilised Sinkhorn, Sinkhorn-Newton-Sparse, point clouds.

:func:`sinkhorn` and :func:`sinkhorn2` follow POT's ``ot.sinkhorn``/``ot.sinkhorn2`` (argument
order, ``numItermax``/``stopThr`` aliases, the ``log`` dictionary), so POT code runs unchanged
with ``import nearlinear.ot as ot_backend``. Differences from POT:

* the default ``method`` is ``"sinkhorn_log"`` (stable and as fast as the classic scaling);
* ``tol`` (``stopThr``) bounds the L1 marginal violation ``|P 1 - a|_1 + |P^T 1 - b|_1``,
  checked every iteration (POT checks the L2 norm of the column violation every 10);
* ``b`` must be 1-D (no batch of target histograms);
* weights must be positive (drop zero-weight points) and have equal totals.

The plan is ``P_ij = exp((f_i + g_j - M_ij) / reg)`` with the potentials ``f, g`` of the
result; POT's ``log_u = f / reg`` and ``log_v = g / reg``.

Precision: the computation runs in the dtype of ``M`` (float32 or float64) for the kernel, with
potentials, scalings and every sum in float64. Method ``"sns"`` keeps its plan in float64.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ._native import core as _core
from ._validation import as_float_array, check_choice, check_flag, check_int, check_real
from ._warnings import ConvergenceWarning

__all__ = [
    "ConvergenceWarning",
    "SinkhornPointsResult",
    "UnderflowWarning",
    "sinkhorn",
    "sinkhorn2",
    "sinkhorn_points",
]

METHODS = ("sinkhorn", "sinkhorn_log", "sns")
_MAX_PLAN_ENTRIES = 200_000_000


class UnderflowWarning(UserWarning):
    """The classic Sinkhorn kernel exp(-M/reg) or a scaling left the floating-point range."""


def _weights(w, size: int, name: str) -> np.ndarray:
    """POT's convention: None or an empty list means uniform weights summing to 1."""
    if w is None:
        return np.full(size, 1.0 / size)
    arr = as_float_array(w, name, ndim=1, dtype=np.float64, allow_empty=True)
    if arr.shape[0] == 0:
        return np.full(size, 1.0 / size)
    if arr.shape[0] != size:
        raise ValueError(f"`{name}` must have length {size}; got shape {arr.shape}")
    if (arr <= 0).any():
        raise ValueError(f"`{name}` must hold positive weights (drop zero-weight points)")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _check_mass(a: np.ndarray, b: np.ndarray) -> None:
    sa, sb = float(a.sum()), float(b.sum())
    if abs(sa - sb) > 1e-6 * max(sa, sb):
        raise ValueError(f"`a` and `b` must have the same total mass; got sum(a) = {sa!r}, "
                         f"sum(b) = {sb!r}")


def _alias(value, alias, name: str, alias_name: str, default):
    if alias is not None:
        if value is not None:
            raise TypeError(f"give `{name}` or its alias `{alias_name}`, not both")
        return alias
    return default if value is None else value


def _solve(a, b, M, reg, method, max_iter, tol, warmstart, eps_scaling, keep_ratio,
           warmup_iter, cg_max_iter, overrelax):
    M = as_float_array(M, "M", ndim=2)
    n, m = M.shape
    if (M < 0).any():
        raise ValueError("`M` must hold non-negative costs")
    a = _weights(a, n, "a")
    b = _weights(b, m, "b")
    _check_mass(a, b)
    reg = check_real(reg, "reg", minimum=0.0, strict_minimum=True)
    method = check_choice(method, "method", METHODS)
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=2**31 - 1)
    tol = check_real(tol, "tol", minimum=0.0)
    eps_scaling = 0.0 if eps_scaling is None else check_real(eps_scaling, "eps_scaling", minimum=1.0,
                                                             strict_minimum=True)
    keep_ratio = check_real(keep_ratio, "keep_ratio", minimum=0.0, maximum=0.5)
    warmup_iter = check_int(warmup_iter, "warmup_iter", minimum=0, maximum=2**31 - 1)
    cg_max_iter = check_int(cg_max_iter, "cg_max_iter", minimum=1, maximum=2**31 - 1)
    empty = np.empty(0)
    init_f, init_g = empty, empty
    if warmstart is not None:
        if isinstance(warmstart, (str, bytes)) or not hasattr(warmstart, "__len__"):
            raise TypeError(f"`warmstart` must be a pair (log_u, log_v) or None; got "
                            f"{type(warmstart).__name__}")
        if len(warmstart) != 2:
            raise ValueError("`warmstart` must be a pair (log_u, log_v)")
        init_f = as_float_array(warmstart[0], "warmstart[0]", ndim=1, dtype=np.float64)
        init_g = as_float_array(warmstart[1], "warmstart[1]", ndim=1, dtype=np.float64)
        if init_f.shape[0] != n or init_g.shape[0] != m:
            raise ValueError(f"`warmstart` must hold arrays of lengths ({n}, {m}); got "
                             f"({init_f.shape[0]}, {init_g.shape[0]})")
        if method != "sinkhorn":  # potentials f = reg log u
            init_f, init_g = reg * init_f, reg * init_g
    call = dict(max_iter=max_iter, tol=tol, absorb_log_threshold=30.0,
                eps_scaling_factor=eps_scaling, warmup_iter=warmup_iter, warmup_tol=1e-2,
                keep_ratio=keep_ratio, cg_max_iter=cg_max_iter, fallback_iter=10,
                overrelax=overrelax)
    out = _core.sinkhorn(M, a, b, reg, method, init_f, init_g, **call)
    if out["underflow"]:
        warnings.warn(
            f"method='sinkhorn' underflowed: exp(-M/reg) or a scaling left the {M.dtype} range "
            f"at reg={reg:g}; solved with method='sinkhorn_log' instead", UnderflowWarning,
            stacklevel=4)
        if warmstart is not None:
            init_f, init_g = reg * init_f, reg * init_g
        out = _core.sinkhorn(M, a, b, reg, "sinkhorn_log", init_f, init_g, **call)
        method = "sinkhorn_log"
    return M, a, b, reg, method, out


def _log_dict(method: str, reg: float, out: dict) -> dict:
    log = {
        "err": list(out["err_history"]),
        "niter": out["n_iter"],
        "converged": bool(out["converged"]),
        "method": method,
        "n_sinkhorn": out["n_sinkhorn"],
        "n_newton": out["n_newton"],
        "n_absorb": out["n_absorb"],
        "f": out["f"],
        "g": out["g"],
    }
    if method == "sinkhorn":
        log["u"] = np.exp(out["f"] / reg)
        log["v"] = np.exp(out["g"] / reg)
    else:
        log["log_u"] = out["f"] / reg
        log["log_v"] = out["g"] / reg
    return log


def _warn_unconverged(out: dict, method: str, tol: float, warn: bool) -> None:
    if warn and not out["converged"]:
        warnings.warn(
            f"{method} did not converge in {out['n_iter']} iterations: marginal error "
            f"{out['err']:.3g} > tol {tol:.3g}; increase max_iter (numItermax) or reg",
            ConvergenceWarning, stacklevel=3)


def sinkhorn(a, b, M, reg, method="sinkhorn_log", max_iter=None, tol=None, verbose=False,
             log=False, warn=True, warmstart=None, *, numItermax=None, stopThr=None,
             eps_scaling=None, overrelax=True, keep_ratio=1e-7, warmup_iter=50, cg_max_iter=500):
    """Entropic optimal transport plan (POT-compatible ``ot.sinkhorn``).

    Solves ``min_P <P, M> + reg * sum P_ij (log P_ij - 1)`` subject to ``P 1 = a`` and
    ``P^T 1 = b``.

    Parameters
    ----------
    a : array of shape (n,) or None
        Positive source weights; None or ``[]`` means uniform ``1/n``.
    b : array of shape (m,) or None
        Positive target weights with ``sum(b) == sum(a)``; None or ``[]``: uniform.
    M : array of shape (n, m), float32 or float64
        Non-negative finite cost matrix; its dtype is the compute dtype of the kernel.
    reg : float
        Entropic regularisation, > 0.
    method : {"sinkhorn_log", "sinkhorn", "sns"}
        ``"sinkhorn_log"``: log-stabilised scaling with absorption (Schmitzer 2019), stable
        for reg far below the cost scale. ``"sinkhorn"``: classic scaling on exp(-M/reg);
        on underflow it warns (:class:`UnderflowWarning`) and solves with
        ``"sinkhorn_log"``. ``"sns"``: Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024),
        fastest at small reg.
    max_iter : int, default 1000 (alias ``numItermax``)
        Iterations (Sinkhorn iterations plus Newton steps, epsilon-scaling stages included).
    tol : float, default 1e-9 (alias ``stopThr``)
        Stop when ``|P 1 - a|_1 + |P^T 1 - b|_1 <= tol``.
    verbose : bool
        Accepted for POT compatibility; ignored.
    log : bool
        Also return the log dictionary.
    warn : bool
        Emit :class:`ConvergenceWarning` when ``tol`` is not reached.
    warmstart : pair of arrays (log_u (n,), log_v (m,)), optional
        Initial dual potentials divided by reg, as in POT.
    eps_scaling : float > 1, optional
        ``"sinkhorn_log"`` only: solve loosely (at most 20 iterations each) at
        reg_k = max(M) / eps_scaling^k > reg * eps_scaling first. These iterations count in
        ``max_iter`` (and ``niter``, not in ``err``); the stages stop early when only one
        iteration is left, which goes to ``reg``.
    overrelax : bool, default True
        ``"sinkhorn_log"`` and ``"sns"``: over-relaxed scaling ``u <- u^(1-w) (a/Kv)^w``
        (Thibault et al. 2021) with ``w`` set from the observed convergence rate and a
        safeguard back to ``w = 1``; same fixed point, several times fewer iterations at
        small reg. ``"sinkhorn"`` is never over-relaxed.
    keep_ratio, warmup_iter, cg_max_iter
        ``"sns"``: Hessian entries kept (``P_ij >= keep_ratio * max_j P_ij``), Sinkhorn
        warm-up iterations, conjugate-gradient iterations per Newton step.

    Returns
    -------
    plan : ndarray of shape (n, m), dtype of M (float64 for ``"sns"`` on float64 M)
    log : dict, only with ``log=True``
        ``err`` (marginal violation per iteration), ``niter``, ``converged``, ``method``
        (the method that produced the plan), ``n_sinkhorn``, ``n_newton``, ``n_absorb``,
        ``f``, ``g`` (potentials, ``P_ij = exp((f_i + g_j - M_ij)/reg)``) and ``u``, ``v``
        (``"sinkhorn"``) or ``log_u``, ``log_v`` (other methods).

    Raises
    ------
    ValueError
        Bad shapes, negative or non-finite costs or weights, unequal masses, reg <= 0.

    Notes
    -----
    A weight ``a_i`` below about ``m * 2.6e-261`` (``m * 1.2e-37`` for float32 ``M`` with
    ``"sinkhorn_log"``; likewise ``b_j`` against ``n``) is below what the stabilised kernel
    stores: its row (column) of the plan is zero and its mass counts in the marginal error,
    which it does not affect at any practical ``tol``.
    """
    del verbose
    log, warn = check_flag(log, "log"), check_flag(warn, "warn")
    overrelax = check_flag(overrelax, "overrelax")
    max_iter = _alias(max_iter, numItermax, "max_iter", "numItermax", 1000)
    tol = _alias(tol, stopThr, "tol", "stopThr", 1e-9)
    M, a, b, reg, used, out = _solve(a, b, M, reg, method, max_iter, tol, warmstart,
                                     eps_scaling, keep_ratio, warmup_iter, cg_max_iter, overrelax)
    _warn_unconverged(out, used, tol, warn)
    plan = out["plan"].astype(M.dtype, copy=False)
    if log:
        return plan, _log_dict(used, reg, out)
    return plan


def sinkhorn2(a, b, M, reg, method="sinkhorn_log", max_iter=None, tol=None, verbose=False,
              log=False, warn=True, warmstart=None, **kwargs):
    """The transport cost ``<P, M>`` of :func:`sinkhorn`'s plan (as POT's ``ot.sinkhorn2``).

    Same arguments as :func:`sinkhorn`; returns a float, or ``(cost, log)`` with
    ``log=True`` (the log also holds ``plan``).
    """
    log = check_flag(log, "log")
    plan, info = sinkhorn(a, b, M, reg, method=method, max_iter=max_iter, tol=tol,
                          verbose=verbose, log=True, warn=warn, warmstart=warmstart, **kwargs)
    cost = float(np.einsum("ij,ij->", plan, np.asarray(M), dtype=np.float64))
    if log:
        info["plan"] = plan
        return cost, info
    return cost


@dataclasses.dataclass(frozen=True)
class SinkhornPointsResult:
    """Entropic OT between two point clouds.

    Attributes
    ----------
    f : ndarray of shape (n,), float64
        Potential of ``x``; the plan is ``P_ij = exp((f_i + g_j - |x_i - y_j|^p) / reg)``.
    g : ndarray of shape (m,), float64
        Potential of ``y``.
    cost : float
        Transport cost ``<P, C>``.
    n_iter : int
        Iterations at the final ``reg``.
    n_eps_steps : int
        Epsilon-scaling stages (one iteration each) before them.
    err : float
        Final L1 marginal violation.
    converged : bool
        ``err <= tol``.
    err_history : list of float
        ``err`` after each iteration at the final ``reg``.
    plan : ndarray of shape (n, m) or None
        Only with ``plan=True``.
    """

    f: np.ndarray
    g: np.ndarray
    cost: float
    n_iter: int
    n_eps_steps: int
    err: float
    converged: bool
    err_history: list
    plan: np.ndarray | None = None


def sinkhorn_points(x, y, reg, *, a=None, b=None, p=2, max_iter=1000, tol=1e-9,
                    eps_scaling=0.5, plan=False, warn=True) -> SinkhornPointsResult:
    """Entropic OT between point clouds with the cost ``|x_i - y_j|^p`` computed on the fly.

    Never forms the n-by-m cost: every half iteration is an exact log-sum-exp over tiles of
    the cost (parallel over rows, vectorised in the dtype of ``x``), so memory is O(n + m)
    and n = m = 100,000 fits a laptop. Epsilon scaling starts at the bounding-box
    diameter^p and shrinks by ``eps_scaling`` per stage down to ``reg``. The costs are
    formed in the dtype of ``x``: the bounding-box diameter ``D`` of ``x`` and ``y`` must
    have ``D**2`` and ``D**p`` below half the largest number of that dtype (about 1.7e38 for
    float32, 9e307 for float64), or a ValueError asks to rescale the points; and ``reg`` must
    be at least the rounding of the largest cost, ``u D**p`` (``u`` = 6e-8 for float32,
    1.1e-16 for float64), below which the potentials and plan would be rounding noise.

    Parameters
    ----------
    x : array of shape (n, d), float32 or float64
    y : array of shape (m, d), same dtype as x
    reg : float
        Entropic regularisation in the units of the cost, > 0.
    a, b : arrays of shape (n,), (m,), optional
        Positive weights with equal totals; uniform ``1/n``, ``1/m`` when omitted.
    p : float, default 2
        Cost exponent (p = 2: squared Euclidean; p = 1: Euclidean).
    max_iter : int
        Iterations at the final reg.
    tol : float
        Stop when the L1 marginal violation is <= tol. In float32 the reachable accuracy
        is about 1e-5 relative (the exponents carry float32 rounding).
    eps_scaling : float in (0, 1) or 0
        Ratio between successive regularisations; 0 disables epsilon scaling. Each stage is
        one iteration; a ratio so close to 1 that the stages, ``log(D**p / reg) /
        log(1 / eps_scaling)``, would outnumber ``max_iter`` is refused.
    plan : bool
        Also return the n-by-m plan (refused above 2e8 entries).
    warn : bool
        Emit :class:`ConvergenceWarning` when ``tol`` is not reached.

    Returns
    -------
    SinkhornPointsResult

    Raises
    ------
    ValueError
        Bad shapes or weights, reg <= 0, costs that overflow the dtype of ``x``, or reg
        below their rounding.
    """
    x = as_float_array(x, "x", ndim=2)
    y = as_float_array(y, "y", ndim=2, dtype=x.dtype)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"`x` and `y` must have the same number of columns; got {x.shape[1]} "
                         f"and {y.shape[1]}")
    n, m = x.shape[0], y.shape[0]
    a = _weights(a, n, "a")
    b = _weights(b, m, "b")
    _check_mass(a, b)
    reg = check_real(reg, "reg", minimum=0.0, strict_minimum=True)
    p = check_real(p, "p", minimum=0.0, strict_minimum=True)
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=2**31 - 1)
    tol = check_real(tol, "tol", minimum=0.0)
    eps_scaling = check_real(eps_scaling, "eps_scaling", minimum=0.0, maximum=1.0)
    if eps_scaling == 1.0:
        raise ValueError("`eps_scaling` must be in (0, 1), or 0 to disable it; got 1.0")
    plan, warn = check_flag(plan, "plan"), check_flag(warn, "warn")
    if plan and n * m > _MAX_PLAN_ENTRIES:
        raise ValueError(f"plan=True would allocate an {n} x {m} matrix ({n * m:.3g} entries > "
                         f"{_MAX_PLAN_ENTRIES:.0e}); use the potentials f, g instead")
    out = _core.sinkhorn_points(x, y, a, b, reg, p, max_iter, tol, eps_scaling, plan)
    _warn_unconverged(out, "sinkhorn_points", tol, warn)
    return SinkhornPointsResult(
        f=out["f"], g=out["g"], cost=float(out["cost"]), n_iter=out["n_iter"],
        n_eps_steps=out["n_eps_steps"], err=float(out["err"]), converged=bool(out["converged"]),
        err_history=list(out["err_history"]), plan=out.get("plan"))
