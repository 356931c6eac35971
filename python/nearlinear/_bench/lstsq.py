"""Side-by-side comparisons of :func:`nearlinear.lstsq` with LAPACK (NumPy/SciPy) and
SciPy's iterative solvers.

LAPACK runs with as many OpenBLAS threads as nearlinear has OpenMP threads (threadpoolctl).
Accuracy columns: ``rel.res`` is ``||A x - b|| / ||b||``; ``dres`` is the relative
difference of nearlinear's residual norm from the reference's; ``fwd`` is the forward
error ``||x - x_true|| / ||x_true||``.

The dense precondition rows come in pairs: the default tol (LAPACK's own accuracy, about
4 eps) and ``tol=GOAL_ACCURACY_TOL`` (1e-6), the tolerance at which the speed goals' own
accuracy criterion (residual within 1e-10 relative of LAPACK's) is met; its dres is shown.
"""

from __future__ import annotations

import contextlib

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .. import get_num_threads, lstsq
from .timing import Row, compare

# (n, d) of each case, scaled by size: "large" is the issue's, "medium" 1/4, "small" 1/20.
_SCALE = {"small": 20, "medium": 4, "large": 1}


def _threads():
    """Limit OpenBLAS to nearlinear's thread count (same resources for both sides)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=get_num_threads(), user_api="blas")


def _gaussian(n, d, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n)


def _res(A, x, b):
    return float(np.linalg.norm(A @ x - b))


def _dres(r, r_ref):
    return f"dres {(r - r_ref) / r_ref:+.1e}"


# The tolerance of the "goal accuracy" rows. The speed goals ask for a residual within 1e-10
# (relative) of LAPACK's. The excess residual is ||r(x)||^2 - ||r*||^2 = ||A (x - x*)||^2, so
# the goal holds when ||A (x - x*)|| <= 1.4e-5 ||r*||; the stopping rule bounds
# ||A (x - x*)|| by about tol (||r|| + ||A|| ||x|| + ||b||) (within the preconditioner's
# distortion), which for these Gaussian problems (||r|| ~ ||b||) is a few tol ||b||: tol=1e-6
# leaves a margin of about 10 in the norm, 100 in dres. The rows print the measured dres.
GOAL_ACCURACY_TOL = 1e-6


def _vs_lapack(n, d, drivers, repeat, tols=(None, GOAL_ACCURACY_TOL)):
    """gelsd/gelsy against precondition at the default tol (LAPACK's accuracy) and at
    GOAL_ACCURACY_TOL (the goal's accuracy criterion, labelled as such)."""
    A, b = _gaussian(n, d, seed=n + d)
    bnorm = np.linalg.norm(b)
    rows = []
    for driver in drivers:
        if driver == "gelsd":
            name = "numpy.linalg.lstsq (gelsd)"
            ref = lambda: np.linalg.lstsq(A, b, rcond=None)[0]  # noqa: E731
        else:
            name = "scipy.linalg.lstsq (gelsy)"
            ref = lambda: scipy.linalg.lstsq(A, b, lapack_driver="gelsy")[0]  # noqa: E731
        for tol in tols:
            label = "default tol" if tol is None else f"tol={tol:.0e}, goal accuracy"
            ours = lambda: lstsq(A, b, method="precondition", seed=0, tol=tol)  # noqa: E731
            with _threads():
                t_ref, t_ours, x_ref, res = compare(ref, ours, repeat=repeat, warmup=0)
            r_ref = _res(A, x_ref, b)
            dres = (_res(A, res.x, b) - r_ref) / r_ref
            rows.append(Row(
                problem=f"{n}x{d} Gaussian, precondition ({label})", reference=name,
                reference_time=t_ref, nearlinear_time=t_ours,
                reference_accuracy=f"rel.res {r_ref / bnorm:.6f}",
                nearlinear_accuracy=f"{_dres(_res(A, res.x, b), r_ref)}, {res.n_iter} it",
                extra={"n_iter": res.n_iter, "n_passes": res.n_passes,
                       "sketch_size": res.sketch_size, "tol": tol, "dres": dres}))
    return rows


def _ill_conditioned(n, d, cond, repeat):
    """A = U diag(sigma) V^T with Haar U, V; b = A x_true + a residual orthogonal to
    range(A), so x_true is the exact least-squares solution."""
    rng = np.random.default_rng(7)
    U, _ = np.linalg.qr(rng.standard_normal((n, d)))
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (U * np.logspace(0, -np.log10(cond), d)) @ V.T
    x_true = rng.standard_normal(d)
    z = rng.standard_normal(n)
    z -= U @ (U.T @ z)
    b = A @ x_true + z * (np.linalg.norm(A @ x_true) / np.linalg.norm(z))
    ref = lambda: np.linalg.lstsq(A, b, rcond=None)[0]  # noqa: E731
    ours = lambda: lstsq(A, b, method="precondition", seed=0)  # noqa: E731
    with _threads():
        t_ref, t_ours, x_ref, res = compare(ref, ours, repeat=repeat, warmup=0)
    fwd = lambda x: np.linalg.norm(x - x_true) / np.linalg.norm(x_true)  # noqa: E731
    return [Row(problem=f"{n}x{d} cond {cond:.0e}, precondition",
                reference="numpy.linalg.lstsq (gelsd)", reference_time=t_ref,
                nearlinear_time=t_ours, reference_accuracy=f"fwd {fwd(x_ref):.1e}",
                nearlinear_accuracy=f"fwd {fwd(res.x):.1e}, {res.n_iter} it",
                extra={"n_iter": res.n_iter, "forward_error": fwd(res.x),
                       "reference_forward_error": fwd(x_ref)})]


_TOL_LADDER = (1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14)


def _loosest(solve, A, b, target):
    """The loosest tolerance of the ladder at which ``solve(tol)`` reaches residual
    ``target * (1 + 1e-10)``, or the tightest one."""
    for tol in _TOL_LADDER:
        if _res(A, solve(tol), b) <= target * (1 + 1e-10):
            return tol
    return _TOL_LADDER[-1]


def _sparse(n, d, density, repeat):
    """Every solver at the loosest tolerance that reaches the least-squares residual
    (nearlinear's at its default tol, which matches LAPACK's) to 1e-10 relative;
    nearlinear with method="auto" (the diagonal path for a random sparse design)."""
    rng = np.random.default_rng(11)
    A = sp.random(n, d, density=density, format="csr", random_state=rng, dtype=np.float64)
    b = rng.standard_normal(n)
    bnorm = np.linalg.norm(b)
    target = _res(A, lstsq(A, b, seed=0).x, b)
    ours_at = lambda tol: lstsq(A, b, seed=0, tol=tol)  # noqa: E731
    our_tol = _loosest(lambda tol: ours_at(tol).x, A, b, target)
    peers = (("scipy lsqr", lambda tol: spla.lsqr(A, b, atol=tol, btol=tol, iter_lim=10 * d)[0]),
             ("scipy lsmr", lambda tol: spla.lsmr(A, b, atol=tol, btol=tol, maxiter=10 * d)[0]))
    rows = []
    for name, solver in peers:
        tol = _loosest(solver, A, b, target)
        t_ref, t_ours, x_ref, res = compare(lambda: solver(tol), lambda: ours_at(our_tol),
                                            repeat=repeat, warmup=0)
        r_ref = _res(A, x_ref, b)
        rows.append(Row(
            problem=f"sparse CSR {n}x{d} {density:.1%}, {res.method} tol={our_tol:.0e}",
            reference=f"{name} (atol=btol={tol:.0e})", reference_time=t_ref,
            nearlinear_time=t_ours, reference_accuracy=f"rel.res {r_ref / bnorm:.10f}",
            nearlinear_accuracy=f"{_dres(_res(A, res.x, b), r_ref)}, {res.n_iter} it",
            extra={"n_iter": res.n_iter, "reference_tol": tol, "tol": our_tol}))
    return rows


def _sketch_and_solve(n, d, eps, repeat):
    """The default dense sketch (srht) and the sparse sign sketch."""
    A, b = _gaussian(n, d, seed=3)
    rows = []
    for sketch in ("srht", "sparse_sign"):
        rows += _sketch_and_solve_row(A, b, eps, sketch, repeat)
    return rows


def _sketch_and_solve_row(A, b, eps, sketch, repeat):
    n, d = A.shape
    ref = lambda: np.linalg.lstsq(A, b, rcond=None)[0]  # noqa: E731
    ours = lambda: lstsq(A, b, method="sketch", sketch=sketch, eps=eps, seed=0)  # noqa: E731
    with _threads():
        t_ref, t_ours, x_ref, res = compare(ref, ours, repeat=repeat, warmup=0)
    r_ref = _res(A, x_ref, b)
    return [Row(problem=f"{n}x{d} Gaussian, sketch eps={eps} ({res.sketch})",
                reference="numpy.linalg.lstsq (gelsd)", reference_time=t_ref,
                nearlinear_time=t_ours, reference_accuracy="optimal",
                nearlinear_accuracy=f"res/opt {_res(A, res.x, b) / r_ref:.4f}, m={res.sketch_size}",
                extra={"sketch_size": res.sketch_size})]


def tour_cases():
    return [("lstsq 20000x100", lambda: _vs_lapack(20000, 100, ("gelsd",), repeat=3,
                                                        tols=(None,)))]


def bench_cases(size, data=None):
    del data  # generated problems only
    s = _SCALE[size]
    repeat = 3 if size == "large" else 5
    # The sparse solves take tenths of a second (peers) and tens of milliseconds (ours): more
    # repeats cost little and steady the medians on a noisy machine.
    sparse_repeat = max(repeat, 11)
    return [
        ("lstsq 200000x200", lambda: _vs_lapack(200000 // s, 200, ("gelsd", "gelsy"), repeat)),
        ("lstsq 100000x200", lambda: _vs_lapack(100000 // s, 200, ("gelsd", "gelsy"), repeat)),
        ("lstsq 100000x1000", lambda: _vs_lapack(100000 // s, 1000 // min(s, 4), ("gelsd",),
                                                 repeat)),
        ("lstsq cond 1e8", lambda: _ill_conditioned(200000 // s, 200, 1e8, repeat)),
        ("lstsq sparse", lambda: _sparse(1000000 // s, 1000 // min(s, 4), 0.005,
                                         sparse_repeat)),
        ("lstsq sketch", lambda: _sketch_and_solve(200000 // s, 200, 0.5, repeat)),
    ]
