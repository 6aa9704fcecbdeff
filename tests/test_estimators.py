"""scikit-learn compatible estimators: the sklearn protocol, learning, errors."""

import numpy as np
import pytest

from ffnn import data
from ffnn._estimator import NotFittedError
from ffnn.errors import ConfigError, LabelError
from ffnn.estimators import MLPClassifier, MLPRegressor

sklearn = pytest.importorskip("sklearn", reason="scikit-learn not installed")
datasets = pytest.importorskip("sklearn.datasets")
exceptions = pytest.importorskip("sklearn.exceptions")


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

    clf = MLPClassifier((8,), solver="sgd", momentum=0.9, learning_rate_init=0.1, max_iter=100, batch_size=32,
                        random_state=0)
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
    reg = MLPRegressor(hidden_layer_sizes=(16,), activation="tanh",
                       learning_rate_init=0.02, max_iter=400, batch_size=10,
                       random_state=0).fit(ds.X_train, ds.y_train[:, 0])
    pred = reg.predict(ds.X_test)
    assert pred.shape == (len(ds.X_test),)
    assert reg.score(ds.X_test, ds.y_test[:, 0]) > 0.95


def test_early_stopping_stops(circle):
    clf = MLPClassifier((16,), max_iter=500, early_stopping=True, n_iter_no_change=3, tol=0.0,
                        learning_rate_init=0.05, random_state=0).fit(circle.X_train, circle.y_train)
    assert clf.n_iter_ < 500


@pytest.mark.parametrize("params, match", [
    ({"solver": "newton"}, "newton"),
    ({"learning_rate": "cosine"}, "cosine"),
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
    with pytest.raises(NotFittedError, match="not fitted"):
        MLPClassifier().predict(circle.X_test)
    clf = MLPClassifier((4,), max_iter=1).fit(circle.X_train, circle.y_train)
    with pytest.raises(ValueError, match="3 features"):       # scikit-learn's validate_data
        clf.predict(np.zeros((2, 3)))
    X = circle.X_train.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier(max_iter=1).fit(X, circle.y_train)


# --- scikit-learn's MLP behaviours --------------------------------------------------------

def test_fitted_attributes_are_sklearns(circle):
    clf = MLPClassifier((8, 4), max_iter=3, random_state=0)
    with pytest.warns(exceptions.ConvergenceWarning, match="Maximum iterations"):
        clf.fit(circle.X_train, circle.y_train)
    assert [c.shape for c in clf.coefs_] == [(2, 8), (8, 4), (4, 1)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (4,), (1,)]
    assert (clf.n_layers_, clf.n_outputs_, clf.out_activation_, clf.n_features_in_) == (4, 1, "logistic", 2)
    assert clf.t_ == 3 * len(circle.X_train) and clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    clf.coefs_[0][0, 0] = 5.0                     # views of the network's weights
    assert clf.model_.layers[0].weight.value[0, 0] == 5.0
    with pytest.raises(ConfigError, match="coefs_ must be 3 arrays"):
        clf.coefs_ = clf.coefs_[:2]


def test_float64_input_gives_float64_parameters_and_dtype_overrides(circle):
    X64 = circle.X_train.astype(np.float64)
    assert MLPClassifier((4,), max_iter=1).fit(X64, circle.y_train).coefs_[0].dtype == np.float64
    assert MLPClassifier((4,), max_iter=1).fit(X64.astype(np.float32), circle.y_train).coefs_[0].dtype == np.float32
    assert MLPClassifier((4,), max_iter=1, dtype="float32").fit(X64, circle.y_train).coefs_[0].dtype == np.float32


def test_random_state_may_be_a_random_state(circle):
    a = MLPClassifier((4,), max_iter=2, random_state=np.random.RandomState(7)).fit(circle.X_train, circle.y_train)
    b = MLPClassifier((4,), max_iter=2, random_state=7).fit(circle.X_train, circle.y_train)
    for x, y in zip(a.coefs_, b.coefs_, strict=True):
        np.testing.assert_array_equal(x, y)


def test_partial_fit_and_warm_start(circle):
    X, y = circle.X_train, circle.y_train
    clf = MLPClassifier((8,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1])
    assert clf.n_iter_ == 1 and clf.t_ == 3 * len(X) and len(clf.loss_curve_) == 3
    with pytest.raises(AttributeError, match="stochastic"):
        MLPClassifier(solver="lbfgs").partial_fit                # noqa: B018 - the attribute itself
    warm = MLPClassifier((8,), max_iter=2, warm_start=True, random_state=0).fit(X, y)
    first = [c.copy() for c in warm.coefs_]
    warm.fit(X, y)
    assert len(warm.loss_curve_) == 4 and not np.array_equal(first[0], warm.coefs_[0])
    with pytest.raises(LabelError, match="same classes"):
        warm.fit(X, np.where(y == 1, 2, y))


def test_learning_rate_modes(circle):
    X, y = circle.X_train, circle.y_train
    inv = MLPClassifier((4,), solver="sgd", learning_rate="invscaling", power_t=0.5, learning_rate_init=0.1,
                        max_iter=2, random_state=0).fit(X, y)
    assert inv._optimizer_state["lr"] == pytest.approx(0.1 / (inv.t_ + 1) ** 0.5)
    adaptive = MLPClassifier((4,), solver="sgd", learning_rate="adaptive", learning_rate_init=0.1, tol=10.0,
                             n_iter_no_change=1, max_iter=6, random_state=0).fit(X, y)
    # no epoch improves by tol=10: the count exceeds 1 at epochs 3 and 5, each dividing the rate by 5
    assert adaptive._optimizer_state["lr"] == pytest.approx(0.1 / 5 ** 2)
    assert adaptive.n_iter_ == 6


def test_tol_stops_without_early_stopping(circle):
    clf = MLPClassifier((4,), tol=10.0, n_iter_no_change=2, max_iter=100, random_state=0)
    clf.fit(circle.X_train, circle.y_train)
    # epoch 1 improves on inf; epochs 2, 3, 4 do not: the count exceeds n_iter_no_change (as scikit-learn's)
    assert clf.n_iter_ == 4


def test_multilabel_and_predict_log_proba():
    X, Y = datasets.make_multilabel_classification(80, 4, n_classes=3, random_state=0)
    clf = MLPClassifier((16,), max_iter=300, learning_rate_init=0.02, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    assert clf.predict(X).shape == Y.shape and clf.score(X, Y) > 0.5
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))


def test_sparse_X_is_densified(circle):
    sparse = pytest.importorskip("scipy.sparse")
    X, X_test = circle.X_train.astype(np.float64), circle.X_test.astype(np.float64)
    dense = MLPClassifier((4,), max_iter=3, random_state=0).fit(X, circle.y_train)
    csr = MLPClassifier((4,), max_iter=3, random_state=0).fit(sparse.csr_matrix(X), circle.y_train)
    np.testing.assert_allclose(csr.predict_proba(sparse.csc_matrix(X_test)), dense.predict_proba(X_test), atol=1e-12)


def test_sample_weight_zero_drops_samples(circle):
    X, y = circle.X_train.astype(np.float64), circle.y_train
    keep = np.arange(len(X)) % 3 != 0
    full = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20, random_state=0)
    full.fit(X, y.astype(float), sample_weight=keep.astype(float))
    part = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20, random_state=0)
    part.fit(X[keep], y[keep].astype(float))
    np.testing.assert_allclose(full.predict(X), part.predict(X), atol=1e-6)


def test_pickle_carries_weights_not_scratch(circle):
    import pickle
    X = np.tile(circle.X_train, (20, 1))
    y = np.tile(circle.y_train, 20)
    clf = MLPClassifier((16,), max_iter=1, batch_size=len(X), random_state=0).fit(X, y)
    clf.predict(X)                                       # buffers of the last (large) batch
    blob = pickle.dumps(clf)
    weights = sum(p.value.nbytes for p in clf.model_.parameters())
    assert len(blob) < 50 * weights + 20_000             # optimizer moments, not n_samples rows
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.predict_proba(circle.X_test), clf.predict_proba(circle.X_test))


# --- the engine pieces the estimators train with -------------------------------------------

def _net_and_trainer(loss, batch_size=None, **options):
    from ffnn import mlp, optim
    from ffnn.train import Trainer
    net = mlp([2, 5, 2], "tanh", seed=0, dtype=np.float64)
    return net, Trainer(net, loss, optim.SGD(net.parameters(), lr=0.1), batch_size=batch_size, shuffle=False,
                        seed=0, **options)


def test_engine_sample_weight_equals_repeating_samples(circle):
    from ffnn import losses
    X, y = circle.X_train[:40].astype(np.float64), circle.y_train[:40]
    counts = np.arange(40) % 3 + 1
    weighted, trainer = _net_and_trainer(losses.SoftmaxCrossEntropy())
    history = trainer.fit(X, y, 5, sample_weight=counts.astype(float))
    repeated, trainer2 = _net_and_trainer(losses.SoftmaxCrossEntropy())
    history2 = trainer2.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts), 5)
    for a, b in zip(weighted.parameters(), repeated.parameters(), strict=True):
        np.testing.assert_allclose(a.value, b.value, atol=1e-12)
    np.testing.assert_allclose(history["loss"], history2["loss"], atol=1e-12)


def test_engine_sample_weight_needs_a_loss_that_takes_them(circle):
    from ffnn import losses

    class Plain(losses.EuclideanLoss):
        def forward(self, output, target):
            return super().forward(output, target)

    _, trainer = _net_and_trainer(Plain())
    with pytest.raises(ConfigError, match="Plain does not take per-sample weights"):
        trainer.fit(circle.X_train, np.eye(2)[circle.y_train], 1, sample_weight=np.ones(len(circle.X_train)))
    _, trainer = _net_and_trainer(losses.EuclideanLoss())
    with pytest.raises(ConfigError, match=">= 0"):
        trainer.fit(circle.X_train, np.eye(2)[circle.y_train], 1, sample_weight=-np.ones(len(circle.X_train)))


def test_early_stopping_sklearn_rule_max_mode_and_rate_reduction(circle):
    from ffnn import losses
    from ffnn.callbacks import Callback, EarlyStopping

    scores = iter([0.5, 0.6, 0.6, 0.55, 0.6, 0.6, 0.6, 0.6])

    class Score(Callback):
        def on_epoch_end(self, epoch, logs):
            logs["score"] = next(scores)

    stopper = EarlyStopping(2, 0.0, restore_best=False, monitor="score", mode="max", rule="sklearn",
                            reduce_lr=5.0, min_lr=0.005)
    _, trainer = _net_and_trainer(losses.SoftmaxCrossEntropy(), callbacks=[Score()], early_stopping=stopper)
    history = trainer.fit(circle.X_train, circle.y_train, 8)
    # 0.6 ties the best: an improvement under scikit-learn's rule (at least tol better); 0.55 then
    # 0.6, 0.6 ... count 1, 0, 0; the rate is never cut and training runs all 8 epochs
    assert len(history["loss"]) == 8 and trainer.optimizer.lr == 0.1 and stopper.best == 0.6
    keras = EarlyStopping(2, 0.0, monitor="loss", mode="max", reduce_lr=5.0, min_lr=0.005)
    _, trainer = _net_and_trainer(losses.SoftmaxCrossEntropy(), early_stopping=keras)
    history = trainer.fit(circle.X_train, circle.y_train, 30)   # the loss falls: "max" never improves
    assert trainer.optimizer.lr == pytest.approx(0.1 / 25) and history.stopped_early
