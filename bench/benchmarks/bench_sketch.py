"""asv benchmarks of the sketch operators (sizes that finish on a 2-core machine)."""

import numpy as np
import scipy.sparse as sp

from nearlinear.sketch import SketchOperator


class DenseSketch:
    """S @ A for a tall dense A, every kind, both memory layouts."""

    params = (["sparse_sign", "countsketch", "srht", "gaussian"], ["C", "F"])
    param_names = ["kind", "order"]

    def setup(self, kind, order):
        n, d, m = 65536, 64, 256
        A = np.random.default_rng(0).standard_normal((n, d))
        self.A = np.asfortranarray(A) if order == "F" else A
        if kind == "countsketch":
            self.S = SketchOperator("sparse_sign", m, n, seed=1, nnz_per_column=1)
        else:
            self.S = SketchOperator(kind, m, n, seed=1)

    def time_apply(self, kind, order):
        self.S @ self.A

    def peakmem_apply(self, kind, order):
        self.S @ self.A


class SparseSketch:
    """S @ A for a sparse CSR/CSC A (1% density)."""

    params = (["sparse_sign", "srht"], ["csr", "csc"])
    param_names = ["kind", "format"]

    def setup(self, kind, fmt):
        n, d, m = 200000, 100, 400
        self.A = sp.random(n, d, density=0.01, format=fmt, random_state=0)
        self.S = SketchOperator(kind, m, n, seed=1)

    def time_apply(self, kind, fmt):
        self.S @ self.A


class Vector:
    """Sketching a single long vector (the right-hand side of a least-squares problem)."""

    params = ["sparse_sign", "srht", "gaussian"]
    param_names = ["kind"]

    def setup(self, kind):
        n = 1 << 20
        self.b = np.random.default_rng(0).standard_normal(n)
        self.S = SketchOperator(kind, 256, n, seed=1)

    def time_apply(self, kind):
        self.S @ self.b
