"""SketchedLinearRegression: scikit-learn's estimator checks and agreement with Ridge."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils.estimator_checks import check_estimator

from nearlinear.linear_model import SketchedLinearRegression


def test_check_estimator():
    check_estimator(SketchedLinearRegression())


@pytest.mark.parametrize("alpha", [0.0, 2.5])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("method", ["precondition", "direct"])
def test_matches_sklearn(alpha, fit_intercept, method):
    rng = np.random.default_rng()
    X = rng.standard_normal((2000, 70)) + 3.0
    y = X @ rng.standard_normal(70) + 5.0 + rng.standard_normal(2000)
    ours = SketchedLinearRegression(alpha=alpha, fit_intercept=fit_intercept, method=method,
                                    random_state=0).fit(X, y)
    ref = (Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd") if alpha > 0
           else LinearRegression(fit_intercept=fit_intercept)).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-8)


def test_sparse_with_intercept_and_multi_target():
    rng = np.random.default_rng()
    X = sp.random(3000, 80, density=0.1, random_state=rng, format="csr")
    Y = X @ rng.standard_normal((80, 2)) + np.array([1.0, -2.0])
    model = SketchedLinearRegression(method="precondition", random_state=1).fit(X, Y)
    ref = LinearRegression().fit(X.toarray(), Y)
    assert model.coef_.shape == (2, 80) and model.intercept_.shape == (2,)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 10.0, 1000.0])
@pytest.mark.parametrize("method", ["auto", "precondition", "direct"])
def test_sparse_intercept_is_not_penalised(alpha, method):
    # Sparse X takes the ones-column route: the ridge term must leave the intercept alone,
    # as the dense (centring) route and scikit-learn's Ridge do.
    rng = np.random.default_rng()
    X = sp.random(400, 12, density=0.3, random_state=rng, format="csr") + 0.0
    X.data += 3.0  # far from centred: a penalised intercept would be visibly shrunk
    y = X @ rng.standard_normal(12) + 5.0 + 0.1 * rng.standard_normal(400)
    ours = SketchedLinearRegression(alpha=alpha, method=method, random_state=0).fit(X, y)
    dense = SketchedLinearRegression(alpha=alpha, method=method, random_state=0).fit(X.toarray(), y)
    ref = (Ridge(alpha=alpha, solver="svd") if alpha > 0 else LinearRegression()).fit(X.toarray(), y)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.coef_, dense.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("params,match", [
    (dict(alpha=-1.0), "`alpha`"), (dict(alpha=np.inf), "`alpha`"), (dict(alpha=True), "`alpha`"),
    (dict(alpha=10**400), "`alpha`"), (dict(alpha="1"), "`alpha`"),
    (dict(method="svd"), "`method`"), (dict(sketch="x"), "`sketch`")])
def test_bad_parameters(params, match):
    X = np.random.default_rng(0).standard_normal((50, 3))
    with pytest.raises(ValueError, match=match):
        SketchedLinearRegression(**params).fit(X, X[:, 0])
