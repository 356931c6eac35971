"""Entropic optimal transport beside POT (``ot.sinkhorn``) and regot (``sinkhorn_ssns``).

Problems: random 2-D point clouds in the unit square, squared Euclidean cost divided by its
maximum, uniform weights, tol 1e-9 (the L1 marginal violation for nearlinear; POT's
``stopThr`` is given the same value). Every row reports the iteration counts and the final
L1 marginal violation of both plans.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
from scipy.special import logsumexp

from .. import ot as nl_ot
from .timing import Row, compare, median_time

TOL = 1e-9


def _clouds(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    M /= M.max()
    a = np.full(n, 1.0 / n)
    return a, a.copy(), M


def _violation(P, a, b) -> float:
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def _ours(a, b, M, reg, method):
    def run():
        return nl_ot.sinkhorn(a, b, M, reg, method=method, tol=TOL, max_iter=100_000, log=True, warn=False)
    return run


def _our_accuracy(result, a, b) -> str:
    P, log = result
    if log["method"] == "sns":
        iters = f"{log['n_newton']} Newton + {log['n_sinkhorn']} Sinkhorn it"
    else:
        iters = f"{log['niter']} it"
    return f"{iters}, err {_violation(P, a, b):.1e}"


def _pot_row(a, b, M, reg, pot_method, our_method, repeat):
    import ot  # POT

    def pot():
        return ot.sinkhorn(a, b, M, reg, method=pot_method, stopThr=TOL, numItermax=100_000, log=True,
                           warn=False)

    t_ref, t_our, ref, ours = compare(pot, _ours(a, b, M, reg, our_method), repeat=repeat,
                                      warmup=1 if repeat > 1 else 0)
    n = M.shape[0]
    return Row(problem=f"{our_method} n={n} reg={reg:g}", reference=f"POT ot.sinkhorn({pot_method})",
               reference_time=t_ref, nearlinear_time=t_our,
               reference_accuracy=f"{ref[1]['niter']} it, err {_violation(ref[0], a, b):.1e}",
               nearlinear_accuracy=_our_accuracy(ours, a, b),
               extra={"reference_niter": int(ref[1]["niter"]), "nearlinear_niter": int(ours[1]["niter"])})


def _regot_row(a, b, M, reg, repeat):
    import regot

    Mf = np.asfortranarray(M)

    def ssns():
        return regot.sinkhorn_ssns(Mf, a, b, reg, tol=TOL, max_iter=10_000)

    t_ref, t_our, ref, ours = compare(ssns, _ours(a, b, M, reg, "sns"), repeat=repeat,
                                      warmup=1 if repeat > 1 else 0)
    n = M.shape[0]
    return Row(problem=f"sns n={n} reg={reg:g}", reference="regot sinkhorn_ssns",
               reference_time=t_ref, nearlinear_time=t_our,
               reference_accuracy=f"{ref.niter} it, err {_violation(ref.plan, a, b):.1e}",
               nearlinear_accuracy=_our_accuracy(ours, a, b),
               extra={"reference_niter": int(ref.niter), "nearlinear_niter": int(ours[1]["niter"])})


def _scipy_reference(a, b, M, reg, max_iter=100_000):
    """Plain log-domain Sinkhorn with scipy.special.logsumexp (the fresh-install peer)."""
    f, g = np.zeros(len(a)), np.zeros(len(b))
    log_a, log_b = np.log(a), np.log(b)
    for it in range(1, max_iter + 1):
        f = reg * (log_a - logsumexp((g[None, :] - M) / reg, axis=1))
        g_next = reg * (log_b - logsumexp((f[:, None] - M) / reg, axis=0))
        err = np.abs(b * np.exp((g - g_next) / reg) - b).sum()
        if err <= TOL:
            break
        g = g_next
    return np.exp((f[:, None] + g[None, :] - M) / reg), it


def _scipy_row(a, b, M, reg, method):
    t_ref, t_our, ref, ours = compare(lambda: _scipy_reference(a, b, M, reg), _ours(a, b, M, reg, method),
                                      repeat=1, warmup=0)
    return Row(problem=f"{method} n={M.shape[0]} reg={reg:g}",
               reference="NumPy/SciPy logsumexp Sinkhorn", reference_time=t_ref, nearlinear_time=t_our,
               reference_accuracy=f"{ref[1]} it, err {_violation(ref[0], a, b):.1e}",
               nearlinear_accuracy=_our_accuracy(ours, a, b))


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def _require(module: str, extra: str = "bench") -> None:
    if not _have(module):
        raise SystemExit(f"nearlinear bench ot needs {module}: pip install 'nearlinear[{extra}]'")


def tour_cases():
    """Quick rows: POT's classic Sinkhorn when installed, else a SciPy log-domain Sinkhorn."""
    def case(n, reg, method):
        def run():
            a, b, M = _clouds(n)
            return [_pot_row(a, b, M, reg, "sinkhorn", method, repeat=3)]
        return f"ot {method} n={n} reg={reg:g}", run

    def fallback(n, reg, method):  # the SciPy reference is slow: smaller problems
        def run():
            a, b, M = _clouds(n)
            return [_scipy_row(a, b, M, reg, method)]
        return f"ot {method} n={n} reg={reg:g}", run

    if _have("ot"):
        return [case(400, 1e-2, "sinkhorn_log"), case(400, 1e-3, "sns")]
    return [fallback(150, 1e-2, "sinkhorn_log"), fallback(150, 5e-3, "sns")]


def _points_row(n: int, reg: float, max_iter: int, tol: float) -> Row:
    """sinkhorn_points on n = m float32 points in a subprocess: wall time and peak RSS."""
    script = (
        "import json, resource, time, numpy as np, nearlinear\n"
        # VmHWM is this process's own peak; Linux carries ru_maxrss over from the parent
        # across exec, so it would report the benchmark driver's peak instead.
        "def peak_kb():\n"
        "    try:\n"
        "        with open('/proc/self/status') as f:\n"
        "            return int(next(l for l in f if l.startswith('VmHWM')).split()[1])\n"
        "    except (OSError, StopIteration):\n"
        "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"rng = np.random.default_rng(0); n = {n}\n"
        "x = (rng.random((n, 2)) / np.sqrt(2)).astype(np.float32)\n"
        "y = (rng.random((n, 2)) / np.sqrt(2)).astype(np.float32)\n"
        "t = time.perf_counter()\n"
        f"r = nearlinear.ot.sinkhorn_points(x, y, {reg!r}, max_iter={max_iter}, tol={tol!r}, warn=False)\n"
        "t = time.perf_counter() - t\n"
        "print(json.dumps(dict(time=t, rss=peak_kb(), n_iter=r.n_iter, eps=r.n_eps_steps,"
        " err=r.err, cost=r.cost)))\n"
    )
    import os

    from .. import get_num_threads

    env = dict(os.environ, NEARLINEAR_NUM_THREADS=str(get_num_threads()))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.path.dirname(os.path.dirname(nl_ot.__file__)),
                                                      env.get("PYTHONPATH", "")] if p)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    dense_gb = 8.0 * n * n / 1e9
    return Row(problem=f"sinkhorn_points n=m={n:,} reg={reg:g} float32",
               reference=f"none (a dense cost needs {dense_gb:.0f} GB)", reference_time=math.nan,
               nearlinear_time=res["time"], reference_accuracy="",
               nearlinear_accuracy=(f"{res['eps']} eps steps + {res['n_iter']} it, err {res['err']:.1e}, "
                                    f"peak RSS {res['rss'] / 1024:.0f} MB"),
               extra=res)


def bench_cases(size, data=None):
    """POT and regot side by side (the [bench] extra); sizes: small, medium, large."""
    del data
    _require("ot")
    _require("regot")
    repeat = {"small": 3, "medium": 5, "large": 5}[size]
    cases = []

    def add(name, fn):
        cases.append((name, fn))

    def at(n, reg, kind):
        reps = repeat if n <= 1000 else 1  # a POT run at n = 4000, reg = 1e-3 takes a minute
        def run():
            a, b, M = _clouds(n)
            if kind == "pot_log":
                return [_pot_row(a, b, M, reg, "sinkhorn_log", "sinkhorn_log", repeat=min(reps, 3))]
            if kind == "pot_classic":
                return [_pot_row(a, b, M, reg, "sinkhorn", "sinkhorn_log" if reg >= 1e-2 else "sns", reps)]
            return [_regot_row(a, b, M, reg, reps)]
        return run

    add("sinkhorn_log vs POT log n=1000", at(1000, 1e-2, "pot_log"))
    add("sinkhorn_log vs POT classic n=1000", at(1000, 1e-2, "pot_classic"))
    add("sns vs regot n=1000", at(1000, 1e-3, "regot"))
    add("sns vs POT classic n=1000", at(1000, 1e-3, "pot_classic"))
    if size in ("medium", "large"):
        add("sns vs regot n=4000", at(4000, 1e-3, "regot"))
        add("sns vs POT classic n=4000", at(4000, 1e-3, "pot_classic"))
    # n = m = 100,000 at reg = 0.01: 1e10 exponentials per half iteration, so a time budget:
    # epsilon scaling then 20 iterations (marginal error about 1e-3).
    points_n = {"small": 10_000, "medium": 10_000, "large": 100_000}[size]
    add(f"sinkhorn_points n={points_n}", lambda: [_points_row(points_n, 1e-2, max_iter=20, tol=1e-3)])
    return cases
