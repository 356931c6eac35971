"""Hash encoding: simplex lattice against the cube grid, and both against NumPy.

Throughput rows put the cube lattice in the reference column and the simplex lattice in the
nearlinear column, so the speed-up column is the simplex/cube ratio (the same code, hashing,
levels and table sizes; only the lattice differs). The NumPy rows compare nearlinear with the
vectorised NumPy implementation below (the same geometry, checked against nearlinear's output).
Image-fitting rows compare simplex and cube at equal table size, levels, network and steps, each
at fit_image's default resolution (about one vertex per pixel at the finest level): training
time and PSNR.
"""

from __future__ import annotations

import math

import numpy as np

from .. import get_num_threads, set_num_threads
from ..encoding import HashEncoding, fit_image
from .timing import Row, compare

PRIMES = np.array([1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737,
                   3558067399, 2821167487], dtype=np.uint64)  # axes 1..9
MASK32 = np.uint64(0xFFFFFFFF)


def simplex_row_starts(n: int, res: int, extent: int, table_size: int):
    """Dense layout of a simplex level: ``(starts, first, last)``, or None when it is hashed.

    Row ``r`` (the vertices with equal ``v_1 .. v_{n-1}``, numbered row-major over the box,
    axis 1 fastest) holds the vertices ``v_0`` in ``[first[r], last[r]]`` (empty when
    ``last[r] < first[r]``) at table rows ``starts[r] + v_0``. The range bounds ``v_0``
    over the points ``s`` of the skewed unit cube with ``v_i - 1 <= s_i <= v_i + 1`` (see
    nearlinear/encoding.hpp), with the same floating-point operations as the C++ code.
    """
    if extent ** (n - 1) > table_size:
        return None
    g = (1.0 - 1.0 / math.sqrt(n + 1.0)) / n
    # v[r, i - 1] = v_i of row r, axis 1 fastest.
    grids = np.meshgrid(*[np.arange(extent, dtype=np.int64)] * (n - 1), indexing="ij")
    v = np.stack([a.ravel() for a in reversed(grids)], axis=1) if n > 1 else np.zeros(
        (1, 0), dtype=np.int64)
    sum_low = (v - 1).sum(axis=1)
    sum_high = (v + 1).sum(axis=1)
    low = g * sum_low.astype(np.float64) / (1.0 - g)
    high = (float(res) + g * sum_high.astype(np.float64)) / (1.0 - g)
    for j in range(n - 1):
        low_j = ((v[:, j] - 1).astype(np.float64) - g * (sum_high - 2).astype(np.float64)
                 - float(res)) / g
        high_j = ((v[:, j] + 1).astype(np.float64) - g * (sum_low + 2).astype(np.float64)) / g
        low = np.maximum(low, low_j)
        high = np.minimum(high, high_j)
    first = np.maximum(0, np.floor(low).astype(np.int64) - 1)
    last = np.minimum(extent - 1, np.floor(high).astype(np.int64) + 2)
    length = np.maximum(0, last - first + 1)
    offset = np.concatenate([[0], np.cumsum(length)[:-1]])
    if length.sum() > table_size:
        return None
    return offset - first, first, last


def _level_geometry(enc: HashEncoding, level: int):
    """(resolution, vertices per axis of the box, dense layout or None)."""
    res = math.floor(enc.base_resolution * enc.per_level_scale**level)
    n = enc.n_dims
    if enc.lattice == "cube":
        extent = res + 1
        return res, extent, ("box" if extent**n <= enc.table_size else None)
    extent = math.floor(res * math.sqrt(n + 1)) + 2
    return res, extent, simplex_row_starts(n, res, extent, enc.table_size)


def _rows(vertex, extent, layout, table_size):
    if isinstance(layout, str):  # the cube's box, row-major with axis 0 fastest
        strides = extent ** np.arange(vertex.shape[-1], dtype=np.int64)
        return vertex @ strides
    if layout is not None:  # a dense simplex level, row by row
        starts = layout[0]
        strides = extent ** np.arange(vertex.shape[-1] - 1, dtype=np.int64)
        return starts[vertex[..., 1:] @ strides] + vertex[..., 0]
    key = (vertex.astype(np.uint64) * PRIMES[: vertex.shape[-1]]) & MASK32
    key = np.bitwise_xor.reduce(key, axis=-1)
    return (key & np.uint64(table_size - 1)).astype(np.int64)


def _cells(enc: HashEncoding, x: np.ndarray, level: int):
    """Table rows (N, K) and weights (N, K) of every point on one level, vectorised."""
    res, extent, layout = _level_geometry(enc, level)
    n = enc.n_dims
    u = np.clip(x, 0.0, 1.0).astype(np.float32) * np.float32(res)
    if enc.lattice == "cube":
        base = np.minimum(np.floor(u), res - 1).astype(np.int64)
        frac = u - base
        corners = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int64)  # (K, n)
        vertex = base[:, None, :] + corners[None]
        weight = np.prod(np.where(corners[None] == 1, frac[:, None, :], 1 - frac[:, None, :]),
                         axis=2)
    else:
        skew = np.float32((math.sqrt(n + 1) - 1) / n)
        s = u + skew * u.sum(axis=1, keepdims=True)
        base = np.minimum(np.floor(s), extent - 2).astype(np.int64)
        frac = np.minimum(s - base, 1.0)
        order = np.argsort(-frac, axis=1, kind="stable")
        sorted_frac = np.take_along_axis(frac, order, axis=1)
        ones = np.ones((x.shape[0], 1), dtype=np.float32)
        zeros = np.zeros((x.shape[0], 1), dtype=np.float32)
        weight = np.concatenate([ones, sorted_frac], axis=1) - np.concatenate(
            [sorted_frac, zeros], axis=1)
        steps = np.zeros((x.shape[0], n + 1, n), dtype=np.int64)
        for k in range(1, n + 1):
            steps[:, k] = steps[:, k - 1]
            np.put_along_axis(steps[:, k], order[:, k - 1:k], 1, axis=1)
        vertex = base[:, None, :] + steps
    return _rows(vertex, extent, layout, enc.table_size), weight


def numpy_forward(enc: HashEncoding, x: np.ndarray) -> np.ndarray:
    """The encoding in vectorised NumPy (float32), for comparison."""
    F = enc.features_per_level
    out = np.empty((x.shape[0], enc.n_levels * F), dtype=np.float32)
    for level in range(enc.n_levels):
        rows, weight = _cells(enc, x, level)
        gathered = enc.params[level][rows]  # (N, K, F)
        out[:, level * F:(level + 1) * F] = np.einsum("nk,nkf->nf", weight, gathered)
    return out


def numpy_backward(enc: HashEncoding, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
    """The parameter gradient in vectorised NumPy (scatter by bincount), for comparison."""
    F, T = enc.features_per_level, enc.table_size
    grad = np.empty_like(enc.params)
    for level in range(enc.n_levels):
        rows, weight = _cells(enc, x, level)
        g = grad_output[:, level * F:(level + 1) * F]
        for j in range(F):
            contrib = weight * g[:, j:j + 1]
            grad[level, :, j] = np.bincount(rows.ravel(), contrib.ravel(), minlength=T)
    return grad


def _with_threads(threads, fn):
    before = get_num_threads()
    set_num_threads(threads)
    try:
        return fn()
    finally:
        set_num_threads(before)


def _points(n, n_points, seed=0):
    return np.random.default_rng(seed).random((n_points, n), dtype=np.float32)


def _mpts(n_points, seconds):
    return f"{n_points / seconds / 1e6:.2f} Mpt/s"


def throughput_rows(n, threads, n_points, *, repeat=5, log2_table_size=19):
    """Simplex vs cube: forward, backward and both, L=16, F=2, T=2^log2_table_size.

    Both write into buffers allocated once (``out=``), as a training loop would: a fresh
    output's first touch costs page faults whose time varies from call to call on a shared
    machine (measured: 2 of 30 fresh 6-D forward + backward calls took twice the others), and
    that is the allocator's time, not the encoding's.
    """
    x = _points(n, n_points, seed=n)
    simplex = HashEncoding(n, lattice="simplex", log2_table_size=log2_table_size)
    cube = HashEncoding(n, lattice="cube", log2_table_size=log2_table_size)
    g = np.random.default_rng(1).standard_normal((n_points, simplex.output_dims)).astype(
        np.float32)
    features = np.zeros((n_points, simplex.output_dims), np.float32)
    grads = {id(e): np.zeros_like(e.params) for e in (simplex, cube)}
    passes = {
        "fwd": lambda e: e.forward(x, out=features),
        "bwd": lambda e: e.backward(x, g, out=grads[id(e)]),
        "fwd+bwd": lambda e: (e.forward(x, out=features), e.backward(x, g, out=grads[id(e)])),
    }
    rows = []
    for name, run in passes.items():
        cube_time, simplex_time, _, _ = _with_threads(
            threads, lambda run=run: compare(lambda: run(cube), lambda: run(simplex),
                                             repeat=repeat))
        rows.append(Row(
            problem=f"{name} {n}-D, {threads} thr, 2^{int(math.log2(n_points))} pts",
            reference="cube lattice (nearlinear)",
            reference_time=cube_time, nearlinear_time=simplex_time,
            reference_accuracy=_mpts(n_points, cube_time),
            nearlinear_accuracy=_mpts(n_points, simplex_time),
            extra={"n_dims": n, "threads": threads, "pass": name, "n_points": n_points},
        ))
    return rows


def numpy_rows(n, lattice, n_points, *, repeat=3, log2_table_size=19):
    """nearlinear against the vectorised NumPy implementation, forward + backward."""
    x = _points(n, n_points, seed=10 + n)
    enc = HashEncoding(n, lattice=lattice, log2_table_size=log2_table_size)
    enc.params[...] = np.random.default_rng(2).standard_normal(enc.params.shape)
    g = np.random.default_rng(3).standard_normal((n_points, enc.output_dims)).astype(np.float32)
    ref_time, our_time, ref, ours = compare(
        lambda: (numpy_forward(enc, x), numpy_backward(enc, x, g)),
        lambda: (enc.forward(x), enc.backward(x, g)), repeat=repeat)
    # Relative to the largest entry: the two sum the scatter in different orders.
    fwd_err = np.abs(ref[0] - ours[0]).max() / np.abs(ref[0]).max()
    bwd_err = np.abs(ref[1] - ours[1]).max() / np.abs(ref[1]).max()
    return [Row(
        problem=f"fwd+bwd {n}-D {lattice}, 2^{int(math.log2(n_points))} pts",
        reference="NumPy (vectorised)", reference_time=ref_time, nearlinear_time=our_time,
        reference_accuracy=_mpts(n_points, ref_time),
        nearlinear_accuracy=f"{_mpts(n_points, our_time)}, rel. diff {max(fwd_err, bwd_err):.0e}",
        extra={"n_dims": n, "lattice": lattice},
    )]


def _skimage_image(name, side):
    try:
        import skimage.data
        from skimage.transform import resize
    except ImportError as exc:
        raise RuntimeError(
            "the image benchmarks need scikit-image (pip install 'nearlinear[bench]')") from exc
    image = getattr(skimage.data, name)()
    if side is not None and max(image.shape[:2]) > side:
        image = resize(image, (side, side) + image.shape[2:], anti_aliasing=True)
    return np.clip(image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0), 0, 1)


def image_rows(name, image, *, steps, batch_size=2**14):
    """Simplex vs cube fitting one image at equal table size and steps."""
    fits = {lat: fit_image(image, lattice=lat, steps=steps, batch_size=batch_size)
            for lat in ("cube", "simplex")}
    cube, simplex = fits["cube"], fits["simplex"]
    return [Row(
        problem=f"fit {name} {image.shape[0]}x{image.shape[1]}, {steps} steps",
        reference="cube lattice (nearlinear)",
        reference_time=cube.train_time, nearlinear_time=simplex.train_time,
        reference_accuracy=f"PSNR {cube.psnr:.2f} dB",
        nearlinear_accuracy=f"PSNR {simplex.psnr:.2f} dB",
        extra={"psnr_cube": cube.psnr, "psnr_simplex": simplex.psnr},
    )]


def _synthetic_image(side=64):
    rows = np.linspace(0, 1, side)[:, None]
    cols = np.linspace(0, 1, side)[None, :]
    return np.stack([0.5 + 0.4 * np.sin(7 * rows + 5 * cols),
                     0.5 + 0.4 * np.cos(11 * rows * cols),
                     0.5 + 0.4 * np.sin(13 * rows) * np.cos(9 * cols)], axis=-1)


def tour_cases():
    return [
        ("encoding: simplex fwd+bwd vs NumPy",
         lambda: numpy_rows(3, "simplex", 2**13, repeat=3, log2_table_size=16)),
        ("encoding: simplex vs cube 4-D",
         lambda: throughput_rows(4, get_num_threads(), 2**16, repeat=3, log2_table_size=16)[2:]),
        ("encoding: image fit",
         lambda: image_rows("synthetic", _synthetic_image(), steps=100, batch_size=2**12)),
    ]


def bench_cases(size, data=None):
    n_points = {"small": 2**16, "medium": 2**18, "large": 2**20}[size]
    numpy_points = {"small": 2**13, "medium": 2**15, "large": 2**16}[size]
    steps = {"small": 100, "medium": 300, "large": 1000}[size]
    cases = []
    for n in (2, 3, 4, 6):
        for threads in (1, 2):
            cases.append((f"encoding {n}-D {threads} thr",
                          lambda n=n, t=threads: throughput_rows(n, t, n_points)))
    for n in (2, 3, 4, 6):
        for lattice in ("simplex", "cube"):
            cases.append((f"encoding vs NumPy {n}-D {lattice}",
                          lambda n=n, lat=lattice: numpy_rows(n, lat, numpy_points)))
    for name in ("astronaut", "retina"):
        cases.append((f"fit {name}",
                      lambda name=name: image_rows(name, _skimage_image(name, 512), steps=steps)))
    return cases
