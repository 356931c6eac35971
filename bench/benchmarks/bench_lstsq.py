"""asv benchmarks of nearlinear.lstsq beside LAPACK (sizes that finish on 2 cores)."""

import numpy as np
import scipy.sparse as sp

import nearlinear as nl


class DenseLstsq:
    # "precondition_goal_tol": tol=1e-6, the tolerance at which the speed goals' accuracy
    # criterion (residual within 1e-10 relative of LAPACK's) holds on these problems.
    params = ([(20000, 100), (50000, 200)],
              ["precondition", "precondition_goal_tol", "sketch", "direct", "gelsd"])
    param_names = ["shape", "method"]

    def setup(self, shape, method):
        rng = np.random.default_rng(0)
        self.A = rng.standard_normal(shape)
        self.b = rng.standard_normal(shape[0])

    def time_solve(self, shape, method):
        if method == "gelsd":
            np.linalg.lstsq(self.A, self.b, rcond=None)
        elif method == "precondition_goal_tol":
            nl.lstsq(self.A, self.b, method="precondition", tol=1e-6, seed=0)
        else:
            nl.lstsq(self.A, self.b, method=method, seed=0)

    def peakmem_solve(self, shape, method):
        self.time_solve(shape, method)


class SparseLstsq:
    params = ([(200000, 200)],)
    param_names = ["shape"]

    def setup(self, shape):
        rng = np.random.default_rng(1)
        self.A = sp.random(*shape, density=0.01, format="csr", random_state=rng)
        self.b = rng.standard_normal(shape[0])

    def time_precondition(self, shape):
        nl.lstsq(self.A, self.b, method="precondition", seed=0)

    def time_auto(self, shape):
        nl.lstsq(self.A, self.b, seed=0)

    def time_multiple_rhs(self, shape):
        nl.lstsq(self.A, np.tile(self.b[:, None], (1, 4)), method="precondition", seed=0)
