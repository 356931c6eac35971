"""Calls from several Python threads at once.

The core releases the GIL for its long calls, so callers may run them in threads. Each case
runs a call once alone, then the same call eight times from four threads at once (the core
keeps per-thread scratch buffers and OpenMP teams per calling thread): every result must be
bitwise the one of the call made alone, as it is for a fixed seed and thread count.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp

import nearlinear
from nearlinear import completion, encoding, ot
from nearlinear.sketch import sketch


def _arrays(result):
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, tuple):
        return [a for r in result for a in _arrays(r)]
    return [np.asarray(getattr(result, name)) for name in ("x", "U", "V", "f", "g", "psnr")
            if hasattr(result, name)]


def _fit_arrays(fit):
    return np.asarray(fit.history["loss"]), fit.render()


def _cases():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((3000, 40))
    b = rng.standard_normal(3000)
    S = sp.random(4000, 60, density=0.05, format="csr", random_state=rng)
    bs = rng.standard_normal(4000)
    idx = rng.choice(200 * 150, size=4000, replace=False)
    rows, cols = idx // 150, idx % 150
    values = rng.standard_normal(4000)
    enc = encoding.HashEncoding(3, n_levels=8, log2_table_size=14, seed=1)
    x = rng.random((5000, 3), dtype=np.float32)
    g = rng.standard_normal((5000, enc.output_dims)).astype(np.float32)
    image = rng.random((24, 20, 3))
    p, q = rng.random((150, 2)), rng.random((120, 2))
    M = ((p[:, None] - q[None]) ** 2).sum(-1)
    a, c = np.full(150, 1 / 150), np.full(120, 1 / 120)
    return {
        "sketch": lambda: sketch(A, 200, "srht", seed=3),
        "lstsq dense": lambda: nearlinear.lstsq(A, b, method="precondition", seed=3),
        "lstsq sparse": lambda: nearlinear.lstsq(S, bs, seed=3),
        "complete": lambda: completion.complete(rows, cols, values, (200, 150), rank=4,
                                                max_iter=5, seed=3),
        "encoding forward": lambda: enc.forward(x),
        "encoding backward": lambda: enc.backward(x, g, input_gradient=True),
        "fit_image": lambda: _fit_arrays(encoding.fit_image(
            image, steps=20, batch_size=256, n_levels=4, log2_table_size=10, hidden_width=16,
            seed=3)),
        "sinkhorn_log": lambda: ot.sinkhorn(a, c, M, 0.02, method="sinkhorn_log"),
        "sns": lambda: ot.sinkhorn(a, c, M, 0.005, method="sns", warn=False),
        "sinkhorn_points": lambda: ot.sinkhorn_points(p, q, 0.02),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_concurrent_calls_match_a_call_alone(name):
    call = CASES[name]
    alone = _arrays(call())
    assert alone, "nothing to compare"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: _arrays(call()), range(8)))
    for result in results:
        assert len(result) == len(alone)
        for got, want in zip(result, alone):
            np.testing.assert_array_equal(got, want)
