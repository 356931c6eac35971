"""Type stubs for the private compiled module nearlinear._core (and _core_avx2)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

# runtime
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, Any]: ...
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
def lstsq_default_sketch_size(method: str, n: int, d: int, nnz: float, eps: float) -> int: ...
