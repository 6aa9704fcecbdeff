"""scikit-learn compatible estimators: the sklearn protocol, learning, errors."""

import numpy as np
import pytest

from ffnn import data
from ffnn.errors import ConfigError, FfnnError, LabelError, ShapeError
from ffnn.estimators import MLPClassifier, MLPRegressor

sklearn = pytest.importorskip("sklearn", reason="scikit-learn not installed")


@pytest.fixture(scope="module")
def circle():
    return data.load("circle", n=300, noise=0.05, seed=0)


def test_classifier_learns_and_maps_arbitrary_labels(circle):
    names = np.array(["outer", "inner"])
    clf = MLPClassifier((16,), activation="tanh", learning_rate_init=0.02, max_iter=150,
                        batch_size=16, random_state=0)
    clf.fit(circle.X_train, names[circle.y_train])
    assert list(clf.classes_) == ["inner", "outer"]
    assert clf.score(circle.X_test, names[circle.y_test]) > 0.9
    proba = clf.predict_proba(circle.X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.n_iter_ == 150 and len(clf.loss_curve_) == 150
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_same_seed_same_model(circle):
    a = MLPClassifier((8,), max_iter=5, random_state=3).fit(circle.X_train, circle.y_train)
    b = MLPClassifier((8,), max_iter=5, random_state=3).fit(circle.X_train, circle.y_train)
    np.testing.assert_array_equal(a.predict_proba(circle.X_test), b.predict_proba(circle.X_test))


def test_sklearn_protocol(circle):
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = MLPClassifier((8,), solver="sgd", momentum=0.9, learning_rate_init=0.1, max_iter=30, random_state=0)
    assert is_classifier(clf) and is_regressor(MLPRegressor())
    assert clone(clf).get_params() == clf.get_params()
    scores = cross_val_score(make_pipeline(StandardScaler(), clf), circle.X_train, circle.y_train,
                             cv=KFold(3, shuffle=True, random_state=0))
    assert scores.min() > 0.8
    search = GridSearchCV(clf, {"alpha": [1e-4, 10.0]}, cv=KFold(2, shuffle=True, random_state=0))
    search.fit(circle.X_train, circle.y_train)
    assert search.best_params_ == {"alpha": 1e-4}   # alpha=10 decays every weight to ~0


def test_regressor_fits_bishop_sin():
    ds = data.load("bishop-sin")
    reg = MLPRegressor((16,), activation="tanh", learning_rate_init=0.02, max_iter=400, batch_size=10,
                       random_state=0).fit(ds.X_train, ds.y_train[:, 0])
    pred = reg.predict(ds.X_test)
    assert pred.shape == (len(ds.X_test),)
    assert reg.score(ds.X_test, ds.y_test[:, 0]) > 0.95


def test_early_stopping_stops(circle):
    clf = MLPClassifier((16,), max_iter=500, early_stopping=True, n_iter_no_change=3, tol=0.0,
                        learning_rate_init=0.05, random_state=0).fit(circle.X_train, circle.y_train)
    assert clf.n_iter_ < 500


@pytest.mark.parametrize("params, match", [
    ({"solver": "lbfgs"}, "lbfgs"),
    ({"learning_rate_init": -1.0}, "-1.0"),
    ({"hidden_layer_sizes": (0,)}, "0"),
    ({"activation": "swish"}, "swish"),
    ({"alpha": "big"}, "big"),
])
def test_bad_hyperparameters(circle, params, match):
    with pytest.raises(ConfigError, match=match):
        MLPClassifier(max_iter=1, **params).fit(circle.X_train, circle.y_train)


def test_bad_input(circle):
    with pytest.raises(LabelError, match="2 classes"):
        MLPClassifier(max_iter=1).fit(circle.X_train, np.zeros(len(circle.X_train)))
    with pytest.raises(ConfigError, match="not fitted"):
        MLPClassifier().predict(circle.X_test)
    clf = MLPClassifier((4,), max_iter=1).fit(circle.X_train, circle.y_train)
    with pytest.raises(ShapeError, match="3 features"):
        clf.predict(np.zeros((2, 3)))
    X = circle.X_train.copy()
    X[0, 0] = np.nan
    with pytest.raises(FfnnError, match="nan"):
        MLPClassifier(max_iter=1).fit(X, circle.y_train)
