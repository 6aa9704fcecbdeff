"""The run recipe: validated once, TOML/JSON round trips, the command line it prints runs the
same training, and the model metadata it writes is checked when a model file is loaded."""

from __future__ import annotations

import dataclasses
import json
import shlex
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ffnn
from ffnn import catalog
from ffnn.cli import TrainConfig, build_parser, main
from ffnn.errors import ConfigError, ModelFileError
from ffnn.recipe import SCHEMA_VERSION, Recipe, check_metadata

recipes = st.builds(
    Recipe,
    data=st.sampled_from(["xor", "spiral", "mnist-5k", "my data.csv"]),
    n=st.none() | st.integers(1, 5000),
    noise=st.none() | st.floats(0, 2, allow_nan=False),
    test_fraction=st.none() | st.floats(0.05, 0.95),
    features=st.none() | st.sampled_from(["x1,x2", "x1,x2,sin(x1)", "x1^2,x2^2"]),
    preprocess=st.sampled_from(["auto", "none", "minmax", "standard"]),
    hidden=st.sampled_from(["0", "8", "100,50", "3,3,3"]),
    activation=st.sampled_from(catalog.ACTIVATIONS.names()),
    dropout=st.floats(0, 0.9),
    init=st.none() | st.sampled_from(["xavier", "he", "gaussian:0.1"]),
    dtype=st.sampled_from(["float32", "float64"]),
    loss=st.sampled_from(catalog.LOSSES.names()),
    optimizer=st.sampled_from(catalog.OPTIMIZERS.names()),
    lr=st.none() | st.floats(1e-6, 10),
    momentum=st.floats(0.01, 0.99),
    weight_decay=st.floats(0, 1),
    schedule=st.none() | st.sampled_from(["step:3:0.5", "cosine", "plateau:0.5:2", "exponential:0.9+cosine"]),
    epochs=st.integers(0, 500),
    batch_size=st.integers(1, 1024),
    val_fraction=st.floats(0, 0.5),
    early_stopping=st.none() | st.integers(1, 20),
    seed=st.integers(0, 2**31),
)


@settings(max_examples=60, deadline=None)
@given(recipes)
def test_toml_and_json_round_trips(recipe):
    assert Recipe.from_toml(recipe.to_toml()) == recipe
    assert Recipe.from_json(recipe.to_json()) == recipe
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe


@settings(max_examples=60, deadline=None)
@given(recipes)
def test_the_command_line_gives_back_the_recipe(recipe):
    argv = shlex.split(recipe.to_command())
    assert argv[:2] == ["ffnn", "train"]
    args = build_parser().parse_args(argv[1:])
    given_options = {f.name: getattr(args, f.name) for f in dataclasses.fields(Recipe)
                     if getattr(args, f.name, None) is not None}
    assert Recipe(**given_options) == recipe


@pytest.mark.parametrize("options, needle", [
    ({"hidden": "1,a"}, "1,a"), ({"hidden": [4, 0]}, "positive"), ({"activation": "swish"}, "swish"),
    ({"activation": "relu,tanh", "hidden": "4"}, "2 activations for 1 hidden"), ({"loss": "hinge"}, "hinge"),
    ({"optimizer": "adamx"}, "adamx"), ({"lr": -1.0}, "-1"), ({"lr": 0}, "lr"), ({"momentum": 1.0}, "1.0"),
    ({"optimizer": "nesterov", "momentum": 0.0}, "momentum > 0"), ({"epochs": "three"}, "three"),
    ({"batch_size": 0}, "batch_size"), ({"val_fraction": 1.0}, "val_fraction"), ({"dtype": "float16"}, "float16"),
    ({"schedule": "step"}, "STEP_SIZE"), ({"schedule": "step:2.5"}, "integer"),
    ({"schedule": "momentum:0.5:0.9:2", "optimizer": "adam"}, "momentum"), ({"schedule": "step:0"}, "step_size"),
    ({"init": "orthogonal"}, "orthogonal"), ({"features": "x1,x3"}, "x3"), ({"seed": -1}, "seed"),
    ({"preprocess": "whiten"}, "whiten"), ({"dropout": 1.0}, "dropout"), ({"early_stopping": 0}, "early_stopping"),
])
def test_bad_values_are_refused_naming_the_option_and_value(options, needle):
    with pytest.raises(ConfigError) as info:
        Recipe(**options)
    assert needle in str(info.value)


def test_unknown_options_are_refused_listing_the_known_ones():
    with pytest.raises(ConfigError, match="bogus.*known: activation"):
        Recipe.from_dict({"bogus": 1})
    with pytest.raises(ConfigError, match="not valid TOML"):
        Recipe.from_toml("epochs = [1,")


def test_values_are_kept_in_canonical_form():
    r = Recipe(hidden=[100, 50], activation=["relu", "tanh"], features=["x1", "x2"])
    assert (r.hidden, r.activation, r.features) == ("100,50", "relu,tanh", "x1,x2")
    assert r.hidden_sizes == [100, 50] and r.activations == ["relu", "tanh"] and Recipe(hidden=0).hidden_sizes == []


def test_the_printed_command_trains_the_same_weights(tmp_path):
    recipe = Recipe(data="circle", n=200, hidden="6", activation="tanh", optimizer="adam", lr=0.01, epochs=3,
                    batch_size=16, dropout=0.1, val_fraction=0.0, seed=4, preprocess="none")
    run = recipe.prepare()
    run.fit(run.trainer())
    argv = shlex.split(recipe.to_command())[1:] + ["--out", str(tmp_path / "r"), "--no-plots", "--no-progress"]
    assert main(argv) == 0
    loaded = ffnn.load(tmp_path / "r" / "model.ffnn")
    for p, q in zip(loaded.parameters(), run.model.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value)
    assert Recipe.from_dict(loaded.metadata["recipe"]) == recipe


# ---------------------------------------------------------------------------
# the model metadata
# ---------------------------------------------------------------------------

def test_a_trained_models_metadata_follows_the_schema(tmp_path):
    run = Recipe(data="xor", hidden="4", epochs=1).prepare(source="test")
    meta = run.model.metadata
    assert meta["schema"] == SCHEMA_VERSION and meta["source"] == "test" and meta["task"] == "classification"
    assert meta["output"] == "logits" and meta["n_classes"] == 2 and meta["loss"] == "ce"
    check_metadata(meta)
    ffnn.save(run.model, tmp_path / "m")
    assert ffnn.load(tmp_path / "m").metadata == json.loads(json.dumps(meta))


def rewrite_metadata(path, **changes):
    """Put other metadata into a saved model file (with a consistent archive)."""
    from ffnn.serialize import read_archive, write_archive
    header, arrays = read_archive(path)
    header["metadata"].update(changes)
    write_archive(path, header, arrays)


@pytest.mark.parametrize("changes, needle", [
    ({"task": "clustering"}, "task"), ({"n_classes": "ten"}, "n_classes"), ({"class_names": 3}, "class_names"),
    ({"class_names": ["a"], "n_classes": 2}, "1 class names for 2"), ({"data_options": "seed=0"}, "data_options"),
    ({"image_shape": [28]}, "image_shape"), ({"features": ["x9"]}, "x9"), ({"schema": 99}, "newer ffnn"),
    ({"recipe": {"epochs": -5}}, "epochs"), ({"preprocessing": {"kind": "magic"}}, "magic"),
])
def test_bad_metadata_is_a_model_file_error(tmp_path, changes, needle):
    path = tmp_path / "m.ffnn"
    ffnn.save(Recipe(data="xor", hidden="4", epochs=1).prepare().model, path)
    rewrite_metadata(path, **changes)
    with pytest.raises(ModelFileError, match=needle):
        ffnn.load(path)
    assert main(["evaluate", str(path)]) == 2                       # one line, exit 2


def test_the_users_own_metadata_keys_are_left_alone(tmp_path):
    model = ffnn.mlp([2, 2], seed=0)
    model.metadata = {"task": "classification", "my_key": {"anything": [1, "x"]}}
    ffnn.save(model, tmp_path / "m")
    assert ffnn.load(tmp_path / "m").metadata["my_key"] == {"anything": [1, "x"]}


def test_a_model_saved_from_python_evaluates_from_the_command_line(tmp_path, capsys):
    from ffnn import data, losses, optim
    ds = data.load("xor", seed=0)
    model = ffnn.mlp([2, 8, 2], "tanh", seed=0)
    ffnn.fit(model, losses.SoftmaxCrossEntropy(), optim.Adam(model.parameters(), 0.02), ds.X_train, ds.y_train,
             epochs=30, seed=0, progress=False)
    ffnn.save(model, tmp_path / "py.ffnn")
    assert main(["evaluate", str(tmp_path / "py.ffnn")]) == 2          # no data recorded: a clear error
    assert "pass one with --data" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "py.ffnn"), "--data", "xor"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_old_metadata_without_schema_still_loads(tmp_path):
    path = tmp_path / "old.ffnn"
    ffnn.save(ffnn.mlp([784, 10], seed=0), path)
    rewrite_metadata(path, task="classification", n_classes=10, loss="ce", class_names=None, image_shape=[28, 28],
                     preprocessing=None, data="mnist-5k", data_options={"seed": 0}, features=None, n_features=784)
    with zipfile.ZipFile(path) as z:
        assert "__ffnn__.npy" in z.namelist()
    assert ffnn.load(path).metadata["data"] == "mnist-5k"
    assert main(["evaluate", str(path)]) == 0


def test_train_config_is_the_recipe_plus_where_to_write():
    cfg = TrainConfig(data="xor", out="runs/x", plots=False)
    assert cfg.recipe() == Recipe(data="xor")
    with pytest.raises(ConfigError, match="checkpoint_every"):
        TrainConfig(checkpoint_every=0)


# ---------------------------------------------------------------------------
# the pipeline on small data sets made here
# ---------------------------------------------------------------------------

def dataset(kind="plane", n=40, seed=0):
    """Small data sets: "plane" (2 features, 2 classes), "three" (3 features, 3 classes), "image" (2x3
    images, 3 classes), "one" (a single class), "reg" (regression, 1 target), "reg2" (2 targets)."""
    from ffnn.data import Dataset
    rng = np.random.default_rng(seed)
    d = {"plane": 2, "three": 3, "image": 6, "one": 2, "reg": 2, "reg2": 2}[kind]
    X = rng.normal(2.0, 3.0, size=(n, d)).astype(np.float32)
    if kind == "image":
        X = rng.random((n, d)).astype(np.float32)
    if kind.startswith("reg"):
        y = rng.normal(size=(n,) if kind == "reg" else (n, 2)).astype(np.float32)
        return Dataset(kind, X[:30], y[:30], X[30:], y[30:], "regression", None)
    k = {"plane": 2, "three": 3, "image": 3, "one": 1}[kind]
    y = np.arange(n) % k
    names = tuple("abc"[:k])
    return Dataset(kind, X[:30], y[:30], X[30:], y[30:], "classification", k,
                   image_shape=(2, 3) if kind == "image" else None, class_names=names)


def test_learning_rate_defaults_per_optimizer_and_task(monkeypatch):
    assert Recipe(lr=0.3).learning_rate("regression") == 0.3
    assert Recipe(optimizer="adam").learning_rate("classification") == 1e-3
    assert Recipe(optimizer="adam").learning_rate("regression") == pytest.approx(2e-4, rel=1e-12)
    assert Recipe(optimizer="sgd").learning_rate("regression") == pytest.approx(0.02, rel=1e-12)
    table = catalog.Table("optimizer", catalog.OPTIMIZERS.entries())
    table.add(catalog.Entry("bare", ffnn.optim.SGD, build=lambda p, lr, m, wd: ffnn.optim.SGD(p, lr)))
    monkeypatch.setattr(catalog, "OPTIMIZERS", table)
    assert Recipe(optimizer="bare").learning_rate("classification") == 0.01     # no default given
    assert Recipe(optimizer="bare").learning_rate("regression") == pytest.approx(0.002, rel=1e-12)


def test_replace_checks_the_changed_options_again():
    r = Recipe(data="xor", epochs=3)
    assert r.replace(epochs=4) == Recipe(data="xor", epochs=4) and r.epochs == 3
    with pytest.raises(ConfigError, match="option epochs: expected an integer >= 0, got -1"):
        r.replace(epochs=-1)


def test_load_data_passes_the_seed_and_the_data_options(monkeypatch):
    from ffnn import data
    calls = []
    monkeypatch.setattr(data, "load", lambda name, **kw: calls.append((name, kw)) or dataset())
    Recipe(data="spiral", n=50, noise=0.2, seed=3).load_data()
    assert calls == [("spiral", {"seed": 3, "n": 50, "noise": 0.2})]
    run = Recipe(data="circle", seed=4, hidden="3").prepare()
    assert calls[-1] == ("circle", {"seed": 4}) and run.dataset.name == "plane"
    calls.clear()
    Recipe(data="circle", hidden="3").prepare(dataset("three"))
    assert calls == []                                         # a given data set is used as it is


def test_prepare_builds_every_part_from_the_recipe():
    ds = dataset("three")
    recipe = Recipe(data="three", hidden="5,4", activation="tanh,relu", optimizer="nesterov", lr=0.2, momentum=0.8,
                    weight_decay=0.01, schedule="step:2:0.5", epochs=4, seed=1, preprocess="none", dtype="float64")
    run = recipe.prepare(ds)
    assert [type(layer).__name__ for layer in run.model] == ["Linear", "Tanh", "Linear", "ReLU", "Linear"]
    assert (run.model.in_features, run.model.out_features, run.model.dtype) == (3, 3, np.float64)
    assert run.lr == 0.2 and run.optimizer.lr == 0.2 and run.optimizer.momentum == 0.8 and run.optimizer.nesterov
    assert run.optimizer.weight_decay == 0.01 and [type(s).__name__ for s in run.schedules] == ["StepLR"]
    assert run.model.metadata["source"] == "ffnn" and run.model.metadata["recipe"] == recipe.to_dict()
    assert recipe.prepare(ds, source="playground").model.metadata["source"] == "playground"
    np.testing.assert_array_equal(run.X_train, ds.X_train)
    np.testing.assert_array_equal(run.X_test, ds.X_test)
    assert run.raw_X_train is None and run.raw_X_test is None and run.scaler is None and run.augment is None
    np.testing.assert_array_equal(run.y_train, ds.y_train)


def test_features_are_derived_from_two_dimensional_data_only():
    from ffnn.data.features import plane_features
    ds = dataset("plane")
    run = Recipe(data="plane", hidden="3", features="x1,x2,x1*x2", preprocess="none").prepare(ds)
    np.testing.assert_array_equal(run.X_train, plane_features(ds.X_train, ["x1", "x2", "x1*x2"]))
    np.testing.assert_array_equal(run.X_test, plane_features(ds.X_test, ["x1", "x2", "x1*x2"]))
    assert run.raw_X_train is ds.X_train and run.raw_X_test is ds.X_test and run.model.in_features == 3
    assert run.model.metadata["features"] == ["x1", "x2", "x1*x2"] and run.model.metadata["n_features"] == 2
    with pytest.raises(ConfigError, match=r"^option features applies to 2-D data, but 'three' has 3 features$"):
        Recipe(data="three", hidden="3", features="x1,x2").prepare(dataset("three"))


def test_label_smoothing_only_when_asked():
    run = Recipe(data="plane", hidden="3", loss="ce", label_smoothing=0.2).prepare(dataset("plane"))
    assert run.loss.label_smoothing == 0.2
    plain = Recipe(data="plane", hidden="3", loss="mse").prepare(dataset("plane"))   # mse takes no smoothing
    assert type(plain.loss) is ffnn.losses.EuclideanLoss


def test_shift_needs_images_and_becomes_a_random_shift():
    with pytest.raises(ConfigError, match=r"^option shift moves images, but 'plane' is not an image data set$"):
        Recipe(data="plane", hidden="3", shift=1).prepare(dataset("plane"))
    run = Recipe(data="image", hidden="3", shift=1).prepare(dataset("image"))
    assert type(run.augment).__name__ == "RandomShift" and run.augment.pixels == 1
    assert run.augment.image_shape == (2, 3)
    assert Recipe(data="image", hidden="3").prepare(dataset("image")).augment is None
    assert run.trainer().augment is run.augment


def test_a_classifier_needs_two_classes_and_regression_a_values_loss():
    from ffnn.errors import LabelError
    with pytest.raises(LabelError, match=r"^training a classifier on 'one' needs at least 2 classes, found 1: a$"):
        Recipe(data="one", hidden="3").prepare(dataset("one"))
    with pytest.raises(ConfigError, match=r"^--loss ce needs class labels, but this data set is a regression task; "
                                          r"use --loss mse$"):
        Recipe(data="reg", hidden="3", loss="ce").prepare(dataset("reg"))
    with pytest.raises(ConfigError, match="--loss bce needs class labels"):
        Recipe(data="reg", hidden="3", loss="bce").prepare(dataset("reg"))
    run = Recipe(data="reg", hidden="3", loss="mse").prepare(dataset("reg"))
    assert run.model.out_features == 1 and run.y_train.dtype == np.float32
    assert Recipe(data="reg2", hidden="3", loss="mse").prepare(dataset("reg2")).model.out_features == 2


@pytest.mark.parametrize("preprocess, kind, expected", [
    ("auto", "image", None), ("auto", "plane", "StandardScaler"), ("none", "plane", None),
    ("minmax", "plane", "MinMaxScaler"), ("standard", "image", "StandardScaler")])
def test_the_input_scaling_is_fitted_on_the_training_split(preprocess, kind, expected):
    ds = dataset(kind)
    run = Recipe(data=kind, hidden="3", preprocess=preprocess).prepare(ds)
    assert (type(run.scaler).__name__ if run.scaler is not None else None) == expected
    if expected is None:
        assert run.X_train is ds.X_train and run.X_test is ds.X_test
        assert run.model.metadata["preprocessing"] is None
    else:
        np.testing.assert_allclose(run.X_train, run.scaler.transform(ds.X_train))
        np.testing.assert_allclose(run.X_test, run.scaler.transform(ds.X_test))
        assert run.model.metadata["preprocessing"] == run.scaler.to_dict()
    if expected == "StandardScaler":
        np.testing.assert_allclose(run.X_train.mean(axis=0), 0, atol=1e-5)
    if expected == "MinMaxScaler":
        assert run.X_train.min() == pytest.approx(0, abs=1e-6) and run.X_train.max() == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("loss, kind, outputs, target", [
    ("ce", "three", 3, "labels"), ("mse", "three", 3, "one-hot"), ("bce", "plane", 1, "binary"),
    ("bce", "three", 3, "one-hot"), ("robust-bce", "plane", 1, "binary"), ("mse", "reg", 1, "values")])
def test_the_targets_and_outputs_each_loss_takes(loss, kind, outputs, target):
    ds = dataset(kind)
    run = Recipe(data=kind, hidden="3", loss=loss, dtype="float64").prepare(ds)
    assert run.model.out_features == outputs
    t = run.targets(ds.y_test)
    if target == "labels":
        np.testing.assert_array_equal(t, ds.y_test)
    elif target == "one-hot":
        assert t.dtype == np.float64
        np.testing.assert_array_equal(t, np.eye(3)[ds.y_test])
    else:
        assert t.dtype == np.float64
        np.testing.assert_array_equal(t, ds.y_test.astype(np.float64))
    np.testing.assert_array_equal(run.y_train, run.targets(ds.y_train))
    meta = run.model.metadata
    assert meta["output"] == {"labels": "logits", "one-hot": "scores" if loss == "mse" else "logits",
                              "binary": "logits", "values": "value"}[target]


def test_the_trainer_and_fit_of_a_run_follow_the_recipe(monkeypatch):
    from ffnn import train as train_module
    seen = {}

    class Recording(train_module.Trainer):
        def __init__(self, *args, **kwargs):
            seen["init"] = (args, kwargs)
            super().__init__(*args, **kwargs)

        def fit(self, X, y, epochs=10, **kwargs):
            seen["fit"] = (X, y, epochs, kwargs)
            return ffnn.History()

    monkeypatch.setattr(train_module, "Trainer", Recording)
    recipe = Recipe(data="image", hidden="3", batch_size=7, seed=5, early_stopping=2, clip_grad_norm=1.5, shift=1,
                    schedule="exponential:0.9", epochs=6, val_fraction=0.25)
    run = recipe.prepare(dataset("image"))
    cb = ffnn.Callback()
    trainer = run.trainer([cb])
    args, kwargs = seen["init"]
    assert args == (run.model, run.loss, run.optimizer)
    assert kwargs == {"schedules": run.schedules, "callbacks": [cb], "early_stopping": 2, "batch_size": 7, "seed": 5,
                      "progress": False, "distributed": None, "clip_grad_norm": 1.5, "augment": run.augment}
    run.trainer(progress=True, distributed=False)
    assert seen["init"][1]["progress"] is True and seen["init"][1]["distributed"] is False
    run.fit(trainer, checkpoint="c.ckpt", checkpoint_every=3)
    X, y, epochs, kwargs = seen["fit"]
    assert X is run.X_train and y is run.y_train and epochs == 6
    assert kwargs == {"validation": 0.25, "checkpoint": "c.ckpt", "checkpoint_every": 3}
    run.recipe = recipe.replace(val_fraction=0.0)
    run.fit(trainer)
    assert seen["fit"][3] == {"validation": None, "checkpoint": None, "checkpoint_every": None}


def test_metadata_lists_hold_no_booleans_and_data_options_only_known_valid_keys():
    for bad in ({"class_names": [True, False]}, {"features": [True]}, {"image_shape": [True, 2]},
                {"data_options": {"bogus": 1}}, {"data_options": {"n": 0}}, {"data_options": ["n"]}):
        with pytest.raises(ModelFileError):
            check_metadata(bad)
    check_metadata({"data_options": {"n": 5, "noise": 0.1, "test_fraction": 0.2, "target": "y",
                                      "delimiter": ",", "seed": 0}})
    check_metadata({"data_options": {"n": None, "seed": 0}})     # unset options may be null
    check_metadata({"data_options": {}})


# ---------------------------------------------------------------------------
# the option checks, their messages and the printed forms
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"data": 5}, "option data: expected a string, got 5 (int)"),
    ({"n": True}, "option n: expected an integer, got True (bool)"),
    ({"n": 2.0}, "option n: expected an integer, got 2.0 (float)"),
    ({"n": 0}, "option n: expected an integer >= 1, got 0"),
    ({"noise": -0.5}, "option noise: expected a number in [0.0, inf], got -0.5"),
    ({"noise": float("nan")}, "option noise: expected a number in [0.0, inf], got nan"),
    ({"noise": True}, "option noise: expected a number, got True (bool)"),
    ({"noise": "0.1"}, "option noise: expected a number, got '0.1' (str)"),
    ({"test_fraction": 0.0}, "option test_fraction: expected a number in (0.0, 1.0), got 0.0"),
    ({"test_fraction": 1.0}, "option test_fraction: expected a number in (0.0, 1.0), got 1.0"),
    ({"dropout": 1.0}, "option dropout: expected a number in [0.0, 1.0), got 1.0"),
    ({"dropout": -0.1}, "option dropout: expected a number in [0.0, 1.0), got -0.1"),
    ({"lr": 0.0}, "option lr: expected a number in (0.0, inf], got 0.0"),
    ({"momentum": 1.0}, "option momentum: expected a number in [0.0, 1.0), got 1.0"),
    ({"label_smoothing": 1.5}, "option label_smoothing: expected a number in [0.0, 1.0], got 1.5"),
    ({"clip_grad_norm": 0.0}, "option clip_grad_norm: expected a number in (0.0, inf], got 0.0"),
    ({"weight_decay": -1.0}, "option weight_decay: expected a number in [0.0, inf], got -1.0"),
    ({"hidden": True}, "option hidden: expected layer sizes such as 100 or 100,50, got True"),
    ({"hidden": "4,x"}, "option hidden: expected comma-separated layer sizes such as 100 or 100,50; got '4,x'"),
    ({"hidden": "4,-1"}, "option hidden: layer sizes must be positive integers, got '4,-1'"),
    ({"activation": ["relu", 3]}, "option activation: expected names, got ['relu', 3]"),
    ({"preprocess": "whiten"}, "option preprocess: expected one of auto, none, minmax, standard; got 'whiten'"),
    ({"dtype": 32}, "option dtype: expected one of float32, float64; got 32"),
    ({"norm": "group"}, "option norm: expected one of batch, layer; got 'group'"),
    ({"activation": "relu,tanh", "hidden": "4"}, "option activation: 2 activations for 1 hidden layers; give one, "
                                                 "or one per hidden layer"),
    ({"optimizer": "momentum", "momentum": 0.0}, "optimizer 'momentum' needs momentum > 0, got 0"),
    ({"loss": "mse", "label_smoothing": 0.1}, "option label_smoothing applies to the softmax cross-entropy "
                                              "(loss ce), not to loss 'mse'"),
    ({"shift": -1}, "option shift: expected an integer >= 0, got -1"),
    ({"seed": -1}, "option seed: expected an integer >= 0, got -1"),
    ({"batch_size": 0}, "option batch_size: expected an integer >= 1, got 0"),
    ({"early_stopping": 0}, "option early_stopping: expected an integer >= 1, got 0"),
])
def test_each_option_is_refused_with_its_name_range_and_value(options, message):
    with pytest.raises(ConfigError) as info:
        Recipe(**options)
    assert str(info.value) == message


def test_the_edges_of_each_range_are_accepted():
    r = Recipe(n=1, noise=0.0, test_fraction=0.5, dropout=0.0, lr=1e-9, momentum=0.0, optimizer="sgd",
               label_smoothing=1.0, weight_decay=0.0, epochs=0, batch_size=1, val_fraction=0.0, early_stopping=1,
               seed=0, shift=0, clip_grad_norm=1e-9)
    assert (r.n, r.noise, r.label_smoothing, r.momentum) == (1, 0.0, 1.0, 0.0)
    assert type(r.noise) is float and type(r.n) is int and type(Recipe(lr=1).lr) is float
    assert Recipe(optimizer="adam", momentum=0.0).momentum == 0.0          # only momentum optimizers need one


def test_values_are_stored_canonically():
    r = Recipe(hidden=" 100 , 50 ", activation=" relu , tanh ", schedule=" step:2 ", init="he")
    assert (r.hidden, r.activation, r.schedule, r.init) == ("100,50", "relu,tanh", "step:2", "he")
    for empty in ("", "0", "none", [], 0):
        assert Recipe(hidden=empty).hidden == "0" and Recipe(hidden=empty).hidden_sizes == []
    assert Recipe(hidden=(8, 4)).hidden == "8,4" and Recipe(hidden=8).hidden == "8"
    assert Recipe(activation="tanh").activations == "tanh" and Recipe(features=None).feature_names is None
    assert Recipe(features="x1,x2").feature_names == ["x1", "x2"]
    assert Recipe(data="xor", n=5, noise=0.1).data_options() == {"n": 5, "noise": 0.1}
    assert Recipe(data="t.csv", target="y", delimiter=",", test_fraction=0.3).data_options() == {
        "test_fraction": 0.3, "target": "y", "delimiter": "comma"}


def test_options_accept_dashes_and_name_the_source():
    assert Recipe.options({"batch-size": 3, "val_fraction": 0.2}) == {"batch_size": 3, "val_fraction": 0.2}
    with pytest.raises(ConfigError, match=r"^run.toml: expected a table of options, got list$"):
        Recipe.options([1], source="run.toml")
    with pytest.raises(ConfigError) as info:
        Recipe.from_dict({"epoch": 3}, source="cfg")
    known = ", ".join(sorted(f.name for f in dataclasses.fields(Recipe)))
    assert str(info.value) == f"cfg: unknown option 'epoch'; known: {known}"
    assert Recipe.toml_options("epochs = 3\n") == {"epochs": 3}
    assert Recipe.toml_options("[train]\nbatch-size = 3\n") == {"batch_size": 3}
    with pytest.raises(ConfigError, match="^c.toml: not valid TOML: "):
        Recipe.from_toml("epochs = [1,", source="c.toml")
    with pytest.raises(ConfigError, match="^JSON: not valid JSON: "):
        Recipe.from_json("{")
    with pytest.raises(ConfigError, match="^x.json: unknown option 'bogus'"):
        Recipe.from_json('{"bogus": 1}', source="x.json")


def test_the_printed_forms_of_a_recipe():
    assert Recipe().to_command() == (
        "ffnn train --data mnist-5k --hidden 256 --activation relu --loss ce --optimizer momentum --momentum 0.9 "
        "--batch-size 64 --preprocess auto --val-fraction 0.1 --seed 0 --epochs 15")
    assert Recipe(optimizer="sgd").to_command() == (
        "ffnn train --data mnist-5k --hidden 256 --activation relu --loss ce --optimizer sgd --batch-size 64 "
        "--preprocess auto --val-fraction 0.1 --seed 0 --epochs 15")
    full = Recipe(data="my data.csv", target="y", delimiter=";", n=50, noise=0.5, test_fraction=0.25, features="x1,x2",
                  hidden="8,4", activation="tanh", loss="ce", optimizer="adam", lr=0.01, momentum=0.5,
                  weight_decay=0.001, dropout=0.1, label_smoothing=0.2, shift=0, schedule="cosine", init="he",
                  early_stopping=3, norm="batch", clip_grad_norm=2.0, preprocess="minmax", val_fraction=0.2, seed=7,
                  epochs=9, dtype="float64", batch_size=32)
    assert full.to_command() == (
        "ffnn train --data 'my data.csv' --target y --delimiter semicolon --n 50 --noise 0.5 --test-fraction 0.25 "
        "--features x1,x2 --hidden 8,4 --activation tanh --loss ce --optimizer adam --lr 0.01 --momentum 0.5 "
        "--batch-size 32 --weight-decay 0.001 --dropout 0.1 --label-smoothing 0.2 --schedule cosine --init he "
        "--early-stopping 3 --norm batch --clip-grad-norm 2.0 --preprocess minmax --val-fraction 0.2 --seed 7 "
        "--epochs 9 --dtype float64")
    assert "--shift 2" in Recipe(shift=2).to_command()
    assert Recipe(data="xor", lr=1e-3, hidden="3", epochs=2).to_toml() == "\n".join([
        "[train]", 'data = "xor"', 'preprocess = "auto"', 'hidden = "3"', 'activation = "relu"', "dropout = 0.0",
        'dtype = "float32"', 'backend = "numpy"', 'loss = "ce"', "label_smoothing = 0.0", 'optimizer = "momentum"', "lr = 0.001",
        "momentum = 0.9", "weight_decay = 0.0", "epochs = 2", "batch_size = 64", "val_fraction = 0.1", "seed = 0",
        "shift = 0"]) + "\n"
    assert json.loads(Recipe(data="xor").to_json()) == Recipe(data="xor").to_dict()


def test_check_metadata_messages():
    cases = [
        ({"schema": 0}, "metadata 'schema' must be a positive integer, got 0"),
        ({"schema": True}, "metadata 'schema' must be a positive integer, got True"),
        ({"schema": 3}, "the metadata uses schema 3, written by a newer ffnn (this one reads schema 2 and older)"),
        ({"task": "clustering"}, "metadata 'task' must be 'classification' or 'regression', got 'clustering'"),
        ({"n_classes": 0}, "metadata 'n_classes' must be a positive integer, got 0"),
        ({"n_features": True}, "metadata 'n_features' must be a positive integer, got True"),
        ({"image_shape": [28, 0]}, "metadata 'image_shape' must be a list of two positive integers, got [28, 0]"),
        ({"image_shape": [28, 28, 1]}, "metadata 'image_shape' must be a list of two positive integers"),
        ({"epoch": "3"}, "metadata 'epoch' must be an integer, got '3'"),
        ({"source": 1}, "metadata 'source' must be a string, got 1"),
        ({"output": 1}, "metadata 'output' must be a string, got 1"),
        ({"loss": 1}, "metadata 'loss' must be a string, got 1"),
        ({"class_names": ["a", "b"], "n_classes": 3}, "metadata lists 2 class names for 3 classes"),
        ({"features": ["x1", "x9"]}, "metadata 'features': "),
        ({"recipe": {"epochs": -1}}, "option epochs: expected an integer >= 0, got -1"),
        ({"recipe": {"epoch": 1}}, "metadata 'recipe': unknown option 'epoch'; known: "),
        ({"data_options": {"n": 0}}, "metadata 'data_options' must be an object of data options (n, noise, "
                                     "test_fraction, target, delimiter, seed), got {'n': 0}"),
    ]
    for meta, message in cases:
        with pytest.raises(ModelFileError) as info:
            check_metadata(meta)
        assert str(info.value).startswith(message), (meta, str(info.value))
    check_metadata({"schema": 1, "image_shape": [1, 1], "n_classes": 1, "epoch": 0, "class_names": ["a"],
                    "features": ["x1"], "task": "regression", "recipe": Recipe().to_dict()})
    check_metadata({"schema": 2, "preprocessing": None, "features": None, "recipe": None})
    check_metadata({})


def test_run_metadata_exactly():
    from ffnn.data import StandardScaler
    from ffnn.recipe import run_metadata
    ds = dataset("image")
    recipe = Recipe(data="image", hidden="3", seed=2, n=40)
    scaler = StandardScaler().fit(ds.X_train)
    assert run_metadata(recipe, ds, ffnn.losses.SoftmaxCrossEntropy(), scaler) == {
        "schema": 2, "source": "ffnn", "task": "classification", "n_classes": 3, "class_names": ["a", "b", "c"],
        "loss": "ce", "output": "logits", "image_shape": [2, 3], "preprocessing": scaler.to_dict(), "features": None,
        "n_features": 6, "data": "image", "data_options": {"n": 40, "seed": 2}, "recipe": recipe.to_dict()}
    plane = dataset("plane")
    meta = run_metadata(Recipe(data="plane", features="x1,x2,x1*x2", loss="mse"), plane, ffnn.losses.EuclideanLoss(),
                        None, source="web", extra={"epoch": 3, "loss": "custom"})
    assert (meta["source"], meta["output"], meta["features"], meta["n_features"]) == ("web", "scores",
                                                                                      ["x1", "x2", "x1*x2"], 2)
    assert meta["epoch"] == 3 and meta["loss"] == "custom" and meta["image_shape"] is None
    assert meta["preprocessing"] is None
    reg = run_metadata(Recipe(data="reg", loss="mse"), dataset("reg"), ffnn.losses.EuclideanLoss(), None)
    assert (reg["task"], reg["output"], reg["n_classes"], reg["class_names"]) == ("regression", "value", None, None)
    check_metadata(meta)
    check_metadata(reg)


def test_more_edges_and_default_sources():
    assert Recipe(hidden="1").hidden_sizes == [1] and Recipe(hidden=[1, 2]).hidden == "1,2"
    with pytest.raises(ConfigError, match=r"^recipe: expected a table of options, got list$"):
        Recipe.options([1])
    with pytest.raises(ConfigError, match=r"^recipe: unknown option 'bogus'"):
        Recipe.from_dict({"bogus": 1})
    with pytest.raises(ConfigError, match=r"^TOML: unknown option 'bogus'"):
        Recipe.from_toml("bogus = 1")
    with pytest.raises(ConfigError, match=r"^TOML: unknown option 'bogus'"):
        Recipe.toml_options("[train]\nbogus = 1")
    with pytest.raises(ConfigError, match=r"^JSON: unknown option 'bogus'"):
        Recipe.from_json('{"bogus": 1}')
    r = Recipe(data="xor")
    assert r.to_json() == json.dumps(r.to_dict(), indent=1) and r.to_json().startswith('{\n "data": "xor",\n')
    for bad in ({"class_names": [3]}, {"schema": "2"}, {"features": [1]}):
        with pytest.raises(ModelFileError):
            check_metadata(bad)


def test_text_options_name_themselves():
    for key in ("activation", "hidden", "features", "init", "schedule", "target"):
        with pytest.raises(ConfigError) as info:
            Recipe(**{key: {"x": 1}})
        assert str(info.value) == f"option {key}: expected a string, got {{'x': 1}} (dict)", key


def test_a_choice_check_made_directly():
    from ffnn.recipe import _choice
    check = _choice("colour", lambda: ["red", "blue"])
    assert check("blue") == "blue"
    for bad in ("green", 3, None):
        with pytest.raises(ConfigError) as info:
            check(bad)
        assert str(info.value) == f"option colour: expected one of red, blue; got {bad!r}"


def test_toml_values():
    from ffnn.recipe import _toml_value
    assert [_toml_value(v) for v in (True, False, 3, 0.1, 1e-300, 'a "b"')] == [
        "true", "false", "3", "0.1", "1e-300", '"a \\"b\\""']
    assert [_toml_value(v) for v in (float("inf"), float("-inf"), float("nan"))] == ["inf", "-inf", "nan"]
    import tomllib
    assert tomllib.loads("x = " + _toml_value(float("-inf")))["x"] == float("-inf")


def test_the_memory_check_sees_the_network_dtype_and_batch(monkeypatch):
    from ffnn import builder
    seen = []
    monkeypatch.setattr(builder, "memory_estimate", lambda sizes, dtype, **kw: seen.append((sizes, dtype, kw)) or 123)
    monkeypatch.setattr(builder, "check_memory", lambda needed, what: seen.append((needed, what)))
    Recipe(data="three", hidden="5,4", batch_size=64, dropout=0.5).prepare(dataset("three"))
    assert seen[0] == ([3, 5, 4, 3], np.dtype("float32"), {"batch_size": 64, "optimizer_slots": 2, "dropout": True})
    assert seen[1] == (123, "the network 3-5-4-3 (float32, batch size 64)")
    seen.clear()
    Recipe(data="three", hidden="5", batch_size=8, dtype="float64").prepare(dataset("three"))
    assert seen[0] == ([3, 5, 3], np.dtype("float64"), {"batch_size": 40, "optimizer_slots": 2, "dropout": False})
    seen.clear()
    Recipe(data="big", hidden="0", batch_size=8).prepare(dataset("plane", n=5000))
    assert seen[0][2]["batch_size"] == 4096                     # at most an evaluation chunk


def test_the_network_takes_the_recipes_init_dtype_and_task_lr():
    run = Recipe(data="three", hidden="4", init="zeros").prepare(dataset("three"))
    assert run.model.dtype == np.float32 and not any(p.value.any() for p in run.model.parameters())
    assert Recipe(data="three", hidden="4").prepare(dataset("three")).model[0].weight.value.any()
    reg = Recipe(data="reg", hidden="3", loss="mse", optimizer="adam").prepare(dataset("reg"))
    assert reg.lr == pytest.approx(2e-4, rel=1e-12) and reg.optimizer.lr == reg.lr


@pytest.mark.parametrize("loss, kind", [("bce", "plane"), ("mse", "three"), ("mse", "reg")])
def test_targets_take_the_models_float32(loss, kind):
    ds = dataset(kind)
    run = Recipe(data=kind, hidden="3", loss=loss).prepare(ds)
    assert run.targets(ds.y_test).dtype == np.float32 and run.y_train.dtype == np.float32


def test_a_number_check_without_a_lower_bound_says_minus_infinity():
    from ffnn.recipe import _number
    assert _number("x", 1, high=1.0) == 1.0
    with pytest.raises(ConfigError) as info:
        _number("x", 5, high=1.0)
    assert str(info.value) == "option x: expected a number in [-inf, 1.0], got 5.0"


def test_the_schedule_is_checked_in_field_order():
    with pytest.raises(ConfigError, match="^unknown schedule 'bogus'"):
        Recipe(schedule="bogus", epochs=-1)                     # schedule comes before epochs
