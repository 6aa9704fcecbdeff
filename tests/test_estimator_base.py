"""ffnn._estimator: the one base class of the estimators, and the MLP estimators' catalogue
names and model metadata."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ffnn
from ffnn import data
from ffnn._estimator import Estimator
from ffnn.errors import ConfigError
from ffnn.estimators import MLPClassifier, MLPRegressor
from ffnn.linear_models import LinearRegression, LogisticRegression, Perceptron, PolynomialFeatures
from ffnn.recipe import SCHEMA_VERSION, Recipe, check_metadata


@pytest.fixture(scope="module")
def xor():
    return data.load("xor", n=200, noise=0.0, seed=0)


def xor_classifier(**params):
    """The estimators' doctest network, with ``params`` changed."""
    options = {"hidden_layer_sizes": (16,), "activation": "tanh", "solver": "adam", "learning_rate_init": 0.02,
               "max_iter": 200, "random_state": 0, **params}
    return MLPClassifier(**options)


ESTIMATORS = [MLPClassifier, MLPRegressor, Perceptron, LogisticRegression, LinearRegression, PolynomialFeatures]


# --- the base class ----------------------------------------------------------------------

@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_estimator_derives_from_the_one_base(cls):
    assert issubclass(cls, Estimator)


def test_get_params_are_the_constructor_arguments():
    clf = MLPClassifier((8,), solver="rmsprop", alpha=0.5)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (8,) and params["solver"] == "rmsprop" and params["alpha"] == 0.5
    assert set(params) | {"loss"} == set(MLPRegressor().get_params())     # the regressor's loss, as sklearn
    assert Perceptron(eta=0.5).get_params() == {"eta": 0.5, "max_iter": 100, "shuffle": False, "seed": None}


def test_set_params_sets_and_chains():
    clf = MLPClassifier()
    assert clf.set_params(alpha=0.1, solver="adamw") is clf
    assert clf.alpha == 0.1 and clf.solver == "adamw"
    p = Perceptron().set_params(eta=0.25)
    assert p.eta == 0.25 and p.get_params()["eta"] == 0.25


@pytest.mark.parametrize("estimator", [MLPClassifier(), MLPRegressor(), Perceptron(), LogisticRegression()])
@pytest.mark.parametrize("name", ["learning_rates", "nope__deep"])
def test_set_params_with_a_bad_name_raises_config_error(estimator, name):
    with pytest.raises(ConfigError, match=f"invalid parameter '{name}' for {type(estimator).__name__}") as err:
        estimator.set_params(**{name: 1})
    assert isinstance(err.value, ValueError)          # what scikit-learn raises, for code that catches that
    assert "valid parameters:" in str(err.value)


def test_linear_models_repr_shows_every_argument_in_constructor_order():
    assert repr(Perceptron(eta=0.5)) == "Perceptron(eta=0.5, max_iter=100, shuffle=False, seed=None)"
    assert repr(PolynomialFeatures(3)) == "PolynomialFeatures(degree=3, include_bias=False)"


def test_mlp_repr_shows_the_changed_arguments():
    assert repr(MLPClassifier(alpha=0.5)) == "MLPClassifier(alpha=0.5)"
    assert repr(MLPRegressor()) == "MLPRegressor()"


# --- with scikit-learn ------------------------------------------------------------------

def test_sklearn_base_and_clone():
    base = pytest.importorskip("sklearn.base")
    for estimator in (MLPClassifier((8,), solver="adamw", alpha=0.01), LogisticRegression(alpha=0.1),
                      Perceptron(eta=0.5, shuffle=True, seed=3), LinearRegression(solver="gd", lr=0.1)):
        assert isinstance(estimator, base.BaseEstimator)
        copy = base.clone(estimator)
        assert copy is not estimator and type(copy) is type(estimator)
        assert copy.get_params() == estimator.get_params()


def test_sklearn_recognises_classifiers_and_regressors():
    base = pytest.importorskip("sklearn.base")
    for clf in (MLPClassifier(), Perceptron(), LogisticRegression()):
        assert base.is_classifier(clf) and not base.is_regressor(clf)
    for reg in (MLPRegressor(), LinearRegression()):
        assert base.is_regressor(reg) and not base.is_classifier(reg)


def test_grid_search_over_catalogue_solvers(xor):
    pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV, KFold
    search = GridSearchCV(xor_classifier(max_iter=50), {"solver": ["adam", "rmsprop"]},
                          cv=KFold(2, shuffle=True, random_state=0))
    search.fit(xor.X_train, xor.y_train)
    assert search.best_params_["solver"] in ("adam", "rmsprop")


def test_fallback_without_sklearn():
    """With scikit-learn hidden, the local base gives the same protocol; the linear models
    train, and the MLPs (which validate and split data with scikit-learn) say what to install."""
    code = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None          # import sklearn now raises ImportError
        import numpy as np
        from ffnn import _estimator, data
        from ffnn.errors import ConfigError
        from ffnn.estimators import MLPClassifier, MLPRegressor
        from ffnn.linear_models import LinearRegression, Perceptron
        assert not _estimator.HAVE_SKLEARN
        clf = MLPClassifier((8,), activation="tanh", solver="rmsprop", learning_rate_init=0.02, max_iter=150,
                            random_state=0)
        assert repr(clf) == ("MLPClassifier(activation='tanh', hidden_layer_sizes=(8,), "
                             "learning_rate_init=0.02, max_iter=150, random_state=0, solver='rmsprop')"), repr(clf)
        assert clf.get_params()["solver"] == "rmsprop" and clf.set_params(alpha=0.0) is clf
        try:
            clf.set_params(bogus=1)
        except ConfigError as exc:
            assert "bogus" in str(exc)
        else:
            raise AssertionError("set_params accepted a bad name")
        xor = data.load("xor", n=200, noise=0.0, seed=0)
        try:
            clf.fit(xor.X_train, xor.y_train)
        except ImportError as exc:
            assert "pip install 'ffnn[sklearn]'" in str(exc), exc
        else:
            raise AssertionError("MLPClassifier trained without scikit-learn")
        assert Perceptron().fit(xor.X_train, xor.y_train).predict(xor.X_test).shape == (len(xor.X_test),)
        assert clf._estimator_type == "classifier" and MLPRegressor._estimator_type == "regressor"
        x = np.linspace(-1, 1, 50)[:, None]
        assert abs(LinearRegression().fit(x, 2 * x[:, 0] + 1).score(x, 2 * x[:, 0] + 1) - 1) < 1e-12
        assert repr(Perceptron(eta=0.5)) == "Perceptron(eta=0.5, max_iter=100, shuffle=False, seed=None)"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --- catalogue names ----------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["adamw", "rmsprop"])
def test_catalogue_solvers_train(xor, solver):
    clf = xor_classifier(solver=solver).fit(xor.X_train, xor.y_train)
    assert clf.score(xor.X_test, xor.y_test) > 0.9
    assert clf.model_.metadata["recipe"]["optimizer"] == solver


@pytest.mark.parametrize("params, optimizer, expected", [
    ({"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True}, "nesterov", "nesterov=True"),
    ({"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False}, "momentum", "nesterov=False"),
    ({"solver": "sgd", "momentum": 0.0}, "sgd", "momentum=0.0"),
    ({"solver": "momentum", "momentum": 0.5}, "momentum", "momentum=0.5"),
    ({"solver": "adagrad"}, "adagrad", "Adagrad("),
])
def test_sgd_keeps_sklearn_meaning(xor, monkeypatch, params, optimizer, expected):
    from ffnn import catalog
    built = []
    original = catalog.optimizer

    def spy(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(catalog, "optimizer", spy)
    clf = xor_classifier(max_iter=1, learning_rate_init=0.1, **params).fit(xor.X_train, xor.y_train)
    assert clf.model_.metadata["recipe"]["optimizer"] == optimizer
    assert len(built) == 1 and expected in repr(built[0])


def test_unknown_solver_names_the_catalogue(xor):
    with pytest.raises(ConfigError) as err:
        xor_classifier(solver="bfgs", max_iter=1).fit(xor.X_train, xor.y_train)
    message = str(err.value)
    assert "bfgs" in message and "lbfgs" in message and "adamw" in message and "rmsprop" in message


def test_momentum_solver_needs_momentum(xor):
    with pytest.raises(ConfigError, match="momentum > 0"):
        xor_classifier(solver="nesterov", momentum=0.0, max_iter=1).fit(xor.X_train, xor.y_train)


def test_activation_alias_from_the_catalogue(xor):
    clf = xor_classifier(activation="logistic", max_iter=1).fit(xor.X_train, xor.y_train)
    assert [type(layer).__name__ for layer in clf.model_] == ["Linear", "Sigmoid", "Linear"]


# --- model metadata ------------------------------------------------------------------------

def test_classifier_metadata_passes_check_and_survives_save_load(xor, tmp_path):
    names = np.array(["no", "yes"])
    clf = xor_classifier(solver="adamw", alpha=0.01, max_iter=20).fit(xor.X_train, names[xor.y_train])
    meta = clf.model_.metadata
    check_metadata(meta)
    assert meta["schema"] == SCHEMA_VERSION and meta["source"] == "ffnn.estimators"
    assert meta["task"] == "classification" and meta["n_classes"] == 2 and meta["class_names"] == ["no", "yes"]
    # two classes: one logistic unit (scikit-learn's network), binary cross-entropy on its logit
    assert meta["loss"] == "bce" and meta["output"] == "logits" and meta["n_features"] == 2
    recipe = Recipe.from_dict(meta["recipe"])
    assert (recipe.hidden, recipe.activation, recipe.optimizer, recipe.loss) == ("16", "tanh", "adamw", "bce")
    # alpha is scikit-learn's penalty (alpha / 2n)||W||^2, not ffnn's weight_decay: recorded apart
    assert (recipe.lr, recipe.weight_decay, recipe.epochs, recipe.seed) == (0.02, 0.0, 20, 0)
    assert meta["alpha"] == 0.01 and meta["solver"] == "adamw"
    path = tmp_path / "clf.npz"
    ffnn.save(clf.model_, path)
    loaded = ffnn.load(path)
    check_metadata(loaded.metadata)
    assert loaded.metadata["class_names"] == ["no", "yes"]
    np.testing.assert_array_equal(loaded.predict(xor.X_test), clf.model_.predict(xor.X_test))
    labels = np.array(loaded.metadata["class_names"])[(loaded.predict(xor.X_test)[:, 0] > 0).astype(int)]
    np.testing.assert_array_equal(labels, clf.predict(xor.X_test))


def test_numeric_labels_are_recorded_as_strings(xor):
    clf = xor_classifier(max_iter=1).fit(xor.X_train, xor.y_train * 10 + 3)
    assert clf.model_.metadata["class_names"] == ["3", "13"]
    check_metadata(clf.model_.metadata)


def test_regressor_metadata(tmp_path):
    ds = data.load("bishop-sin")
    reg = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=5, random_state=2, dtype="float64",
                       early_stopping=True, validation_fraction=0.2).fit(ds.X_train, ds.y_train[:, 0])
    meta = reg.model_.metadata
    check_metadata(meta)
    assert (meta["task"], meta["loss"], meta["output"], meta["n_classes"]) == ("regression", "mse", "value", None)
    assert meta["recipe"]["dtype"] == "float64" and meta["recipe"]["seed"] == 2
    assert meta["recipe"]["val_fraction"] == 0.2 and meta["recipe"]["early_stopping"] == 10
    ffnn.save(reg.model_, tmp_path / "reg.npz")
    assert ffnn.load(tmp_path / "reg.npz").metadata == meta


def test_metadata_names_no_data_set_to_reload(xor):
    """Trained on arrays: ``ffnn evaluate`` must be given the data rather than look up a name."""
    meta = xor_classifier(max_iter=1).fit(xor.X_train, xor.y_train).model_.metadata
    assert meta["data"] is None and meta["data_options"] is None
    assert meta["recipe"]["data"] == "arrays" and meta["recipe"]["preprocess"] == "none"
