"""Scikit-learn estimators on nearlinear's solvers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import check_choice, check_flag, check_real, resolve_seed
from .lstsq import METHODS, SKETCHES, lstsq

__all__ = ["SketchedLinearRegression"]


def _finite_alpha(alpha) -> float:
    """alpha as a float, or ValueError naming it (bools, strings, NaN, inf, negatives and
    integers beyond the float range are refused): check_real's checks, with a ValueError
    for a wrong kind too, as scikit-learn expects of an invalid parameter."""
    try:
        return check_real(alpha, "alpha", minimum=0.0)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


class SketchedLinearRegression(RegressorMixin, BaseEstimator):
    """Linear (ridge) regression solved by :func:`nearlinear.lstsq`.

    Minimises ``||y - X w - c||^2 + alpha ||w||^2`` (``c`` the intercept, not penalised),
    as :class:`sklearn.linear_model.Ridge` (``alpha > 0``) or
    :class:`sklearn.linear_model.LinearRegression` (``alpha = 0``).

    Parameters
    ----------
    alpha : float, default 0.0
        Ridge weight ``>= 0``.
    fit_intercept : bool, default True
        Fit ``c`` by centring ``X`` and ``y`` (dense ``X``). Sparse ``X`` is not centred
        (that would densify it): a column of ones is appended for ``c`` instead, and with
        ``alpha > 0`` the ridge term enters as ``d`` extra rows ``sqrt(alpha) I`` that leave
        ``c`` unpenalised, so the solution is the same. The one difference: when the centred
        ``X`` is rank-deficient and ``alpha = 0``, the minimum-norm solution is taken over
        ``(w, c)`` together rather than over ``w`` alone (same predictions, other
        coefficients).
    method : {"auto", "precondition", "sketch", "direct", "diagonal"}, default "auto"
        Passed to :func:`nearlinear.lstsq`.
    sketch : str or None, default None
        Passed to :func:`nearlinear.lstsq`.
    tol : float or None, default None
        Passed to :func:`nearlinear.lstsq`.
    max_iter : int or None, default None
        Passed to :func:`nearlinear.lstsq`.
    random_state : int, numpy Generator or None, default None
        Seed of the sketch.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    rank_ : int
    n_iter_ : int
        Passes over ``X`` the solver made (one per CG iteration, plus the sketch and the
        residual checks; ``>= 1`` for every method).
    n_features_in_ : int
    """

    def __init__(self, alpha=0.0, fit_intercept=True, method="auto", sketch=None, tol=None,
                 max_iter=None, random_state=None):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.method = method
        self.sketch = sketch
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Fit the model to ``X`` (n_samples, n_features) and ``y`` (n_samples[, n_targets])."""
        method = check_choice(self.method, "method", METHODS)
        if self.sketch is not None:
            check_choice(self.sketch, "sketch", SKETCHES)
        alpha = _finite_alpha(self.alpha)
        seed = resolve_seed(self.random_state, "random_state")
        fit_intercept = check_flag(self.fit_intercept, "fit_intercept")
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"), dtype=np.float64,
                             y_numeric=True, multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        n, d = X.shape
        if method in ("precondition", "sketch", "diagonal") and n < d + fit_intercept:
            method = "direct"
        if fit_intercept and not sp.issparse(X):
            x_mean = X.mean(axis=0)
            y_mean = y.mean(axis=0)
            result = lstsq(X - x_mean, y - y_mean, method=method, sketch=self.sketch,
                           tol=self.tol, reg=alpha, seed=seed,
                           max_iter=self.max_iter)
            coef = result.x
            intercept = y_mean - x_mean @ coef
        elif fit_intercept:
            # Sparse X is not centred (that would densify it): a column of ones carries the
            # intercept, and the ridge term is d rows sqrt(alpha) I below X (zero under the
            # ones), so that the intercept stays unpenalised.
            blocks = [[X, sp.csr_matrix(np.ones((n, 1)))]]
            target = y
            if alpha > 0:
                blocks.append([sp.identity(d, format="csr") * np.sqrt(alpha), None])
                target = np.concatenate([y, np.zeros((d,) + y.shape[1:])])
            Xa = sp.bmat(blocks, format="csr")
            result = lstsq(Xa, target, method=method, sketch=self.sketch, tol=self.tol,
                           seed=seed, max_iter=self.max_iter)
            coef = result.x[:d]
            intercept = result.x[d]
        else:
            result = lstsq(X, y, method=method, sketch=self.sketch, tol=self.tol,
                           reg=alpha, seed=seed,
                           max_iter=self.max_iter)
            coef = result.x
            intercept = np.zeros(y.shape[1]) if y.ndim == 2 else 0.0
        self.coef_ = coef.T if coef.ndim == 2 else coef
        self.intercept_ = intercept if y.ndim == 2 else float(intercept)
        self.rank_ = result.rank
        self.n_iter_ = result.n_passes
        return self

    def predict(self, X):
        """Predictions ``X @ coef_.T + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=np.float64, reset=False)
        return X @ self.coef_.T + self.intercept_
