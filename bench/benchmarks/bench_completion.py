"""asv benchmarks of matrix completion (sizes that finish on a 2-core machine)."""

import warnings

import numpy as np

from nearlinear.completion import complete


def _problem(m, n, k, nnz, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    lin = rng.choice(m * n, size=nnz, replace=False)
    rows, cols = lin // n, lin % n
    return rows, cols, np.einsum("ij,ij->i", X[rows], Y[cols])


class CompletionSweeps:
    """Five sweeps (plus the spectral start) of each method against the rank."""

    params = (["robust-am", "als"], [16, 64])
    param_names = ["method", "rank"]

    def setup(self, method, rank):
        self.rows, self.cols, self.values = _problem(3000, 2000, 16, 300_000)

    def _fit(self, method, rank):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return complete(self.rows, self.cols, self.values, (3000, 2000), rank=rank,
                            method=method, reg=0.0, biases=False, tol=0.0, max_iter=5, seed=0)

    def time_fit(self, method, rank):
        self._fit(method, rank)

    def peakmem_fit(self, method, rank):
        self._fit(method, rank)


class CompletionRatings:
    """Default settings on synthetic ratings (1-5, biases + rank 3 + noise)."""

    params = (["robust-am", "als"],)
    param_names = ["method"]

    def setup(self, method):
        rng = np.random.default_rng(1)
        m, n, nnz = 5000, 2000, 200_000
        lin = rng.choice(m * n, size=nnz, replace=False)
        self.rows, self.cols = lin // n, lin % n
        U, V = rng.standard_normal((m, 3)) * 0.5, rng.standard_normal((n, 3)) * 0.5
        signal = 3.5 + np.einsum("ij,ij->i", U[self.rows], V[self.cols])
        self.values = np.clip(np.rint(signal + rng.normal(0, 0.5, nnz)), 1, 5)

    def time_fit(self, method):
        complete(self.rows, self.cols, self.values, (5000, 2000), method=method, seed=0)
