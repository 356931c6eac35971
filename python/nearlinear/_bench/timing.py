"""Timing and table helpers for side-by-side comparisons."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from typing import Callable


@dataclasses.dataclass
class Row:
    """One comparison: the same problem solved by a reference tool and by nearlinear.

    Times are medians in seconds. Accuracies are short strings (e.g. ``"rel.res 1e-15"``),
    so each solver can report the measure that suits it.
    """

    problem: str
    reference: str
    reference_time: float
    nearlinear_time: float
    reference_accuracy: str = ""
    nearlinear_accuracy: str = ""
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def speedup(self) -> float:
        if self.nearlinear_time <= 0:
            return math.inf
        return self.reference_time / self.nearlinear_time


# Pause between two timed calls. BLAS libraries (OpenBLAS under NumPy/SciPy) and OpenMP keep
# their worker threads spinning for a while after a call; on a 2-core machine those spinning
# threads would steal the cores from whichever call runs next. Letting them go idle first
# times each side on a settled machine.
SETTLE_SECONDS = 0.2


def compare(reference: Callable, ours: Callable, *, repeat: int = 5, warmup: int = 1):
    """Run ``reference`` and ``ours`` alternately and return their median times and last results.

    Each timed call starts after a short pause (:data:`SETTLE_SECONDS`) so that the other
    side's idle-spinning worker threads do not compete with it.
    Returns ``(reference_time, ours_time, reference_result, ours_result)``.
    """
    ref_result = our_result = None
    for _ in range(warmup):
        ref_result = reference()
        our_result = ours()
    ref_times, our_times = [], []
    for _ in range(repeat):
        time.sleep(SETTLE_SECONDS)
        t0 = time.perf_counter()
        ref_result = reference()
        ref_times.append(time.perf_counter() - t0)
        time.sleep(SETTLE_SECONDS)
        t0 = time.perf_counter()
        our_result = ours()
        our_times.append(time.perf_counter() - t0)
    return statistics.median(ref_times), statistics.median(our_times), ref_result, our_result


def median_time(fn: Callable, *, repeat: int = 5, warmup: int = 1):
    """Median wall time of ``fn()`` over ``repeat`` runs, and its last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def format_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def format_table(rows: list[Row]) -> str:
    """A fixed-width text table of rows (problem, reference, times, speed-up, accuracies)."""
    header = ["problem", "reference", "ref. time", "nearlinear", "speed-up", "ref. accuracy",
              "nearlinear accuracy"]
    body = [
        [r.problem, r.reference, format_time(r.reference_time), format_time(r.nearlinear_time),
         f"{r.speedup:.1f}x" if math.isfinite(r.speedup) else "-", r.reference_accuracy,
         r.nearlinear_accuracy]
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header] + body) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in body]
    return "\n".join(lines)


def write_json(rows: list[Row], path: str, meta: dict | None = None) -> None:
    records = [dict(dataclasses.asdict(r), speedup=r.speedup) for r in rows]
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"meta": meta or {}, "rows": records}, f, indent=2)
