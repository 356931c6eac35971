"""nearlinear.lstsq against numpy.linalg.lstsq (float64) on fresh random inputs."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg
from scipy.stats import ortho_group

import nearlinear as nl
from nearlinear._warnings import ConvergenceWarning

SOLVERS = [("precondition", "sparse_sign"), ("precondition", "srht"),
           ("precondition", "gaussian"), ("direct", None)]


def fresh_rng():
    seed = np.random.SeedSequence().entropy
    print("seed", seed)  # shown on failure
    return np.random.default_rng(seed)


def haar_design(rng, n, d, cond):
    """A = U diag(sigma) V^T with Haar U (n x n restricted to d columns), V, and the
    orthogonal complement of range(A) (for residuals with a known least-squares solution)."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, d + 5)))
    U, perp = Q[:, :d], Q[:, d:]
    V = ortho_group.rvs(d, random_state=rng)
    sigma = np.logspace(0, -np.log10(cond), d)
    return (U * sigma) @ V.T, perp


def numpy_solution(A, b):
    return np.linalg.lstsq(np.asarray(A, dtype=np.float64), b, rcond=None)[0]


def rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("method,sketch", SOLVERS)
def test_well_conditioned_gaussian(method, sketch):
    rng = fresh_rng()
    A = rng.standard_normal((3000, 80))
    b = rng.standard_normal(3000)
    res = nl.lstsq(A, b, method=method, sketch=sketch, seed=rng)
    x = numpy_solution(A, b)
    assert res.converged and res.method == method and res.rank == 80
    assert res.x.shape == (80,) and res.x.dtype == np.float64
    assert rel(res.x, x) < 1e-12
    r_np = np.linalg.norm(A @ x - b)
    assert abs(res.residual_norm - r_np) <= 1e-13 * r_np
    assert abs(res.residual_norm - np.linalg.norm(A @ res.x - b)) <= 1e-13 * r_np
    if method == "precondition":
        assert res.sketch_size >= 80 and res.n_iter > 0 and res.sketch == sketch


@pytest.mark.parametrize("cond", [3.0, 60.0, 300.0, 1e4])
def test_preconditioner_as_good_from_either_gram_precision(cond):
    """The Gram matrix of S A is formed in single precision when cond(S A) <= 100 and in
    double otherwise; either way A R^-1 is well conditioned: CG converges at the rate the
    sketch size gives (about sqrt(d / m) per iteration), to LAPACK's solution."""
    rng = fresh_rng()
    n, d = 4000, 100
    A, _ = haar_design(rng, n, d, cond)
    b = rng.standard_normal(n)
    res = nl.lstsq(A, b, method="precondition", seed=rng, sketch_size=1000)
    x = numpy_solution(A, b)
    assert res.converged and res.rank == d
    assert 0.5 * cond <= res.cond_estimate <= 2 * cond
    # sqrt(d / m) = 0.32: 4 eps needs about 30 iterations, with margin
    assert res.n_iter <= 40
    assert rel(res.x, x) <= 1e-13 * cond


@pytest.mark.parametrize("method", ["precondition", "direct"])
@pytest.mark.parametrize("cond", [1e2, 1e6, 1e10])
@pytest.mark.parametrize("residual", ["zero", "large"])
def test_prescribed_condition_number(method, cond, residual):
    """Forward error against the exact solution, no worse than 10x LAPACK's (gelsd)."""
    rng = fresh_rng()
    n, d = 2500, 60
    A, perp = haar_design(rng, n, d, cond)
    x_true = rng.standard_normal(d)
    b = A @ x_true
    if residual == "large":
        b = b + 10 * np.linalg.norm(b) * perp @ rng.standard_normal(perp.shape[1]) / 3
    res = nl.lstsq(A, b, method=method, seed=rng)
    x_np = numpy_solution(A, b)
    assert res.converged and res.rank == d
    # LAPACK is sometimes far more accurate than its backward-stability bound (cond * eps) on a
    # given draw; "no worse than 10x LAPACK" is measured against the larger of the two.
    err_np = max(rel(x_np, x_true), cond * np.finfo(float).eps)
    assert rel(res.x, x_true) <= 10 * err_np + 1e-14
    r_np = np.linalg.norm(A @ x_np - b)
    r_ours = np.linalg.norm(A @ res.x - b)
    assert r_ours <= r_np * (1 + 1e-10) + 1e-13 * np.linalg.norm(b)


@pytest.mark.parametrize("sketch", ["sparse_sign", "srht", "gaussian"])
def test_coherent_design(sketch):
    """[diag; 0] + 1e-8 noise: a few rows carry all the leverage (breaks CountSketch
    sketch-and-solve); sketch-and-precondition must still reach LAPACK's solution."""
    rng = fresh_rng()
    n, d = 4000, 70
    A = np.zeros((n, d))
    A[:d] = np.diag(rng.uniform(1, 10, d))
    A += 1e-8 * rng.standard_normal((n, d))
    b = rng.standard_normal(n)
    res = nl.lstsq(A, b, method="precondition", sketch=sketch, seed=rng)
    x = numpy_solution(A, b)
    assert res.converged
    assert rel(res.x, x) < 1e-10
    assert np.linalg.norm(A @ res.x - b) <= np.linalg.norm(A @ x - b) * (1 + 1e-12)


def test_heavy_tailed_rows():
    rng = fresh_rng()
    n, d, dof = 4000, 70, 1.5
    scale = np.sqrt(dof / rng.chisquare(dof, size=n))
    A = rng.standard_normal((n, d)) * scale[:, None]
    b = A @ rng.standard_normal(d) + rng.standard_t(dof, size=n)
    res = nl.lstsq(A, b, method="precondition", seed=rng)
    x = numpy_solution(A, b)
    assert res.converged
    assert rel(res.x, x) < 1e-10


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("method", ["precondition", "direct"])
def test_sparse(fmt, method):
    rng = fresh_rng()
    A = sp.random(5000, 80, density=0.05, random_state=rng, format=fmt) + sp.eye(5000, 80)
    b = rng.standard_normal(5000)
    res = nl.lstsq(A.asformat(fmt), b, method=method, seed=rng)
    x = numpy_solution(A.toarray(), b)
    assert res.converged
    assert rel(res.x, x) < 1e-10


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("method", ["precondition", "sketch", "direct", "diagonal"])
def test_sparse_index_width_does_not_change_the_result(fmt, method):
    """SciPy's 32-bit indices are read in place, 64-bit ones as given: the same solution up
    to rounding (the two index widths compile to different instruction sequences)."""
    rng = fresh_rng()
    A = (sp.random(3000, 40, density=0.05, random_state=rng) + sp.eye(3000, 40)).asformat(fmt)
    b = rng.standard_normal(3000)
    A32 = A.copy()
    A32.indptr, A32.indices = A.indptr.astype(np.int32), A.indices.astype(np.int32)
    A64 = A.copy()
    A64.indptr, A64.indices = A.indptr.astype(np.int64), A.indices.astype(np.int64)
    r32 = nl.lstsq(A32, b, method=method, seed=3)
    r64 = nl.lstsq(A64, b, method=method, seed=3)
    assert rel(r32.x, r64.x) < 1e-13
    assert abs(r32.residual_norm - r64.residual_norm) <= 1e-13 * r64.residual_norm
    assert abs(r32.residual_norm - np.linalg.norm(A @ r32.x - b)) <= 1e-12 * np.linalg.norm(b)
    if method != "sketch":
        assert rel(r32.x, numpy_solution(A.toarray(), b)) < 1e-10


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("method", ["precondition", "sketch", "direct", "diagonal"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_A_raises_for_every_method(method, sparse, bad):
    """A is not scanned up front; every method still refuses one non-finite entry."""
    rng = fresh_rng()
    A = rng.standard_normal((2000, 30))
    A[int(rng.integers(2000)), int(rng.integers(30))] = bad
    A_in = sp.csr_matrix(A) if sparse else A
    with pytest.raises(ValueError, match=r"A`? must not contain NaN or inf"):
        nl.lstsq(A_in, rng.standard_normal(2000), method=method, seed=rng)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("method", ["auto", "precondition", "sketch", "direct", "diagonal"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("k", [1, 3])
def test_non_finite_b_raises_for_every_method(method, sparse, bad, k):
    """The diagonal method checks b in its first pass (from ||b||), the others up front:
    one non-finite entry, in any column, is refused by every method."""
    rng = fresh_rng()
    n = 150000 if method == "auto" and sparse else 2000  # then auto probes "diagonal"
    A = sp.random(n, 30, density=0.2, format="csr", random_state=rng) if sparse else \
        rng.standard_normal((n, 30))
    b = rng.standard_normal((n, k))
    b[int(rng.integers(n)), k - 1] = bad
    with pytest.raises(ValueError, match="`b` must not contain NaN or inf"):
        nl.lstsq(A, b if k > 1 else b[:, 0], method=method, seed=rng)


@pytest.mark.parametrize("method", ["precondition", "direct", "sketch"])
@pytest.mark.parametrize("sparse", [False, True])
def test_multiple_right_hand_sides(method, sparse):
    rng = fresh_rng()
    A = rng.standard_normal((1500, 50))
    B = rng.standard_normal((1500, 3))
    B[:, 1] = A @ rng.standard_normal(50)  # one consistent column
    A_in = sp.csr_matrix(A) if sparse else A
    res = nl.lstsq(A_in, B, method=method, seed=3)
    assert res.x.shape == (50, 3) and res.residual_norm.shape == (3,)
    for j in range(3):
        single = nl.lstsq(A_in, B[:, j], method=method, seed=3)
        x = numpy_solution(A, B[:, j])
        if method == "sketch":
            np.testing.assert_allclose(res.x[:, j], single.x, rtol=1e-10, atol=1e-12)
        else:
            assert rel(res.x[:, j], x) < 1e-10


@pytest.mark.parametrize("k", [2, 5, 8, 9])
@pytest.mark.parametrize("method", ["diagonal", "precondition"])
def test_sparse_several_right_hand_sides_every_width(k, method):
    """Widths 2-8 of the sparse passes keep a row's values in registers (one kernel per
    width), wider ones loop: each column against LAPACK, with empty rows and a ridge."""
    rng = fresh_rng()
    n, d = 4000, 60
    A = sp.random(n, d, density=0.08, format="csr", random_state=rng)
    A = sp.csr_matrix(A.toarray() * (np.arange(n) % 7 != 0)[:, None])  # empty rows
    B = rng.standard_normal((n, k))
    res = nl.lstsq(A, B, method=method, seed=4, reg=0.5)
    assert res.converged and res.x.shape == (d, k)
    dense = A.toarray()
    for j in range(k):
        x = np.linalg.solve(dense.T @ dense + 0.5 * np.eye(d), dense.T @ B[:, j])
        assert rel(res.x[:, j], x) < 1e-9
        assert np.isclose(res.residual_norm[j], np.linalg.norm(dense @ res.x[:, j] - B[:, j]),
                          rtol=1e-10)


@pytest.mark.parametrize("k", [3, 5, 6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_several_right_hand_sides_every_width(k, dtype):
    """Up to 5 right-hand sides, a dense pass reads each row once for all of them; wider ones
    go through matrix products: each column against LAPACK."""
    rng = fresh_rng()
    A = rng.standard_normal((3000, 40)).astype(dtype)
    B = rng.standard_normal((3000, k))
    B[:, 0] = A.astype(np.float64) @ rng.standard_normal(40)  # a consistent column
    res = nl.lstsq(A, B, method="precondition", seed=5)
    assert res.converged and res.x.shape == (40, k)
    for j in range(k):
        assert rel(res.x[:, j], numpy_solution(A.astype(np.float64), B[:, j])) < 1e-9


@pytest.mark.parametrize("signal", [0.0, 0.1, 10.0])
@pytest.mark.parametrize("reg", [0.0, 1.0])
def test_precondition_starts_from_the_better_of_warm_and_zero(signal, reg):
    """With one right-hand side, CG starts from the sketch-and-solve solution or from zero,
    whichever has the smaller residual (one pass evaluates both); several right-hand sides
    (here b twice) always start warm. Both reach the solution. When b is mostly noise, zero
    is the closer start: the warm start's error, about sqrt(d / (m - d)) ||r*|| (here ||r*||
    with m = 2 d), is far above ||A x*|| (about sqrt(d / n) ||b||, 0.05 ||b||), and saves
    iterations (at least 2, median 4, over 120 draws). When b is well explained by A, the
    warm start is kept and costs what it did. In between (signal 0.1) the two starts are
    about as far and either may take a few more iterations, so only the solution is
    checked."""
    rng = fresh_rng()
    n, d = 20000, 50
    A = rng.standard_normal((n, d))
    b = signal * (A @ rng.standard_normal(d)) + rng.standard_normal(n)
    b2 = np.column_stack([b, b])
    x = np.linalg.solve(A.T @ A + reg * np.eye(d), A.T @ b)
    kw = dict(method="precondition", seed=1, sketch_size=2 * d, reg=reg)
    one = nl.lstsq(A, b, **kw)
    two = nl.lstsq(A, b2, **kw)
    assert one.converged and two.converged
    assert rel(one.x, x) < 1e-10
    for j in range(2):
        assert rel(two.x[:, j], x) < 1e-10
    assert np.isclose(one.residual_norm, np.linalg.norm(A @ one.x - b), rtol=1e-12)
    # Iterations at a loose tol, where CG stops on its recurrences (no confirming restarts).
    one_loose = nl.lstsq(A, b, tol=1e-6, **kw).n_iter
    two_loose = nl.lstsq(A, b2, tol=1e-6, **kw).n_iter
    if signal == 0.0:
        assert one_loose < two_loose
    elif signal == 10.0:
        assert one_loose <= two_loose


@pytest.mark.parametrize("method", ["precondition", "diagonal"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wide_fortran_ordered_a_gives_the_c_ordered_answer(method, dtype):
    """The iterative methods copy an F-ordered A of at least 257 columns into C order (their
    passes read rows): the answer, iterations and passes are those of the C-ordered A, bit
    for bit."""
    rng = fresh_rng()
    A = rng.standard_normal((3000, 300)).astype(dtype)
    b = rng.standard_normal(3000)
    c = nl.lstsq(A, b, method=method, seed=2)
    f = nl.lstsq(np.asfortranarray(A), b, method=method, seed=2)
    assert np.array_equal(c.x, f.x)
    assert (c.n_iter, c.n_passes, c.converged) == (f.n_iter, f.n_passes, f.converged)
    assert rel(c.x, np.linalg.lstsq(A.astype(np.float64), b, rcond=None)[0]) < 1e-8


@pytest.mark.parametrize("method", ["precondition", "direct"])
@pytest.mark.parametrize("reg", [1e-3, 1.0, 100.0])
def test_ridge_against_normal_equations(method, reg):
    rng = fresh_rng()
    A, _ = haar_design(rng, 2000, 60, 1e4)
    b = rng.standard_normal(2000)
    res = nl.lstsq(A, b, method=method, reg=reg, seed=rng)
    x = np.linalg.solve(A.T @ A + reg * np.eye(60), A.T @ b)
    assert res.converged
    assert rel(res.x, x) < 1e-9
    assert np.isclose(res.residual_norm, np.linalg.norm(A @ res.x - b), rtol=1e-12)


def test_ridge_sparse_and_sketch():
    rng = fresh_rng()
    A = sp.random(3000, 60, density=0.1, random_state=rng, format="csr")
    b = rng.standard_normal(3000)
    reg = 0.5
    Ad = A.toarray()
    x = np.linalg.solve(Ad.T @ Ad + reg * np.eye(60), Ad.T @ b)
    res = nl.lstsq(A, b, method="precondition", reg=reg, seed=rng)
    assert rel(res.x, x) < 1e-9
    approx = nl.lstsq(Ad, b, method="sketch", reg=reg, eps=0.3, seed=rng)
    objective = lambda z: np.linalg.norm(Ad @ z - b) ** 2 + reg * z @ z  # noqa: E731
    assert objective(x) <= objective(approx.x) <= 1.5 * objective(x)


@pytest.mark.parametrize("method", ["precondition", "direct"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_float32(method, order):
    """float32 data is used as stored, with float64 arithmetic: the answer is LAPACK's
    float64 solution for the float32 matrix."""
    rng = fresh_rng()
    A = np.asarray(rng.standard_normal((3000, 70)), dtype=np.float32, order=order)
    b = rng.standard_normal(3000).astype(np.float32)
    res = nl.lstsq(A, b, method=method, seed=rng)
    x = numpy_solution(A.astype(np.float64), b.astype(np.float64))
    assert res.x.dtype == np.float64
    assert rel(res.x, x) < 1e-10


@pytest.mark.parametrize("d", [1, 7, 9, 17, 33])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_float32_row_kernel_every_width(d, k):
    """The C-order passes widen a float32 row in registers, 16 and 8 values at a time, then
    one by one: every remainder of d, and 1 to 5 right-hand sides, against LAPACK."""
    rng = fresh_rng()
    n = 60 * d + 200
    A = rng.standard_normal((n, d)).astype(np.float32)
    B = rng.standard_normal((n, k))
    x = numpy_solution(A.astype(np.float64), B)
    for method in ("precondition", "diagonal"):
        assert rel(nl.lstsq(A, B, method=method, seed=rng).x, x) < 1e-11


@pytest.mark.parametrize("method", ["precondition", "direct"])
def test_rank_deficient_minimum_norm(method):
    rng = fresh_rng()
    n, d, r = 3000, 70, 40
    A = rng.standard_normal((n, r)) @ rng.standard_normal((r, d))
    b = rng.standard_normal(n)
    res = nl.lstsq(A, b, method=method, seed=rng)
    x = numpy_solution(A, b)
    assert res.rank == r
    assert rel(res.x, x) < 1e-8
    assert np.linalg.norm(A @ res.x - b) <= np.linalg.norm(A @ x - b) * (1 + 1e-10)


def test_rcond_drops_small_directions():
    """Singular values 1..1e-3 and 1e-10: rcond = 1e-6 keeps the first group only, and the
    answer is NumPy's truncated minimum-norm solution."""
    rng = fresh_rng()
    n, d, r = 2000, 50, 30
    Q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    V = ortho_group.rvs(d, random_state=rng)
    sigma = np.concatenate([np.logspace(0, -3, r), np.full(d - r, 1e-10)])
    A = (Q * sigma) @ V.T
    b = rng.standard_normal(n)
    x = np.linalg.lstsq(A, b, rcond=1e-6)[0]
    for method, accuracy in (("precondition", 1e-6), ("direct", 1e-9)):
        # The sketch's kept subspace differs from A's by about 1e-10 / 1e-3 (dropped over
        # smallest kept singular value): the truncated solutions agree to about that.
        res = nl.lstsq(A, b, method=method, rcond=1e-6, seed=rng)
        assert res.rank == r
        assert rel(res.x, x) < accuracy


def test_zero_matrix_and_zero_rhs():
    A = np.zeros((500, 80))
    res = nl.lstsq(A, np.ones(500), method="precondition", seed=0)
    assert res.rank == 0 and np.all(res.x == 0)
    rng = fresh_rng()
    res = nl.lstsq(rng.standard_normal((500, 80)), np.zeros(500), method="precondition", seed=0)
    assert res.converged and np.all(res.x == 0) and res.residual_norm == 0


def test_wide_problem_direct_minimum_norm():
    rng = fresh_rng()
    A = rng.standard_normal((40, 90))
    b = rng.standard_normal(40)
    res = nl.lstsq(A, b)  # auto -> direct
    assert res.method == "direct"
    assert rel(res.x, numpy_solution(A, b)) < 1e-12
    with pytest.raises(ValueError, match="n >= d"):
        nl.lstsq(A, b, method="precondition")


def test_sketch_and_solve_srht_consistent_system():
    """srht sketch-and-solve keeps a single-precision sketch only where its rounding is
    negligible against the residual: a consistent system is still solved to double precision."""
    rng = fresh_rng()
    A = rng.standard_normal((4000, 50))
    x = rng.standard_normal(50)
    res = nl.lstsq(A, A @ x, method="sketch", sketch="srht", eps=0.5, seed=rng)
    assert rel(res.x, x) < 1e-12
    assert res.n_passes == 4  # both sketches and their residual passes


def test_precondition_default_sketch_grows_with_tol():
    # c = clamp(30 t sqrt(n d / d^3), 4, 20 t), t = sqrt(log(1 / tol) / log(1e6)): the cap
    # 20 t at 20000 x 100, t = 1 at tol = 1e-6 and 1.58 at the default tol (4 eps).
    rng = fresh_rng()
    A = rng.standard_normal((20000, 100))
    b = A @ rng.standard_normal(100) + rng.standard_normal(20000)
    t = np.sqrt(np.log(1 / (4 * np.finfo(float).eps)) / np.log(1e6))
    loose = nl.lstsq(A, b, method="precondition", tol=1e-6, seed=rng)
    tight = nl.lstsq(A, b, method="precondition", seed=rng)
    assert loose.sketch_size == 2000
    assert tight.sketch_size == int(np.ceil(20 * t * 100)) == 3168
    assert tight.n_iter > loose.n_iter
    assert rel(tight.x, numpy_solution(A, b)) < 1e-12


@pytest.mark.parametrize("sketch", ["srht", "gaussian", "sparse_sign"])
def test_sketch_and_solve_quality(sketch):
    """Sketch-and-solve: residual within (1 + O(eps)) of optimal, better with smaller eps."""
    rng = fresh_rng()
    A = rng.standard_normal((4000, 50))
    b = A @ rng.standard_normal(50) + rng.standard_normal(4000)
    r_opt = np.linalg.norm(A @ numpy_solution(A, b) - b)
    coarse = nl.lstsq(A, b, method="sketch", sketch=sketch, eps=0.5, seed=rng)
    fine = nl.lstsq(A, b, method="sketch", sketch=sketch, eps=0.1, seed=rng)
    assert coarse.sketch_size == 200 and fine.sketch_size == 4000
    assert coarse.method == "sketch" and coarse.n_iter == 0
    assert r_opt <= coarse.residual_norm <= 1.5 * r_opt
    assert r_opt <= fine.residual_norm <= 1.05 * r_opt


def test_auto_rule():
    rng = fresh_rng()
    assert nl.lstsq(rng.standard_normal((500, 10)), np.ones(500)).method == "direct"
    assert nl.lstsq(rng.standard_normal((4000, 100)), np.ones(4000)).method == "precondition"
    assert nl.lstsq(rng.standard_normal((400, 100)), np.ones(400)).method == "direct"
    assert nl.lstsq(sp.eye(3000, 30, format="csr"), np.ones(3000)).method == "direct"
    assert nl.lstsq(sp.eye(200000, 30, format="csr"), np.ones(200000)).method == "diagonal"


def test_deterministic_for_a_seed():
    rng = fresh_rng()
    A = rng.standard_normal((3000, 70))
    b = rng.standard_normal(3000)
    first = nl.lstsq(A, b, method="sketch", seed=5).x
    assert np.array_equal(first, nl.lstsq(A, b, method="sketch", seed=5).x)
    assert not np.array_equal(first, nl.lstsq(A, b, method="sketch", seed=6).x)
    p1 = nl.lstsq(A, b, method="precondition", seed=5).x
    assert np.array_equal(p1, nl.lstsq(A, b, method="precondition", seed=5).x)


def test_layouts_noncontiguous_and_readonly():
    rng = fresh_rng()
    big = rng.standard_normal((3000, 160))
    A = big[:, ::2]
    A.flags.writeable = False
    b = rng.standard_normal(3000)
    x = numpy_solution(A, b)
    for arr in (A, np.asfortranarray(A), np.ascontiguousarray(A)):
        assert rel(nl.lstsq(arr, b, method="precondition", seed=1).x, x) < 1e-12


def test_non_convergence_is_reported():
    rng = fresh_rng()
    A, _ = haar_design(rng, 2000, 60, 1e6)
    b = rng.standard_normal(2000)
    with pytest.warns(ConvergenceWarning):
        res = nl.lstsq(A, b, method="precondition", max_iter=1, sketch_size=60, seed=rng)
    assert not res.converged and res.n_iter == 1


def test_result_is_frozen():
    res = nl.lstsq(np.eye(4), np.ones(4))
    with pytest.raises(AttributeError):
        res.x = None


A_OK = np.random.default_rng(0).standard_normal((200, 10))
B_OK = np.ones(200)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(b=np.ones(199)), ValueError, "`b` must have shape"),
    (dict(b=np.ones((200, 2, 2))), ValueError, "`b` must be"),
    (dict(A=np.ones(200)), ValueError, "`A` must be 2-D"),
    (dict(A=np.ones((200, 10, 1))), ValueError, "`A` must be 2-D"),
    (dict(A=np.ones((0, 10))), ValueError, "`A` must not be empty"),
    (dict(A=np.ones((200, 10), dtype=np.int64)), TypeError, "`A` must be a float32"),
    (dict(A=np.ones((200, 10), dtype=np.complex128)), TypeError, "`A` must be a float32"),
    (dict(A="abc"), TypeError, "`A`"),
    (dict(A=np.full((200, 10), np.nan)), ValueError, "`A` must not contain NaN"),
    (dict(A=sp.csr_matrix(np.full((200, 10), np.inf))), ValueError, "`A` must not contain"),
    (dict(b=np.full(200, np.inf)), ValueError, "`b` must not contain NaN"),
    (dict(reg=-1.0), ValueError, "`reg` must be >= 0"),
    (dict(reg=np.nan), ValueError, "`reg` must be finite"),
    (dict(tol=-1e-3), ValueError, "`tol` must be > 0"),
    (dict(tol="small"), TypeError, "`tol` must be a real number"),
    (dict(eps=0.0), ValueError, "`eps` must be > 0"),
    (dict(eps=2.0), ValueError, "`eps` must be <= 1"),
    (dict(rcond=-1.0), ValueError, "`rcond` must be >= 0"),
    (dict(max_iter=0), ValueError, "`max_iter` must be >= 1"),
    (dict(max_iter=2.5), TypeError, "`max_iter` must be an integer"),
    (dict(method="qr"), ValueError, "`method` must be one of"),
    (dict(sketch="countsketch"), ValueError, "`sketch` must be one of"),
    (dict(sketch_size=5, method="precondition"), ValueError, "`sketch_size` must be >= 10"),
    (dict(sketch_size=10**9, method="precondition"), ValueError, "`sketch_size` must be <="),
    (dict(seed=-1), ValueError, "`seed` must be >= 0"),
])
def test_bad_input(kwargs, exc, match):
    args = dict(A=A_OK, b=B_OK)
    args.update(kwargs)
    A, b = args.pop("A"), args.pop("b")
    with pytest.raises(exc, match=match):
        nl.lstsq(A, b, **args)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_diagonal_sparse_against_numpy_and_lsqr(fmt):
    rng = fresh_rng()
    A = sp.random(6000, 120, density=0.03, random_state=rng, format=fmt)
    A = A @ sp.diags(rng.uniform(0.01, 100.0, 120))  # badly scaled columns
    b = rng.standard_normal(6000)
    res = nl.lstsq(A, b, method="diagonal")
    x = numpy_solution(A.toarray(), b)
    assert res.converged and res.method == "diagonal" and res.sketch is None
    assert rel(res.x, x) < 1e-10
    x_lsqr = scipy.sparse.linalg.lsqr(A, b, atol=1e-14, btol=1e-14, iter_lim=5000)[0]
    assert rel(res.x, x_lsqr) < 1e-8


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_diagonal_sparse_float32_short_rows(index_dtype):
    """float32 values (widened as read) and either index width, on rows of 0 to a dozen
    entries (the four-row kernel of the CSR passes): LAPACK's float64 solution for the
    float32 matrix."""
    rng = fresh_rng()
    A = sp.random(9001, 90, density=0.04, random_state=rng, format="csr", dtype=np.float32)
    A.indptr, A.indices = A.indptr.astype(index_dtype), A.indices.astype(index_dtype)
    b = rng.standard_normal(9001)
    res = nl.lstsq(A, b, method="diagonal")
    assert res.converged
    assert rel(res.x, numpy_solution(A.toarray().astype(np.float64), b)) < 1e-10


def test_diagonal_dense_ridge_and_multiple_rhs():
    rng = fresh_rng()
    A = rng.standard_normal((3000, 40)) * rng.uniform(0.1, 10.0, 40)
    B = rng.standard_normal((3000, 3))
    res = nl.lstsq(A, B, method="diagonal", reg=2.0)
    x = np.linalg.solve(A.T @ A + 2.0 * np.eye(40), A.T @ B)
    assert res.converged and res.x.shape == (40, 3)
    assert rel(res.x, x) < 1e-10


def test_auto_sparse_switches_to_sketch_when_diagonal_stalls():
    rng = fresh_rng()
    A_dense, _ = haar_design(rng, 40000, 120, 1e6)  # column scaling cannot fix cond 1e6
    A = sp.csr_matrix(A_dense)
    b = A_dense @ rng.standard_normal(120) + rng.standard_normal(40000)
    res = nl.lstsq(A, b, seed=0)
    assert res.method == "precondition" and res.converged
    assert rel(res.x, numpy_solution(A_dense, b)) < 1e-8


@pytest.mark.parametrize("max_iter", [5, 40, 46])
def test_auto_sparse_probe_counts_against_max_iter(max_iter):
    # The diagonal probe (40 iterations) stalls on cond 1e6; its iterations count against
    # max_iter, and the warning names the limit the caller gave.
    rng = fresh_rng()
    A_dense, _ = haar_design(rng, 40000, 120, 1e6)
    A = sp.csr_matrix(A_dense)
    b = A_dense @ rng.standard_normal(120) + rng.standard_normal(40000)
    with pytest.warns(ConvergenceWarning, match=f"max_iter = {max_iter} iterations"):
        res = nl.lstsq(A, b, seed=0, tol=1e-14, max_iter=max_iter)
    assert not res.converged and res.n_iter == max_iter
    assert res.method == ("diagonal" if max_iter <= 40 else "precondition")


def test_auto_sparse_uses_diagonal_for_random_sparse():
    rng = fresh_rng()
    A = sp.random(60000, 80, density=0.02, random_state=rng, format="csr")
    b = rng.standard_normal(60000)
    res = nl.lstsq(A, b)
    x = numpy_solution(A.toarray(), b)
    assert res.method == "diagonal" and res.converged
    assert rel(res.x, x) < 1e-10


@pytest.mark.parametrize("tol", [1e-6, 1e-9])
@pytest.mark.parametrize("kind", ["gaussian", "cond1e6", "consistent", "two_rhs"])
def test_loose_tol_meets_its_bound(tol, kind):
    # A loose tol may stop on the CG recurrences without a confirming pass: the answer must
    # still meet the stopping bound against NumPy's solution, and residual_norm must be the
    # true residual norm.
    rng = fresh_rng()
    n, d = 4000, 60
    if kind == "cond1e6":
        A, _ = haar_design(rng, n, d, 1e6)
    else:
        A = rng.standard_normal((n, d))
    b = rng.standard_normal((n, 2) if kind == "two_rhs" else n)
    if kind == "consistent":
        b = A @ rng.standard_normal(d) + 1e-3 * b
    res = nl.lstsq(A, b, method="precondition", tol=tol, seed=rng)
    assert res.converged
    x = numpy_solution(A, b)
    B, X, X_ref = (b.reshape(n, -1), res.x.reshape(d, -1), x.reshape(d, -1))
    anorm = np.linalg.norm(A, 2)
    r_true = np.linalg.norm(A @ X - B, axis=0)
    np.testing.assert_allclose(np.atleast_1d(res.residual_norm), r_true, rtol=1e-10)
    for j in range(B.shape[1]):
        err = np.linalg.norm(A @ (X[:, j] - X_ref[:, j]))
        scale = r_true[j] + anorm * np.linalg.norm(X[:, j]) + np.linalg.norm(B[:, j])
        assert err <= 10 * tol * scale
    if kind == "gaussian":
        # The sketch, one pass per iteration, and the first residual pass unless zero was
        # clearly the better start (here near the line: about 0.28 against kClearZeroStart's
        # 0.25, so either, by the sketch).
        assert res.n_passes in (res.n_iter + 1, res.n_iter + 2)


@pytest.mark.parametrize("kind", ["noise", "two_noise", "float32", "consistent", "ridge"])
def test_noise_dominated_b_starts_from_zero_without_a_first_pass(kind):
    # At this size the sparse sign sketch goes by column panels and forms A^T b as it reads A.
    # When b is mostly noise, zero is clearly the better start and CG begins from A^T b: the
    # sketch and one pass per iteration. A b well explained by A (or ridge) keeps the pass
    # that measures both starts. Either way the answer is NumPy's.
    rng = fresh_rng()
    n, d = 20000, 100
    A = rng.standard_normal((n, d))
    b = rng.standard_normal((n, 2) if kind == "two_noise" else n)
    if kind == "consistent":
        b = A @ rng.standard_normal(d) + 1e-3 * b
    if kind == "float32":
        A = A.astype(np.float32)
    reg = 2.0 if kind == "ridge" else 0.0
    Ad = A.astype(np.float64)
    x = np.linalg.solve(Ad.T @ Ad + reg * np.eye(d), Ad.T @ b)
    loose = nl.lstsq(A, b, method="precondition", tol=1e-6, reg=reg, seed=rng)
    # Passes besides the iterations: the sketch; the pass measuring both starts; with ridge,
    # the confirming pass (the recurrences are trusted only without it).
    extra = {"consistent": 2, "ridge": 3}.get(kind, 1)
    assert loose.converged and loose.n_passes == loose.n_iter + extra
    # The recurrences were trusted there, A^T b included: the loose answer meets tol's bound.
    X, X_ref = loose.x.reshape(d, -1), x.reshape(d, -1)
    B = b.reshape(n, -1)
    for j in range(B.shape[1]):
        scale = (np.linalg.norm(B[:, j] - Ad @ X[:, j]) + np.linalg.norm(Ad, 2)
                 * np.linalg.norm(X[:, j]) + np.linalg.norm(B[:, j]))
        assert np.linalg.norm(Ad @ (X[:, j] - X_ref[:, j])) <= 1e-5 * scale
    full = nl.lstsq(A, b, method="precondition", reg=reg, seed=rng)
    assert full.converged and rel(full.x, x) < 1e-10
    r = np.linalg.norm(b.reshape(n, -1) - Ad @ full.x.reshape(d, -1), axis=0)
    np.testing.assert_allclose(np.atleast_1d(full.residual_norm), r, rtol=1e-12)


@pytest.mark.parametrize("span", [1.5, 3.0])
def test_columns_in_different_units_keep_the_preconditioner(span):
    # Columns scaled by 10^U(-span, span): cond(A) grows to about 10^(2 span), but the Gram
    # matrix's rounding is relative to the columns' norms, so the fast Cholesky factor stays
    # (accepted on the condition number of the unit-norm columns) and as good: the
    # preconditioned operator A S (R S)^-1 is the unscaled one, and CG needs no more
    # iterations. The answer matches LAPACK to its own accuracy.
    rng = fresh_rng()
    n, d = 20000, 100
    A = rng.standard_normal((n, d))
    b = A @ rng.standard_normal(d) + rng.standard_normal(n)
    plain = nl.lstsq(A, b, method="precondition", seed=4)
    scaled = A * 10.0 ** rng.uniform(-span, span, d)
    res = nl.lstsq(scaled, b, method="precondition", seed=4)
    assert res.converged and res.n_iter <= plain.n_iter + 1
    x = numpy_solution(scaled, b)
    r = np.linalg.norm(b - scaled @ res.x)
    s = np.linalg.svd(scaled, compute_uv=False)
    bound = 1e2 * np.finfo(float).eps * (s[0] * np.linalg.norm(x) + s[0] / s[-1] * r)
    assert np.linalg.norm(scaled @ (res.x - x)) <= bound
    assert abs(res.residual_norm - r) <= 1e-12 * r


def ones_shrunk_jacobi_transpose(A, reg, g):
    """F^T g for the diagonal method's factor F = N (I + c u u^T): N = diag(1 / ||a_j||)
    (with reg), u = N^-1 1 normalised, c = min(0, lambda^-1/2 - 1) with lambda the Rayleigh
    quotient (||A 1||^2 + reg d) / ||N^-1 1||^2 (all columns nonzero here)."""
    col2 = (A ** 2).sum(axis=0) + reg
    u = np.sqrt(col2)
    lam = (np.linalg.norm(A.sum(axis=1)) ** 2 + reg * A.shape[1]) / (u @ u)
    c = min(0.0, 1.0 / np.sqrt(lam) - 1.0)
    u = u / np.linalg.norm(u)
    v = g / np.sqrt(col2)
    return v + c * u * (u @ v)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("reg", [0.0, 3.0])
def test_diagonal_one_signed_design_shrinks_the_ones_direction(fmt, reg):
    """Nonnegative entries make A N have one large singular value along N^-1 1; the factor
    shrinks it (about one CG iteration saved), and the answer still matches the normal
    equations to the default accuracy. Zero-mean entries leave plain Jacobi."""
    rng = fresh_rng()
    n, d = 30000, 50
    A = sp.random(n, d, density=0.05, random_state=rng, format=fmt)
    b = rng.standard_normal(n)
    Ad = A.toarray()
    x = np.linalg.solve(Ad.T @ Ad + reg * np.eye(d), Ad.T @ b)
    res = nl.lstsq(A, b, method="diagonal", reg=reg)
    assert res.converged and rel(res.x, x) < 1e-10
    assert abs(res.residual_norm - np.linalg.norm(b - Ad @ res.x)) <= 1e-10 * np.linalg.norm(b)
    # Same problem, signs flipped at random (no ones direction): it converges too.
    signs = sp.diags(rng.choice([-1.0, 1.0], n))
    B = (signs @ A).asformat(fmt)
    Bd = B.toarray()
    xb = np.linalg.solve(Bd.T @ Bd + reg * np.eye(d), Bd.T @ b)
    resb = nl.lstsq(B, b, method="diagonal", reg=reg)
    assert resb.converged and rel(resb.x, xb) < 1e-10
    # At a loose tol (recurrences trusted through the drift bound) the stopping rule holds on
    # the true gradient scaled by F.
    loose = nl.lstsq(A, b, method="diagonal", reg=reg, tol=1e-6)
    r = b - Ad @ loose.x
    s = ones_shrunk_jacobi_transpose(Ad, reg, Ad.T @ r - reg * loose.x)
    scale = (np.linalg.norm(r) + np.sqrt(((Ad ** 2).sum(axis=0) + reg).max())
             * np.linalg.norm(loose.x) + np.linalg.norm(b))
    assert loose.converged and np.linalg.norm(s) <= 1e-6 * scale


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("reg", [0.0, 0.5])
def test_diagonal_loose_tol_skips_the_confirming_pass_only_when_safe(index_dtype, reg):
    """At a loose tol the recurrences' drift bound replaces the confirming residual pass
    (n_passes = n_iter + 1); the result must still meet tol against the true gradient, and
    the reported residual norm must be the true one."""
    rng = fresh_rng()
    A = sp.random(40000, 60, density=0.05, random_state=rng, format="csr")
    A.indptr, A.indices = A.indptr.astype(index_dtype), A.indices.astype(index_dtype)
    b = rng.standard_normal(40000)
    Ad = A.toarray()
    tol = 1e-6
    res = nl.lstsq(A, b, method="diagonal", tol=tol, reg=reg)
    assert res.converged
    assert res.n_passes == res.n_iter + 1
    r = b - Ad @ res.x
    assert abs(res.residual_norm - np.linalg.norm(r)) <= 1e-8 * np.linalg.norm(r)
    # The stopping rule on the true gradient, scaled by the diagonal method's factor F^T.
    col = np.sqrt((Ad ** 2).sum(axis=0) + reg)
    s = ones_shrunk_jacobi_transpose(Ad, reg, Ad.T @ r - reg * res.x)
    scale = np.linalg.norm(r) + col.max() * np.linalg.norm(res.x) + np.linalg.norm(b)
    assert np.linalg.norm(s) <= tol * scale
    x = np.linalg.solve(Ad.T @ Ad + reg * np.eye(60), Ad.T @ b)
    assert rel(res.x, x) < 1e-4
    # At the default tol (a few eps) the pass is always made.
    full = nl.lstsq(A, b, method="diagonal", reg=reg)
    assert full.converged and full.n_passes >= full.n_iter + 2
    assert rel(full.x, x) < 1e-10


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("method", ["diagonal", "auto", "precondition", "direct"])
@pytest.mark.parametrize("defect", ["index", "negative index", "indptr", "indptr end"])
@pytest.mark.parametrize("claimed_canonical", [True, False])
def test_malformed_csr_raises_naming_A(index_dtype, method, defect, claimed_canonical):
    rng = fresh_rng()
    A = sp.random(3000, 40, density=0.1, random_state=rng, format="csr")
    indptr = A.indptr.astype(index_dtype)
    indices = A.indices.astype(index_dtype)
    if defect == "index":
        indices[len(indices) // 2] = 40
    elif defect == "negative index":
        indices[-1] = -1
    elif defect == "indptr":
        indptr[1500] = indptr[1502] + 3
    else:
        indptr[1200] = indptr[-1] + 10
    bad = sp.csr_matrix((A.data, indices, indptr), shape=A.shape)
    if claimed_canonical:
        bad.has_canonical_format = True  # as a caller that built the arrays itself may claim
    # Unclaimed, SciPy's own canonicalisation (which trusts indptr) must not run on it.
    with pytest.raises(ValueError, match="A"):
        nl.lstsq(bad, rng.standard_normal(3000), method=method, seed=0)


@pytest.mark.parametrize("fmt", ["csr", "csc", "bsr", "coo"])
def test_malformed_index_arrays_refused_before_scipy_reads_them(fmt):
    # An indptr that runs past the arrays (or COO coordinates outside the shape) would make
    # SciPy's sort/convert routines read or write out of bounds: refused first.
    rng = fresh_rng()
    A = sp.random(200, 20, density=0.2, random_state=rng, format=fmt)
    if fmt == "coo":
        A.row[5] = 10**6
    else:
        A.indptr[3] = 10**6
    with pytest.raises(ValueError, match="`A` is malformed"):
        nl.lstsq(A, rng.standard_normal(200))


@pytest.mark.parametrize("method", ["sketch", "precondition", "diagonal", "direct"])
@pytest.mark.parametrize("scale", [1e-300, 1e-50, 1e155, 1e300])
def test_solution_scales_with_b_at_any_magnitude(method, scale):
    # Squares of b over- or underflow beyond 1e+-154 (and single-precision sketches far
    # earlier): x and the residual norm must scale with b exactly as at unit scale.
    rng = np.random.default_rng()
    A = rng.standard_normal((1500, 30))
    b = rng.standard_normal(1500)
    base = nl.lstsq(A, b, method=method, seed=0)
    for data in (A, sp.csr_matrix(A)):
        if method == "sketch" and sp.issparse(data):
            continue  # another sketch: compared with its own unit-scale solve below
        res = nl.lstsq(data, b * scale, method=method, seed=0)
        # b * scale is b rounded anew: sketch-and-solve in single precision moves with that
        # rounding by up to its own tolerance (a small share of the residual), not 1e-12.
        rtol = 1e-4 if method == "sketch" else 1e-12
        assert np.linalg.norm(res.x / scale - base.x) <= rtol * np.linalg.norm(base.x)
        np.testing.assert_allclose(res.residual_norm / scale, base.residual_norm, rtol=rtol)


@pytest.mark.parametrize("sketch", ["srht", "gaussian", "sparse_sign"])
def test_float32_data_near_its_limit_is_solved(sketch):
    rng = np.random.default_rng()
    A = (rng.standard_normal((3000, 12)) * 1e37).astype(np.float32)
    b = rng.standard_normal(3000)
    ref = np.linalg.lstsq(A.astype(np.float64), b, rcond=None)[0]
    res = nl.lstsq(A, b, method="precondition", sketch=sketch, seed=0)
    assert res.rank == 12
    np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_unreachable_tol_stops_unconverged_without_blowing_up():
    rng = np.random.default_rng()
    A = rng.standard_normal((600, 15))
    b = rng.standard_normal(600)
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    for method in ("precondition", "diagonal"):
        with pytest.warns(ConvergenceWarning):
            res = nl.lstsq(A, b, method=method, tol=1e-200, max_iter=20000, seed=0)
        assert not res.converged and res.n_iter < 2000
        np.testing.assert_allclose(res.x, ref, rtol=1e-10, atol=1e-12)


def test_byte_swapped_and_strided_inputs_are_read():
    rng = np.random.default_rng()
    A = rng.standard_normal((300, 5))
    b = rng.standard_normal(300)
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(nl.lstsq(A.astype(">f8"), b.astype(">f8")).x, ref, rtol=1e-10)
    # CSR whose data is a strided view (32-bit indices are read in place).
    vals = np.stack([A.ravel(), np.zeros(A.size)], axis=1)[:, 0]
    assert not vals.flags.c_contiguous
    csr = sp.csr_matrix((vals, np.tile(np.arange(5), 300), np.arange(0, 1501, 5)), shape=(300, 5))
    np.testing.assert_allclose(nl.lstsq(csr, b).x, ref, rtol=1e-10)


@pytest.mark.parametrize("kwargs,match", [
    (dict(max_iter=2**63), "`max_iter`"), (dict(tol=10**400), "`tol`"),
    (dict(reg=10**400), "`reg`")])
def test_out_of_range_numbers_are_refused_by_name(kwargs, match):
    A = np.random.default_rng(0).standard_normal((50, 3))
    with pytest.raises(ValueError, match=match):
        nl.lstsq(A, A[:, 0], **kwargs)


@pytest.mark.parametrize("scale", [1e155, 1e-160])
def test_a_beyond_the_squares_range_is_solved_by_direct_and_refused_by_the_others(scale):
    rng = np.random.default_rng()
    A = rng.standard_normal((300, 5))
    b = rng.standard_normal(300)
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    res = nl.lstsq(A * scale, b, method="direct")
    np.testing.assert_allclose(res.x * scale, ref, rtol=1e-10)
    assert res.rank == 5
    for method in ("precondition", "diagonal", "sketch"):
        with pytest.raises(ValueError, match="`A` has entries of magnitude"):
            nl.lstsq(A * scale, b, method=method, seed=0)
