"""Tests of ffnn.linear_models: the classic models against closed forms and scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ffnn.errors import ConfigError, LabelError
from ffnn.linear_models import (
    Adaline,
    ConvergenceWarning,
    LinearRegression,
    LogisticRegression,
    NotFittedError,
    Perceptron,
    PolynomialFeatures,
    SoftmaxRegression,
)

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_T = np.array([0, 1, 1, 0])


def separable(n=200, seed=0, labels=(0, 1)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    z = X @ [1.5, -1.0] + 0.3
    keep = np.abs(z) > 0.2                      # a margin: the perceptron converges fast
    return X[keep], np.where(z[keep] > 0, labels[1], labels[0])


def noisy_binary(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X @ [1.0, -2.0, 0.5] + 0.3 + rng.normal(size=n) > 0).astype(int)
    return X, y


# --- Perceptron -----------------------------------------------------------------------

@pytest.mark.parametrize("labels", [(0, 1), (-1, 1)])
def test_perceptron_converges_on_separable_data(labels):
    X, y = separable(labels=labels)
    p = Perceptron(eta=0.5, max_iter=1000).fit(X, y)
    assert p.converged_
    assert p.errors_[-1] == 0 and p.n_iter_ == len(p.errors_)
    assert p.score(X, y) == 1.0
    assert set(np.unique(p.predict(X))) == set(labels)
    assert p.coef_.shape == (2,) and isinstance(p.intercept_, float)


def test_perceptron_rule_by_hand():
    # one update on a misclassified sample: w += eta (t - y) x, b += eta (t - y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        p = Perceptron(eta=0.5, max_iter=1).fit(np.array([[1.0, 2.0], [-1.0, -1.0]]), [0, 1])
    # sample 0: z = 0 -> y = 1, t = 0: w = -0.5*[1, 2], b = -0.5; sample 1: z = 1.5 - 0.5 = 1 -> y=1 ok
    np.testing.assert_allclose(p.coef_, [-0.5, -1.0])
    assert p.intercept_ == -0.5


def test_perceptron_reports_non_convergence_on_xor():
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        p = Perceptron(max_iter=30).fit(XOR_X, XOR_T)
    assert not p.converged_
    assert p.n_iter_ == 30 and len(p.errors_) == 30 and min(p.errors_) > 0
    assert p.score(XOR_X, XOR_T) <= 0.75


def test_perceptron_shuffle_is_seeded():
    X, y = separable()
    a = Perceptron(shuffle=True, seed=3).fit(X, y)
    b = Perceptron(shuffle=True, seed=3).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.errors_ == b.errors_


# --- Adaline --------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [(0, 1), (-1, 1)])
def test_adaline_batch_reaches_least_squares(labels):
    X, y01 = noisy_binary()
    y = np.where(y01 == 1, labels[1], labels[0])
    a = Adaline(eta=0.5, max_iter=3000).fit(X, y)
    ls = LinearRegression().fit(X, y.astype(float))
    np.testing.assert_allclose(a.coef_, ls.coef_, atol=1e-6)
    assert a.intercept_ == pytest.approx(ls.intercept_, abs=1e-6)
    assert all(np.diff(a.cost_) <= 1e-15)                     # monotone descent
    thr = 0.5 if labels == (0, 1) else 0.0
    np.testing.assert_array_equal(a.predict(X), np.where(X @ a.coef_ + a.intercept_ >= thr, labels[1], labels[0]))
    assert a.score(X, y) > 0.8


def test_adaline_online_lms():
    X, y = noisy_binary()
    a = Adaline(eta=0.005, max_iter=30, solver="online", seed=0).fit(X, y)
    ls = LinearRegression().fit(X, y.astype(float))
    np.testing.assert_allclose(a.coef_, ls.coef_, atol=0.05)
    assert a.score(X, y) > 0.8


# --- Linear regression ----------------------------------------------------------------

def test_linear_regression_closed_form_gd_and_lstsq_agree():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 4))
    t = X @ [1.0, -2.0, 0.5, 3.0] + 0.7 + 0.1 * rng.normal(size=100)
    ref = np.linalg.lstsq(np.column_stack([X, np.ones(100)]), t, rcond=None)[0]
    for solver in ("lstsq", "normal", "gd"):
        m = LinearRegression(solver=solver).fit(X, t)
        np.testing.assert_allclose(m.coef_, ref[:4], atol=1e-8, err_msg=solver)
        assert m.intercept_ == pytest.approx(ref[4], abs=1e-8)
    assert LinearRegression(solver="gd").fit(X, t).n_iter_ > 1
    assert LinearRegression().fit(X, t).score(X, t) > 0.99


def test_linear_regression_multi_output_and_no_intercept():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    T = X @ rng.normal(size=(3, 2))
    m = LinearRegression(fit_intercept=False).fit(X, T)
    assert m.coef_.shape == (2, 3) and m.predict(X).shape == (50, 2)
    np.testing.assert_allclose(m.predict(X), T, atol=1e-10)
    g = LinearRegression(solver="gd", fit_intercept=False).fit(X, T)
    np.testing.assert_allclose(g.coef_, m.coef_, atol=1e-8)


def test_polynomial_degree_9_interpolates_10_points():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 10)[:, None]
    t = np.sin(2 * np.pi * x[:, 0]) + rng.normal(0, 0.3, 10)
    poly = PolynomialFeatures(9)
    m = LinearRegression().fit(poly.fit_transform(x), t)
    np.testing.assert_allclose(m.predict(poly.transform(x)), t, atol=1e-8)
    # degree 1 and 3 do not interpolate
    for d in (1, 3):
        p = PolynomialFeatures(d)
        assert LinearRegression().fit(p.fit_transform(x), t).loss_ > 1e-3


def test_polynomial_features_multivariate():
    P = PolynomialFeatures(2, include_bias=True).fit_transform(np.array([[2.0, 3.0]]))
    np.testing.assert_allclose(P, [[1, 2, 3, 4, 6, 9]])


# --- Logistic and softmax regression --------------------------------------------------

def test_logistic_regression_matches_sklearn():
    sk = pytest.importorskip("sklearn.linear_model")
    X, y = noisy_binary()
    C = 0.5
    ours = LogisticRegression(alpha=1.0 / (C * len(X)), tol=1e-10).fit(X, y)
    ref = sk.LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_.ravel(), atol=1e-5)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.converged_


def test_logistic_gradient_formula_by_finite_differences():
    """The docstring's gradient: X^T (p - t) / N + alpha w."""
    X, y = noisy_binary(50)
    alpha = 0.1
    w, b = np.array([0.3, -0.2, 0.1]), 0.05

    def E(w, b):
        z = X @ w + b
        return np.mean(np.logaddexp(0, z) - y * z) + alpha / 2 * w @ w

    p = 1 / (1 + np.exp(-(X @ w + b)))
    g = X.T @ (p - y) / len(X) + alpha * w
    h = 1e-6
    fd = [(E(w + h * e, b) - E(w - h * e, b)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, atol=1e-8)


def test_softmax_k2_equals_logistic():
    X, y = noisy_binary()
    for alpha in (0.0, 0.02):
        lo = LogisticRegression(alpha=alpha / 2, tol=1e-10).fit(X, y)
        sm = SoftmaxRegression(alpha=alpha, tol=1e-10).fit(X, y)
        w, b = sm.as_binary()
        np.testing.assert_allclose(w, lo.coef_, atol=1e-6)
        assert b == pytest.approx(lo.intercept_, abs=1e-6)
        np.testing.assert_allclose(sm.predict_proba(X), lo.predict_proba(X), atol=1e-7)
        np.testing.assert_allclose(sm.coef_[0], -sm.coef_[1], atol=1e-12)   # w_0 = -w_1 from zero


def test_softmax_multiclass_matches_sklearn():
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = np.argmax(X @ rng.normal(size=(2, 3)) + rng.normal(size=(300, 3)), axis=1)
    C = 1.0
    ours = SoftmaxRegression(alpha=1 / (C * len(X)), tol=1e-10).fit(X, y)
    ref = sk.LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert ours.coef_.shape == (3, 2) and ours.intercept_.shape == (3,)


def test_labels_can_be_arbitrary_values():
    X, y = noisy_binary()
    names = np.array([3, 7])[y]
    m = LogisticRegression(alpha=0.01).fit(X, names)
    np.testing.assert_array_equal(m.classes_, [3, 7])
    assert set(np.unique(m.predict(X))) <= {3, 7}


# --- validation -----------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: Perceptron(eta=0), lambda: Perceptron(max_iter=0), lambda: Perceptron(shuffle="yes"),
    lambda: Perceptron(seed="x"), lambda: Adaline(eta=-1), lambda: Adaline(solver="newton"),
    lambda: LinearRegression(solver="qr"), lambda: LinearRegression(lr=0.0),
    lambda: LogisticRegression(alpha=-0.1), lambda: LogisticRegression(lr="fast"),
    lambda: SoftmaxRegression(max_iter=1.5), lambda: PolynomialFeatures(0),
    lambda: LogisticRegression(tol=float("nan")),
])
def test_bad_hyperparameters_raise_config_error(make):
    """Stored unchanged by the constructor (scikit-learn's rule), rejected by fit."""
    X, y = noisy_binary(20)
    estimator = make()
    with pytest.raises(ConfigError):
        estimator.fit(X, y)


def test_config_error_message_names_the_value():
    with pytest.raises(ConfigError, match=r"Perceptron eta must be > 0.0, got -2"):
        Perceptron(eta=-2).fit(*noisy_binary(20))


def test_input_validation():
    X, y = noisy_binary(20)
    # scikit-learn's validate_data: its ValueErrors and messages
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LogisticRegression().fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        Perceptron().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="NaN"):
        Adaline().fit(np.where(np.eye(20, 3) == 1, np.nan, X), y)
    with pytest.raises(LabelError, match="Only binary classification"):
        Perceptron().fit(X, np.arange(20) % 3)
    with pytest.raises(LabelError, match="1 class"):
        SoftmaxRegression().fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        LogisticRegression().fit(X, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="could not convert|numeric"):
        LinearRegression().fit([["a", "b"]], [1.0])
    m = LogisticRegression(alpha=0.1).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but LogisticRegression is expecting 3"):
        m.predict(X[:, :2])
    with pytest.raises(NotFittedError):
        Perceptron().predict(X)
    with pytest.raises(NotFittedError):
        PolynomialFeatures(2).transform(X)


def test_logistic_without_regularisation_on_separable_data_warns():
    X, y = separable()
    with pytest.warns(ConvergenceWarning):
        m = LogisticRegression(alpha=0.0, max_iter=200).fit(X, y)
    assert m.score(X, y) == 1.0 and not m.converged_


def test_repr_and_get_params():
    assert repr(Perceptron(eta=0.5)) == "Perceptron(eta=0.5, max_iter=100, shuffle=False, seed=None)"
    assert LogisticRegression(alpha=0.1).get_params()["alpha"] == 0.1


def test_decision_function_sign_agrees_with_predict():
    X, y = noisy_binary(40)
    for model in (Adaline(eta=0.05, max_iter=200), Perceptron(max_iter=5), LogisticRegression(alpha=0.1),
                  SoftmaxRegression(alpha=0.1)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        z = model.decision_function(X)
        assert z.shape == (len(X),), type(model).__name__      # binary: one score per sample
        np.testing.assert_array_equal(model.classes_[(z >= 0).astype(int)], model.predict(X))
    # Adaline on {0, 1} thresholds its linear output at 0.5: the score is that output minus 0.5
    adaline = Adaline(eta=0.05, max_iter=200).fit(X, y)
    np.testing.assert_allclose(adaline.decision_function(X), X @ adaline.coef_ + adaline.intercept_ - 0.5)


def test_adaline_auto_step_converges_on_any_scale():
    X, y = noisy_binary(40)
    for scale in (1.0, 100.0):
        for solver in ("batch", "online"):
            model = Adaline(eta="auto", solver=solver, max_iter=50).fit(X * scale, y)
            # stable (LMS on noisy labels fluctuates, but stays at the scale of the labels)
            assert np.isfinite(model.cost_).all() and max(model.cost_) < 0.5


def test_adaline_string_labels_regress_their_index():
    X, y = noisy_binary(40)
    names = np.array(["no", "yes"])
    model = Adaline(eta=0.05, max_iter=200).fit(X, names[y])
    reference = Adaline(eta=0.05, max_iter=200).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_)
    np.testing.assert_array_equal(model.predict(X), names[reference.predict(X)])
