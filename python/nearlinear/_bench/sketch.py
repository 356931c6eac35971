"""Sketch operators beside NumPy and SciPy.

Speed is measured against one NumPy pass over the data, ``A.T @ v`` (a memory-bound read of
A), timed alternately with the sketch in the same run: a sketch costing "2 passes" takes as
long as reading A twice. The Gaussian sketch is compared with NumPy's GEMM on a materialised
Gaussian matrix of the same shape (GFLOP/s), and CountSketch with
``scipy.linalg.clarkson_woodruff_transform`` on the same input.
"""

from __future__ import annotations

import numpy as np

from ..sketch import sketch
from .timing import Row, compare

SIZES = {  # n, d, m
    "small": (16384, 64, 256),
    "medium": (131072, 256, 1024),
    "large": (524288, 256, 1024),
}


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal(n), rng.standard_normal(d)


def _distortion(SA, A, x) -> str:
    """|‖S A x‖² / ‖A x‖² - 1| for a fixed x: how well the sketch keeps a norm."""
    return f"norm err {abs(np.sum((SA @ x) ** 2) / np.sum((A @ x) ** 2) - 1):.3f}"


def _passes_row(kind, A, v, x, m, goal, repeat, **options):
    n, d = A.shape
    label = kind + (f" s={options['nnz_per_column']}" if "nnz_per_column" in options else "")
    t_pass, t_sketch, _, SA = compare(
        lambda: A.T @ v, lambda: sketch(A, m, kind, seed=1, **options), repeat=repeat)
    return Row(
        problem=f"{label} {n}x{d} -> {m}",
        reference="numpy A.T@v (1 pass)",
        reference_time=t_pass,
        nearlinear_time=t_sketch,
        reference_accuracy="1 pass",
        nearlinear_accuracy=f"{t_sketch / t_pass:.2f} passes (goal <= {goal}); "
        + _distortion(SA, A, x),
        extra={"passes": t_sketch / t_pass, "goal_passes": goal},
    )


def _gaussian_row(A, x, m, repeat):
    n, d = A.shape
    G = np.random.default_rng(2).standard_normal((m, n)) / np.sqrt(m)
    t_numpy, t_ours, GA, SA = compare(lambda: G @ A, lambda: sketch(A, m, "gaussian", seed=1),
                                      repeat=repeat)
    flops = 2.0 * m * n * d
    return Row(
        problem=f"gaussian {n}x{d} -> {m}",
        reference="numpy G@A (G materialised)",
        reference_time=t_numpy,
        nearlinear_time=t_ours,
        reference_accuracy=f"{flops / t_numpy / 1e9:.1f} GFLOP/s; " + _distortion(GA, A, x),
        nearlinear_accuracy=f"{flops / t_ours / 1e9:.1f} GFLOP/s (G drawn on the fly); "
        + _distortion(SA, A, x),
        extra={"gflops_numpy": flops / t_numpy / 1e9, "gflops": flops / t_ours / 1e9},
    )


def _countsketch_row(A, x, m, repeat):
    import scipy.linalg

    n, d = A.shape
    t_scipy, t_ours, CA, SA = compare(
        lambda: scipy.linalg.clarkson_woodruff_transform(A, m, rng=1),
        lambda: sketch(A, m, "sparse_sign", seed=1, nnz_per_column=1),
        repeat=repeat)
    return Row(
        problem=f"CountSketch {n}x{d} -> {m}",
        reference="scipy clarkson_woodruff_transform",
        reference_time=t_scipy,
        nearlinear_time=t_ours,
        reference_accuracy=_distortion(CA, A, x),
        nearlinear_accuracy=_distortion(SA, A, x),
    )


def tour_cases():
    """Quick comparisons on generated data (NumPy/SciPy only)."""

    def countsketch():
        A, _, x = _data(65536, 64)
        return [_countsketch_row(A, x, 512, repeat=5)]

    def gaussian():
        n, d, m = 32768, 64, 256
        A, _, x = _data(n, d)

        def numpy_sketch():  # what one writes without a sketch library: draw G, then G @ A
            G = np.random.default_rng(1).standard_normal((m, n)) / np.sqrt(m)
            return G @ A

        t_numpy, t_ours, GA, SA = compare(numpy_sketch, lambda: sketch(A, m, "gaussian", seed=1),
                                          repeat=3)
        return [Row(problem=f"Gaussian sketch {n}x{d} -> {m}", reference="numpy draw G, G@A",
                    reference_time=t_numpy, nearlinear_time=t_ours,
                    reference_accuracy=_distortion(GA, A, x),
                    nearlinear_accuracy=_distortion(SA, A, x))]

    return [("sketch: CountSketch", countsketch), ("sketch: Gaussian", gaussian)]


def bench_cases(size, data=None):
    """The README comparison: every kind against passes over A, GEMM and SciPy."""
    n, d, m = SIZES[size]
    repeat = 7 if size != "large" else 5
    state = {}

    def inputs():
        if "A" not in state:
            state["A"], state["v"], state["x"] = _data(n, d)
        return state["A"], state["v"], state["x"]

    def sparse_sign():
        A, v, x = inputs()
        return [_passes_row("sparse_sign", A, v, x, m, 3, repeat, nnz_per_column=8)]

    def srht():
        A, v, x = inputs()
        return [_passes_row("srht", A, v, x, m, 6, repeat)]

    def gaussian():
        A, _, x = inputs()
        return [_gaussian_row(A, x, m, repeat=3)]

    def countsketch():
        A, _, x = inputs()
        return [_countsketch_row(A, x, m, repeat)]

    return [("sparse_sign", sparse_sign), ("srht", srht), ("gaussian", gaussian),
            ("CountSketch", countsketch)]
