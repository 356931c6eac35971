"""Type stubs for the private compiled module nearlinear._core (and _core_avx2)."""

from typing import Any, Callable

import numpy as np
import numpy.typing as npt

__version__: str

# runtime
MAX_THREADS: int

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, Any]: ...

# encoding
class HashGrid:
    def __init__(self, n_dims: int, lattice: str, n_levels: int, features_per_level: int,
                 log2_table_size: int, base_resolution: int, per_level_scale: float) -> None: ...
    @property
    def table_size(self) -> int: ...
    @property
    def output_dims(self) -> int: ...
    @property
    def resolutions(self) -> list[int]: ...
    @property
    def dense_levels(self) -> list[bool]: ...
    def init_params(self, params: npt.NDArray[np.float32], seed: int) -> None: ...
    def forward_into(self, x: npt.NDArray[np.float32], params: npt.NDArray[np.float32],
                     out: npt.NDArray[np.float32]) -> None: ...
    def backward_params(self, x: npt.NDArray[np.float32], grad_output: npt.NDArray[np.float32],
                        out: npt.NDArray[np.float32]) -> None: ...
    def backward_input(self, x: npt.NDArray[np.float32], params: npt.NDArray[np.float32],
                       grad_output: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...

class FieldTrainingLog:
    loss: list[float]
    time: list[float]
    eval_step: list[int]
    eval_time: list[float]
    eval_psnr: list[float]

class NeuralField:
    def __init__(self, grid: HashGrid, n_outputs: int, hidden_width: int, hidden_layers: int,
                 seed: int) -> None: ...
    def fit_image(self, pixels: npt.NDArray[np.float32], height: int, width: int, steps: int,
                  batch_size: int, learning_rate: float, eval_every: int, seed: int,
                  on_step: Callable[[int, float], bool] | None = None) -> FieldTrainingLog: ...
    def predict(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
    @property
    def params(self) -> npt.NDArray[np.float32]: ...
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
    def sample_posterior(
        self, warmup: int, burn_in: int, samples: int
    ) -> tuple[
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        dict[str, npt.NDArray[np.float64]],
    ]: ...
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
# ot (entropic optimal transport); M, x, y float32 or float64, C-contiguous
def sinkhorn(
    M: npt.NDArray[np.floating], a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], reg: float,
    method: str, init_f: npt.NDArray[np.float64], init_g: npt.NDArray[np.float64], max_iter: int,
    tol: float, absorb_log_threshold: float, eps_scaling_factor: float, warmup_iter: int,
    warmup_tol: float, keep_ratio: float, cg_max_iter: int, fallback_iter: int, overrelax: bool,
) -> dict[str, Any]: ...
def sinkhorn_points(
    x: npt.NDArray[np.floating], y: npt.NDArray[np.floating], a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64], reg: float, p: float, max_iter: int, tol: float,
    eps_scaling: float, plan: bool,
) -> dict[str, Any]: ...
# lstsq
def lstsq_dense(
    A: npt.NDArray[np.floating], B: npt.NDArray[np.float64], method: str, sketch: str,
    sketch_size: int, nnz_per_column: int, seed: int, tol: float, reg: float, rcond: float,
    max_iter: int,
) -> dict[str, Any]: ...
def lstsq_sparse(
    rows: int, cols: int, row_major: bool, indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int64], data: npt.NDArray[np.floating],
    B: npt.NDArray[np.float64], method: str, sketch: str, sketch_size: int,
    nnz_per_column: int, seed: int, tol: float, reg: float, rcond: float, max_iter: int,
) -> dict[str, Any]: ...
def lstsq_default_tol() -> float: ...
def lstsq_default_sketch_size(
    method: str, n: int, d: int, nnz: float, eps: float, tol: float = ...
) -> int: ...

# sketch (nearlinear/sketch.hpp); kind is "sparse_sign", "srht" or "gaussian"
def sketch_dense(kind: str, m: int, seed: int, nnz_per_column: int,
                 A: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]: ...
def sketch_sparse(kind: str, m: int, seed: int, nnz_per_column: int, n: int, d: int, csr: bool,
                  indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64],
                  data: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]: ...
def sketch_matrix(kind: str, m: int, n: int, seed: int,
                  nnz_per_column: int) -> npt.NDArray[np.float64]: ...
def validate_sketch(kind: str, m: int, n: int, seed: int, nnz_per_column: int) -> None: ...
def srht_padded_size(n: int) -> int: ...
