"""The parameter-gradient scatter of HashEncoding.backward: level-partitioned against
per-thread tables.

nearlinear's backward is parallel over levels: each thread owns whole levels of the
gradient table, so the scatter has no write conflicts and its sums do not depend on the
thread count. The alternative without atomics gives each thread a private gradient table for
a share of the points and sums the tables afterwards. This script measures both with the
same scatter code: the per-thread strategy runs one single-threaded ``backward`` per share
of the points in its own Python thread (the core releases the GIL), then adds the tables in
parallel slices. Both sides allocate and zero their tables on every call, as ``backward``
does. The lattices' order alternates; medians of ``--repeat`` pairs, ratio per-thread /
level-partitioned time (above 1: level partitioning is faster).

    python bench/encoding_scatter_strategies.py [--points 18 20] [--threads 2] [--repeat 7]

(A third strategy, one point-parallel scatter into a shared table with float atomics, was
measured 5-7x slower than level partitioning on 2 threads in 3-D and 4-D, and its sums
depend on the threads' timing.)
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np

import nearlinear
from nearlinear.encoding import HashEncoding


def run_threads(jobs):
    """Run the callables concurrently, one Python thread each; their results in order."""
    results = [None] * len(jobs)

    def work(i):
        results[i] = jobs[i]()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def per_thread_tables(enc, x, g, threads):
    """Each of `threads` Python threads scatters its share of the points into a private
    table (single-threaded core), then the tables are summed in `threads` parallel slices."""
    shares = np.array_split(np.arange(len(x)), threads)
    nearlinear.set_num_threads(1)
    try:
        tables = run_threads([lambda s=s: enc.backward(x[s[0]:s[-1] + 1], g[s[0]:s[-1] + 1])
                              for s in shares])
    finally:
        nearlinear.set_num_threads(threads)
    total = tables[0].reshape(-1)
    rows = np.array_split(np.arange(total.size), threads)

    def add(r):
        lo, hi = r[0], r[-1] + 1
        for t in tables[1:]:
            np.add(total[lo:hi], t.reshape(-1)[lo:hi], out=total[lo:hi])

    run_threads([lambda r=r: add(r) for r in rows])
    return tables[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[18, 20],
                        help="log2 of the number of random points")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3, 4, 6])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    nearlinear.set_num_threads(args.threads)
    print(f"L = 16, F = 2, T = 2^19, {args.threads} threads, medians of {args.repeat}")
    print(f"{'lattice':8} {'dims':>4} {'points':>7} {'level-partitioned':>18} "
          f"{'per-thread tables':>18} {'ratio':>6}")
    rng = np.random.default_rng(0)
    for log2n in args.points:
        for n_dims in args.dims:
            x = rng.random((2 ** log2n, n_dims), dtype=np.float32)
            for lattice in ("cube", "simplex"):
                enc = HashEncoding(n_dims, lattice=lattice)
                g = rng.standard_normal((len(x), enc.output_dims), dtype=np.float32)
                ref = enc.backward(x, g)
                other = per_thread_tables(enc, x, g, args.threads)
                scale = float(np.abs(ref).max())
                assert float(np.abs(other - ref).max()) <= 1e-5 * scale, "strategies disagree"
                times = {"level": [], "tables": []}
                for r in range(args.repeat):
                    order = ("level", "tables") if r % 2 == 0 else ("tables", "level")
                    for name in order:
                        t0 = time.perf_counter()
                        if name == "level":
                            enc.backward(x, g)
                        else:
                            per_thread_tables(enc, x, g, args.threads)
                        times[name].append(time.perf_counter() - t0)
                level = statistics.median(times["level"])
                tables = statistics.median(times["tables"])
                print(f"{lattice:8} {n_dims:>4} {'2^' + str(log2n):>7} {level * 1e3:>15.1f} ms "
                      f"{tables * 1e3:>15.1f} ms {tables / level:>5.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
