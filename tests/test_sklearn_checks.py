"""scikit-learn's own estimator checks (``parametrize_with_checks``) on all eight ffnn estimators.

The instances are the estimators with small iteration budgets (the checks fit each one
dozens of times on small data sets); each still meets the accuracy the training checks ask
for. No check is marked as an expected failure.
"""

import warnings

import pytest

pytest.importorskip("sklearn", reason="scikit-learn not installed")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from ffnn.estimators import MLPClassifier, MLPRegressor  # noqa: E402
from ffnn.linear_models import (  # noqa: E402
    Adaline,
    LinearRegression,
    LogisticRegression,
    Perceptron,
    PolynomialFeatures,
    SoftmaxRegression,
)
from ffnn.linear_models import ConvergenceWarning as LinearConvergenceWarning  # noqa: E402

ESTIMATORS = [
    MLPClassifier(hidden_layer_sizes=(10,), learning_rate_init=0.01, max_iter=100, random_state=0),
    MLPRegressor(hidden_layer_sizes=(10,), learning_rate_init=0.01, max_iter=100, random_state=0),
    Perceptron(max_iter=20),
    # the checks' inputs reach |x| ~ 100: a step set by the data's scale (eta=0.01 diverges there)
    Adaline(eta="auto", max_iter=100),
    LinearRegression(),
    LogisticRegression(max_iter=300),
    SoftmaxRegression(max_iter=300),
    PolynomialFeatures(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # small budgets: the iterative fits stop at max_iter by design
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", LinearConvergenceWarning)
        check(estimator)
