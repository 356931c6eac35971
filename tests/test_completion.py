import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import nearlinear
from nearlinear._native import core
from nearlinear import completion
from nearlinear._warnings import ConvergenceWarning
from nearlinear.completion import (DEFAULT_SAMPLES, CompletionModel, MatrixCompletion, complete,
                                   complete_sparse)

# Fixed sweep counts (max_iter with tol=0) are deliberate in several tests.
pytestmark = pytest.mark.filterwarnings("ignore::nearlinear._warnings.ConvergenceWarning")


def low_rank_problem(m, n, k, fraction, seed, noise=0.0):
    """An incoherent rank-k matrix (Gaussian factors) and a uniform sample of its entries."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, k))
    Y = rng.standard_normal((n, k))
    nnz = int(fraction * m * n)
    lin = rng.choice(m * n, size=nnz, replace=False)
    rows, cols = lin // n, lin % n
    values = np.einsum("ij,ij->i", X[rows], Y[cols]) + noise * rng.standard_normal(nnz)
    return X @ Y.T, rows, cols, values


def rel_error(model, M):
    return np.linalg.norm(model.to_dense() - M) / np.linalg.norm(M)


@pytest.mark.parametrize("method", ["als", "robust-am"])
def test_exact_recovery_of_noiseless_low_rank_matrix(method):
    # 600 x 500 rank 5 at 6% observed: about 6.5 observations per degree of freedom.
    M, rows, cols, values = low_rank_problem(600, 500, 5, 0.06, seed=1)
    model = complete(rows, cols, values, M.shape, rank=5, method=method, reg=0.0, biases=False,
                     tol=1e-12, max_iter=200, seed=0)
    assert model.converged
    assert rel_error(model, M) < 1e-6  # on all entries, not just the observed ones


def numpy_als_sweep(rows, cols, values, shape, X, Y, reg, bias_reg, mu):
    """One exact ALS-WR sweep of the biased model, written independently with NumPy.

    X = [U, b] and Y = [V, c]; row i solves (A^T A + n_i diag(ridge)) x = A^T (y - mu - c).
    """
    k = X.shape[1] - 1
    ridge = np.array([reg] * k + [bias_reg])
    X, Y = X.copy(), Y.copy()
    for T, F, own, other in ((X, Y, rows, cols), (Y, X, cols, rows)):
        for i in range(T.shape[0]):
            sel = np.flatnonzero(own == i)
            if sel.size == 0:
                T[i] = 0.0
                continue
            j = other[sel]
            A = np.hstack([F[j, :k], np.ones((sel.size, 1))])
            y = values[sel] - mu - F[j, k]
            T[i] = np.linalg.solve(A.T @ A + sel.size * np.diag(ridge), A.T @ y)
    return X, Y


def test_one_als_sweep_equals_numpy_reference():
    rng = np.random.default_rng(3)
    m, n, k = 40, 30, 3
    lin = rng.choice(m * n, size=500, replace=False)
    rows, cols = lin // n, lin % n
    values = rng.uniform(1, 5, size=500)
    solver = core.CompletionSolver(rows, cols, values, m, n, k, "als", 0.2, 0.07, True, 5, 0.3, 10)
    solver.initialize()
    X0 = np.hstack([solver.U, solver.row_bias[:, None]])
    Y0 = np.hstack([solver.V, solver.col_bias[:, None]])
    solver.sweep()
    X1, Y1 = numpy_als_sweep(rows, cols, values, (m, n), X0, Y0, 0.2, 0.07, values.mean())
    np.testing.assert_allclose(solver.U, X1[:, :k], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(solver.row_bias, X1[:, k], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(solver.V, Y1[:, :k], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(solver.col_bias, Y1[:, k], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("tol", [1e-1, 1e-4, 1e-10])
def test_row_solve_reaches_requested_accuracy(tol):
    rng = np.random.default_rng(7)
    A = rng.standard_normal((120, 12)) * rng.uniform(0.2, 3.0, size=12)
    y = rng.standard_normal(120)
    lam = np.full(12, 0.5)
    x0 = rng.standard_normal(12)
    exact = np.linalg.solve(A.T @ A + np.diag(lam), A.T @ y)
    residual = lambda x: np.linalg.norm(A.T @ y - A.T @ (A @ x) - lam * x)  # noqa: E731
    P = A.T @ A / 120 * 0.7 + np.diag(lam) / 120
    for L in (np.zeros((0, 0)), np.linalg.cholesky(P)):
        x, iterations = core.completion_pcg_row_solve(A, y, lam, L, tol, 200, x0)
        assert residual(x) <= tol * residual(x0) * (1 + 1e-8)
        assert 1 <= iterations <= 200
    x, _ = core.completion_pcg_row_solve(A, y, lam, np.zeros((0, 0)), 1e-14, 200, x0)
    np.testing.assert_allclose(x, exact, rtol=1e-9)


def test_noise_gives_error_at_the_noise_level():
    sigma = 0.1
    M, rows, cols, values = low_rank_problem(400, 300, 4, 0.15, seed=2, noise=sigma)
    model = complete(rows, cols, values, M.shape, rank=4, reg=0.0, biases=False, tol=1e-8,
                     max_iter=100, seed=0)
    rms_error = np.sqrt(np.mean((model.to_dense() - M) ** 2))
    # Error of a least-squares fit: about sigma * sqrt(degrees of freedom / observations).
    dof = 4 * (400 + 300)
    assert rms_error < 3 * sigma * np.sqrt(dof / values.size)
    assert abs(model.history["train_rmse"][-1] - sigma) < 0.2 * sigma


@pytest.mark.parametrize("method", ["als", "robust-am"])
def test_seed_reproducibility(method):
    _, rows, cols, values = low_rank_problem(120, 90, 3, 0.2, seed=4, noise=0.05)
    a = complete(rows, cols, values, rank=3, method=method, seed=11, max_iter=5)
    b = complete(rows, cols, values, rank=3, method=method, seed=11, max_iter=5)
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.V, b.V)
    np.testing.assert_array_equal(a.row_bias, b.row_bias)


def test_result_does_not_depend_on_thread_count():
    _, rows, cols, values = low_rank_problem(300, 200, 3, 0.1, seed=5, noise=0.05)
    before = nearlinear.get_num_threads()
    try:
        out = []
        for threads in (1, 2, 3):
            nearlinear.set_num_threads(threads)
            out.append(complete(rows, cols, values, rank=3, seed=1, max_iter=4, tol=1e-12))
    finally:
        nearlinear.set_num_threads(before)
    for model in out[1:]:
        np.testing.assert_array_equal(model.U, out[0].U)
        np.testing.assert_array_equal(model.col_bias, out[0].col_bias)


def test_cold_start_rows_and_columns_predict_mean_plus_bias():
    rng = np.random.default_rng(6)
    rows = rng.integers(0, 20, size=150)
    cols = rng.integers(0, 15, size=150)
    pairs = np.unique(rows * 15 + cols)
    rows, cols = pairs // 15, pairs % 15
    values = rng.uniform(1, 5, size=rows.size)
    model = complete(rows, cols, values, (25, 18), rank=2, seed=0)  # rows 20-24, cols 15-17 unseen
    pred = model.predict(np.array([22, 3, 24]), np.array([4, 16, 17]))
    assert np.all(np.isfinite(pred))
    assert pred[0] == pytest.approx(model.mean + model.col_bias[4])
    assert pred[1] == pytest.approx(model.mean + model.row_bias[3])
    assert pred[2] == pytest.approx(model.mean)
    assert np.all(model.U[20:] == 0) and np.all(model.V[15:] == 0)


@pytest.mark.parametrize("method", ["als", "robust-am"])
def test_biases_and_factors_recover_a_biased_low_rank_matrix(method):
    rng = np.random.default_rng(8)
    m, n = 80, 60
    b, c = rng.standard_normal(m), rng.standard_normal(n)
    x, y = rng.standard_normal(m), rng.standard_normal(n)
    full = 3.0 + b[:, None] + c[None, :] + np.outer(x, y)
    lin = rng.choice(m * n, size=2000, replace=False)
    rows, cols = lin // n, lin % n
    model = complete(rows, cols, full[rows, cols], (m, n), rank=1, method=method, reg=1e-12,
                     bias_reg=1e-12, tol=1e-11, max_iter=100, seed=0)
    assert np.abs(model.to_dense() - full).max() < 1e-5


def test_validation_history_and_early_stopping():
    _, rows, cols, values = low_rank_problem(200, 150, 3, 0.2, seed=9, noise=0.3)
    held = slice(0, 500)
    model = complete(rows[500:], cols[500:], values[500:], (200, 150), rank=8, reg=0.0,
                     bias_reg=0.0, validation=(rows[held], cols[held], values[held]),
                     max_iter=60, tol=0.0, seed=0)
    history = model.history
    assert len(history["train_rmse"]) == model.n_iter == len(history["time"])
    assert np.all(np.isfinite(history["validation_rmse"]))
    assert np.all(np.diff(history["time"]) >= 0)
    best = np.min(history["validation_rmse"])
    assert model.rmse(rows[held], cols[held], values[held]) == pytest.approx(best)
    assert model.converged and model.n_iter < 60  # overfitting at rank 8 without reg stops it


def test_objective_decreases_every_sweep():
    _, rows, cols, values = low_rank_problem(150, 100, 3, 0.2, seed=10, noise=0.2)
    for method in ("als", "robust-am"):
        model = complete(rows, cols, values, rank=3, method=method, max_iter=15, tol=0.0,
                         seed=0, samples=0)
        assert np.all(np.diff(model.history["objective"]) <= 1e-12)


def test_callback_sees_models_and_can_stop():
    _, rows, cols, values = low_rank_problem(100, 80, 2, 0.3, seed=12)
    seen = []

    def callback(sweep, model):
        seen.append((sweep, model))
        return sweep == 3

    model = complete(rows, cols, values, rank=2, callback=callback, tol=0.0, seed=0)
    assert [s for s, _ in seen] == [1, 2, 3]
    assert isinstance(seen[0][1], CompletionModel)
    assert model.n_iter == 3 and model.converged


def test_max_iter_reached_warns():
    _, rows, cols, values = low_rank_problem(100, 80, 2, 0.3, seed=13)
    with pytest.warns(ConvergenceWarning):
        model = complete(rows, cols, values, rank=2, max_iter=2, tol=0.0, seed=0, samples=0)
    assert not model.converged and model.n_iter == 2


def test_show_progress_runs(capsys):
    _, rows, cols, values = low_rank_problem(60, 50, 2, 0.3, seed=14)
    complete(rows, cols, values, rank=2, show_progress=True, max_iter=3, tol=0.0, seed=0,
             callback=lambda s, m: False)


def test_complete_sparse_matches_triplets():
    _, rows, cols, values = low_rank_problem(90, 70, 2, 0.3, seed=15)
    X = sp.csr_matrix((values, (rows, cols)), shape=(90, 70))
    a = complete_sparse(X, rank=2, seed=3, max_iter=4, tol=0.0, callback=lambda s, m: False)
    coo = X.tocoo()
    b = complete(coo.row, coo.col, coo.data, X.shape, rank=2, seed=3, max_iter=4, tol=0.0,
                 callback=lambda s, m: False)
    np.testing.assert_array_equal(a.U, b.U)


def test_estimator_fit_predict_and_params():
    M, rows, cols, values = low_rank_problem(100, 80, 2, 0.3, seed=16)
    est = MatrixCompletion(rank=2, reg=0.0, biases=False, tol=1e-10, max_iter=100,
                           random_state=0)
    assert est.get_params()["rank"] == 2
    assert est.fit(np.column_stack([rows, cols]), values) is est
    pairs = np.array([[5, 7], [99, 79]])
    np.testing.assert_allclose(est.predict(pairs), M[pairs[:, 0], pairs[:, 1]], atol=1e-6)
    assert est.score(np.column_stack([rows, cols]), values) > -1e-6
    assert est.U_.shape == (100, 2) and est.n_iter_ >= 1
    est2 = MatrixCompletion().set_params(rank=3)
    assert est2.rank == 3
    with pytest.raises(completion.NotFittedError, match="not fitted"):
        MatrixCompletion().predict(pairs)


def test_unfitted_estimator_raises_scikit_learns_not_fitted_error():
    sklearn_exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(sklearn_exceptions.NotFittedError, match="not fitted"):
        MatrixCompletion().predict([[0, 0]])
    with pytest.raises(ValueError, match="not fitted"):
        MatrixCompletion().score([[0, 0]], [1.0])
    with pytest.raises(AttributeError, match="not fitted"):
        MatrixCompletion().predict([[0, 0]])


def test_not_fitted_error_without_scikit_learn():
    # The fallback class keeps scikit-learn's contract: a ValueError and an AttributeError.
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "from nearlinear.completion import MatrixCompletion, NotFittedError\n"
            "assert issubclass(NotFittedError, ValueError)\n"
            "assert issubclass(NotFittedError, AttributeError)\n"
            "assert NotFittedError.__module__ == 'nearlinear.completion'\n"
            "try:\n"
            "    MatrixCompletion().predict([[0, 0]])\n"
            "except NotFittedError as e:\n"
            "    assert 'not fitted' in str(e)\n"
            "else:\n"
            "    raise AssertionError('no error')\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(__file__))


# -- bad input ---------------------------------------------------------------------------

GOOD = dict(rows=np.array([0, 1, 2]), cols=np.array([0, 1, 0]), values=np.array([1.0, 2.0, 3.0]))


def call(**changes):
    args = {**GOOD, **changes}
    shape = args.pop("shape", None)
    kwargs = args.pop("kwargs", {})
    kwargs.setdefault("rank", 1)
    return complete(args["rows"], args["cols"], args["values"], shape, **kwargs)


@pytest.mark.parametrize("changes, error, match", [
    (dict(rows=np.array([0, 1, 1]), cols=np.array([0, 1, 1])), ValueError, "duplicated"),
    (dict(rows=np.array([0, -1, 2])), ValueError, "`rows` must be non-negative"),
    (dict(cols=np.array([0, 5, 0]), shape=(3, 4)), ValueError, "`cols` has index 5"),
    (dict(shape=(2, 2)), ValueError, "`rows` has index 2"),
    (dict(values=np.array([1.0, np.nan, 3.0])), ValueError, "`values` must not contain NaN"),
    (dict(values=np.array([1.0, np.inf, 3.0])), ValueError, "`values`"),
    (dict(values=np.array([1.0, 2.0])), ValueError, "`values` must have the same length"),
    (dict(rows=np.array([0.0, 1.0, 2.0])), TypeError, "`rows` must be an array of integers"),
    (dict(rows=np.array([[0, 1, 2]])), ValueError, "`rows` must be 1-D"),
    (dict(rows=np.array([], dtype=int), cols=np.array([], dtype=int), values=np.array([])),
     ValueError, "must not be empty"),
    (dict(values=np.array(["a", "b", "c"])), TypeError, "`values`"),
    (dict(shape=(3,)), ValueError, "`shape`"),
    (dict(shape=(0, 3)), ValueError, "shape"),
    (dict(shape=(2**31, 3)), ValueError, "shape"),
    (dict(kwargs=dict(method="svd")), ValueError, "`method`"),
    (dict(kwargs=dict(reg=-1.0)), ValueError, "`reg`"),
    (dict(kwargs=dict(reg=np.nan)), ValueError, "`reg`"),
    (dict(kwargs=dict(bias_reg=-1.0)), ValueError, "`bias_reg`"),
    (dict(kwargs=dict(max_iter=0)), ValueError, "`max_iter`"),
    (dict(kwargs=dict(tol=-1.0)), ValueError, "`tol`"),
    (dict(kwargs=dict(inner_tol=1.0)), ValueError, "`inner_tol`"),
    (dict(kwargs=dict(max_inner=0)), ValueError, "`max_inner`"),
    (dict(kwargs=dict(max_inner=2**31)), ValueError, "`max_inner` must be <= 100000"),
    (dict(kwargs=dict(samples=2**31)), ValueError, "`samples` must be <= 100000"),
    (dict(kwargs=dict(samples=2**29)), ValueError, "`samples` must be <= 100000"),
    # 3e6 x 3e6 at rank 1 and 1e5 samples: 8.7 TiB of stacked factors.
    (dict(shape=(3 * 10**6, 3 * 10**6), kwargs=dict(samples=100_000)), ValueError,
     "`samples` = 100000 needs .* GiB for the averaged factors"),
    # Rank 2**31 - 1 on a 2**31 - 1 square: far more factors than any memory.
    (dict(shape=(2**31 - 1, 2**31 - 1), kwargs=dict(rank=2**31 - 1)), ValueError,
     "`rank` = 2147483647 with shape .* GiB for the factors"),
    (dict(values=np.array([1.0, 2.0, 3.0]) * 1e-300, kwargs=dict(reg=1e300)), ValueError,
     "`reg` = 1e\\+300 is too large"),
    (dict(kwargs=dict(biases="yes")), TypeError, "`biases`"),
    (dict(kwargs=dict(callback=3)), TypeError, "`callback`"),
    (dict(kwargs=dict(validation=([0], [0]))), ValueError, "`validation`"),
    (dict(kwargs=dict(validation=([0], [9], [1.0]))), ValueError, "validation cols"),
])
def test_bad_input_is_a_clear_error(changes, error, match):
    with pytest.raises(error, match=match):
        call(**changes)


@pytest.mark.parametrize("rank", [0, 4])
def test_rank_must_fit_the_shape(rank):
    with pytest.raises(ValueError, match="`rank`"):
        complete(GOOD["rows"], GOOD["cols"], GOOD["values"], (3, 3), rank=rank)


def test_sparse_input_errors():
    with pytest.raises(TypeError, match="`X`"):
        complete_sparse(np.ones((3, 3)))
    with pytest.raises(ValueError, match="no stored entries"):
        complete_sparse(sp.csr_matrix((3, 3)))
    dup = sp.coo_matrix((np.array([1.0, 2.0]), (np.array([0, 0]), np.array([1, 1]))),
                        shape=(3, 3))
    with pytest.raises(ValueError, match="duplicated"):
        complete_sparse(dup, rank=1)
    # Index arrays that SciPy's conversion would follow out of bounds are refused first.
    bad = sp.csr_matrix(np.ones((4, 4)))
    bad.indptr[2] = 10**6
    with pytest.raises(ValueError, match="`X` is malformed"):
        complete_sparse(bad, rank=1)
    for fmt in ("csr", "csc"):
        wide = sp.csr_matrix(np.ones((4, 4))).asformat(fmt)
        wide.indices[3] = 4
        with pytest.raises(ValueError, match=r"`X` is malformed: its indices must be in \[0, 4\)"):
            complete_sparse(wide, rank=1)
    nan = sp.csr_matrix(np.ones((4, 4)))
    nan.data[5] = np.nan
    with pytest.raises(ValueError, match="`X` must not contain NaN or inf"):
        complete_sparse(nan, rank=1)


def test_predict_errors():
    model = call()
    with pytest.raises(ValueError, match="`rows` has index"):
        model.predict(np.array([3]), np.array([0]))
    with pytest.raises(ValueError, match="same length"):
        model.predict(np.array([0, 1]), np.array([0]))
    assert model.predict(np.array([], dtype=int), np.array([], dtype=int)).shape == (0,)
    # Empty sequences are float64 to NumPy: still empty index arrays.
    assert model.predict([], []).shape == (0,)
    assert model.predict((), np.array([], dtype=np.uint8)).shape == (0,)
    with pytest.raises(TypeError, match="`rows` must be an array of integers"):
        model.predict([0.0], [0])


# -- posterior averaging (Bayesian matrix factorisation by Gibbs sampling) ---------------------

def _gibbs_solver(rows, cols, values, shape, k, seed):
    solver = core.CompletionSolver(rows, cols, values, shape[0], shape[1], k, "als", 0.1, 0.1,
                                   True, seed, 0.3, 10)
    solver.initialize()
    solver.sweep()
    return solver


@pytest.mark.parametrize("k", [3, 10, 21, 25])
def test_gibbs_sweep_draws_each_row_from_its_gaussian_conditional(k):
    # Row i given the columns V (and prior mu, Lambda, noise precision alpha) is
    # N(Q^-1 (Lambda mu + alpha A^T y), Q^-1) with Q = Lambda + alpha A^T A; checked against
    # NumPy for every row and column, and the whitened draws L^T (x - mean) are N(0, 1).
    # k = 3, 10, 21 and 25 give padded widths 8 and 12 (Gram in one pass where the registers
    # allow), 24 (compile-time width, gathered design) and 28 (run-time width).
    shape = (400, 300)
    _, rows, cols, values = low_rank_problem(*shape, k, 0.1, seed=21, noise=0.3)
    solver = _gibbs_solver(rows, cols, values, shape, k, seed=5)
    solver.gibbs_sweep(0)
    alpha, mu = solver.noise_precision, solver.mean
    if k == 3:  # the true rank: noise precision near 1/0.3^2 (the fit absorbs a little)
        assert 1.0 < alpha < 1 / 0.2**2
    new_rows = np.column_stack([solver.U, solver.row_bias])
    new_cols = np.column_stack([solver.V, solver.col_bias])
    # The training RMSE the sweep accumulates from its Gram matrices, against the residuals.
    pred = (mu + solver.row_bias[rows] + solver.col_bias[cols]
            + np.einsum("ij,ij->i", solver.U[rows], solver.V[cols]))
    np.testing.assert_allclose(solver.train_rmse(), np.sqrt(np.mean((values - pred) ** 2)),
                               rtol=1e-9)
    sides = ((rows, cols, np.array(solver.previous_columns), np.array(solver.row_means),
              new_rows, solver.row_prior_mean, solver.row_prior_precision),
             (cols, rows, new_rows, np.array(solver.column_means), new_cols,
              solver.column_prior_mean, solver.column_prior_precision))
    whitened = []
    for own, other, F, means, draws, prior_mean, prior_precision in sides:
        Lam = np.asarray(prior_precision)
        assert np.all(np.linalg.eigvalsh(Lam) > 0)
        for i in range(means.shape[0]):
            sel = np.flatnonzero(own == i)
            A = np.column_stack([F[other[sel], :k], np.ones(sel.size)])
            y = values[sel] - mu - F[other[sel], k]
            Q = Lam + alpha * A.T @ A
            mean = np.linalg.solve(Q, Lam @ prior_mean + alpha * A.T @ y)
            np.testing.assert_allclose(means[i], mean, rtol=1e-8, atol=1e-10)
            whitened.append(np.linalg.cholesky(Q).T @ (draws[i] - mean))
    z = np.concatenate(whitened)  # 2800 values
    assert abs(z.mean()) < 0.08 and abs(z.var() - 1.0) < 0.1


def test_sampling_is_reproducible_with_a_seed():
    _, rows, cols, values = low_rank_problem(120, 90, 3, 0.2, seed=23, noise=0.3)
    a, b, c = (complete(rows, cols, values, rank=3, seed=s, samples=4) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.col_bias, b.col_bias)
    assert not np.array_equal(a.U, c.U)


@pytest.mark.parametrize("biases", [True, False])
def test_sampling_in_one_core_call_equals_the_python_loop(monkeypatch, biases):
    # No hooks: the whole schedule runs in the core; a callback runs the Python loop. Burn-in
    # on, so that the sample numbering across burn-in is checked too.
    monkeypatch.setattr(completion, "BURN_IN", 1)
    train, _ = _ratings_split(26)
    kwargs = dict(rank=4, seed=5, samples=3, biases=biases)
    core_loop = complete(*train, (300, 250), **kwargs)
    seen = []
    python_loop = complete(*train, (300, 250), callback=lambda s, m: seen.append(s), **kwargs)
    assert seen == list(range(1, core_loop.n_iter + 1))
    for name in ("U", "V", "row_bias", "col_bias"):
        np.testing.assert_array_equal(getattr(core_loop, name), getattr(python_loop, name))
    assert core_loop.mean == python_loop.mean and core_loop.n_samples == 3
    assert core_loop.value_range == python_loop.value_range
    assert core_loop.n_iter == python_loop.n_iter == completion.WARMUP_SWEEPS + 1 + 3
    for key in ("train_rmse", "objective", "validation_rmse"):
        np.testing.assert_array_equal(core_loop.history[key], python_loop.history[key])
    assert np.all(np.diff(core_loop.history["time"]) >= 0)
    solver = core.CompletionSolver(*train, 300, 250, 4, "als", 0.1, 0.1, True, 0, 0.3, 10)
    with pytest.raises(ValueError, match="initialize"):
        solver.sample_posterior(0, 0, 1)
    solver.initialize()
    with pytest.raises(ValueError, match="samples"):
        solver.sample_posterior(1, 0, 0)


def test_sampling_in_one_core_call_is_independent_of_the_thread_count():
    train, _ = _ratings_split(27)
    before = nearlinear.get_num_threads()
    models = []
    try:
        for threads in (1, 2, 3):
            nearlinear.set_num_threads(threads)
            models.append(complete(*train, (300, 250), rank=4, seed=1, samples=3))
    finally:
        nearlinear.set_num_threads(before)
    for model in models[1:]:
        np.testing.assert_array_equal(model.U, models[0].U)
        np.testing.assert_array_equal(model.col_bias, models[0].col_bias)


def _ratings_split(seed):
    """Noisy rank-3 ratings, 1-5 scale, with 20% held out."""
    M, rows, cols, values = low_rank_problem(300, 250, 3, 0.12, seed=seed, noise=0.6)
    values = np.clip(3 + 0.5 * values, 1, 5)
    held = np.random.default_rng(seed).random(values.size) < 0.2
    return (rows[~held], cols[~held], values[~held]), (rows[held], cols[held], values[held])


def test_posterior_averaging_lowers_test_error():
    train, test = _ratings_split(24)
    point = complete(*train, (300, 250), rank=3, seed=0, samples=0)
    one = complete(*train, (300, 250), rank=3, seed=0, samples=1)
    averaged = complete(*train, (300, 250), rank=3, seed=0)  # ratings defaults: samples on
    assert averaged.n_samples == DEFAULT_SAMPLES
    assert averaged.rmse(*test) < one.rmse(*test)
    assert averaged.rmse(*test) < point.rmse(*test)


def test_posterior_model_structure():
    train, test = _ratings_split(25)
    model = complete(*train, (300, 250), rank=4, seed=0, samples=5)
    assert model.rank == 4 and model.n_samples == 5
    assert model.U.shape == (300, 2 * 5 * 4) and model.V.shape == (250, 2 * 5 * 4)
    assert model.value_range == (train[2].min(), train[2].max())
    pred = model.predict(*test[:2])
    assert np.all(pred >= train[2].min()) and np.all(pred <= train[2].max())
    assert model.converged and model.n_iter == completion.WARMUP_SWEEPS + completion.BURN_IN + 5
    assert len(model.history["time"]) == model.n_iter
    # Without ratings defaults (reg given) the fit is the point estimate.
    assert complete(*train, (300, 250), rank=4, reg=0.1, seed=0).n_samples == 0
    with pytest.raises(ValueError, match="samples"):
        complete(*train, (300, 250), rank=4, samples=-1)


# -- scale of the values ------------------------------------------------------------------------

def _shifted_problem(seed):
    """A noisy rank-2 matrix plus 3 (fresh data for each seed), 40% observed."""
    rng = np.random.default_rng(seed)
    m, n = 60, 50
    M = rng.standard_normal((m, 2)) @ rng.standard_normal((n, 2)).T + 3
    rows, cols = np.nonzero(rng.random((m, n)) < 0.4)
    return M, rows, cols, M[rows, cols] + 0.1 * rng.standard_normal(rows.size)


@pytest.mark.parametrize("method", ["als", "robust-am"])
@pytest.mark.parametrize("kwargs", [
    dict(),                                       # defaults: posterior averaging
    dict(samples=0),                              # point estimate with the default ridge
    dict(reg=0.05, tol=1e-6),                     # a given ridge, scaled with the values
], ids=["posterior", "point", "given-reg"])
def test_fit_is_scale_equivariant(method, kwargs):
    # complete(s * values) is s * complete(values) up to rounding: every default that carries
    # a scale is relative to the data, and a given reg is in the units of the values.
    M, rows, cols, values = _shifted_problem(31)
    base = complete(rows, cols, values, M.shape, rank=2, method=method, seed=3, **kwargs)
    dense = base.to_dense()
    assert np.sqrt(np.mean((dense - M) ** 2)) < 0.4 * M.std()  # a fit, not garbage
    for s in (1e-6, 1e6):
        scaled_kwargs = {**kwargs, **({"reg": kwargs["reg"] * s} if "reg" in kwargs else {})}
        model = complete(rows, cols, values * s, M.shape, rank=2, method=method, seed=3,
                         **scaled_kwargs)
        assert model.n_iter == base.n_iter and model.converged == base.converged
        np.testing.assert_allclose(model.to_dense() / s, dense, rtol=0, atol=1e-9)
        np.testing.assert_allclose(model.rmse(rows, cols, values * s) / s,
                                   base.rmse(rows, cols, values), rtol=1e-9)
        np.testing.assert_allclose(model.history["train_rmse"] / s, base.history["train_rmse"],
                                   rtol=1e-9)
        np.testing.assert_allclose(model.history["objective"] / s**2,
                                   base.history["objective"], rtol=1e-9)
        assert model.value_range == (None if base.value_range is None
                                     else (values.min() * s, values.max() * s))


def test_defaults_fit_small_values():
    # The reported case: with absolute priors the Gibbs sweeps drowned values of 1e-3 in noise
    # (training RMSE / s 1.43 against 0.081 at scale 1, and 1.61 for the mean).
    M, rows, cols, values = _shifted_problem(32)
    for s in (1e-3, 1.0):
        model = complete(rows, cols, values * s, M.shape, rank=2, seed=0)
        assert model.n_samples == DEFAULT_SAMPLES
        assert model.rmse(rows, cols, values * s) / s < 0.15
        assert np.all(np.diff(model.history["train_rmse"][1:]) < 0.1 * s)  # no jump


@pytest.mark.parametrize("s", [1e160, 1e300])
def test_huge_values_give_a_finite_model(s):
    # Squares of values beyond 1e154 overflow: the fit works on the values over their spread.
    M, rows, cols, values = _shifted_problem(33)
    base = complete(rows, cols, values, M.shape, rank=2, seed=0)
    model = complete(rows, cols, values * s, M.shape, rank=2, seed=0)
    assert model.converged
    assert np.isfinite(model.U).all() and np.isfinite(model.V).all()
    np.testing.assert_allclose(model.predict(rows, cols) / s, base.predict(rows, cols),
                               rtol=0, atol=1e-9)
    assert np.isfinite(model.rmse(rows, cols, values * s))
    np.testing.assert_allclose(model.rmse(rows, cols, values * s) / s,
                               base.rmse(rows, cols, values), rtol=1e-9)


@pytest.mark.parametrize("method", ["als", "robust-am"])
def test_tiny_values_recover_a_low_rank_matrix(method):
    # Squares of values below 1e-154 underflow: the stopping rule used to see a zero
    # objective and stop after 2 sweeps with relative error 4.8.
    M, rows, cols, values = low_rank_problem(30, 20, 3, 0.5, seed=34)
    kwargs = dict(rank=3, method=method, reg=0.0, biases=False, tol=1e-10, max_iter=500, seed=0)
    base = complete(rows, cols, values, M.shape, **kwargs)
    model = complete(rows, cols, values * 1e-150, M.shape, **kwargs)
    assert base.converged and rel_error(base, M) < 1e-6
    assert model.converged and model.n_iter == base.n_iter
    assert rel_error(model, M * 1e-150) < 1e-6
