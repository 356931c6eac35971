"""Type stubs for the private compiled module nearlinear._core (and _core_avx2)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

# runtime
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, Any]: ...

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
