"""Sketched least squares: :func:`lstsq` and its result :class:`LstsqResult`."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import scipy.sparse as sp

from ._native import core as _core
from ._validation import (
    as_csr_or_csc,
    as_float_array,
    check_choice,
    check_finite,
    check_int,
    check_real,
    resolve_seed,
    sparse_arrays,
)
from ._warnings import ConvergenceWarning

__all__ = ["LstsqResult", "lstsq"]

METHODS = ("auto", "precondition", "sketch", "direct", "diagonal")
SKETCHES = ("sparse_sign", "srht", "gaussian")

# "auto" picks "direct" below these sizes, where one Householder QR (about 2 n d^2 flops) is
# cheaper than sketching, factoring S A (about 12 d^3 flops) and the ~20-30 passes of CG
# (about 2 n d flops each): for d < 64 or n < 8 d the QR is no slower.
_AUTO_MIN_D = 64
_AUTO_MIN_ASPECT = 8


@dataclasses.dataclass(frozen=True)
class LstsqResult:
    """The result of :func:`lstsq`.

    Attributes
    ----------
    x : ndarray of float64, shape (d,) or (d, k)
        The solution (shape follows ``b``).
    residual_norm : float or ndarray of shape (k,)
        ``||A x - b||_2`` for each right-hand side (without the ridge term).
    n_iter : int
        Conjugate-gradient iterations (``"precondition"``); 0 for the other methods.
    converged : bool
        False when ``"precondition"`` stopped at ``max_iter`` before reaching ``tol``.
    method : str
        The method used (``"auto"`` resolved).
    sketch_size : int
        Rows ``m`` of the sketch (0 for ``"direct"``).
    sketch : str or None
        The sketch used (None for ``"direct"``).
    rank : int
        Numerical rank used: singular values of ``R`` (of ``S A``, or of ``A`` for
        ``"direct"``) below ``rcond * sigma_max`` are dropped.
    n_passes : int
        Full passes over ``A``, the sketch included.
    cond_estimate : float
        Estimate of ``cond(A)`` (of the ridge-augmented matrix when ``reg > 0``).
    """

    x: np.ndarray
    residual_norm: object
    n_iter: int
    converged: bool
    method: str
    sketch_size: int
    sketch: object
    rank: int
    n_passes: int
    cond_estimate: float


# Sparse A goes to "direct" (a dense copy) only when that copy is small.
_AUTO_MAX_DENSIFY = 4_000_000

# "auto" on a large sparse A first runs "diagonal" for at most this many iterations. A random
# sparse design is well conditioned up to column scaling and converges in 20-40 iterations
# there; if it has not converged by then, the problem is ill conditioned and the sketched
# preconditioner (sketch + QR of S A, then about 20-30 passes) is cheaper than continuing.
# The probe costs at most as many passes as the sketched solve that follows it.
_AUTO_DIAGONAL_ITERATIONS = 40

# CG's iteration limit when max_iter is not given (the core's default).
_DEFAULT_MAX_ITER = 200


def _auto_method(n: int, d: int, is_sparse: bool) -> str:
    if n < d:
        return "direct"
    if is_sparse:
        return "direct" if n * d <= _AUTO_MAX_DENSIFY else "diagonal"
    if d < _AUTO_MIN_D or n < _AUTO_MIN_ASPECT * d:
        return "direct"
    return "precondition"


def lstsq(A, b, *, method="auto", sketch=None, tol=None, eps=None, reg=0.0, rcond=None,
          seed=None, max_iter=None, sketch_size=None) -> LstsqResult:
    """Solve ``min_x ||A x - b||^2 + reg ||x||^2`` with a random sketch of ``A``.

    Parameters
    ----------
    A : ndarray of shape (n, d), float32 or float64, or scipy.sparse matrix
        The design. C- or Fortran-ordered arrays and CSR/CSC matrices are read in place
        (other sparse formats are converted to CSR), except that ``"precondition"`` and
        ``"diagonal"`` copy a Fortran-ordered array of more than 256 columns once into C
        order when the copy takes at most a quarter of the free memory: their passes read
        ``A`` by rows, twice as fast in C order at 1000 columns (same answer, bit for bit).
        ``"precondition"`` and ``"sketch"`` need ``n >= d``; ``"direct"`` also takes
        ``n < d`` (minimum-norm solution).
    b : ndarray of shape (n,) or (n, k)
        Right-hand side(s); ``k`` columns are solved together, sharing every pass over ``A``.
    method : {"auto", "precondition", "sketch", "direct", "diagonal"}
        ``"precondition"``: sketch ``A``, factor ``S A = Q R`` and run conjugate gradients
        on the normal equations of the preconditioned problem ``min ||A R^-1 y - b||``
        (well conditioned, so CG is as stable there as LSQR), warm-started from the
        sketch-and-solve solution (one right-hand side, ``A`` read by rows: from it or from zero,
        whichever has the smaller residual, both evaluated by the first pass), one pass over
        ``A`` per iteration, until ``tol``, then
        confirmed on the true residual (refined if needed; at a ``tol`` 1000x above the
        rounding drift of the CG recurrences, ``reg = 0`` and full rank, the recurrences'
        own test stands and that pass is saved). ``"sketch"``:
        sketch-and-solve, ``argmin ||S (A x - b)||``, one pass; an approximation whose
        quality ``eps`` sets. ``"direct"``: Householder QR of ``A`` (float64 copy).
        ``"auto"``: dense ``A``: ``"direct"`` when ``n < 8 d`` or ``d < 64`` (one QR is
        then as cheap), else ``"precondition"``; sparse ``A``: ``"direct"`` when
        ``n d <= 4e6`` (the dense copy is small) or ``n < d``, else ``"diagonal"`` for at
        most 40 iterations and, if it has not converged by then, ``"precondition"`` from
        the start (the result's ``method`` says which finished; its ``n_iter`` and
        ``n_passes`` count both). ``"diagonal"``: CG on the normal equations with the
        column-norm preconditioner ``diag(1 / ||a_j||)`` from ``x = 0``, one pass per
        iteration and no sketch: the cheap path when ``A`` is well conditioned up to its
        column scaling, as random sparse designs are (for sparse ``A`` the factor also
        shrinks the direction of the all-ones vector when ``||A 1||`` shows an outlying
        singular value there, as when the entries share a sign). It returns a least-squares
        solution, the minimum-norm one only when ``A`` has full column rank (use
        ``"precondition"`` or ``"direct"`` for rank-deficient ``A``). Its stopping test is
        that of ``"precondition"`` with ``R = diag(||a_j||)``; the final residual pass is
        skipped when a rounding bound on the CG recurrences shows ``tol`` is met anyway.
    sketch : {"sparse_sign", "srht", "gaussian"}, optional
        The sketch. Default: ``"sparse_sign"`` (4 nonzeros per column) for
        ``"precondition"`` (one cheap pass, dense or sparse), ``"srht"`` for ``"sketch"``.
    tol : float, optional
        ``"precondition"`` stops a column when the preconditioned gradient
        ``s = R^-T (A^T r - reg x)`` satisfies
        ``||s|| <= tol (||A|| ||R^-1|| ||r|| + ||A|| ||x|| + ||b||)``: the size that a
        relative backward perturbation ``tol`` of ``A`` and ``b`` produces, so the default
        ``4 eps`` asks for LAPACK's accuracy. Measured against the exact solution
        (long-double refinement) on Gaussian 20000x200 to 200000x200 and 20000x1000,
        gelsd's error ``||A (x - x*)||`` is 0.4-2.4 eps ``(||A|| ||x|| + cond(A) ||r||)``
        and this rule stops at 2-4.4 eps: the same order, so a looser default would fall
        short of LAPACK. Larger ``tol`` trades accuracy for passes (``tol=1e-5`` already
        gives a residual within 1e-10 of LAPACK's on 200000x200).
    eps : float, optional
        ``"sketch"`` only: target distortion; the sketch has
        ``m = min(n, ceil(d / eps**2))`` rows (default ``eps = 0.5``, ``m = 4 d``). The
        error of sketch-and-solve is measured in ``bench/linf_evaluation.py``, not promised.
        With ``sketch="srht"``, a dense float64 ``A`` and ``reg = 0``, the sketch is formed
        in single precision first and kept for each column where its rounding moves the
        residual by at most 1e-3 of it (else that column is sketched again in double).
    reg : float
        Ridge weight ``>= 0``. The augmented system ``[A; sqrt(reg) I]`` is solved; its
        identity block is appended to ``S A`` unsketched.
    rcond : float, optional
        Singular values below ``rcond * sigma_max`` are treated as zero, and ``x`` is the
        minimum-norm solution within that rank, as :func:`numpy.linalg.lstsq`; default
        ``eps * max(n, d)`` as NumPy's. For the sketched methods the singular values are
        those of ``S A`` (within the sketch's distortion of ``A``'s).
    seed : int or numpy.random.Generator, optional
        Seed of the sketch. Results are deterministic for a seed and thread count.
    max_iter : int, optional
        ``"precondition"`` and ``"diagonal"``: at most this many CG iterations (default
        200). With ``"auto"`` on a sparse ``A``, the iterations of the diagonal probe
        count too. If ``tol`` is not reached, ``converged`` is False and a
        :class:`ConvergenceWarning` is emitted.
    sketch_size : int, optional
        Rows ``m`` of the sketch (``d <= m <= n``). Default for ``"precondition"``:
        ``min(n, c d)`` with ``c = clip(30 t sqrt(nnz / d**3), 4, 20 t)`` (``nnz = n d``
        when dense) and ``t = sqrt(log(1 / tol) / log(1e6))`` (1.58 at the default
        ``tol``, 1 at ``tol=1e-6``), and at most 16384 unless that is below ``4 d`` (past it
        the sketch of a dense ``A`` leaves the cache): CG's error falls by about
        ``sqrt(d / m)`` per pass over ``A`` while the Gram matrix of ``S A`` costs
        ``m d**2`` flops, and ``c`` balances the two for the passes ``tol`` needs. For
        ``"sketch"``: the ``eps`` rule.

    Returns
    -------
    LstsqResult

    Notes
    -----
    Precision: float32 ``A`` is read as stored and every product accumulates in float64;
    ``x`` is float64 whatever the input dtype (NumPy would return float32).
    """
    method = check_choice(method, "method", METHODS)
    if sketch is not None:
        sketch = check_choice(sketch, "sketch", SKETCHES)
    is_sparse = sp.issparse(A)
    # NaN or inf in A is found by the core at no cost on valid data (from the sketch of A,
    # the first pass's column norms or the dense copy: see lstsq.hpp); a scan here would
    # cost about two passes over A.
    if is_sparse:
        A = as_csr_or_csc(A, "A", finite=False)
    else:
        A = as_float_array(A, "A", ndim=2, order="K", finite=False)
        if not (A.flags.c_contiguous or A.flags.f_contiguous):
            A = np.ascontiguousarray(A)
    n, d = A.shape
    b_arr = as_float_array(b, "b", ndim=(1, 2), dtype=np.float64, finite=False)
    if b_arr.shape[0] != n:
        raise ValueError(
            f"`b` must have shape (n,) or (n, k) with n = A.shape[0] = {n}; got {b_arr.shape}")
    B = np.ascontiguousarray(b_arr.reshape(n, -1))
    if tol is None:
        tol = 0.0
    else:
        tol = check_real(tol, "tol", minimum=0.0, strict_minimum=True)
    if eps is None:
        eps = 0.5
    else:
        eps = check_real(eps, "eps", minimum=0.0, strict_minimum=True, maximum=1.0)
    reg = check_real(reg, "reg", minimum=0.0)
    rcond = -1.0 if rcond is None else check_real(rcond, "rcond", minimum=0.0)
    max_iter = 0 if max_iter is None else check_int(max_iter, "max_iter", minimum=1,
                                                    maximum=2**31 - 1)
    probe_diagonal = False
    if method == "auto":
        method = _auto_method(n, d, is_sparse)
        probe_diagonal = method == "diagonal"
    if method in ("precondition", "sketch", "diagonal") and n < d:
        raise ValueError(
            f"method={method!r} needs a tall `A` (n >= d); got shape {A.shape}. "
            "Use method='direct' for the minimum-norm solution of a wide problem.")
    if method != "diagonal":
        # The diagonal method's first pass reads b at x = 0 and checks ||b|| there, at no
        # cost on valid data (a scan here is a tenth of that method's whole sparse solve).
        check_finite(b_arr, "b")
    if sketch is None:
        sketch = "srht" if method == "sketch" else "sparse_sign"
    if sketch_size is not None:
        sketch_size = check_int(sketch_size, "sketch_size", minimum=d, maximum=max(n, d))
    seed = resolve_seed(seed)
    if is_sparse:
        if A.indptr.dtype == np.int32 and A.indices.dtype == np.int32:
            # Read as SciPy stores them (a strided view of data is made contiguous).
            indptr, indices, data = A.indptr, A.indices, np.ascontiguousarray(A.data)
        else:
            indptr, indices, data = sparse_arrays(A)
    nnz = float(A.nnz) if is_sparse else float(n) * float(d)

    def solve(method, max_iter):
        m = sketch_size
        if m is None:
            m = _core.lstsq_default_sketch_size(method, n, d, nnz, eps, tol)
        args = dict(method=method, sketch=sketch, sketch_size=m, nnz_per_column=4,
                    seed=seed, tol=tol, reg=reg, rcond=rcond, max_iter=max_iter)
        if is_sparse:
            return _core.lstsq_sparse(n, d, A.format == "csr", indptr, indices, data, B,
                                      **args)
        return _core.lstsq_dense(A, B, **args)

    if probe_diagonal:
        probe_iter = _AUTO_DIAGONAL_ITERATIONS
        if max_iter:
            probe_iter = min(probe_iter, max_iter)
        out = solve("diagonal", probe_iter)
        # The probe's iterations count against max_iter: when it used them all, its
        # (unconverged) result is the answer.
        left = max_iter - int(out["n_iter"]) if max_iter else 0
        if not out["converged"] and (not max_iter or left >= 1):
            probe = out
            method = "precondition"
            out = solve(method, left)
            out["n_iter"] += probe["n_iter"]
            out["n_passes"] += probe["n_passes"]
    else:
        out = solve(method, max_iter)
    x = out["x"]
    res = out["residual_norm"]
    if b_arr.ndim == 1:
        x = x[:, 0]
        res = float(res[0])
    if not out["converged"]:
        warnings.warn(
            f"lstsq did not reach tol within max_iter = {max_iter or _DEFAULT_MAX_ITER} "
            "iterations; "
            "the result is the last iterate (converged=False)", ConvergenceWarning, stacklevel=2)
    return LstsqResult(
        x=x, residual_norm=res, n_iter=int(out["n_iter"]), converged=bool(out["converged"]),
        method=method, sketch_size=int(out["sketch_size"]),
        sketch=None if method in ("direct", "diagonal") else sketch, rank=int(out["rank"]),
        n_passes=int(out["n_passes"]), cond_estimate=float(out["cond_estimate"]))
