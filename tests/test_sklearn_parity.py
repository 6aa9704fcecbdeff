"""ffnn's MLP estimators take scikit-learn's steps: from the same initial weights, one and ten
steps of every stochastic solver setting equal scikit-learn's to 1e-6 in float64.

The same ``random_state`` gives both libraries the same initial network (scikit-learn's
Glorot-uniform draws, in its order) and the same early-stopping split (its own
``train_test_split`` with the generator in the same state); ``shuffle=False`` makes the
batches the same (ffnn's engine draws its own epoch order). The steps are counted: a batch of
``n`` is one step per epoch, a batch of ``n / 2`` two.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn not installed")

from sklearn import neural_network  # noqa: E402
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression  # noqa: E402

from ffnn.estimators import MLPClassifier, MLPRegressor  # noqa: E402

ATOL = 1e-6
N = 60


def _data(task):
    if task == "multiclass":
        return make_classification(N, 5, n_informative=3, n_classes=3, random_state=0)
    if task == "binary":
        return make_classification(N, 5, n_informative=3, n_classes=2, random_state=1)
    if task == "multilabel":
        return make_multilabel_classification(N, 5, n_classes=3, random_state=2)
    X, y = make_regression(N, 5, n_targets=2 if task == "regression-2" else 1, noise=1.0, random_state=3)
    return X, y / 100.0


def _pair(task, **params):
    """ffnn's estimator and scikit-learn's, both with ``params``."""
    regression = task.startswith("regression")
    ours = MLPRegressor if regression else MLPClassifier
    theirs = neural_network.MLPRegressor if regression else neural_network.MLPClassifier
    options = {"hidden_layer_sizes": (6, 4), "activation": "tanh", "shuffle": False, "random_state": 0,
               "learning_rate_init": 0.05, "alpha": 0.3, **params}
    return ours(**options), theirs(**options)


def _fit(est, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # max_iter is small by design
        return est.fit(X, y, **fit_params)


def assert_same_network(ours, theirs):
    assert [c.dtype for c in ours.coefs_] == [c.dtype for c in theirs.coefs_]
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)


TASKS = ["multiclass", "binary", "multilabel", "regression-1", "regression-2"]
SOLVERS = {
    "sgd-constant-nesterov": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True},
    "sgd-constant-momentum": {"solver": "sgd", "momentum": 0.8, "nesterovs_momentum": False},
    "sgd-plain-no-alpha": {"solver": "sgd", "momentum": 0.0, "alpha": 0.0},
    "sgd-invscaling": {"solver": "sgd", "learning_rate": "invscaling", "power_t": 0.3},
    # tol this large: no epoch improves, so the rate is divided by 5 every other epoch
    "sgd-adaptive": {"solver": "sgd", "learning_rate": "adaptive", "n_iter_no_change": 1, "tol": 10.0},
    "adam": {"solver": "adam", "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7},
}
STEPS = {1: {"batch_size": N, "max_iter": 1}, 10: {"batch_size": N // 2, "max_iter": 5}}


@pytest.mark.parametrize("steps", sorted(STEPS))
@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("task", TASKS)
def test_steps_equal_sklearns(task, solver, steps):
    X, y = _data(task)
    ours, theirs = _pair(task, **SOLVERS[solver], **STEPS[steps])
    _fit(ours, X, y)
    _fit(theirs, X, y)
    assert ours._optimizer_state["step_count"] == steps
    assert_same_network(ours, theirs)
    assert ours.out_activation_ == theirs.out_activation_ and ours.n_outputs_ == theirs.n_outputs_
    assert ours.n_layers_ == theirs.n_layers_ and ours.t_ == theirs.t_ and ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=0, atol=ATOL)
    np.testing.assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=0, atol=ATOL)
    if SOLVERS[solver]["solver"] == "sgd":
        assert ours._optimizer_state["lr"] == pytest.approx(theirs._optimizer.learning_rate, rel=1e-12)


@pytest.mark.parametrize("task", ["multiclass", "regression-2"])
def test_steps_from_sklearns_weights_copied_into_ffnn(task):
    """Copy a fitted scikit-learn network into ffnn's estimator, then take ten more steps in each."""
    X, y = _data(task)
    ours, theirs = _pair(task, solver="sgd", batch_size=N // 2, max_iter=5, warm_start=True, random_state=None)
    _fit(theirs, X, y)
    _fit(ours, X, y)
    ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
    assert_same_network(ours, theirs)
    _fit(ours, X, y)
    _fit(theirs, X, y)
    assert_same_network(ours, theirs)


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression-1"])
def test_sample_weight_steps_equal_sklearns(task):
    X, y = _data(task)
    weights = np.random.default_rng(0).uniform(0.1, 3.0, len(X))
    for solver in ("sgd", "adam"):
        ours, theirs = _pair(task, solver=solver, batch_size=N // 2, max_iter=5)
        _fit(ours, X, y, sample_weight=weights)
        _fit(theirs, X, y, sample_weight=weights)
        assert_same_network(ours, theirs)
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=0, atol=ATOL)


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression-1"])
def test_early_stopping_split_and_scores_equal_sklearns(task):
    """Same held-out split (scikit-learn's train_test_split, stratified for one output), same
    validation scores, same stopping epoch, same restored best weights."""
    X, y = _data(task)
    ours, theirs = _pair(task, solver="adam", batch_size=10, max_iter=40, early_stopping=True,
                         validation_fraction=0.2, n_iter_no_change=3, tol=1e-3)
    _fit(ours, X, y)
    _fit(theirs, X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 40
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=0, atol=ATOL)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, abs=ATOL)
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    assert_same_network(ours, theirs)


def test_tol_stops_on_the_training_loss_as_sklearn():
    X, y = _data("multiclass")
    ours, theirs = _pair("multiclass", solver="sgd", batch_size=N, max_iter=200, tol=1e-2, n_iter_no_change=3)
    _fit(ours, X, y)
    _fit(theirs, X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 200
    assert_same_network(ours, theirs)


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel", "regression-1"])
def test_lbfgs_equals_sklearns(task):
    X, y = _data(task)
    ours, theirs = _pair(task, solver="lbfgs", max_iter=15)
    _fit(ours, X, y)
    _fit(theirs, X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, abs=ATOL)
    assert_same_network(ours, theirs)


def test_float32_input_keeps_float32_like_sklearn():
    X, y = _data("multiclass")
    ours, theirs = _pair("multiclass", solver="adam", max_iter=3)
    _fit(ours, X.astype(np.float32), y)
    _fit(theirs, X.astype(np.float32), y)
    assert ours.coefs_[0].dtype == theirs.coefs_[0].dtype == np.float32
    for a, b in zip(ours.coefs_, theirs.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_partial_fit_steps_equal_sklearns():
    X, y = _data("multiclass")
    ours, theirs = _pair("multiclass", solver="adam", batch_size=N // 2)
    for _ in range(3):
        ours.partial_fit(X, y, classes=np.unique(y))
        theirs.partial_fit(X, y, classes=np.unique(y))
    assert_same_network(ours, theirs)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=0, atol=ATOL)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_allclose(ours.predict_log_proba(X), theirs.predict_log_proba(X), rtol=0, atol=ATOL)
