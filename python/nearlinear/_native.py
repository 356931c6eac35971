"""Load the compiled core built for this CPU.

A portable build ships two copies of the core: ``_core`` for any x86-64 CPU and
``_core_avx2`` compiled for x86-64-v3 (AVX2, FMA, BMI2). The faster one is used when the CPU
supports it; ``NEARLINEAR_CPU=baseline`` forces the portable one.
"""

from __future__ import annotations

import importlib
import os

__all__ = ["core"]

_V3_FLAGS = {"avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _load():
    if os.environ.get("NEARLINEAR_CPU", "").lower() != "baseline" and _V3_FLAGS <= _cpu_flags():
        try:
            return importlib.import_module("nearlinear._core_avx2")
        except ImportError:
            pass
    return importlib.import_module("nearlinear._core")


core = _load()
