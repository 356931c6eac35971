"""Tests of nearlinear.sketch: S @ A against the explicit S, statistics, determinism, errors."""

import numpy as np
import pytest
import scipy.sparse as sp

import nearlinear
from nearlinear.sketch import KINDS, SketchOperator, sketch

LAYOUTS = ["C", "F", "csr", "csc"]


def _layout(A, layout):
    if layout == "C":
        return np.ascontiguousarray(A)
    if layout == "F":
        return np.asfortranarray(A)
    return sp.csr_matrix(A) if layout == "csr" else sp.csc_matrix(A)


def _random(n, d, seed, density=1.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, d))
    if density < 1:
        A[rng.random((n, d)) >= density] = 0.0
    return A.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_apply_matches_explicit_matrix(kind, layout, dtype):
    n, d, m = 1100, 37, 48  # n not a power of two; d not a multiple of a chunk
    op = SketchOperator(kind, m, n, seed=12, nnz_per_column=3)
    A = _random(n, d, 1, density=0.3 if layout in ("csr", "csc") else 1.0, dtype=dtype)
    result = op @ _layout(A, layout)
    assert result.shape == (m, d)
    assert result.dtype == dtype
    expected = op.to_dense() @ A.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(result, expected, rtol=0, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("kind", KINDS)
def test_vector_input_gives_vector(kind):
    n, m = 500, 30
    A = _random(n, 4, 2)
    op = SketchOperator(kind, m, n, seed=5)
    y = op.apply(A[:, 1])
    assert y.shape == (m,)
    np.testing.assert_allclose(y, op.apply(A)[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, op.to_dense() @ A[:, 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_sketch_function_uses_the_operator_of_its_seed(kind):
    A = _random(700, 6, 3)
    b = A @ np.arange(6.0)
    SA = sketch(A, 50, kind, seed=99, nnz_per_column=4)
    Sb = sketch(b, 50, kind, seed=99, nnz_per_column=4)
    np.testing.assert_allclose(SA @ np.arange(6.0), Sb, rtol=1e-12, atol=1e-10)
    op = SketchOperator(kind, 50, 700, seed=99, nnz_per_column=4)
    np.testing.assert_array_equal(op @ A, SA)


@pytest.mark.parametrize("kind", KINDS)
def test_unbiased_squared_norm(kind):
    # E ||S y||^2 = ||y||^2 since E[S^T S] = I. The tolerance is 5 standard errors of the mean,
    # estimated from the samples themselves, so a biased sketch (wrong scale) fails.
    n, m, trials = 200, 16, 600
    y = _random(n, 1, 4)[:, 0] + 0.5
    target = y @ y
    samples = np.array([np.sum(sketch(y, m, kind, seed=s) ** 2) for s in range(trials)])
    stderr = samples.std(ddof=1) / np.sqrt(trials)
    assert abs(samples.mean() - target) < 5 * stderr
    # ... and the test would notice a 10% scale error.
    assert 0.1 * target > 5 * stderr


@pytest.mark.parametrize("kind", KINDS)
def test_subspace_distortion_shrinks_with_m(kind):
    n, k = 4096, 8
    Q, _ = np.linalg.qr(_random(n, k, 5))
    distortion = []
    for m in (32, 128, 512):
        worst = []
        for seed in range(3):
            sv = np.linalg.svd(sketch(Q, m, kind, seed=seed), compute_uv=False)
            worst.append(max(sv[0] - 1, 1 - sv[-1]))
        distortion.append(np.mean(worst))
    assert distortion[0] > distortion[1] > distortion[2]
    assert distortion[2] < 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_sparse_and_dense_inputs_agree(kind):
    A = _random(3000, 20, 6, density=0.05)
    op = SketchOperator(kind, 64, 3000, seed=8)
    dense = op @ A
    for fmt in ("csr", "csc", "coo"):
        np.testing.assert_allclose(op @ sp.coo_matrix(A).asformat(fmt), dense, rtol=0,
                                   atol=1e-12 * np.abs(dense).max())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_same_result_on_any_thread_count_and_call(kind, layout):
    A = _layout(_random(40000, 3, 7, density=0.5), layout)
    op = SketchOperator(kind, 64, 40000, seed=3)
    before = nearlinear.get_num_threads()
    try:
        nearlinear.set_num_threads(1)
        one = op @ A
        nearlinear.set_num_threads(2)
        two = op @ A
        again = op @ A
    finally:
        nearlinear.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(two, again)


def test_seed_none_is_drawn_once_per_operator():
    A = _random(300, 3, 9)
    op = SketchOperator("sparse_sign", 20, 300)
    assert isinstance(op.seed, int)
    np.testing.assert_array_equal(op @ A, op @ A)
    np.testing.assert_array_equal(op @ A, SketchOperator("sparse_sign", 20, 300, seed=op.seed) @ A)
    assert not np.array_equal(op @ A, SketchOperator("sparse_sign", 20, 300) @ A)


@pytest.mark.parametrize("s", [1, 3, 8])
def test_sparse_sign_columns_have_s_distinct_nonzeros(s):
    S = SketchOperator("sparse_sign", 10, 500, seed=4, nnz_per_column=s).to_dense()
    assert np.all(np.count_nonzero(S, axis=0) == s)
    np.testing.assert_allclose(np.abs(S[S != 0]), 1 / np.sqrt(s))
    # Rows are used evenly and signs are balanced.
    assert abs(np.mean(np.sign(S[S != 0]))) < 0.1


def test_srht_square_is_orthogonal_and_gaussian_has_variance_one_over_m():
    S = SketchOperator("srht", 128, 128, seed=1).to_dense()
    np.testing.assert_allclose(S @ S.T, np.eye(128), atol=1e-12)
    G = SketchOperator("gaussian", 50, 4000, seed=2).to_dense()
    assert abs(G.var() * 50 - 1) < 5 * np.sqrt(2 / G.size)
    assert abs(G.mean()) < 5 / np.sqrt(50 * G.size)


def test_operator_attributes_and_more_rows_than_columns():
    op = SketchOperator("gaussian", 30, 10, seed=7)
    assert op.shape == (30, 10)
    assert (op.kind, op.m, op.n, op.seed) == ("gaussian", 30, 10, 7)
    assert "gaussian" in repr(op)
    A = _random(10, 2, 1)
    np.testing.assert_allclose(op @ A, op.to_dense() @ A, atol=1e-12)
    assert SketchOperator("sparse_sign", 30, 10, seed=1).apply(A).shape == (30, 2)


def test_non_contiguous_and_read_only_inputs_are_accepted_and_untouched():
    base = _random(400, 10, 2)
    op = SketchOperator("srht", 32, 400, seed=1)
    expected = op @ np.ascontiguousarray(base[:, ::2])
    np.testing.assert_array_equal(op @ base[:, ::2], expected)
    frozen = base.copy()
    frozen.setflags(write=False)
    snapshot = frozen.copy()
    for kind in KINDS:
        SketchOperator(kind, 32, 400, seed=1) @ frozen
    np.testing.assert_array_equal(frozen, snapshot)


def test_lists_are_converted():
    A = _random(50, 2, 3)
    np.testing.assert_array_equal(sketch(A.tolist(), 8, seed=1), sketch(A, 8, seed=1))


# ---- bad input ----

@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128, object])
def test_non_float_dtypes_are_refused(dtype):
    A = np.ones((20, 3), dtype=dtype)
    with pytest.raises(TypeError, match="`A`"):
        sketch(A, 4, seed=1)
    with pytest.raises(TypeError, match="`A`"):
        SketchOperator("srht", 4, 20, seed=1) @ A


def test_integer_sparse_matrix_is_refused():
    with pytest.raises(TypeError, match="`A`"):
        sketch(sp.csr_matrix(np.ones((20, 3), dtype=np.int64)), 4, seed=1)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_malformed_indptr_is_refused(fmt):
    A = sp.random(50, 6, density=0.3, random_state=1, format=fmt)
    A.indptr[2] = A.indptr[-1] + 10**6
    with pytest.raises(ValueError, match="`A` is malformed"):
        sketch(A, 4, seed=1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(kind, layout, bad):
    A = _random(300, 4, 1)
    A[123, 2] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        sketch(_layout(A, layout), 16, kind, seed=1)


def test_finite_data_whose_sketch_overflows_is_not_an_error():
    A = np.full((10, 2), 1e308)
    with np.errstate(over="ignore"):
        result = sketch(A, 1, "sparse_sign", seed=1, nnz_per_column=1)
    assert np.isinf(result).all()


@pytest.mark.parametrize("shape", [(0, 3), (5, 0), (0,)])
def test_empty_arrays_are_refused(shape):
    with pytest.raises(ValueError, match="`A`.*empty"):
        sketch(np.zeros(shape), 2, seed=1)
    if len(shape) == 2:
        with pytest.raises(ValueError, match="`A`.*empty"):
            sketch(sp.csr_matrix(shape), 2, seed=1)


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="`A`"):
        sketch(np.zeros((4, 3, 2)), 2, seed=1)
    with pytest.raises(ValueError, match="`A`"):
        sketch(np.float64(3.0), 2, seed=1)
    op = SketchOperator("sparse_sign", 4, 100, seed=1, nnz_per_column=2)
    with pytest.raises(ValueError, match=r"`A` must have shape \(100"):
        op @ np.zeros((99, 2))
    with pytest.raises(ValueError, match=r"`A` must have shape \(100"):
        op @ sp.csr_matrix((99, 2))


@pytest.mark.parametrize("m", [0, -3])
def test_m_must_be_positive(m):
    for kind in KINDS:
        with pytest.raises(ValueError, match="`m`"):
            sketch(np.ones((10, 2)), m, kind, seed=1)


def test_m_must_be_an_integer():
    with pytest.raises(TypeError, match="`m`"):
        sketch(np.ones((10, 2)), 2.5, seed=1)


def test_srht_m_at_most_padded_rows():
    A = np.ones((10, 2))
    assert sketch(A, 16, "srht", seed=1).shape == (16, 2)
    with pytest.raises(ValueError, match="`m` must be at most 16"):
        sketch(A, 17, "srht", seed=1)


@pytest.mark.parametrize("s", [0, 6, -1])
def test_nnz_per_column_in_range(s):
    with pytest.raises(ValueError, match="`nnz_per_column`"):
        sketch(np.ones((10, 2)), 5, "sparse_sign", seed=1, nnz_per_column=s)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="`kind`"):
        sketch(np.ones((10, 2)), 5, "fourier", seed=1)
    with pytest.raises(ValueError, match="`kind`"):
        SketchOperator("countsketch", 5, 10)


@pytest.mark.parametrize("seed", [-1, 1.5, "x"])
def test_bad_seeds_are_refused(seed):
    with pytest.raises((TypeError, ValueError), match="`seed`"):
        SketchOperator("sparse_sign", 10, 10, seed=seed)


def test_core_checks_again():
    from nearlinear._native import core

    with pytest.raises(ValueError, match="nnz_per_column"):
        core.sketch_dense("sparse_sign", 4, 1, 9, np.ones((10, 2)))
    with pytest.raises(ValueError, match="kind"):
        core.sketch_matrix("nope", 4, 10, 1, 1)
    with pytest.raises(ValueError, match="m must be"):
        core.validate_sketch("srht", 17, 10, 1, 1)


def test_default_nnz_per_column_fits_small_sketches():
    # The default is min(8, m): a sketch with fewer than 8 rows needs no argument.
    assert SketchOperator().nnz_per_column == 1
    assert SketchOperator("sparse_sign", 5, 100).nnz_per_column == 5
    assert SketchOperator("sparse_sign", 500, 100).nnz_per_column == 8
    A = np.random.default_rng(0).standard_normal((100, 3))
    S = SketchOperator("sparse_sign", 4, 100, seed=3)
    np.testing.assert_array_equal(sketch(A, 4, seed=3), S @ A)
    with pytest.raises(ValueError, match="nnz_per_column"):
        SketchOperator("srht", 4, 100, nnz_per_column=2**31)


def test_long_sparse_sign_columns_are_cheap_and_distinct():
    # s in the thousands: drawing distinct rows is linear in s (it was quadratic).
    S = SketchOperator("sparse_sign", 6000, 40, seed=1, nnz_per_column=3000).to_dense()
    assert ((S != 0).sum(axis=0) == 3000).all()
    np.testing.assert_allclose(np.abs(S[S != 0]), 1 / np.sqrt(3000))


def test_sparse_sketch_cost_follows_the_entries_not_the_rows():
    # 3 entries in 10^8 rows: no table of codes for every row (it took gigabytes).
    n = 10**8
    A = sp.csc_matrix((np.array([1.0, 2.0, -1.0]), np.array([0, 5, n - 1]), np.array([0, 3])),
                      shape=(n, 1))
    S = SketchOperator("sparse_sign", 50, n, seed=2, nnz_per_column=4)
    out = S @ A
    assert out.shape == (50, 1) and np.count_nonzero(out) <= 12
    np.testing.assert_allclose(out, S @ sp.csr_matrix(A), rtol=0, atol=1e-15)
