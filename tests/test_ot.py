"""Tests of nearlinear.ot against POT and a NumPy/SciPy log-domain reference."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import nearlinear
from nearlinear.ot import ConvergenceWarning, UnderflowWarning, sinkhorn, sinkhorn2, sinkhorn_points

ot = pytest.importorskip("ot")

METHODS = ["sinkhorn", "sinkhorn_log", "sns"]


def sq_dist(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def problem(seed, n=40, m=30, d=2, uniform=False):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, d)), rng.random((m, d))
    M = sq_dist(x, y)
    if uniform:
        a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    else:
        a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
        a /= a.sum()
        b /= b.sum()
    return x, y, a, b, M


def reference_plan(a, b, M, reg, iters=20000):
    """Plain log-domain Sinkhorn in float64 (SciPy's logsumexp)."""
    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(iters):
        f = reg * (np.log(a) - logsumexp((g[None, :] - M) / reg, axis=1))
        g = reg * (np.log(b) - logsumexp((f[:, None] - M) / reg, axis=0))
        P = np.exp((f[:, None] + g[None, :] - M) / reg)
        if np.abs(P.sum(1) - a).sum() < 1e-13:
            break
    return P


def marginal_error(P, a, b):
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1])
def test_plan_equals_pot_float64(method, seed):
    _, _, a, b, M = problem(seed)
    reg = 0.05
    expected = ot.sinkhorn(a, b, M, reg, stopThr=1e-13, numItermax=100000)
    P, log = sinkhorn(a, b, M, reg, method=method, tol=1e-11, log=True)
    assert P.dtype == np.float64 and P.shape == M.shape
    np.testing.assert_allclose(P, expected, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(P, reference_plan(a, b, M, reg), rtol=1e-7, atol=1e-12)
    assert log["converged"] and log["method"] == method
    assert marginal_error(P, a, b) <= 1e-10


@pytest.mark.parametrize("method", METHODS)
def test_plan_equals_pot_float32(method):
    _, _, a, b, M = problem(2)
    reg = 0.05
    expected = ot.sinkhorn(a, b, M, reg, stopThr=1e-13, numItermax=100000)
    P = sinkhorn(a, b, M.astype(np.float32), reg, method=method, tol=1e-7)
    assert P.dtype == np.float32
    np.testing.assert_allclose(P, expected, rtol=2e-5, atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_marginals_within_tol(method):
    _, _, a, b, M = problem(3, n=80, m=50)
    for tol in (1e-4, 1e-9):
        P, log = sinkhorn(a, b, M / M.max(), 0.01, method=method, tol=tol, max_iter=100000, log=True)
        assert marginal_error(P, a, b) <= tol * (1 + 1e-6)
        assert log["err"][-1] <= tol


def test_log_dictionary_follows_pot():
    _, _, a, b, M = problem(4)
    reg = 0.1
    P, log = sinkhorn(a, b, M, reg, method="sinkhorn", log=True)
    np.testing.assert_allclose(P, log["u"][:, None] * np.exp(-M / reg) * log["v"][None, :], rtol=1e-10)
    P, log = sinkhorn(a, b, M, reg, method="sinkhorn_log", log=True)
    np.testing.assert_allclose(P, np.exp(log["log_u"][:, None] - M / reg + log["log_v"][None, :]),
                               rtol=1e-10)
    assert isinstance(log["niter"], int) and isinstance(log["err"], list)
    # POT's names are accepted.
    P2 = sinkhorn(a, b, M, reg, numItermax=5000, stopThr=1e-10)
    np.testing.assert_allclose(P2, P, rtol=1e-7, atol=1e-14)


@pytest.mark.parametrize("method", METHODS)
def test_potentials_consistent_with_plan(method):
    _, _, a, b, M = problem(5)
    reg = 0.02
    P, log = sinkhorn(a, b, M, reg, method=method, log=True)
    Pf = np.exp((log["f"][:, None] + log["g"][None, :] - M) / reg)
    np.testing.assert_allclose(P, Pf, rtol=1e-9, atol=1e-15)


def test_sns_and_sinkhorn_agree_at_small_reg():
    _, _, a, b, M = problem(6, n=150, m=120, uniform=True)
    M /= M.max()
    P1, l1 = sinkhorn(a, b, M, 1e-3, method="sinkhorn_log", max_iter=100000, log=True)
    P2, l2 = sinkhorn(a, b, M, 1e-3, method="sns", log=True)
    assert l1["converged"] and l2["converged"]
    assert l2["n_newton"] > 0 and l2["niter"] == l2["n_newton"] + l2["n_sinkhorn"]
    np.testing.assert_allclose(P2, P1, atol=1e-9)


def test_cost_tends_to_emd():
    _, _, a, b, M = problem(7, n=30, m=30)
    M /= M.max()
    exact = ot.emd2(a, b, M)
    gaps = [sinkhorn2(a, b, M, reg, method="sns", max_iter=20000) - exact for reg in (1e-1, 1e-2, 1e-3)]
    assert gaps[0] > gaps[1] > gaps[2] >= -1e-9
    assert gaps[2] < 1e-2 * exact


def test_sinkhorn2_is_cost_of_plan():
    _, _, a, b, M = problem(8)
    P = sinkhorn(a, b, M, 0.05)
    assert sinkhorn2(a, b, M, 0.05) == pytest.approx(float((P * M).sum()), rel=1e-12)
    assert sinkhorn2(a, b, M, 0.05) == pytest.approx(ot.sinkhorn2(a, b, M, 0.05, stopThr=1e-12), rel=1e-7)


def test_uniform_weights_when_omitted():
    _, _, _, _, M = problem(9)
    n, m = M.shape
    P = sinkhorn([], None, M, 0.1)
    np.testing.assert_allclose(P.sum(1), np.full(n, 1 / n), atol=1e-10)
    np.testing.assert_allclose(P.sum(0), np.full(m, 1 / m), atol=1e-10)


def test_warmstart_from_solution_converges_at_once():
    _, _, a, b, M = problem(10)
    P, log = sinkhorn(a, b, M, 0.05, log=True)
    P2, log2 = sinkhorn(a, b, M, 0.05, log=True, warmstart=(log["log_u"], log["log_v"]))
    assert log2["niter"] <= 2
    np.testing.assert_allclose(P2, P, rtol=1e-8, atol=1e-14)


def test_classic_underflow_switches_to_log_domain():
    x, y, a, b, _ = problem(11)
    x[0] = (30.0, 30.0)  # far from every target: its row of exp(-M/reg) is all zeros
    M = sq_dist(x, y)
    M /= M.max()
    with pytest.warns(UnderflowWarning):
        P, log = sinkhorn(a, b, M, 1e-3, method="sinkhorn", log=True, max_iter=50000, tol=1e-8)
    assert log["method"] == "sinkhorn_log" and log["converged"]
    assert np.isfinite(P).all() and marginal_error(P, a, b) <= 1e-8


@pytest.mark.parametrize("method", ["sinkhorn_log", "sns"])
def test_small_reg_clustered_unequal_nonuniform(method):
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.normal(0, 0.05, (50, 2)), rng.normal(3, 0.05, (40, 2))])
    y = np.concatenate([rng.normal(0.5, 0.05, (20, 2)), rng.normal(3.5, 0.05, (50, 2))])
    M = sq_dist(x, y)
    M /= M.max()
    a = rng.random(90) + 0.01
    a /= a.sum()
    b = rng.random(70) + 0.01
    b *= a.sum() / b.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        P, log = sinkhorn(a, b, M, 1e-4, method=method, max_iter=20000, log=True)
    assert np.isfinite(P).all() and np.isfinite(log["f"]).all() and np.isfinite(log["g"]).all()
    assert marginal_error(P, a, b) <= 1e-6
    # The small-reg cost is close to the exact one.
    assert float((P * M).sum()) == pytest.approx(ot.emd2(a, b, M), rel=1e-2, abs=1e-6)


def test_eps_scaling_gives_same_plan():
    _, _, a, b, M = problem(13)
    M /= M.max()
    P1 = sinkhorn(a, b, M, 2e-3, max_iter=100000)
    P2 = sinkhorn(a, b, M, 2e-3, max_iter=100000, eps_scaling=4.0)
    np.testing.assert_allclose(P2, P1, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_non_convergence_warns_and_logs(method):
    _, _, a, b, M = problem(14)
    M /= M.max()
    with pytest.warns(ConvergenceWarning):
        P, log = sinkhorn(a, b, M, 1e-3, method=method, max_iter=3, log=True)
    assert log["converged"] is False and log["niter"] <= 3
    assert np.isfinite(P).all()


def test_threads_do_not_change_result():
    _, _, a, b, M = problem(15, n=200, m=150)
    before = nearlinear.get_num_threads()
    try:
        nearlinear.set_num_threads(1)
        P1 = sinkhorn(a, b, M, 0.01, method="sns")
        nearlinear.set_num_threads(2)
        P2 = sinkhorn(a, b, M, 0.01, method="sns")
    finally:
        nearlinear.set_num_threads(before)
    np.testing.assert_allclose(P1, P2, rtol=1e-9, atol=1e-15)



def tiny_weight_problem(side, tiny):
    """Problem 20 with one weight of a (side "a") or b (side "b") set to `tiny`."""
    _, _, a, b, M = problem(20, n=20, m=15)
    M /= M.max()
    w = a if side == "a" else b
    w[0] = tiny
    w /= w.sum()
    other = b if side == "a" else a
    other *= w.sum() / other.sum()
    return a, b, M


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("side", ["a", "b"])
@pytest.mark.parametrize("dtype, tiny", [(np.float64, 1e-280), (np.float32, 1e-40)])
def test_weight_below_kernel_floor_converges(method, side, dtype, tiny):
    # A weight so small that its kernel row (column) is stored as zeros is a mass the plan
    # cannot hold: the solvers must still converge, not burn every iteration on absorptions.
    a, b, M = tiny_weight_problem(side, tiny)
    reg, tol = 0.05, 1e-9 if dtype == np.float64 else 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        P, log = sinkhorn(a, b, M.astype(dtype), reg, method=method, tol=tol, max_iter=5000, log=True)
    assert log["converged"] and log["niter"] < 1000 and log["n_absorb"] < 50
    if method == "sns":  # the tiny column is left out of the Newton system
        assert log["n_newton"] > 0
    assert log["err"] and log["err"][-1] <= tol
    assert marginal_error(P.astype(np.float64), a, b) <= 2 * tol
    expected = reference_plan(a, b, M, reg)
    if dtype == np.float64:
        np.testing.assert_allclose(P, expected, rtol=1e-6, atol=1e-12)
    else:
        np.testing.assert_allclose(P, expected, rtol=2e-4, atol=1e-8)
    # The potentials still describe the plan (the tiny row/column to within its mass).
    Pf = np.exp((log["f"][:, None] + log["g"][None, :] - M) / reg)
    np.testing.assert_allclose(Pf, P, rtol=2e-4, atol=1e-8)


def test_genuine_column_underflow_still_recovers():
    # A target far from every source with an ordinary weight: its kernel column is all zeros
    # at the first refresh; the exact log-domain column update must still rescue it.
    x, y, a, b, _ = problem(21, n=30, m=20)
    y[0] = (6.0, 6.0)
    M = sq_dist(x, y)
    M /= M.max()
    P, log = sinkhorn(a, b, M, 1e-3, method="sinkhorn_log", max_iter=100000, tol=1e-9, log=True)
    assert log["converged"] and marginal_error(P, a, b) <= 1e-9
    assert P[:, 0].sum() == pytest.approx(b[0], rel=1e-6)


@pytest.mark.parametrize("max_iter", [1, 3, 10, 50])
def test_eps_scaling_counts_every_iteration(max_iter):
    rng = np.random.default_rng(22)
    x, y = rng.random((30, 2)), rng.random((30, 2))
    M = sq_dist(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        P, log = sinkhorn(None, None, M, 1e-3, log=True, eps_scaling=2.0, max_iter=max_iter)
    assert 1 <= log["niter"] <= max_iter and not log["converged"]
    assert log["err"] and np.isfinite(log["err"][-1]) and np.isfinite(P).all()


# ---------------------------------------------------------------- point clouds

@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_points_equal_matrix_version(p):
    x, y, a, b, _ = problem(16, n=70, m=55, d=3)
    M = np.sqrt(sq_dist(x, y)) ** p
    reg = 0.05
    P = sinkhorn(a, b, M, reg, tol=1e-11)
    r = sinkhorn_points(x, y, reg, a=a, b=b, p=p, tol=1e-11, plan=True)
    assert r.converged
    np.testing.assert_allclose(r.plan, P, rtol=1e-7, atol=1e-13)
    assert r.cost == pytest.approx(float((P * M).sum()), rel=1e-9)
    np.testing.assert_allclose(np.exp((r.f[:, None] + r.g[None, :] - M) / reg), P, rtol=1e-7, atol=1e-13)


def test_points_float32_and_no_plan_by_default():
    x, y, a, b, M = problem(17, n=64, m=48)
    r = sinkhorn_points(x.astype(np.float32), y.astype(np.float32), 0.05, a=a, b=b, tol=1e-6)
    assert r.plan is None and r.converged
    assert r.cost == pytest.approx(sinkhorn2(a, b, M, 0.05), rel=1e-4)


def test_points_small_reg_is_finite():
    rng = np.random.default_rng(18)
    x = np.concatenate([rng.normal(0, 0.05, (60, 2)), rng.normal(1, 0.05, (30, 2))])
    y = rng.normal(0.5, 0.3, (45, 2))
    scale = np.sqrt(sq_dist(x, y).max())  # cost scale 1: reg = 1e-4 of it
    x, y = x / scale, y / scale
    a = rng.random(90) + 0.1
    a /= a.sum()
    b = rng.random(45) + 0.1
    b /= b.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = sinkhorn_points(x, y, 1e-4, a=a, b=b, max_iter=2000, tol=1e-6)
    assert np.isfinite(r.f).all() and np.isfinite(r.g).all() and np.isfinite(r.cost)
    assert r.cost == pytest.approx(ot.emd2(a, b, sq_dist(x, y)), rel=2e-2)


@pytest.mark.parametrize("eps_scaling", [0.0, 0.5])
def test_points_refuse_overflowing_cost(eps_scaling):
    # eps_scaling=0 first: before the check it returned a NaN cost; with epsilon scaling the
    # first stage, diameter^p = inf, never ended.
    far = np.array([[0.0, 0.0], [1e200, 0.0]])
    with pytest.raises(ValueError, match="rescale"):
        sinkhorn_points(far, far + [0.0, 1.0], 0.1, eps_scaling=eps_scaling, plan=True)
    line = np.array([[0.0], [10.0]])
    with pytest.raises(ValueError, match=r"rescale.*\(p = 400\)|\(p = 400\).*rescale"):
        sinkhorn_points(line, line, 0.1, p=400, eps_scaling=eps_scaling)
    # 1e20 apart: finite in float64, but the squared distance 1e40 overflows float32.
    wide = np.array([[0.0, 0.0], [1e20, 0.0]])
    assert np.isfinite(sinkhorn_points(wide, wide, 1e30, eps_scaling=eps_scaling).cost)
    with pytest.raises(ValueError, match="float32"):
        sinkhorn_points(wide.astype(np.float32), wide.astype(np.float32), 1e30, eps_scaling=eps_scaling)


@pytest.mark.parametrize("scale", [1.0, 1e18])
def test_points_refuse_reg_below_cost_rounding(scale):
    # reg below u diameter^p: the exponents' rounding exceeds 1 and the plan is noise. Before
    # the check, points 1e18 apart with reg = 1e-18 diameter^2 returned a plan of total mass
    # 1e5 marked converged (err 0). The ratio reg / diameter^p decides, not the units.
    rng = np.random.default_rng(3)
    x, y = rng.random((30, 2)) * scale, rng.random((40, 2)) * scale
    with pytest.raises(ValueError, match=r"`reg` = .* below the rounding error .* float64"):
        sinkhorn_points(x, y, 1e-18 * scale**2)
    with pytest.raises(ValueError, match=r"`reg` = .*float32.*pass float64 points"):
        sinkhorn_points(x.astype(np.float32), y.astype(np.float32), 1e-9 * scale**2)
    # Just above the rounding, the solve is meaningful and reports what it reached.
    r = sinkhorn_points(x, y, 1e-2 * scale**2, plan=True, max_iter=20000)
    assert r.converged and r.plan.sum() == pytest.approx(1.0, rel=1e-9)


def test_points_refuses_absurd_plan():
    x = np.zeros((20000, 2))
    with pytest.raises(ValueError, match="plan"):
        sinkhorn_points(x, x, 0.1, plan=True)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("bad", [
    dict(a=np.array([-1.0, 2.0])),
    dict(a=np.array([np.nan, 1.0])),
    dict(b=np.array([0.5, 0.5, 0.0])),
    dict(M=-np.ones((2, 3))),
    dict(M=np.full((2, 3), np.inf)),
    dict(M=np.ones((3, 3))),
    dict(b=np.array([0.5, 0.5, 0.5])),
    dict(reg=0.0),
    dict(reg=-1.0),
    dict(reg=np.nan),
    dict(M=np.ones((0, 3))),
    dict(M=np.ones(6)),
    dict(method="nope"),
    dict(max_iter=0),
])
def test_bad_input_raises_value_error(bad):
    args = dict(a=np.array([0.5, 0.5]), b=np.full(3, 1 / 3), M=np.ones((2, 3)), reg=0.1,
                method="sinkhorn_log", max_iter=10)
    args.update(bad)
    with pytest.raises(ValueError):
        sinkhorn(args["a"], args["b"], args["M"], args["reg"], method=args["method"],
                 max_iter=args["max_iter"])


@pytest.mark.parametrize("name, weights", [
    ("a", dict(a=np.array(1.0))),
    ("b", dict(b=np.array(1.0))),
    ("a", dict(a=np.ones((1, 1)))),
    ("b", dict(b=[[1.0]])),
])
def test_weights_of_wrong_ndim_name_the_argument(name, weights):
    args = dict(a=[1.0], b=[1.0])
    args.update(weights)
    with pytest.raises(ValueError, match=f"`{name}`"):
        sinkhorn(args["a"], args["b"], [[0.5]], 0.1)
    with pytest.raises(ValueError, match=f"`{name}`"):
        sinkhorn_points(np.zeros((1, 2)), np.ones((1, 2)), 0.1, a=args["a"], b=args["b"])


def test_bad_points_raise():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError):
        sinkhorn_points(x, np.zeros((4, 3)), 0.1)
    with pytest.raises(ValueError):
        sinkhorn_points(x, x, -0.1)
    with pytest.raises(ValueError):
        sinkhorn_points(np.full((5, 2), np.nan), x, 0.1)
    with pytest.raises(ValueError):
        sinkhorn_points(x, x, 0.1, a=np.ones(5), b=np.ones(5) * 2)
    with pytest.raises(ValueError):
        sinkhorn_points(np.zeros((0, 2)), x, 0.1)
    with pytest.raises(TypeError):
        sinkhorn_points(x.astype(int), x, 0.1)


def test_overrelaxation_same_plan_fewer_iterations():
    _, _, a, b, M = problem(19, n=120, m=100)
    M /= M.max()
    P1, l1 = sinkhorn(a, b, M, 2e-3, max_iter=100000, log=True, overrelax=False)
    P2, l2 = sinkhorn(a, b, M, 2e-3, max_iter=100000, log=True)
    assert l1["converged"] and l2["converged"]
    assert l2["niter"] < l1["niter"] / 2
    np.testing.assert_allclose(P2, P1, atol=1e-10)
    assert marginal_error(P2, a, b) <= 1e-9


def test_points_refuse_eps_scaling_with_more_stages_than_max_iter():
    x, y, *_ = problem(4)
    # diameter^2 / reg is about 2e3 here: 0.99999 would take about 7.6e5 stages.
    with pytest.raises(ValueError, match=r"`eps_scaling` = 0.99999 would take \d+ stages"):
        sinkhorn_points(x, y, 1e-3, eps_scaling=0.99999, max_iter=1000)
    # 0.99 takes 358 stages at reg = 0.05, within the default budget.
    res = sinkhorn_points(x, y, 0.05, eps_scaling=0.99, max_iter=1000)
    assert res.converged and res.n_eps_steps > 100
