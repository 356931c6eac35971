"""Tests of nearlinear.encoding.HashEncoding against closed forms and a NumPy reference."""

import itertools
import math
import os
import warnings

import numpy as np
import pytest

import nearlinear
from nearlinear.encoding import HashEncoding

PRIMES = [1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737]


def cube_reference(x, params, base_resolution, per_level_scale):
    """instant-ngp's encoding, written plainly: d-linear over the corners, dense or hashed."""
    n_levels, table_size, features = params.shape
    n = x.shape[1]
    x = np.clip(x.astype(np.float64), 0.0, 1.0)
    out = np.zeros((x.shape[0], n_levels * features))
    for level in range(n_levels):
        res = math.floor(base_resolution * per_level_scale**level)
        dense = (res + 1) ** n <= table_size
        u = x * res
        base = np.minimum(np.floor(u), res - 1).astype(np.int64)
        frac = u - base
        for corner in itertools.product((0, 1), repeat=n):
            vertex = base + np.array(corner)
            weight = np.prod(np.where(np.array(corner) == 1, frac, 1 - frac), axis=1)
            if dense:
                index = sum(vertex[:, i] * (res + 1) ** i for i in range(n))
            else:
                key = np.zeros(x.shape[0], dtype=np.uint64)
                for i in range(n):
                    key ^= (vertex[:, i].astype(np.uint64) * np.uint64(PRIMES[i])) & np.uint64(
                        0xFFFFFFFF)
                index = (key & np.uint64(table_size - 1)).astype(np.int64)
            out[:, level * features:(level + 1) * features] += (
                weight[:, None] * params[level, index].astype(np.float64))
    return out


def random_table(enc, rng):
    enc.params[...] = rng.standard_normal(enc.params.shape).astype(np.float32)


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
@pytest.mark.parametrize("n", range(1, 9))
def test_weights_sum_to_one(lattice, n):
    rng = np.random.default_rng(n)
    enc = HashEncoding(n, lattice=lattice, n_levels=4, log2_table_size=12, base_resolution=3,
                       per_level_scale=2.0)
    enc.params[...] = 1.0
    x = rng.random((300, n), dtype=np.float32)
    np.testing.assert_allclose(enc.forward(x), 1.0, atol=2e-6)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_simplex_reproduces_linear_functions_on_a_dense_level(n):
    from nearlinear._bench.encoding import simplex_row_starts

    rng = np.random.default_rng(10 + n)
    enc = HashEncoding(n, n_levels=1, features_per_level=1, log2_table_size=16,
                       base_resolution=4)
    assert enc.dense_levels == [True]
    res = 4
    extent = math.floor(res * math.sqrt(n + 1)) + 2
    # The dense layout: row r of the box (v_1 .. v_{n-1}, axis 1 fastest) holds v_0 in
    # [first[r], last[r]] at table rows starts[r] + v_0.
    starts, first, last = simplex_row_starts(n, res, extent, enc.table_size)
    skew_back = (1 - 1 / math.sqrt(n + 1)) / n
    vertices = np.array(list(itertools.product(range(extent), repeat=n)))[:, ::-1]
    row = vertices[:, 1:] @ extent ** np.arange(n - 1)
    kept = (vertices[:, 0] >= first[row]) & (vertices[:, 0] <= last[row])
    vertices, row = vertices[kept], row[kept]
    index = starts[row] + vertices[:, 0]
    # The kept vertices fill the first rows of the table, each its own row: compact.
    np.testing.assert_array_equal(np.sort(index), np.arange(len(index)))
    # Fewer rows than the box, more than the vertices of the skewed cube.
    assert math.sqrt(n + 1) * res**n < len(index) <= extent**n
    u = vertices - skew_back * vertices.sum(axis=1, keepdims=True)  # unskewed positions
    slope, offset = rng.standard_normal(n), 0.3
    enc.params[0, index, 0] = u @ slope + offset
    # Interior points, and points on the faces and corners of [0, 1]^n (the ends of the rows).
    x = rng.random((2000, n), dtype=np.float32)
    x[:1000] = np.where(rng.random((1000, n)) < 0.5, x[:1000],
                        rng.integers(0, 2, (1000, n)).astype(np.float32))
    expected = (res * x.astype(np.float64)) @ slope + offset
    np.testing.assert_allclose(enc.forward(x)[:, 0], expected, atol=2e-4)


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_simplex_is_continuous_across_faces(n):
    """Points on both sides of a face between two simplices (two equal fractions in the skewed
    coordinates) or between two cells (a zero fraction) agree to O(distance)."""
    rng = np.random.default_rng(20 + n)
    res = 7
    enc = HashEncoding(n, n_levels=1, log2_table_size=14, base_resolution=res)
    random_table(enc, rng)
    skew, skew_back = (math.sqrt(n + 1) - 1) / n, (1 - 1 / math.sqrt(n + 1)) / n
    eps = 1e-4
    for _ in range(50):
        s = (rng.random(n) * 0.6 + 0.2) * res
        s = s + skew * s.sum()
        s[1 % n] = np.floor(s[1 % n]) + (s[0] - np.floor(s[0]))  # tie the first two fractions
        if n == 1:
            s[0] = np.floor(s[0])  # a cell boundary instead
        step = np.zeros(n)
        step[0] = eps
        if n > 1:
            step[1] = -eps
        sides = []
        for sign in (-1, 1):
            t = s + sign * step
            u = t - skew_back * t.sum()
            sides.append(u / res)
        a, b = enc.forward(np.array(sides, dtype=np.float32))
        assert np.abs(a - b).max() < 50 * res * eps


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
@pytest.mark.parametrize("n", [2, 3])
def test_forward_is_continuous_everywhere(lattice, n):
    rng = np.random.default_rng(30 + n)
    enc = HashEncoding(n, lattice=lattice, n_levels=6, log2_table_size=12, base_resolution=4)
    random_table(enc, rng)
    x = rng.random((2000, n), dtype=np.float32) * 0.98 + 0.01
    delta = 1e-4
    y = x + delta * rng.standard_normal(x.shape).astype(np.float32)
    jump = np.abs(enc.forward(y) - enc.forward(x)).max()
    assert jump < 100 * max(enc.resolutions) * delta * math.sqrt(n)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_cube_matches_numpy_reference(n):
    rng = np.random.default_rng(40 + n)
    log2_table_size = {1: 4, 2: 7, 3: 10, 4: 10}[n]  # some levels dense, some hashed
    enc = HashEncoding(n, lattice="cube", n_levels=5, log2_table_size=log2_table_size,
                       base_resolution=3, per_level_scale=1.7)
    assert any(enc.dense_levels) and not all(enc.dense_levels)
    random_table(enc, rng)
    x = rng.random((400, n), dtype=np.float32)
    expected = cube_reference(x, enc.params, 3, 1.7)
    np.testing.assert_allclose(enc.forward(x), expected, rtol=1e-4, atol=1e-4)


def test_cube_matches_reference_on_hashed_levels_in_6d():
    rng = np.random.default_rng(46)
    enc = HashEncoding(6, lattice="cube", n_levels=3, log2_table_size=8, base_resolution=5)
    random_table(enc, rng)
    x = rng.random((100, 6), dtype=np.float32)
    np.testing.assert_allclose(enc.forward(x), cube_reference(x, enc.params, 5, 1.5),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
@pytest.mark.parametrize("n", [1, 3, 6])
def test_parameter_gradient_is_the_adjoint(lattice, n):
    rng = np.random.default_rng(50 + n)
    enc = HashEncoding(n, lattice=lattice, n_levels=5, log2_table_size=11, base_resolution=4)
    random_table(enc, rng)
    x = rng.random((700, n), dtype=np.float32)
    g = rng.standard_normal((700, enc.output_dims)).astype(np.float32)
    before = enc.forward(x).astype(np.float64)
    delta = rng.standard_normal(enc.params.shape).astype(np.float32)
    grad = enc.backward(x, g)
    assert grad.shape == enc.params.shape and grad.dtype == np.float32
    enc.params += delta
    lhs = np.sum((enc.forward(x) - before) * g)
    rhs = np.sum(delta.astype(np.float64) * grad)
    assert abs(lhs - rhs) <= 1e-3 * np.abs(rhs) + 1e-2


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_input_gradient_matches_finite_differences(lattice, n):
    rng = np.random.default_rng(60 + n)
    enc = HashEncoding(n, lattice=lattice, n_levels=4, log2_table_size=12, base_resolution=3)
    random_table(enc, rng)
    x = rng.random((200, n)) * 0.9 + 0.05
    g = rng.standard_normal((200, enc.output_dims)).astype(np.float32)
    _, grad_x = enc.backward(x, g, input_gradient=True)
    h = 2e-4
    numeric = np.empty_like(x)
    for i in range(n):
        step = np.zeros(n)
        step[i] = h
        up = np.sum(enc.forward(x + step).astype(np.float64) * g, axis=1)
        down = np.sum(enc.forward(x - step).astype(np.float64) * g, axis=1)
        numeric[:, i] = (up - down) / (2 * h)
    error = np.abs(numeric - grad_x) / (1 + np.abs(numeric))
    # A point whose +-h segment crosses a cell face has a mixed difference quotient: allow few.
    assert np.mean(error < 2e-2) > 0.95
    assert np.median(error) < 2e-3


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
def test_inputs_outside_the_unit_cube_are_clamped(lattice):
    rng = np.random.default_rng(70)
    enc = HashEncoding(3, lattice=lattice, n_levels=4, log2_table_size=12)
    random_table(enc, rng)
    x = (rng.random((300, 3)) * 3 - 1).astype(np.float32)
    np.testing.assert_array_equal(enc.forward(x), enc.forward(np.clip(x, 0, 1)))
    g = rng.standard_normal((300, enc.output_dims)).astype(np.float32)
    _, grad_x = enc.backward(x, g, input_gradient=True)
    outside = (x < 0) | (x > 1)
    assert outside.any() and (~outside).any()
    assert np.all(grad_x[outside] == 0)
    assert np.all(grad_x[~outside] != 0)


def test_params_is_the_table_itself():
    enc = HashEncoding(2, n_levels=2, log2_table_size=10)
    assert enc.params.shape == (2, 1024, 2) and enc.params.dtype == np.float32
    assert np.abs(enc.params).max() <= 1e-4 and np.abs(enc.params).max() > 0
    x = np.full((1, 2), 0.3, dtype=np.float32)
    enc.params[...] = 0.0
    assert np.all(enc.forward(x) == 0)
    enc.params[1] = 2.0
    np.testing.assert_allclose(enc.forward(x), [[0, 0, 2, 2]], atol=1e-6)
    enc.params = np.ones(enc.params.shape)
    np.testing.assert_allclose(enc.forward(x), 1.0, atol=1e-6)


def test_initialisation_depends_on_the_seed_only():
    a = HashEncoding(3, log2_table_size=10, seed=5).params
    b = HashEncoding(3, log2_table_size=10, seed=5).params
    c = HashEncoding(3, log2_table_size=10, seed=6).params
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
def test_results_do_not_depend_on_repetition_or_threads(lattice):
    rng = np.random.default_rng(80)
    enc = HashEncoding(4, lattice=lattice, n_levels=6, log2_table_size=12)
    random_table(enc, rng)
    x = rng.random((3000, 4), dtype=np.float32)
    g = rng.standard_normal((3000, enc.output_dims)).astype(np.float32)
    before = nearlinear.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 2):
            nearlinear.set_num_threads(threads)
            results.append((enc.forward(x), *enc.backward(x, g, input_gradient=True)))
    finally:
        nearlinear.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_float64_and_empty_inputs():
    enc = HashEncoding(2, n_levels=2, log2_table_size=8)
    x = np.random.default_rng(0).random((5, 2))
    np.testing.assert_array_equal(enc.forward(x), enc.forward(x.astype(np.float32)))
    assert enc.forward(np.zeros((0, 2), np.float32)).shape == (0, 4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_dims=0), ValueError, "n_dims"),
        (dict(n_dims=13, lattice="cube"), ValueError, "n_dims"),
        (dict(n_dims=33), ValueError, "n_dims"),
        (dict(n_dims=2.0), TypeError, "n_dims"),
        (dict(n_dims=2, lattice="hex"), ValueError, "lattice"),
        (dict(n_dims=2, features_per_level=3), ValueError, "features_per_level"),
        (dict(n_dims=2, log2_table_size=31), ValueError, "log2_table_size"),
        (dict(n_dims=2, log2_table_size=30, n_levels=64, features_per_level=8), ValueError,
         "GiB"),
        (dict(n_dims=2, n_levels=0), ValueError, "n_levels"),
        (dict(n_dims=2, base_resolution=0), ValueError, "base_resolution"),
        (dict(n_dims=2, per_level_scale=0.5), ValueError, "per_level_scale"),
        (dict(n_dims=2, per_level_scale=float("nan")), ValueError, "per_level_scale"),
        (dict(n_dims=2, per_level_scale=4.0, n_levels=40), ValueError, "too fine"),
    ],
)
def test_bad_configurations(kwargs, error, match):
    n_dims = kwargs.pop("n_dims")
    with pytest.raises(error, match=match):
        HashEncoding(n_dims, **kwargs)


def test_bad_inputs():
    enc = HashEncoding(3, n_levels=2, log2_table_size=8)
    good = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="x"):
        enc.forward(np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="x"):
        enc.forward(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="x"):
        enc.forward(np.zeros((4, 3), np.int64))
    with pytest.raises(TypeError, match="x"):
        enc.forward(np.zeros((4, 3), np.complex64))
    bad = good.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        enc.forward(bad)
    with pytest.raises(ValueError, match="NaN"):
        enc.backward(bad, np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="grad_output"):
        enc.backward(good, np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="grad_output"):
        enc.backward(good, np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="params"):
        enc.params = np.zeros((2, 3))


def test_read_only_and_non_contiguous_inputs():
    enc = HashEncoding(3, n_levels=3, log2_table_size=10)
    x = np.random.default_rng(1).random((50, 6), dtype=np.float32)[:, ::2]
    assert not x.flags.c_contiguous
    expected = enc.forward(np.ascontiguousarray(x))
    x_read_only = np.ascontiguousarray(x)
    x_read_only.flags.writeable = False
    np.testing.assert_array_equal(enc.forward(x), expected)
    np.testing.assert_array_equal(enc.forward(x_read_only), expected)
    g = np.ones((50, enc.output_dims), np.float32)
    g.flags.writeable = False
    assert enc.backward(x_read_only, g).shape == enc.params.shape


@pytest.mark.parametrize("n", [2, 3, 6])
def test_simplex_matches_numpy_implementation_on_fine_hashed_levels(n):
    # Fine levels put coordinates in the thousands, where rounding the skew differently (a
    # fused multiply-add) moves the fractions by ~1e-3.
    from nearlinear._bench.encoding import numpy_forward

    rng = np.random.default_rng(60 + n)
    enc = HashEncoding(n, log2_table_size=12)
    enc.params[...] = rng.standard_normal(enc.params.shape)
    assert not all(enc.dense_levels)
    x = rng.random((500, n), dtype=np.float32)
    np.testing.assert_allclose(enc.forward(x), numpy_forward(enc, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
@pytest.mark.parametrize("n", range(1, 9))
def test_blocks_and_group_tails_match_numpy_implementation(lattice, n):
    # 2 threads split the points into two blocks of unequal size, and 1001 points leave a
    # partial group (SIMD lanes) at the end of each; forward, parameter and input gradients.
    from nearlinear._bench.encoding import numpy_backward, numpy_forward

    if lattice == "cube" and n > 6:
        pytest.skip("2^n corners: slow NumPy reference")
    rng = np.random.default_rng(90 + n)
    features = (1, 2, 4)[n % 3]
    enc = HashEncoding(n, lattice=lattice, n_levels=4, features_per_level=features,
                       log2_table_size=10, base_resolution=3)
    enc.params[...] = rng.standard_normal(enc.params.shape)
    x = rng.random((1001, n), dtype=np.float32)
    g = rng.standard_normal((1001, enc.output_dims)).astype(np.float32)
    before = nearlinear.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            nearlinear.set_num_threads(threads)
            results.append((enc.forward(x), *enc.backward(x, g, input_gradient=True)))
    finally:
        nearlinear.set_num_threads(before)
    for out, grad_params, grad_x in results:
        # NumPy sums the n skewed coordinates in another order: fractions differ by rounding.
        np.testing.assert_allclose(out, numpy_forward(enc, x), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(grad_params, numpy_backward(enc, x, g), rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(grad_x, results[0][2])


def test_baseline_variant_matches_default_variant(tmp_path):
    # A portable build carries a baseline copy of the core (the scalar fallbacks of the SIMD
    # paths) beside the AVX2 one; both must give the same encoding and gradients.
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from nearlinear.encoding import HashEncoding\n"
        "rng = np.random.default_rng(7)\n"
        "out = {}\n"
        "for lattice in ('simplex', 'cube'):\n"
        "    for n in (3, 4, 6):\n"
        "        enc = HashEncoding(n, lattice=lattice, n_levels=6, features_per_level=2,\n"
        "                           log2_table_size=12, base_resolution=4)\n"
        "        enc.params[...] = rng.standard_normal(enc.params.shape)\n"
        "        x = rng.random((777, n), dtype=np.float32)\n"
        "        x[:5] = np.array([-0.5, 1.5, 0.0, 1.0, np.float32(0.5)])[:, None]\n"
        "        g = rng.standard_normal((777, enc.output_dims)).astype(np.float32)\n"
        "        gp, gx = enc.backward(x, g, input_gradient=True)\n"
        "        out[f'{lattice}{n}'] = np.concatenate(\n"
        "            [enc.forward(x).ravel(), gp.ravel(), gx.ravel()])\n"
        "np.savez(sys.argv[1], **out)\n")
    results = []
    for variant in ("", "baseline"):
        path = tmp_path / f"enc_{variant or 'default'}.npz"
        env = {**os.environ, "NEARLINEAR_CPU": variant}
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              text=True, env=env)
        assert done.returncode == 0, done.stderr
        results.append(np.load(path))
    for key in results[0].files:
        np.testing.assert_allclose(results[1][key], results[0][key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)


def test_integer_arguments_beyond_the_core_range_are_refused_by_name():
    # The core takes C++ ints: beyond them pybind would refuse the call without a name.
    for base_resolution in (2**30 + 1, 2**31, 2**70):
        with pytest.raises(ValueError, match="base_resolution"):
            HashEncoding(2, base_resolution=base_resolution)
    with pytest.raises(ValueError, match="features_per_level"):
        HashEncoding(2, features_per_level=2**40)
    with pytest.raises(ValueError, match="seed"):
        HashEncoding(2, n_levels=1, log2_table_size=4, seed=2**64)


def test_every_real_float_dtype_is_converted():
    enc = HashEncoding(3, n_levels=3, log2_table_size=10)
    random_table(enc, np.random.default_rng(2))
    x = np.random.default_rng(3).random((40, 3))
    x16 = x.astype(np.float16)
    np.testing.assert_array_equal(enc.forward(x16), enc.forward(x16.astype(np.float32)))
    # float64 values are exact in longdouble, so both round to the same float32.
    np.testing.assert_array_equal(enc.forward(x.astype(np.longdouble)),
                                  enc.forward(x.astype(np.float32)))
    g = np.random.default_rng(4).standard_normal((40, enc.output_dims))
    for dtype in (np.float16, np.longdouble):
        grads = enc.backward(x.astype(dtype), g.astype(dtype), input_gradient=True)
        expected = enc.backward(x.astype(dtype).astype(np.float32),
                                g.astype(dtype).astype(np.float32), input_gradient=True)
        for got, want in zip(grads, expected):
            np.testing.assert_array_equal(got, want)
    table = np.random.default_rng(5).standard_normal(enc.params.shape).astype(np.float16)
    enc.params = table
    np.testing.assert_array_equal(enc.params, table.astype(np.float32))
    # Integer and boolean arrays are refused, as the module docstring says.
    for bad in (np.zeros((4, 3), np.int32), np.zeros((4, 3), bool), [[0, 1, 0]]):
        with pytest.raises(TypeError, match="x"):
            enc.forward(bad)
    with pytest.raises(TypeError, match="params"):
        enc.params = np.zeros(enc.params.shape, np.int64)
    with pytest.raises(TypeError, match="grad_output"):
        enc.backward(x, np.ones((40, enc.output_dims), bool))


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
def test_gradients_that_overflow_float32_are_refused(lattice):
    # Finite inputs whose sums leave float32: before, backward returned inf entries silently.
    enc = HashEncoding(2, lattice=lattice, n_levels=2, log2_table_size=10)
    x = np.full((100, 2), 0.5, np.float32)  # every point on the same vertices
    with pytest.raises(ValueError, match="parameter gradient overflows float32"):
        enc.backward(x, np.full((100, enc.output_dims), 3e38, np.float32))
    # The same values summed over few enough points stay finite and are returned.
    g = enc.backward(x[:1], np.full((1, enc.output_dims), 3e38, np.float32))
    assert np.isfinite(g).all() and g.max() > 1e38
    random_table(enc, np.random.default_rng(7))
    enc.params[...] *= 1e30
    with pytest.raises(ValueError, match="input gradient overflows float32"):
        enc.backward(np.random.default_rng(8).random((50, 2)),
                     np.full((50, enc.output_dims), 1e10, np.float32), input_gradient=True)


def test_values_beyond_float32_are_refused_or_clamped_without_warnings():
    enc = HashEncoding(2, n_levels=2, log2_table_size=6)
    random_table(enc, np.random.default_rng(6))
    before = enc.params.copy()
    x = np.array([[0.3, 0.6]])
    # Beyond float64 too where longdouble is wider (x86); else the largest float64.
    wide = np.finfo(np.longdouble).maxexp > 1024
    huge = np.longdouble("1e4000") if wide else np.longdouble(1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for big in (1e300, -1e39, huge):
            table = np.zeros(enc.params.shape, dtype=np.asarray(big).dtype)
            table[1, 3, 0] = big
            with pytest.raises(ValueError, match="params"):
                enc.params = table
            np.testing.assert_array_equal(enc.params, before)
            grad_output = np.zeros((1, enc.output_dims), dtype=table.dtype)
            grad_output[0, 2] = big
            with pytest.raises(ValueError, match="grad_output"):
                enc.backward(x, grad_output)
        with pytest.raises(ValueError, match="NaN"):
            enc.params = np.full(enc.params.shape, np.inf)
        # Points are clamped to [0, 1]: a finite coordinate beyond float32 acts as 0 or 1.
        far = np.array([[1e300, 0.6], [0.3, -1e300], [huge, 0.6]])
        near = np.array([[1.0, 0.6], [0.3, 0.0], [1.0, 0.6]], np.float32)
        np.testing.assert_array_equal(enc.forward(far), enc.forward(near))
        g = np.ones((3, enc.output_dims))
        for got, want in zip(enc.backward(far, g, input_gradient=True),
                             enc.backward(near, g, input_gradient=True)):
            np.testing.assert_array_equal(got, want)
        assert far[0, 0] == 1e300  # the caller's array is unchanged
    with pytest.raises(ValueError, match="NaN"):
        enc.forward(np.array([[np.inf, 0.5]]))


def test_outputs_that_cannot_be_allocated_are_refused_before_any_work():
    if nearlinear._validation.physical_memory() is None:
        pytest.skip("physical memory unknown")
    enc = HashEncoding(2, n_levels=2, log2_table_size=6)
    # A broadcast view of 2^40 points: its float32 copy and the output need terabytes.
    x = np.broadcast_to(np.float32(0.5), (2**40, 2))
    with pytest.raises(ValueError, match="`x`"):
        enc.forward(x)
    with pytest.raises(ValueError, match="`x`"):
        enc.backward(x, np.broadcast_to(np.float32(1.0), (2**40, enc.output_dims)))


@pytest.mark.parametrize("lattice", ["simplex", "cube"])
def test_out_buffers_receive_the_same_results(lattice):
    enc = HashEncoding(3, lattice=lattice, n_levels=4, log2_table_size=10)
    rng = np.random.default_rng()
    random_table(enc, rng)
    x = rng.random((300, 3)).astype(np.float32)
    g = rng.standard_normal((300, enc.output_dims)).astype(np.float32)
    features = np.full((300, enc.output_dims), np.nan, np.float32)
    assert enc.forward(x, out=features) is features
    np.testing.assert_array_equal(features, enc.forward(x))
    # Whatever the buffer held is overwritten, also by the parameter gradient.
    grad = np.full(enc.params.shape, 5.0, np.float32)
    result = enc.backward(x, g, out=grad, input_gradient=True)
    assert result[0] is grad
    expected = enc.backward(x, g, input_gradient=True)
    np.testing.assert_array_equal(grad, expected[0])
    np.testing.assert_array_equal(result[1], expected[1])


def test_bad_out_buffers_are_refused_by_name():
    enc = HashEncoding(2, n_levels=2, log2_table_size=6)
    x = np.random.default_rng(1).random((10, 2)).astype(np.float32)
    g = np.ones((10, enc.output_dims), np.float32)
    good = np.zeros((10, enc.output_dims), np.float32)
    readonly = good.copy()
    readonly.flags.writeable = False
    cases = [
        ([[0.0] * enc.output_dims] * 10, TypeError, "NumPy array"),
        (good.astype(np.float64), TypeError, "float32"),
        (good[:5], ValueError, "shape"),
        (np.zeros((enc.output_dims, 10), np.float32).T, ValueError, "C-contiguous"),
        (readonly, ValueError, "writeable"),
    ]
    for out, error, match in cases:
        with pytest.raises(error, match=f"`out`.*{match}|{match}"):
            enc.forward(x, out=out)
    with pytest.raises(ValueError, match="`out` must not overlap `params`"):
        enc.backward(x, g, out=enc.params)
    with pytest.raises(ValueError, match="`out` must have shape"):
        enc.backward(x, g, out=good)
    # Overlap with the (float32) inputs is refused, before anything is written.
    buffer = np.full(10 * enc.output_dims, 0.25, np.float32)
    with pytest.raises(ValueError, match="must not overlap `x`"):
        enc.forward(buffer[:20].reshape(10, 2), out=buffer.reshape(10, enc.output_dims))
    assert (buffer == 0.25).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_float32_grad_output_is_refused_by_the_core(bad):
    # A float32 grad_output is not scanned in Python: the core refuses it as it reads it,
    # before the gradient buffer is written.
    enc = HashEncoding(2, n_levels=3, log2_table_size=8)
    x = np.random.default_rng(2).random((9000, 2)).astype(np.float32)
    g = np.ones((9000, enc.output_dims), np.float32)
    g[8123, 4] = bad
    grad = np.full(enc.params.shape, 3.0, np.float32)
    with pytest.raises(ValueError, match="`grad_output` must not contain NaN or inf"):
        enc.backward(x, g, out=grad)
    assert (grad == 3.0).all()
