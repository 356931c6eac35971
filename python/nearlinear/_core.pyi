"""Type stubs for the private compiled module nearlinear._core (and _core_avx2)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

# runtime
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, Any]: ...
