"""The ``nearlinear`` command: ``nearlinear tour`` and ``nearlinear bench SOLVER``."""

from __future__ import annotations

import argparse
import platform
import sys
import time

from . import _bench, build_info, get_num_threads, set_num_threads
from ._bench.timing import format_table, write_json
from ._progress import progress_bar


def _run_cases(cases, desc: str):
    rows = []
    with progress_bar(total=len(cases), desc=desc) as bar:
        for name, fn in cases:
            bar.set_postfix_str(name)
            rows.extend(fn())
            bar.update(1)
    return rows


def _header() -> str:
    info = build_info()
    return (f"nearlinear {info['version']} ({info['variant']} build, {info['simd']}), "
            f"{get_num_threads()} threads, Python {platform.python_version()}")


def cmd_tour(args) -> int:
    print(_header())
    cases = []
    for solver in _bench.SOLVERS:
        cases.extend(_bench.load(solver).tour_cases())
    t0 = time.perf_counter()
    rows = _run_cases(cases, "tour")
    print(format_table(rows))
    print(f"(times are medians of alternating runs; total {time.perf_counter() - t0:.1f} s)")
    if args.json:
        write_json(rows, args.json, {"command": "tour", "header": _header()})
    return 0


def cmd_bench(args) -> int:
    print(_header())
    module = _bench.load(args.solver)
    cases = module.bench_cases(args.size, data=args.data)
    rows = _run_cases(cases, f"bench {args.solver}")
    print(format_table(rows))
    if args.json:
        write_json(rows, args.json, {"command": " ".join(sys.argv), "header": _header()})
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nearlinear", description="near-linear-time solvers: tour and benchmarks")
    parser.add_argument("--threads", type=int, default=None,
                        help="thread count (default: NEARLINEAR_NUM_THREADS or all cores)")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="run every solver beside its reference on generated data")
    tour.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    tour.set_defaults(func=cmd_tour)
    bench = sub.add_parser("bench", help="the fuller comparison behind the README tables")
    bench.add_argument("solver", choices=sorted(_bench.SOLVERS))
    bench.add_argument("--size", choices=["small", "medium", "large"], default="medium")
    bench.add_argument("--data", metavar="PATH", default=None,
                       help="data set path for benchmarks on real data (e.g. ml-100k)")
    bench.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            print("nearlinear: --threads must be a positive integer", file=sys.stderr)
            return 2
        set_num_threads(args.threads)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
