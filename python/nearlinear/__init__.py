"""nearlinear: near-linear-time solvers with a C++ core.

Sketch operators (:mod:`nearlinear.sketch`) are the shared primitive; the solvers are built on
top of them. Parallel loops use OpenMP with the thread count set by :func:`set_num_threads`
(default: ``NEARLINEAR_NUM_THREADS`` from the environment, else OpenMP's default).
"""

from __future__ import annotations

import os as _os

from . import completion, datasets, encoding, ot, sketch
from .completion import MatrixCompletion, complete, complete_sparse
from .sketch import SketchOperator
from ._native import core as _core
from .lstsq import LstsqResult, lstsq

__version__ = _core.__version__

__all__ = [
    "LstsqResult",
    "MatrixCompletion",
    "SketchOperator",
    "__version__",
    "build_info",
    "complete",
    "complete_sparse",
    "completion",
    "datasets",
    "encoding",
    "get_num_threads",
    "lstsq",
    "ot",
    "set_num_threads",
    "sketch",
]


def set_num_threads(n: int) -> None:
    """Set the number of threads nearlinear's parallel loops use (1 <= n <= 1024).

    Results are deterministic for a given seed and thread count.
    """
    from ._validation import check_int

    _core.set_num_threads(check_int(n, "n", minimum=1, maximum=_core.MAX_THREADS))


def get_num_threads() -> int:
    """The number of threads nearlinear's parallel loops use."""
    return _core.get_num_threads()


def build_info() -> dict:
    """How the loaded core was built: CPU variant, Eigen version, SIMD sets, OpenMP."""
    info = dict(_core.build_info())
    info["version"] = __version__
    return info


def _threads_from_environment() -> None:
    value = _os.environ.get("NEARLINEAR_NUM_THREADS")
    if not value:
        return
    try:
        n = int(value)
        if not 1 <= n <= _core.MAX_THREADS:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"NEARLINEAR_NUM_THREADS must be an integer in [1, {_core.MAX_THREADS}]; "
            f"got {value!r}"
        ) from None
    _core.set_num_threads(n)


_threads_from_environment()


def __getattr__(name):
    # nearlinear.linear_model needs scikit-learn (an optional extra): import it on first use.
    if name == "linear_model":
        import importlib

        return importlib.import_module(".linear_model", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
