"""Type stubs for the private compiled module nearlinear._core (and _core_avx2)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

# runtime
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, Any]: ...

# completion
class CompletionSolver:
    def __init__(
        self,
        rows: npt.NDArray[np.int64],
        cols: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        m: int,
        n: int,
        rank: int,
        method: str,
        reg: float,
        bias_reg: float,
        biases: bool,
        seed: int,
        inner_tol: float,
        max_inner: int,
    ) -> None: ...
    def initialize(self) -> None: ...
    def sweep(self) -> None: ...
    def gibbs_sweep(self, index: int) -> None: ...
    @property
    def row_means(self) -> npt.NDArray[np.float64]: ...
    @property
    def previous_columns(self) -> npt.NDArray[np.float64]: ...
    @property
    def column_means(self) -> npt.NDArray[np.float64]: ...
    @property
    def noise_precision(self) -> float: ...
    @property
    def row_prior_mean(self) -> npt.NDArray[np.float64]: ...
    @property
    def row_prior_precision(self) -> npt.NDArray[np.float64]: ...
    @property
    def column_prior_mean(self) -> npt.NDArray[np.float64]: ...
    @property
    def column_prior_precision(self) -> npt.NDArray[np.float64]: ...
    def train_rmse(self) -> float: ...
    def objective(self) -> float: ...
    @property
    def U(self) -> npt.NDArray[np.float64]: ...
    @property
    def V(self) -> npt.NDArray[np.float64]: ...
    @property
    def row_bias(self) -> npt.NDArray[np.float64]: ...
    @property
    def col_bias(self) -> npt.NDArray[np.float64]: ...
    @property
    def mean(self) -> float: ...
    @property
    def last_inner_iterations(self) -> int: ...

def completion_predict(
    U: npt.NDArray[np.float64],
    V: npt.NDArray[np.float64],
    row_bias: npt.NDArray[np.float64],
    col_bias: npt.NDArray[np.float64],
    mean: float,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]: ...
def completion_pcg_row_solve(
    A: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    lam: npt.NDArray[np.float64],
    precond: npt.NDArray[np.float64],
    tol: float,
    max_iter: int,
    x0: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], int]: ...
