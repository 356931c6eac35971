"""Every public entry point against a grid of bad arguments.

Each case starts from a small valid call and replaces one argument by a bad or unusual value
(other dtypes and layouts, NaN/inf, empty and wrongly shaped arrays, absurd or mistyped
scalars). The call must either succeed with finite output or raise ValueError/TypeError
naming an argument: never another exception, a crash or a silent NaN. The focused tests of
each module check the exact messages; this grid checks that no combination slips past the
validation.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import nearlinear
from nearlinear import completion, encoding, ot
from nearlinear.sketch import sketch

SCALARS = {
    "zero": 0, "negative": -1, "huge": 2**40, "nan": float("nan"), "inf": float("inf"),
    "bool": True, "string": "abc", "none": None, "fraction": 0.5, "negative_fraction": -0.5,
    "array": np.ones(2),
}
# Scalars that count iterations: a huge count with a tolerance never met is a legitimate
# (long) run, not bad input.
COUNT_SCALARS = {k: v for k, v in SCALARS.items() if k != "huge"}


def _nan_at(a, value):
    a = np.array(a, dtype=np.float64, copy=True)
    if a.size:
        a.flat[a.size // 2] = value
    return a


def _read_only(a):
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _strided(a):
    a = np.asarray(a)
    return np.repeat(a, 2, axis=0)[::2]


ARRAY_MUTATIONS = {
    "float16": lambda a: np.asarray(a).astype(np.float16),
    "int64": lambda a: np.asarray(a).astype(np.int64),
    "bool": lambda a: np.asarray(a) > 0.5,
    "complex": lambda a: np.asarray(a).astype(np.complex128),
    "object": lambda a: np.asarray(a).astype(object),
    "big_endian": lambda a: np.asarray(a).astype(">f8"),
    "fortran": lambda a: np.asfortranarray(a),
    "strided": _strided,
    "reversed": lambda a: np.array(a)[::-1],
    "read_only": _read_only,
    "transposed": lambda a: np.asarray(a).T,
    "list": lambda a: np.asarray(a).tolist(),
    "empty": lambda a: np.asarray(a)[:0],
    "extra_axis": lambda a: np.asarray(a)[..., None],
    "flattened": lambda a: np.asarray(a).ravel(),
    "scalar": lambda a: np.float64(1.0),
    "nan": lambda a: _nan_at(a, np.nan),
    "inf": lambda a: _nan_at(a, np.inf),
    "huge_value": lambda a: _nan_at(a, 1e300),
    "subnormal": lambda a: _nan_at(a, 1e-310),
    "none": lambda a: None,
    "string": lambda a: "abc",
}


def _finite_outputs(result):
    """The arrays a call returned (result objects: their array attributes)."""
    if isinstance(result, tuple):
        return [x for r in result for x in _finite_outputs(r)]
    if isinstance(result, (np.ndarray, float, np.floating)):
        return [np.asarray(result)]
    if isinstance(result, dict):
        return [np.asarray(v) for v in result.values()
                if isinstance(v, (np.ndarray, float, np.floating))]
    names = ("x", "plan", "cost", "psnr", "residual_norm", "f", "g")
    return [np.asarray(getattr(result, n)) for n in names
            if isinstance(getattr(result, n, None), (np.ndarray, float, np.floating))]


def _check(call, names):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except (ValueError, TypeError) as exc:
            # The message names an argument: the changed one, or the one a mismatch is
            # checked against (duplicated observations name the entry instead).
            message = str(exc)
            assert any(f"`{n}`" in message or f"`{n}[" in message or f"{n}=" in message
                       for n in names) or \
                "duplicated observation" in message, f"an error naming no argument: {message}"
            return
    # NaN or inf in a result is allowed only when a warning said so (a training run that
    # diverged, for instance, is reported, not refused).
    for out in _finite_outputs(result):
        if out.dtype.kind in "fc" and not np.all(np.isfinite(out)):
            assert caught, "a successful call returned NaN or inf without a warning"


def _cases(name, arrays, scalars, counts=()):
    """(id, argument, change) for every array mutation of `arrays` and every scalar (of the
    count pool for `counts`) in place of `scalars`."""
    out = []
    for arg in arrays:
        for mname, mutate in ARRAY_MUTATIONS.items():
            out.append((f"{name}-{arg}-{mname}", arg, mutate))
    for arg in scalars:
        pool = COUNT_SCALARS if arg in counts else SCALARS
        for sname, value in pool.items():
            out.append((f"{name}-{arg}-{sname}", arg, lambda _a, v=value: v))
    return out


def _run_grid(cases, make_base, call, also_named=()):
    """Every case; `also_named`: arguments the call passes besides those of `make_base`."""
    for case_id, arg, mutate in cases:
        kwargs = make_base()
        kwargs[arg] = mutate(kwargs[arg])
        try:
            _check(lambda: call(**kwargs), names=list(kwargs) + list(also_named))
        except AssertionError as exc:
            raise AssertionError(f"{case_id}: {exc}") from exc


def _rng():
    return np.random.default_rng(1234)


def test_sketch_grid():
    def base():
        return {"A": _rng().standard_normal((40, 5)), "m": 12, "kind": "sparse_sign",
                "seed": 0, "nnz_per_column": None}
    _run_grid(_cases("sketch", ["A"], ["m", "kind", "seed", "nnz_per_column"]),
              base, lambda **k: sketch(k.pop("A"), k.pop("m"), k.pop("kind"), **k))


@pytest.mark.parametrize("method", ["auto", "precondition", "sketch", "direct"])
def test_lstsq_grid(method):
    def base():
        rng = _rng()
        return {"A": rng.standard_normal((60, 4)), "b": rng.standard_normal(60),
                "method": method, "sketch": None, "tol": None, "eps": None, "reg": 0.0,
                "rcond": None, "seed": 0, "max_iter": None, "sketch_size": None}
    cases = _cases(f"lstsq[{method}]", ["A", "b"],
                   ["method", "sketch", "tol", "eps", "reg", "rcond", "seed", "max_iter",
                    "sketch_size"], counts=("max_iter",))
    _run_grid(cases, base, lambda **k: nearlinear.lstsq(k.pop("A"), k.pop("b"), **k))


def test_lstsq_sparse_grid():
    def base():
        rng = _rng()
        A = sp.random(80, 5, density=0.3, format="csr", random_state=rng)
        return {"A": A, "b": rng.standard_normal(80), "tol": None, "reg": 0.0}
    cases = _cases("lstsq-sparse", ["b"], ["tol", "reg"])
    cases += [(f"lstsq-sparse-A-{m}", "A", mut) for m, mut in SPARSE_MUTATIONS.items()]
    _run_grid(cases, base, lambda **k: nearlinear.lstsq(k.pop("A"), k.pop("b"), **k))
    cases = [(f"sketch-sparse-A-{m}", "A", mut) for m, mut in SPARSE_MUTATIONS.items()]
    _run_grid(cases, base, lambda **k: sketch(k["A"], 12, "sparse_sign", seed=0))


def test_complete_grid():
    def base():
        rng = _rng()
        idx = rng.choice(20 * 15, size=120, replace=False)
        return {"rows": idx // 15, "cols": idx % 15, "values": rng.standard_normal(120),
                "shape": (20, 15), "rank": 3, "max_iter": 3, "reg": None, "tol": None,
                "seed": 0, "biases": True, "show_progress": False, "bias_reg": None,
                "inner_tol": 0.3, "max_inner": 10, "samples": None, "method": "robust-am",
                "validation": (idx[:5] // 15, idx[:5] % 15, rng.standard_normal(5))}
    cases = _cases("complete", ["rows", "cols", "values"],
                   ["shape", "rank", "max_iter", "reg", "tol", "seed", "biases",
                    "show_progress", "bias_reg", "inner_tol", "max_inner", "samples", "method",
                    "validation"], counts=("max_iter", "max_inner", "samples"))
    _run_grid(cases, base, lambda **k: completion.complete(
        k.pop("rows"), k.pop("cols"), k.pop("values"), k.pop("shape"), **k).predict(
            np.arange(3), np.arange(3)))


def _sparse_with(X, **change):
    X = X.copy()
    for k, v in change.items():
        setattr(X, k, v)
    return X


SPARSE_MUTATIONS = {
    "csc": lambda X: X.tocsc(),
    "coo": lambda X: X.tocoo(),
    "dense": lambda X: X.toarray(),
    "float32": lambda X: X.astype(np.float32),
    "int": lambda X: X.astype(np.int64),
    "complex": lambda X: X.astype(np.complex128),
    "nan": lambda X: _sparse_with(X, data=_nan_at(X.data, np.nan)),
    "inf": lambda X: _sparse_with(X, data=_nan_at(X.data, np.inf)),
    "empty": lambda X: X[:0],
    "no_entries": lambda X: sp.csr_matrix(X.shape),
    "unsorted": lambda X: _sparse_with(X, indices=X.indices[::-1].copy(), data=X.data[::-1].copy()),
    "index_out_of_range": lambda X: _sparse_with(X, indices=X.indices + X.shape[1]),
    "none": lambda X: None,
}


def test_complete_sparse_and_predict_grid():
    def base():
        rng = _rng()
        X = sp.random(20, 15, density=0.4, format="csr", random_state=rng)
        return {"X": X, "rank": 3, "max_iter": 3, "seed": 0}
    cases = [(f"complete_sparse-X-{m}", "X", mut) for m, mut in SPARSE_MUTATIONS.items()]
    cases += _cases("complete_sparse", [], ["rank"])
    _run_grid(cases, base, lambda **k: completion.complete_sparse(k.pop("X"), **k).predict(
        np.arange(3), np.arange(3)))

    model = completion.complete_sparse(base()["X"], rank=3, max_iter=3, seed=0)

    def indices():
        return {"rows": np.arange(5), "cols": np.arange(5)}
    cases = _cases("predict", ["rows", "cols"], [])
    cases += [(f"predict-{a}-out_of_range", a, lambda v: v + 100) for a in ("rows", "cols")]
    cases += [(f"predict-{a}-negative", a, lambda v: v - 10) for a in ("rows", "cols")]
    _run_grid(cases, indices, lambda **k: model.predict(k["rows"], k["cols"]))


def test_encoding_grid():
    def ctor():
        return {"n_dims": 2, "lattice": "simplex", "n_levels": 4, "features_per_level": 2,
                "log2_table_size": 10, "base_resolution": 4, "per_level_scale": 1.5, "seed": 0}
    _run_grid(_cases("HashEncoding", [], list(ctor())), ctor,
              lambda **k: encoding.HashEncoding(k.pop("n_dims"), **k).params)

    for lattice in ("simplex", "cube"):
        enc = encoding.HashEncoding(3, lattice=lattice, n_levels=4, log2_table_size=10)

        def calls():
            rng = _rng()
            return {"x": rng.random((30, 3), dtype=np.float32),
                    "grad_output": rng.standard_normal((30, 8)).astype(np.float32),
                    "input_gradient": True}
        _run_grid(_cases(f"forward[{lattice}]", ["x"], []), calls,
                  lambda **k: enc.forward(k["x"]))

        def outs():
            return {"x": _rng().random((30, 3), dtype=np.float32),
                    "out": np.zeros((30, 8), np.float32),
                    "grad_out": np.zeros(enc.params.shape, np.float32)}
        _run_grid(_cases(f"forward-out[{lattice}]", ["out"], []), outs,
                  lambda **k: enc.forward(k["x"], out=k["out"]))
        _run_grid(_cases(f"backward-out[{lattice}]", ["grad_out"], []), outs,
                  lambda **k: enc.backward(k["x"], np.ones((30, 8), np.float32),
                                           out=k["grad_out"]))
        _run_grid(_cases(f"backward[{lattice}]", ["x", "grad_output"],
                         ["input_gradient"]), calls,
                  lambda **k: enc.backward(k.pop("x"), k.pop("grad_output"), **k))


def test_fit_image_grid():
    def base():
        return {"image": _rng().random((12, 10, 3)), "steps": 2, "batch_size": 32,
                "n_levels": 3, "log2_table_size": 8, "hidden_width": 8, "hidden_layers": 1,
                "learning_rate": 1e-2, "per_level_scale": None, "seed": 0,
                "show_progress": False}
    cases = _cases("fit_image", ["image"],
                   ["steps", "batch_size", "n_levels", "log2_table_size", "hidden_width",
                    "hidden_layers", "learning_rate", "per_level_scale", "seed",
                    "show_progress"],
                   counts=("steps",))
    _run_grid(cases, base, lambda **k: encoding.fit_image(k.pop("image"), **k))


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sns"])
def test_sinkhorn_grid(method):
    def base():
        rng = _rng()
        x, y = rng.random((12, 2)), rng.random((9, 2))
        M = ((x[:, None] - y[None]) ** 2).sum(-1)
        a, b = rng.random(12) + 0.1, rng.random(9) + 0.1
        return {"a": a / a.sum(), "b": b / b.sum(), "M": M, "reg": 0.05, "method": method,
                "max_iter": 200, "tol": None, "log": False, "warn": True, "overrelax": True,
                "warmstart": None, "eps_scaling": None, "keep_ratio": 1e-7, "warmup_iter": 50,
                "cg_max_iter": 500}
    cases = _cases(f"sinkhorn[{method}]", ["a", "b", "M"],
                   ["reg", "method", "max_iter", "tol", "log", "warn", "overrelax", "warmstart",
                    "eps_scaling", "keep_ratio", "warmup_iter", "cg_max_iter"],
                   counts=("max_iter", "warmup_iter", "cg_max_iter"))
    cases += [(f"sinkhorn[{method}]-warmstart-{m}", "warmstart",
               lambda _w, mut=mut: (mut(np.zeros(12)), np.zeros(9)))
              for m, mut in ARRAY_MUTATIONS.items()]
    _run_grid(cases, base, lambda **k: ot.sinkhorn(k.pop("a"), k.pop("b"), k.pop("M"),
                                                   k.pop("reg"), **k))


def test_sinkhorn_points_grid():
    def base():
        rng = _rng()
        return {"x": rng.random((12, 2)), "y": rng.random((9, 2)), "reg": 0.05,
                "a": None, "b": None, "p": 2, "max_iter": 200, "tol": 1e-9, "plan": False,
                "warn": True, "eps_scaling": 0.5}
    cases = _cases("sinkhorn_points", ["x", "y"],
                   ["reg", "a", "b", "p", "max_iter", "tol", "plan", "warn", "eps_scaling"],
                   counts=("max_iter",))
    cases += [(f"sinkhorn_points-{w}-{m}", w, lambda _w, mut=mut, k=k: mut(np.full(k, 1.0 / k)))
              for w, k in (("a", 12), ("b", 9)) for m, mut in ARRAY_MUTATIONS.items()]
    _run_grid(cases, base, lambda **k: ot.sinkhorn_points(k.pop("x"), k.pop("y"),
                                                          k.pop("reg"), **k))


def test_sketch_operator_grid():
    def ctor():
        return {"kind": "srht", "m": 8, "n": 40, "seed": 0, "nnz_per_column": None}
    _run_grid(_cases("SketchOperator", [], list(ctor())), ctor,
              lambda **k: nearlinear.SketchOperator(**k).apply(np.ones((40, 3))),
              also_named=["A"])

    for kind in ("sparse_sign", "srht", "gaussian"):
        S = nearlinear.SketchOperator(kind, 8, 40, seed=0)

        def data():
            return {"A": _rng().standard_normal((40, 3))}
        _run_grid(_cases(f"apply[{kind}]", ["A"], []), data, lambda **k: S.apply(k["A"]))


def test_matrix_completion_estimator_grid():
    def params():
        return {"rank": 3, "method": "robust-am", "reg": None, "biases": True, "max_iter": 3,
                "tol": None, "random_state": 0, "show_progress": False, "samples": None}
    rng = _rng()
    idx = rng.choice(20 * 15, size=120, replace=False)
    X = np.stack([idx // 15, idx % 15], axis=1)
    y = rng.standard_normal(120)
    cases = _cases("MatrixCompletion", [], list(params()),
                   counts=("max_iter", "samples"))
    _run_grid(cases, params, lambda **k: nearlinear.MatrixCompletion(**k).fit(X, y).predict(X))

    def data():
        return {"X": X.copy(), "y": y.copy()}
    _run_grid(_cases("MatrixCompletion.fit", ["X", "y"], []), data,
              lambda **k: nearlinear.MatrixCompletion(rank=3, max_iter=3, random_state=0)
              .fit(k["X"], k["y"]).predict(X))


def test_set_num_threads_grid():
    before = nearlinear.get_num_threads()
    try:
        for name, value in SCALARS.items():
            _check(lambda: nearlinear.set_num_threads(value), names=["n"])
            nearlinear.set_num_threads(before)
    finally:
        nearlinear.set_num_threads(before)


def test_sketched_linear_regression_grid():
    from nearlinear.linear_model import SketchedLinearRegression
    rng = _rng()
    X, y = rng.standard_normal((60, 4)), rng.standard_normal(60)

    def params():
        return {"alpha": 0.0, "fit_intercept": True, "method": "auto", "sketch": None,
                "tol": None, "max_iter": None, "random_state": 0}
    cases = _cases("SketchedLinearRegression", [], list(params()), counts=("max_iter",))
    _run_grid(cases, params, lambda **k: SketchedLinearRegression(**k).fit(X, y).coef_)
