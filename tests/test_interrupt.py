"""Ctrl-C (and any signal handler that raises) stops the long iterative calls.

The solvers check between iterations (at most every 100 ms, on Python's main thread, where
signal handlers run) whether one has raised, and stop with that exception. Each call below
would run for tens of seconds; stopped, it returns control within a fraction of a second of
the signal. (The bound on the elapsed time only tells "stopped" from "ran to the end".)
"""

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from nearlinear import completion, encoding, ot

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")


class Stop(Exception):
    pass


def _problem():
    rng = np.random.default_rng(3)
    x, y = rng.random((300, 2)), rng.random((300, 2))
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    w = np.full(300, 1 / 300)
    return x, y, M, w


def _ratings():
    """60,000 of the 300 x 300 entries: a posterior sample's Gibbs sweep takes milliseconds."""
    rng = np.random.default_rng(4)
    rows, cols = np.divmod(rng.choice(300 * 300, 60000, replace=False), 300)
    return rows, cols, rng.standard_normal(rows.size)


X, Y, M, W = _problem()
RATINGS = _ratings()
LONG = {
    "sinkhorn": lambda: ot.sinkhorn(W, W, M, 0.05, method="sinkhorn", max_iter=10**6, tol=0,
                                    warn=False),
    "sinkhorn_log": lambda: ot.sinkhorn(W, W, M, 1e-3, max_iter=10**6, tol=0, warn=False),
    "sns": lambda: ot.sinkhorn(W, W, M, 1e-3, method="sns", max_iter=10**6, tol=0, warn=False),
    "sinkhorn_points": lambda: ot.sinkhorn_points(X, Y, 1e-3, max_iter=10**6, tol=0,
                                                  warn=False),
    # All sweeps in one call of the core (no callback, validation or progress bar).
    "complete_samples": lambda: completion.complete(*RATINGS, shape=(300, 300), rank=30,
                                                    samples=5000),
    "fit_image": lambda: encoding.fit_image(np.zeros((32, 32)), steps=5 * 10**5,
                                            batch_size=1024, n_levels=4, log2_table_size=10,
                                            hidden_width=16),
}


@pytest.mark.parametrize("name", list(LONG))
def test_a_raising_signal_handler_stops_a_long_call(name):
    def handler(signum, frame):
        raise Stop()

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Stop):
            LONG[name]()
        elapsed = time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert elapsed < 5.0, f"{name} ran {elapsed:.1f} s past the signal: it was not stopped"
    # The core is usable afterwards.
    w = np.full(5, 0.2)
    assert np.isfinite(ot.sinkhorn(w, w, M[:5, :5], 0.1)).all()


def test_ctrl_c_raises_keyboard_interrupt():
    script = textwrap.dedent("""
        import numpy as np, sys
        import nearlinear.ot as ot
        M = np.random.default_rng(0).random((300, 300))
        w = np.full(300, 1 / 300)
        print("ready", flush=True)
        ot.sinkhorn(w, w, M, 1e-3, max_iter=10**7, tol=0, warn=False)
        print("finished", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert "KeyboardInterrupt" in err
    assert "finished" not in out
    assert child.returncode != 0
