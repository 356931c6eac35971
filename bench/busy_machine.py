"""1 thread against all cores, on an idle machine and beside a busy process.

Every parallel loop of nearlinear ends by waiting for all its threads, so a thread whose core
is shared with another busy process holds up the whole call. This script times three calls
(a sparse and a dense ``lstsq``, ``sinkhorn_log``) with 1 thread and with ``--threads``
threads, alternating, each after a short pause, and prints the medians and their ratio; with
``--hog N`` it first starts N processes that spin on a core each (as ``yes > /dev/null`` would).

    python bench/busy_machine.py            # idle machine
    python bench/busy_machine.py --hog 1    # one core taken by another process

``OMP_WAIT_POLICY=passive`` in the environment makes idle threads sleep at once instead of
spinning for a while first: compare both runs with it set.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time

import numpy as np
import scipy.sparse as sp

import nearlinear as nl

PAUSE_SECONDS = 0.2


def _spin():
    while True:
        pass


def _cases(size: int):
    rng = np.random.default_rng(11)
    A = sp.random(size, 1000, density=0.005, format="csr", random_state=rng, dtype=np.float64)
    b = rng.standard_normal(size)
    D = rng.standard_normal((size // 10, 200))
    db = rng.standard_normal(size // 10)
    n = 2000
    x, y = rng.random((n, 2)), rng.random((n, 2))
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    C /= C.max()
    w = np.full(n, 1.0 / n)
    return {
        f"sparse lstsq {size}x1000, 0.5%": lambda: nl.lstsq(A, b, seed=0, tol=1e-6),
        f"dense lstsq {size // 10}x200": lambda: nl.lstsq(D, db, seed=0, tol=1e-6),
        f"sinkhorn_log n={n} reg=0.01": lambda: nl.ot.sinkhorn(w, w, C, 0.01, tol=1e-9),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--hog", type=int, default=0, help="busy processes to start first")
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--size", type=int, default=1000000, help="rows of the sparse A")
    args = parser.parse_args(argv)
    if args.threads < 2:
        parser.error("--threads must be at least 2")
    cases = _cases(args.size)
    hogs = [mp.Process(target=_spin, daemon=True) for _ in range(args.hog)]
    for h in hogs:
        h.start()
    try:
        print(f"{args.hog} busy process(es), OMP_WAIT_POLICY="
              f"{os.environ.get('OMP_WAIT_POLICY', '(unset)')}, medians of {args.repeat}")
        print(f"{'call':34s} {'1 thread':>10s} {f'{args.threads} threads':>11s}  ratio")
        for name, call in cases.items():
            call()  # warm-up
            times = {1: [], args.threads: []}
            for _ in range(args.repeat):
                for threads in times:
                    nl.set_num_threads(threads)
                    time.sleep(PAUSE_SECONDS)
                    t0 = time.perf_counter()
                    call()
                    times[threads].append(time.perf_counter() - t0)
            one, many = (statistics.median(times[t]) for t in times)
            print(f"{name:34s} {one * 1e3:8.1f} ms {many * 1e3:8.1f} ms  {many / one:.2f}x",
                  flush=True)
    finally:
        for h in hogs:
            h.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
