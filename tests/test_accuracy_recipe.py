"""The accuracy options as recipe fields (norm, label_smoothing, clip_grad_norm, shift): TOML,
JSON and command-line round trips, ``--optimizer adamw``, and the shipped Fashion-MNIST
recipe in configs/ (built here, not trained: bench/accuracy.py and the README measure it)."""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffnn import layers, optim
from ffnn.cli import TrainConfig, _load_config, build_parser
from ffnn.recipe import Recipe

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

accuracy_recipes = st.builds(
    Recipe,
    data=st.sampled_from(["mnist-5k", "fashion-mnist"]),
    hidden=st.sampled_from(["8", "100,50"]),
    norm=st.none() | st.sampled_from(["batch", "layer"]),
    label_smoothing=st.floats(0, 1),
    clip_grad_norm=st.none() | st.floats(1e-3, 100),
    shift=st.integers(0, 5),
    optimizer=st.sampled_from(["adamw", "adam", "momentum"]),
    schedule=st.none() | st.sampled_from(["warmup:2+cosine", "warmup:1:0.5", "warmup:3+step:2:0.5"]),
    epochs=st.integers(1, 100),
)


@settings(max_examples=40, deadline=None)
@given(accuracy_recipes)
def test_the_new_options_round_trip_through_toml_json_and_the_command_line(recipe):
    assert Recipe.from_toml(recipe.to_toml()) == recipe
    assert Recipe.from_json(recipe.to_json()) == recipe
    args = build_parser().parse_args(shlex.split(recipe.to_command())[1:])
    given_options = {f.name: getattr(args, f.name) for f in fields(Recipe) if getattr(args, f.name, None) is not None}
    assert Recipe(**given_options) == recipe


def test_adamw_is_selectable_from_the_command_line():
    args = build_parser().parse_args(["train", "--data", "xor", "--hidden", "4", "--optimizer", "adamw",
                                      "--weight-decay", "0.05", "--lr", "0.002"])
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}
    run = TrainConfig(**given).recipe().prepare()
    assert type(run.optimizer) is optim.AdamW
    assert (run.optimizer.lr, run.optimizer.weight_decay) == (0.002, 0.05)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_the_shipped_configs_are_valid_recipes(path):
    config = TrainConfig(**_load_config(str(path)))
    assert config.data and config.epochs > 0


def test_the_fashion_mnist_recipe_builds_its_network_and_training():
    recipe = TrainConfig(**_load_config(str(CONFIGS / "fashion-mnist.toml"))).recipe()
    assert (recipe.data, recipe.norm, recipe.optimizer) == ("fashion-mnist", "batch", "adamw")
    assert recipe.label_smoothing == 0.1
    small = recipe.replace(data="mnist-5k", epochs=2)          # the same recipe on the shipped digits
    run = small.prepare()
    kinds = [type(layer).__name__ for layer in run.model]
    assert kinds == ["Linear", "BatchNorm", "ReLU", "Dropout", "Linear", "BatchNorm", "ReLU", "Dropout", "Linear"]
    assert isinstance(run.model[1], layers.BatchNorm) and run.loss.label_smoothing == recipe.label_smoothing
    assert type(run.optimizer) is optim.AdamW and type(run.schedules[0]).__name__ == "LinearWarmup"
    assert run.augment is None and run.trainer().augment is None           # no shifts: see configs/
