"""Low-rank matrix completion by (robust) alternating minimisation.

A partially observed ``m x n`` matrix, given as COO triplets ``(rows, cols, values)`` or as a
scipy.sparse matrix, is fitted by the model::

    Y[i, j] ~ mean + row_bias[i] + col_bias[j] + U[i] @ V[j]

(``mean`` and the biases only with ``biases=True``). Each sweep solves one ridge
least-squares problem per row of ``U``, then per row of ``V``, with the ridge scaled by the
row's number of observations (ALS-WR). ``method="als"`` solves them exactly (normal equations
and Cholesky, ``O(|Omega| k^2)`` per sweep); ``method="robust-am"`` solves them approximately
with a few warm-started preconditioned conjugate-gradient steps (Gu, Song, Yin, Zhang, ICLR
2024), ``O(|Omega| k)`` per sweep, and converges in about as many sweeps. The start is the
truncated SVD of the rescaled observed matrix with incoherence clipping (Jain, Netrapalli,
Sanghavi 2013).

For explicit ratings (the defaults ``biases=True``, ``reg=None``) the fit goes on to average
over the posterior of the Bayesian version of the same model (Salakhutdinov and Mnih 2008,
BPMF): Gibbs sweeps draw every row from its Gaussian conditional (the ALS normal equations
with a learned Normal-Wishart prior in place of the ridge, plus noise), and the predictions
of the sweeps are averaged. See ``samples`` in :func:`complete`.

The fit is scale-equivariant: the core works on the values divided by their spread (their
standard deviation with biases, their root-mean-square without), and the model is mapped
back, so ``complete(rows, cols, s * values)`` predicts ``s`` times what
``complete(rows, cols, values)`` predicts, up to rounding, for any ``s > 0``. The defaults
that carry a scale (the ridge ``reg``, and the priors of the Bayesian model) are therefore
relative to the spread of the data; a given ``reg`` is in the units of the values.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

from ._native import core as _core
from ._progress import progress_bar
from ._validation import (as_float_array, check_choice, check_finite, check_flag, check_int,
                          check_real, check_sparse_structure, physical_memory, resolve_seed)
from ._warnings import ConvergenceWarning

try:
    from sklearn.exceptions import NotFittedError
except ImportError:  # scikit-learn is optional: the same contract without it
    class NotFittedError(ValueError, AttributeError):
        """An estimator was used before ``fit`` (scikit-learn's ``NotFittedError``)."""

__all__ = ["CompletionModel", "MatrixCompletion", "NotFittedError", "complete",
           "complete_sparse"]

METHODS = ("robust-am", "als")
#: Ridge per observation used when ``reg=None``, per unit of the values' spread (the standard
#: deviation with biases): 0.15 on MovieLens-100K, whose ratings' standard deviation is 1.12
#: (u1) and 1.13 (ua), where it was chosen on u1 and checked on ua (see the README).
DEFAULT_REG = 0.134
DEFAULT_BIAS_REG = 0.05
#: Posterior samples averaged when ``samples=None`` with the ratings defaults (``biases=True``,
#: ``reg=None``, ``bias_reg=None``): chosen on MovieLens-100K, checked on both official splits
#: over seeds 0-5. The test RMSE falls slowly with more samples (u1 / ua means 0.9118 /
#: 0.9202 with 8, 0.9104 / 0.9187 with 10, 0.9096 / 0.9179 with 12, 0.9086 / 0.9166 with
#: 16) while the fit time grows linearly: 12 keeps every seed within 0.001-0.0015 of 16 at
#: three quarters of the Gibbs sweeps.
DEFAULT_SAMPLES = 12
#: With ``samples > 0``: point-estimate sweeps of ``method`` before sampling, and Gibbs sweeps
#: discarded before averaging (burn-in). Chosen on MovieLens-100K u1 over 4 seeds (burn-ins
#: of 1-3 sweeps, or 4 warm-up sweeps, changed the test RMSE by under 0.0005; fewer warm-up
#: sweeps raised it by 0.002-0.01), confirmed on ua: the chain starts at the point estimate,
#: already near the posterior's bulk.
WARMUP_SWEEPS = 2
BURN_IN = 0
DEFAULT_MAX_ITER = 100
DEFAULT_TOL = 1e-3
#: Early stopping on a validation set: stop after this many sweeps without improvement.
PATIENCE = 2
_MAX_DIM = 2**31 - 1
#: Upper bounds of ``max_inner`` and ``samples``: far beyond any use (CG on a ``k + 1``
#: dimensional row system, Monte Carlo error falling as ``1/sqrt(samples)``), and within the
#: core's int.
_MAX_INNER = 100_000
_MAX_SAMPLES = 100_000


@dataclasses.dataclass(frozen=True)
class CompletionModel:
    """A fitted rank-k completion model.

    Attributes
    ----------
    U : ndarray of shape (m, rank), float64
        Row factors.
    V : ndarray of shape (n, rank), float64
        Column factors.
    row_bias : ndarray of shape (m,), float64
        Row (user) biases; zeros when fitted with ``biases=False``.
    col_bias : ndarray of shape (n,), float64
        Column (item) biases; zeros when fitted with ``biases=False``.
    mean : float
        Global mean of the training values; 0 when fitted with ``biases=False``.
    method : str
        ``"robust-am"`` or ``"als"``.
    history : dict of ndarray
        Per sweep: ``"train_rmse"``, ``"validation_rmse"`` (NaN without validation),
        ``"objective"`` (the regularised loss per observation that every half-step
        decreases, in squared units of the values: ``inf`` where that overflows, for values
        beyond about 1e154) and ``"time"`` (seconds since the start of the fit at the end of
        the sweep, excluding time spent in the callback).
    n_iter : int
        Sweeps run.
    converged : bool
        True when the stopping rule (``tol``, early stopping or the callback) ended the fit
        before ``max_iter``; always True for posterior averaging (a fixed number of sweeps).
    n_samples : int
        Posterior samples averaged (0 for a point estimate). The averaged predictor
        ``mean + b_i + c_j + (1/S) sum_s u_i^s . v_j^s`` is stored exactly as one product:
        ``U`` and ``V`` then hold ``2 * n_samples * k`` columns (each sample's two
        Rao-Blackwellised factor pairs, scaled by ``1/sqrt(2 S)``), and the biases are the
        averaged biases.
    value_range : (float, float) or None
        With posterior averaging, the (min, max) of the training values: predictions are
        clipped to it (ratings are bounded, and so is their posterior mean). None otherwise.
    """

    U: np.ndarray
    V: np.ndarray
    row_bias: np.ndarray
    col_bias: np.ndarray
    mean: float
    method: str
    history: dict
    n_iter: int
    converged: bool
    n_samples: int = 0
    value_range: Optional[tuple] = None

    @property
    def shape(self) -> tuple:
        """(m, n): the shape of the completed matrix."""
        return (self.U.shape[0], self.V.shape[0])

    @property
    def rank(self) -> int:
        """k: the rank of the model (of each posterior sample)."""
        return self.U.shape[1] // (2 * self.n_samples) if self.n_samples else self.U.shape[1]

    def predict(self, rows, cols) -> np.ndarray:
        """Predicted entries at ``(rows[t], cols[t])``.

        Rows or columns without training observations (cold start) get zero factors, so they
        predict ``mean`` plus the known bias of the other index.

        Parameters
        ----------
        rows, cols : array_like of int, shape (q,)
            0-based indices within :attr:`shape`.

        Returns
        -------
        ndarray of shape (q,), float64
        """
        rows, cols = _indices(rows, cols, "rows", "cols", allow_empty=True)
        _check_within(rows, cols, self.shape, "rows", "cols")
        pred = np.asarray(_core.completion_predict(self.U, self.V, self.row_bias, self.col_bias,
                                                   float(self.mean), rows, cols))
        return pred if self.value_range is None else np.clip(pred, *self.value_range)

    def rmse(self, rows, cols, values) -> float:
        """Root-mean-square error of :meth:`predict` against ``values``."""
        values = as_float_array(values, "values", ndim=1, dtype=np.float64)
        pred = self.predict(rows, cols)
        if pred.shape != values.shape:
            raise ValueError(f"`values` must have shape {pred.shape}; got {values.shape}")
        return _rms(pred - values)

    def to_dense(self) -> np.ndarray:
        """The full completed ``m x n`` matrix (``O(m n)`` memory)."""
        dense = self.mean + self.row_bias[:, None] + self.col_bias[None, :] + self.U @ self.V.T
        return dense if self.value_range is None else np.clip(dense, *self.value_range)


def _indices(rows, cols, rname, cname, *, allow_empty=False):
    out = []
    for x, name in ((rows, rname), (cols, cname)):
        arr = np.asarray(x)
        if arr.size == 0 and arr.dtype.kind not in "iu":
            arr = arr.astype(np.int64)  # an empty sequence, e.g. [], is float64 to NumPy
        if arr.dtype.kind not in "iu":
            raise TypeError(f"`{name}` must be an array of integers; got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"`{name}` must be 1-D; got shape {arr.shape}")
        if not allow_empty and arr.size == 0:
            raise ValueError(f"`{name}` must not be empty")
        if arr.size and arr.min() < 0:
            raise ValueError(f"`{name}` must be non-negative; found {arr.min()}")
        if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"`{name}` has an index beyond the int64 range")
        out.append(np.ascontiguousarray(arr, dtype=np.int64))
    if out[0].shape != out[1].shape:
        raise ValueError(f"`{rname}` and `{cname}` must have the same length; got "
                         f"{out[0].size} and {out[1].size}")
    return out


def _check_within(rows, cols, shape, rname, cname):
    for arr, size, name, axis in ((rows, shape[0], rname, 0), (cols, shape[1], cname, 1)):
        if arr.size and arr.max() >= size:
            raise ValueError(f"`{name}` has index {arr.max()} >= shape[{axis}] = {size}")


def _triplets(rows, cols, values, rname="rows", cname="cols", vname="values"):
    rows, cols = _indices(rows, cols, rname, cname)
    values = as_float_array(values, vname, ndim=1, dtype=np.float64)
    if values.shape != rows.shape:
        raise ValueError(f"`{vname}` must have the same length as `{rname}` ({rows.size}); "
                         f"got {values.size}")
    return rows, cols, values


def _shape(shape, rows, cols):
    if shape is None:
        shape = (int(rows.max()) + 1, int(cols.max()) + 1)
    else:
        if not isinstance(shape, (tuple, list)) or len(shape) != 2:
            raise ValueError(f"`shape` must be a pair (m, n); got {shape!r}")
        shape = (check_int(shape[0], "shape[0]", minimum=1, maximum=_MAX_DIM),
                 check_int(shape[1], "shape[1]", minimum=1, maximum=_MAX_DIM))
        _check_within(rows, cols, shape, "rows", "cols")
    if max(shape) > _MAX_DIM:
        raise ValueError(f"`shape` must be below 2**31 in each dimension; got {shape}")
    return shape


def _rms(x) -> float:
    """sqrt(mean(x**2)) with no overflow or underflow of the squares; NaN for an empty x."""
    if x.size == 0:
        return float("nan")
    peak = float(np.max(np.abs(x)))
    if peak == 0.0 or not np.isfinite(peak):
        return peak
    return peak * float(np.sqrt(np.mean((x / peak) ** 2)))


def _value_scale(values, biases) -> float:
    """The spread the model has to fit: the standard deviation of ``values`` with biases
    (the mean is fitted exactly), their root-mean-square without; ``max |values|`` for
    constant values, 1 for all zeros. Scales with the values: ``_value_scale(s v) = s
    _value_scale(v)`` up to rounding. Computed on ``values / max |values|``, so that no
    square over- or underflows."""
    peak = float(np.max(np.abs(values)))
    if peak == 0.0:
        return 1.0
    unit = values / peak
    if biases:
        unit = unit - unit.mean()
    spread = peak * float(np.sqrt(np.mean(unit * unit)))
    return spread if spread > 0.0 else peak


def _check_memory(shape, rank, samples):
    """ValueError naming the argument when the factors (about four copies of the
    ``(m + n) x (rank + 10)`` bases of the start and of ``[U, b]``, ``[V, c]``) or the
    stacked posterior samples (``(m + n) x 2 samples rank``) cannot fit in memory."""
    available = physical_memory()
    if available is None:
        return
    gib = 2.0**30
    factors = 8 * 4 * (shape[0] + shape[1]) * (rank + 10)
    if factors > available:
        raise ValueError(f"`rank` = {rank} with shape {shape} needs about {factors / gib:.3g} "
                         f"GiB for the factors, more than this machine's "
                         f"{available / gib:.3g} GiB of memory")
    stacked = 8 * (shape[0] + shape[1]) * 2 * samples * rank
    if factors + stacked > available:
        raise ValueError(f"`samples` = {samples} needs (m + n) * 2 * samples * rank * 8 bytes "
                         f"= {stacked / gib:.3g} GiB for the averaged factors (shape {shape}, "
                         f"rank {rank}), more than this machine's {available / gib:.3g} GiB "
                         f"of memory; use fewer samples")


def _validation_set(validation, shape):
    if validation is None:
        return None
    if not isinstance(validation, (tuple, list)) or len(validation) != 3:
        raise ValueError("`validation` must be a triple (rows, cols, values)")
    rows, cols, values = _triplets(*validation, rname="validation rows",
                                   cname="validation cols", vname="validation values")
    _check_within(rows, cols, shape, "validation rows", "validation cols")
    return rows, cols, values


def complete(rows, cols, values, shape=None, *, rank: int = 10, method: str = "robust-am",
             reg: Optional[float] = None, bias_reg: Optional[float] = None, biases: bool = True, max_iter: Optional[int] = None,
             tol: Optional[float] = None, seed=None, validation=None,
             callback: Optional[Callable] = None, show_progress: bool = False,
             inner_tol: float = 0.3, max_inner: int = 10,
             samples: Optional[int] = None) -> CompletionModel:
    """Complete a partially observed matrix with a rank-``rank`` model.

    Parameters
    ----------
    rows, cols : array_like of int, shape (N,)
        0-based row and column index of each observation. Each (row, col) pair at most once.
    values : array_like of float, shape (N,)
        The observed values (finite, of any scale: the fit works on them divided by their
        spread, so scaling ``values`` by ``s`` scales the model's predictions by ``s``).
    shape : (int, int), optional
        ``(m, n)``; default ``(rows.max() + 1, cols.max() + 1)``. Each below ``2**31``.
    rank : int, default 10
        ``k``, with ``1 <= k <= min(m, n)``.
    method : {"robust-am", "als"}
        ``"robust-am"``: approximate row solves by preconditioned CG, ``O(|Omega| k)`` per
        sweep. ``"als"``: exact row solves by Cholesky, ``O(|Omega| k^2)`` per sweep.
    reg : float, optional
        Ridge per observation: row ``i`` is penalised by ``reg * n_i * ||u_i||^2`` (ALS-WR;
        the biases use ``bias_reg``). ``reg`` has the units of the values (``u_i . v_j`` is
        a value, so ``||u_i||^2`` is one): values scaled by ``s`` with ``reg`` scaled by
        ``s`` give the model scaled by ``s``. Default ``0.134 * spread``, where the spread is
        the values' standard deviation with biases and their root-mean-square without
        (0.15 on MovieLens-100K ratings, where it was tuned); use ``reg=0`` with
        ``biases=False`` to recover an exactly low-rank matrix.
    bias_reg : float, optional
        Ridge per observation on the biases (``bias_reg * n_i * b_i^2``), free of units (the
        same for any scale of the values). Default 0.05.
    biases : bool, default True
        Fit a global mean and row/column biases (updated inside the alternating steps as an
        extra factor column).
    max_iter : int, optional
        Most sweeps; default 100.
    tol : float, optional
        Stop when the objective (squared error plus ridge penalty, per observation) fell by
        less than ``tol`` (relative) over a sweep, or when the training RMSE is below ``tol``
        times the root-mean-square of ``values``. Default 1e-3.
    seed : int, numpy Generator or None
        Seeds the randomized SVD start. The result is deterministic for a seed and thread
        count.
    validation : (rows, cols, values), optional
        Held-out observations: their RMSE is recorded every sweep, and the fit stops after
        2 sweeps without improvement, returning the best model.
    callback : callable, optional
        ``callback(sweep, model)`` after each sweep (``sweep`` counts from 1, ``model`` is a
        :class:`CompletionModel`); returning True stops the fit.
    show_progress : bool, default False
        Show a progress bar of the sweeps.
    inner_tol : float, default 0.3
        ``"robust-am"``: each row solve stops when its normal-equation residual fell by this
        factor (from the warm start), in (0, 1).
    max_inner : int, default 10
        ``"robust-am"``: most CG iterations per row solve, at most 100000.
    samples : int, optional
        Posterior samples to average (0: the point estimate of ``method``). Default 12 when
        the ratings defaults are in use (``biases=True`` and neither ``reg`` nor ``bias_reg``
        given), else 0; at most 100000. With ``samples > 0`` the fit runs 2 sweeps of
        ``method`` as a start, then ``samples`` Gibbs sweeps of Bayesian probabilistic matrix factorisation
        (Salakhutdinov and Mnih 2008: Gaussian noise with a Gamma-distributed precision,
        Normal-Wishart priors on the rows and on the columns, so no ridge to tune; the
        priors are those of the paper for the values divided by their spread), and
        averages their predictions (Rao-Blackwellised: each
        sweep contributes the conditional means of its rows and of its columns). The sweep
        count is fixed: ``max_iter`` and ``tol`` apply to the point estimate only, a
        ``validation`` set is scored (the running average) but does not stop the fit. On
        ratings this lowers the test error of the point estimate by about 0.015 RMSE
        (see the README); the cost is that of about 14 ALS sweeps.

    Returns
    -------
    CompletionModel

    Raises
    ------
    TypeError, ValueError
        For a bad argument (named in the message), duplicated ``(row, col)`` pairs, NaN or
        inf values, indices outside ``shape``, a rank outside ``[1, min(shape)]``, a ``rank``
        or ``samples`` whose factors would not fit in this machine's memory; raised before
        any fitting.

    Warns
    -----
    ConvergenceWarning
        When ``max_iter`` sweeps ran without meeting the stopping rule.
    """
    rows, cols, values = _triplets(rows, cols, values)
    shape = _shape(shape, rows, cols)
    rank = check_int(rank, "rank", minimum=1, maximum=min(shape))
    method = check_choice(method, "method", METHODS)
    reg_given, bias_given = reg, bias_reg
    if reg is not None:
        reg = check_real(reg, "reg", minimum=0.0)
    bias_reg = (DEFAULT_BIAS_REG if bias_reg is None
                else check_real(bias_reg, "bias_reg", minimum=0.0))
    biases = check_flag(biases, "biases")
    show_progress = check_flag(show_progress, "show_progress")
    max_iter = DEFAULT_MAX_ITER if max_iter is None else check_int(max_iter, "max_iter",
                                                                      minimum=1)
    tol = DEFAULT_TOL if tol is None else check_real(tol, "tol", minimum=0.0)
    inner_tol = check_real(inner_tol, "inner_tol", minimum=0.0, strict_minimum=True,
                           maximum=1.0)
    if inner_tol >= 1.0:
        raise ValueError(f"`inner_tol` must be < 1; got {inner_tol}")
    max_inner = check_int(max_inner, "max_inner", minimum=1, maximum=_MAX_INNER)
    if samples is None:
        samples = DEFAULT_SAMPLES if biases and reg_given is None and bias_given is None else 0
    else:
        samples = check_int(samples, "samples", minimum=0, maximum=_MAX_SAMPLES)
    _check_memory(shape, rank, samples)
    validation = _validation_set(validation, shape)
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable; got {type(callback).__name__}")
    seed = resolve_seed(seed)

    # The core fits the values divided by their spread: no square over- or underflows, and
    # every default that carries a scale (ridge, priors) is relative to the data.
    units = _Units(_value_scale(values, biases), (float(values.min()), float(values.max())))
    reg = DEFAULT_REG if reg is None else reg / units.scale
    if not np.isfinite(reg):
        raise ValueError(f"`reg` = {reg_given} is too large for values of spread "
                         f"{units.scale:.3g} (reg / spread overflows)")
    standardised = values / units.scale
    if validation is not None:
        validation = (validation[0], validation[1], validation[2] / units.scale)

    start = time.perf_counter()
    solver = _core.CompletionSolver(rows, cols, standardised, shape[0], shape[1], rank, method,
                                    reg, bias_reg, bool(biases), seed, inner_tol, max_inner)
    solver.initialize()
    if samples > 0:
        return _sample(solver, method, samples, units, validation, callback, show_progress,
                       start)
    return _iterate(solver, method, max_iter, tol, _rms(standardised), units, validation,
                    callback, show_progress, start)


@dataclasses.dataclass(frozen=True)
class _Units:
    """How a model fitted to ``values / scale`` maps back to the values: factors times
    ``sqrt(scale)``, biases, mean and errors times ``scale``; ``value_range`` is the (min,
    max) of the values, to which posterior averages are clipped."""

    scale: float
    value_range: tuple

    def model(self, fitted: CompletionModel, *, inplace: bool = False) -> CompletionModel:
        """``fitted`` in the units of the values; ``inplace`` scales its factors in place
        (for a model whose arrays nothing else holds)."""
        root = np.sqrt(self.scale)
        if inplace:
            U, V = fitted.U, fitted.V
            U *= root
            V *= root
        else:
            U, V = fitted.U * root, fitted.V * root
        history = dict(fitted.history)
        for key in ("train_rmse", "validation_rmse"):
            history[key] = history[key] * self.scale
        with np.errstate(over="ignore"):  # values beyond ~1e154: the objective is inf
            history["objective"] = history["objective"] * self.scale * self.scale
        return dataclasses.replace(
            fitted, U=U, V=V, row_bias=fitted.row_bias * self.scale,
            col_bias=fitted.col_bias * self.scale, mean=fitted.mean * self.scale,
            history=history,
            value_range=None if fitted.value_range is None else self.value_range)

    def internal_range(self):
        return (self.value_range[0] / self.scale, self.value_range[1] / self.scale)


def _snapshot(solver, method, history, n_iter, converged):
    return CompletionModel(U=np.asarray(solver.U), V=np.asarray(solver.V),
                           row_bias=np.asarray(solver.row_bias),
                           col_bias=np.asarray(solver.col_bias), mean=float(solver.mean),
                           method=method,
                           history={key: np.asarray(v, dtype=float) for key, v in history.items()},
                           n_iter=n_iter, converged=converged)


def _iterate(solver, method, max_iter, tol, scale, units, validation, callback, show_progress,
             start):
    """Sweeps of the point estimate until the stopping rule; `solver` and `validation` hold
    values divided by ``units.scale`` (as do `scale`, their root-mean-square, and the
    history), the model returned and the callback's models are in the values' units."""
    history = {"train_rmse": [], "validation_rmse": [], "objective": [], "time": []}
    excluded = 0.0  # seconds spent in the callback
    best, best_rmse, since_best = None, np.inf, 0
    converged = False
    n_iter = 0
    with progress_bar(total=max_iter, desc=f"complete ({method})",
                      disable=not show_progress) as bar:
        for sweep in range(1, max_iter + 1):
            solver.sweep()
            n_iter = sweep
            previous = history["objective"][-1] if history["objective"] else np.inf
            objective = solver.objective()
            train = solver.train_rmse()
            val = np.nan
            if validation is not None:
                val = _core.completion_predict(solver.U, solver.V, solver.row_bias,
                                               solver.col_bias, solver.mean,
                                               validation[0], validation[1])
                val = float(np.sqrt(np.mean((np.asarray(val) - validation[2]) ** 2)))
            history["train_rmse"].append(train)
            history["objective"].append(objective)
            history["validation_rmse"].append(val)
            history["time"].append(time.perf_counter() - start - excluded)
            bar.update(1)
            bar.set_postfix_str(f"train {train * units.scale:.4g}" +
                                ("" if validation is None
                                 else f", validation {val * units.scale:.4g}"))
            if validation is not None:
                if val < best_rmse:
                    best_rmse, since_best = val, 0
                    best = _snapshot(solver, method, history, n_iter, True)
                else:
                    since_best += 1
                    if since_best >= PATIENCE:
                        converged = True
                        break
            if callback is not None:
                t0 = time.perf_counter()
                stop = callback(sweep, units.model(_snapshot(solver, method, history, n_iter,
                                                             False)))
                excluded += time.perf_counter() - t0
                if stop:
                    converged = True
                    break
            if train <= tol * scale or previous - objective < tol * previous:
                converged = True
                break
    if not converged:
        warnings.warn(f"matrix completion stopped after max_iter={max_iter} sweeps before "
                      f"reaching tol; train RMSE "
                      f"{history['train_rmse'][-1] * units.scale:.3g}",
                      ConvergenceWarning, stacklevel=3)
    final = _snapshot(solver, method, history, n_iter, converged)
    if best is not None and since_best > 0:  # early stopping: the best sweep's factors
        final = dataclasses.replace(best, history=final.history, n_iter=n_iter,
                                    converged=converged)
    return units.model(final, inplace=True)


def _sample(solver, method, samples, units, validation, callback, show_progress, start):
    """Warm-up sweeps of `method`, then Gibbs sweeps whose predictions are averaged.

    Without per-sweep hooks (validation, callback, progress bar) the whole schedule runs in
    one call of the core; otherwise this loop, which gives the same model for a seed. As in
    `_iterate`, the work is on values divided by ``units.scale`` and the models handed out
    are in the values' units.
    """
    value_range = units.internal_range()
    if validation is None and callback is None and not show_progress:
        U, V, row_bias, col_bias, core_history = solver.sample_posterior(WARMUP_SWEEPS,
                                                                         BURN_IN, samples)
        offset = time.perf_counter() - start - core_history["seconds"][-1]
        total = WARMUP_SWEEPS + BURN_IN + samples
        history = {"train_rmse": core_history["train_rmse"],
                   "validation_rmse": np.full(total, np.nan),
                   "objective": core_history["objective"],
                   "time": core_history["seconds"] + offset}
        return units.model(CompletionModel(U=U, V=V, row_bias=row_bias, col_bias=col_bias,
                                           mean=float(solver.mean), method=method,
                                           history=history, n_iter=total, converged=True,
                                           n_samples=samples, value_range=value_range),
                           inplace=True)
    history = {"train_rmse": [], "validation_rmse": [], "objective": [], "time": []}
    excluded = 0.0  # seconds spent in the callback
    k = solver.U.shape[1]
    m, n = solver.U.shape[0], solver.V.shape[0]
    # Each sample's two Rao-Blackwellised factor pairs go straight into their columns of the
    # stacked factors, pre-scaled by 1/sqrt(2 samples): no stacking copy at the end.
    stack_u, stack_v = np.empty((m, 2 * samples * k)), np.empty((n, 2 * samples * k))
    scale = 1.0 / np.sqrt(2 * samples)
    row_bias, col_bias = np.zeros(m), np.zeros(n)
    biased = False  # known after the first Gibbs sweep: the means then hold a bias column
    total = WARMUP_SWEEPS + BURN_IN + samples
    model, averaged = None, 0
    with progress_bar(total=total, desc=f"complete ({method} + posterior samples)",
                      disable=not show_progress) as bar:
        for sweep in range(1, total + 1):
            gibbs = sweep > WARMUP_SWEEPS
            if gibbs:
                solver.gibbs_sweep(sweep - WARMUP_SWEEPS - 1)
                biased = solver.row_means.shape[1] > k
            else:
                solver.sweep()
            averaged = sweep - WARMUP_SWEEPS - BURN_IN  # samples averaged so far
            if averaged > 0:
                # Rao-Blackwellised sample: E[U | V_prev] against V_prev, U against E[V | U].
                row_means, prev = solver.row_means, solver.previous_columns
                col_means, U = solver.column_means, solver.U
                c = 2 * (averaged - 1) * k
                np.multiply(row_means[:, :k], scale, out=stack_u[:, c:c + k])
                np.multiply(U, scale, out=stack_u[:, c + k:c + 2 * k])
                np.multiply(prev[:, :k], scale, out=stack_v[:, c:c + k])
                np.multiply(col_means[:, :k], scale, out=stack_v[:, c + k:c + 2 * k])
                if biased:
                    row_bias += 0.5 * (row_means[:, k] + solver.row_bias)
                    col_bias += 0.5 * (prev[:, k] + col_means[:, k])
                model = None  # the averaged model is built only when it is needed
                if validation is not None or callback is not None or sweep == total:
                    model = _average(solver, method, stack_u, stack_v, row_bias, col_bias,
                                     averaged, samples, value_range, history)
            val = np.nan
            if validation is not None and model is not None:
                val = float(np.sqrt(np.mean((model.predict(validation[0], validation[1])
                                             - validation[2]) ** 2)))
            train = solver.train_rmse()
            history["train_rmse"].append(train)
            history["objective"].append(np.nan if gibbs else solver.objective())
            history["validation_rmse"].append(val)
            history["time"].append(time.perf_counter() - start - excluded)
            bar.update(1)
            if show_progress:
                bar.set_postfix_str(f"train {train * units.scale:.4g}" +
                                    ("" if np.isnan(val)
                                     else f", validation {val * units.scale:.4g}"))
            if callback is not None:
                t0 = time.perf_counter()
                snapshot = model if model is not None else _snapshot(solver, method, history,
                                                                     sweep, False)
                stop = callback(sweep, units.model(dataclasses.replace(
                    snapshot, history={key: np.asarray(v, dtype=float)
                                       for key, v in history.items()}, n_iter=sweep)))
                excluded += time.perf_counter() - t0
                if stop:
                    break
    if model is None:  # stopped by the callback before any sample: the current point
        model = _snapshot(solver, method, history, sweep, True)
    return units.model(dataclasses.replace(model, history={key: np.asarray(v, dtype=float)
                                                           for key, v in history.items()},
                                           n_iter=sweep, converged=True), inplace=True)


def _average(solver, method, stack_u, stack_v, row_bias, col_bias, averaged, samples,
             value_range, history):
    """The posterior-mean model of the first `averaged` samples, as one stacked product.

    The stacks hold ``samples`` samples' columns scaled by ``1/sqrt(2 samples)``; the first
    ``averaged`` of them are rescaled to ``1/sqrt(2 averaged)`` (a copy only when
    ``averaged < samples``, i.e. for a validation score or a callback before the end).
    """
    width = 2 * averaged * stack_u.shape[1] // (2 * samples)
    U, V = stack_u[:, :width], stack_v[:, :width]
    if averaged < samples:
        rescale = np.sqrt(samples / averaged)
        U, V = U * rescale, V * rescale
    return CompletionModel(
        U=U, V=V, row_bias=row_bias / averaged, col_bias=col_bias / averaged,
        mean=float(solver.mean), method=method,
        history={key: np.asarray(v, dtype=float) for key, v in history.items()},
        n_iter=len(history["time"]), converged=False, n_samples=averaged,
        value_range=value_range)


def complete_sparse(X, *, rank: int = 10, **kwargs) -> CompletionModel:
    """:func:`complete` for a scipy.sparse matrix whose *stored* entries are the observations.

    Explicitly stored zeros count as observations of the value 0; entries not stored are
    unknown. A COO matrix with a duplicated (row, col) entry is refused, like :func:`complete`.
    The shape is ``X.shape``; other keyword arguments are those of :func:`complete`.
    """
    if not sp.issparse(X):
        raise TypeError(f"`X` must be a scipy.sparse matrix; got {type(X).__name__}")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"`X` must have a real dtype; got {X.dtype}")
    if min(X.shape) == 0:
        raise ValueError(f"`X` must not be empty; got shape {X.shape}")
    check_sparse_structure(X, "X", check_indices=True)  # (the conversion below reads them all)
    coo = X.tocoo()
    if coo.nnz == 0:
        raise ValueError("`X` has no stored entries (observations)")
    check_finite(coo, "X")
    return complete(coo.row, coo.col, coo.data.astype(np.float64), X.shape, rank=rank, **kwargs)


class MatrixCompletion:
    """Low-rank matrix completion as a scikit-learn-style estimator.

    ``fit(X, y)`` takes ``X`` of shape (N, 2) holding (row, col) index pairs and ``y`` the
    observed values, or ``X`` a scipy.sparse matrix of observations (``y=None``);
    ``predict(X)`` returns the model's values at (row, col) pairs. Parameters are those of
    :func:`complete`; ``random_state`` is its ``seed``.

    Attributes
    ----------
    model_ : CompletionModel
    U_, V_, row_bias_, col_bias_, mean_ : the fitted factors, biases and mean
    history_ : dict, n_iter_ : int, converged_ : bool
    """

    def __init__(self, rank=10, *, method="robust-am", reg=None, biases=True, max_iter=None,
                 tol=None, random_state=None, show_progress=False, samples=None):
        self.rank = rank
        self.samples = samples
        self.method = method
        self.reg = reg
        self.biases = biases
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.show_progress = show_progress

    _PARAMS = ("rank", "method", "reg", "biases", "max_iter", "tol", "random_state",
               "show_progress", "samples")

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params):
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(f"unknown parameter {name!r} of MatrixCompletion")
            setattr(self, name, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"MatrixCompletion({args})"

    @staticmethod
    def _columns(X, name="X"):
        """The row and column columns of an (N, 2) array of pairs, unchecked."""
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"`{name}` must have shape (N, 2) of (row, col) pairs; got "
                             f"shape {arr.shape}")
        return arr[:, 0], arr[:, 1]

    @classmethod
    def _pairs(cls, X, name="X"):
        return _indices(*cls._columns(X, name), f"{name}[:, 0]", f"{name}[:, 1]",
                        allow_empty=True)

    def fit(self, X, y=None, *, shape=None, validation=None, callback=None):
        """Fit to observations: ``X`` (N, 2) pairs with ``y`` (N,), or a sparse ``X``."""
        kwargs = dict(rank=self.rank, method=self.method, reg=self.reg, biases=self.biases,
                      max_iter=self.max_iter, tol=self.tol,
                      seed=resolve_seed(self.random_state, "random_state"),
                      samples=self.samples,
                      show_progress=self.show_progress, validation=validation,
                      callback=callback)
        if sp.issparse(X):
            if y is not None:
                raise ValueError("`y` must be None when `X` is a sparse matrix")
            if shape is not None:
                raise ValueError("`shape` is taken from a sparse `X`; pass shape=None")
            model = complete_sparse(X, **kwargs)
        else:
            if y is None:
                raise ValueError("`y` (the observed values) is required when `X` holds pairs")
            rows, cols, y = _triplets(*self._columns(X), y, "X[:, 0]", "X[:, 1]", "y")
            model = complete(rows, cols, y, shape, **kwargs)
        self.model_ = model
        self.U_, self.V_ = model.U, model.V
        self.row_bias_, self.col_bias_, self.mean_ = model.row_bias, model.col_bias, model.mean
        self.history_, self.n_iter_, self.converged_ = model.history, model.n_iter, model.converged
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise NotFittedError("this MatrixCompletion is not fitted yet; call fit first")

    def predict(self, X):
        """Predicted values at the (row, col) pairs of ``X`` (N, 2)."""
        self._check_fitted()
        return self.model_.predict(*self._pairs(X))

    def score(self, X, y):
        """Negative RMSE of :meth:`predict` against ``y`` (higher is better)."""
        self._check_fitted()
        rows, cols = self._pairs(X)
        return -self.model_.rmse(rows, cols, y)
