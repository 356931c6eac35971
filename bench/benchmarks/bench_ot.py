"""asv benchmarks of nearlinear.ot (entropic optimal transport)."""

import numpy as np

import nearlinear.ot


def _clouds(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    M /= M.max()
    return np.full(n, 1.0 / n), np.full(n, 1.0 / n), M


class Sinkhorn:
    params = ([500, 1000], ["sinkhorn", "sinkhorn_log"])
    param_names = ["n", "method"]

    def setup(self, n, method):
        self.a, self.b, self.M = _clouds(n)

    def time_sinkhorn(self, n, method):
        nearlinear.ot.sinkhorn(self.a, self.b, self.M, 1e-2, method=method, tol=1e-9, warn=False)

    def peakmem_sinkhorn(self, n, method):
        nearlinear.ot.sinkhorn(self.a, self.b, self.M, 1e-2, method=method, tol=1e-9, warn=False)


class SinkhornNewtonSparse:
    params = [500, 1000]
    param_names = ["n"]

    def setup(self, n):
        self.a, self.b, self.M = _clouds(n)

    def time_sns(self, n):
        nearlinear.ot.sinkhorn(self.a, self.b, self.M, 1e-3, method="sns", tol=1e-9, warn=False)


class SinkhornPoints:
    params = [2000, 10000]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        rng = np.random.default_rng(0)
        self.x = (rng.random((n, 2)) / np.sqrt(2)).astype(np.float32)
        self.y = (rng.random((n, 2)) / np.sqrt(2)).astype(np.float32)

    def time_sinkhorn_points(self, n):
        nearlinear.ot.sinkhorn_points(self.x, self.y, 1e-2, tol=1e-3, max_iter=100, warn=False)

    def peakmem_sinkhorn_points(self, n):
        nearlinear.ot.sinkhorn_points(self.x, self.y, 1e-2, tol=1e-3, max_iter=100, warn=False)
