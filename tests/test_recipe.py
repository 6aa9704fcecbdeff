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
