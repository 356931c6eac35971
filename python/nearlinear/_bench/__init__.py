"""Side-by-side comparisons behind ``nearlinear tour`` and ``nearlinear bench``.

Each solver has a module here exposing

* ``tour_cases()``: a few quick comparisons on generated data, using only what a fresh
  install has (the peer library when it is installed, else a NumPy/SciPy reference);
* ``bench_cases(size, data=None)``: the fuller comparison behind the README's performance
  tables. ``size`` is ``"small"``, ``"medium"`` or ``"large"``; ``data`` is a path for
  benchmarks on real data sets (never downloaded, never shipped).

Both return lists of ``(description, function)`` pairs; calling a function runs one
comparison and returns a list of :class:`~nearlinear._bench.timing.Row`. Timing runs the peer and nearlinear alternately on the same
input in the same process and keeps medians (:func:`timing.compare`).
"""

from __future__ import annotations

import importlib

SOLVERS = {
    "sketch": "nearlinear._bench.sketch",
    "lstsq": "nearlinear._bench.lstsq",
    "completion": "nearlinear._bench.completion",
    "encoding": "nearlinear._bench.encoding",
    "ot": "nearlinear._bench.ot",
}


def load(solver: str):
    """The comparison module of ``solver``."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose from {', '.join(SOLVERS)}")
    return importlib.import_module(SOLVERS[solver])
