"""The catalogue is the one table of names: every front end offers every entry of the kinds it takes.

Walks each table and checks the command line, the recipe, the playground's /api/options, the
estimators and the model format; then adds an optimizer in one place and sees it everywhere.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import ffnn
from ffnn import catalog, layers
from ffnn.catalog import Entry
from ffnn.cli import build_parser
from ffnn.errors import ConfigError
from ffnn.parameter import Parameter
from ffnn.recipe import Recipe

HAS_WEB = importlib.util.find_spec("starlette") is not None and importlib.util.find_spec("httpx") is not None


def parser_choices(option):
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    return next(a.choices for a in train._actions if option in a.option_strings)


def playground_options():
    from ffnn.playground.params import options
    return options()


EXAMPLE_SCHEDULE = {"step": "step:2:0.5", "inverse-time": "inverse-time:1:10", "exponential": "exponential:0.9",
                    "plateau": "plateau:0.5:1", "cosine": "cosine", "momentum": "momentum:0.5:0.9:2",
                    "warmup": "warmup:2"}


@pytest.mark.parametrize("name", catalog.ACTIVATIONS.names())
def test_every_activation_is_offered_everywhere(name, tmp_path):
    assert Recipe(activation=name).activation == name                   # ffnn train --activation / --config
    assert name in playground_options()["activations"]
    net = ffnn.mlp([3, 4, 2], name, seed=0)
    assert isinstance(net[1], catalog.ACTIVATIONS[name])
    ffnn.save(net, tmp_path / "m")                                      # the model format
    assert type(ffnn.load(tmp_path / "m")[1]) is type(net[1])
    from ffnn.estimators import MLPClassifier
    X = np.random.default_rng(0).normal(size=(20, 3))
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation=name, max_iter=2, random_state=0).fit(X, X[:, 0] > 0)
    assert isinstance(clf.model_[1], catalog.ACTIVATIONS[name])


@pytest.mark.parametrize("name", catalog.LOSSES.names())
def test_every_loss_is_offered_everywhere(name):
    assert name in parser_choices("--loss")
    assert name in playground_options()["losses"]
    run = Recipe(data="xor", hidden="4", loss=name, epochs=1).prepare()
    assert isinstance(run.loss, catalog.LOSSES[name])
    history = run.fit(run.trainer())
    assert ("accuracy" in history.keys()) == (run.loss.target_kind != "values")


@pytest.mark.parametrize("name", catalog.OPTIMIZERS.names())
def test_every_optimizer_is_offered_everywhere(name):
    entry = catalog.OPTIMIZERS.entry(name)
    assert name in parser_choices("--optimizer")
    assert name in playground_options()["optimizers"]
    assert entry.default_lr is not None and entry.default_lr > 0
    opt = catalog.optimizer(name, [Parameter(np.ones(3))])
    assert isinstance(opt, entry.value) and opt.lr == entry.default_lr
    assert Recipe(optimizer=name).learning_rate("classification") == entry.default_lr
    from ffnn.estimators import MLPClassifier
    X = np.random.default_rng(0).normal(size=(20, 3))
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver=name, max_iter=2, random_state=0).fit(X, X[:, 0] > 0)
    assert clf.n_iter_ == 2


@pytest.mark.parametrize("kind", catalog.SCHEDULES.names())
def test_every_schedule_is_offered_by_the_command_line(kind):
    spec = EXAMPLE_SCHEDULE[kind]
    recipe = Recipe(optimizer="momentum", schedule=spec, epochs=4)
    run = recipe.replace(data="xor", hidden="3").prepare()
    assert [type(s) for s in run.schedules] == [catalog.SCHEDULES[kind].cls]
    help_text = next(a.help for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions  # type: ignore
                     if "--schedule" in a.option_strings)
    assert kind in help_text


@pytest.mark.parametrize("name", sorted(catalog.INITIALIZERS))
def test_every_initializer_is_offered_everywhere(name):
    assert Recipe(init=name).init == name
    layer = layers.Linear(5, 4, init=name, rng=0)
    assert layer.weight.value.shape == (4, 5)


@pytest.mark.parametrize("name", catalog.LAYERS.names())
def test_every_layer_type_saves_and_loads(name, tmp_path):
    cls = catalog.LAYERS[name]
    layer = cls(3, 3) if name == "Linear" else cls(3) if name in ("BatchNorm", "LayerNorm") else cls()
    net = ffnn.Sequential([layers.Linear(3, 3, rng=0), layer] if name != "Linear" else [layer])
    ffnn.save(net, tmp_path / "m")
    assert type(ffnn.load(tmp_path / "m")[-1]) is cls


def test_unknown_names_list_the_choices():
    with pytest.raises(ConfigError, match="adamw"):
        catalog.optimizer("adamx", [Parameter(np.ones(1))])
    with pytest.raises(ConfigError, match="relu"):
        Recipe(activation="swish")
    with pytest.raises(ConfigError, match="cosine"):
        Recipe(schedule="cyclic:3")


def test_adding_an_optimizer_is_one_entry(monkeypatch):
    table = catalog.Table("optimizer", catalog.OPTIMIZERS.entries())
    monkeypatch.setattr(catalog, "OPTIMIZERS", table)

    def build(params, lr, momentum, weight_decay):
        return ffnn.optim.SGD(params, lr, momentum=0.5, weight_decay=weight_decay)

    table.add(Entry("heavy-ball", ffnn.optim.SGD, "SGD with momentum 0.5", build=build,
                    extra={"default_lr": 0.02, "label": "Heavy ball"}))
    assert "heavy-ball" in parser_choices("--optimizer")
    opts = playground_options()
    assert "heavy-ball" in opts["optimizers"] and opts["labels"]["optimizers"]["heavy-ball"] == "Heavy ball"
    run = Recipe(data="xor", hidden="3", optimizer="heavy-ball", epochs=1).prepare()
    assert run.optimizer.momentum == 0.5 and run.lr == 0.02
    from ffnn.estimators import MLPClassifier
    X = np.random.default_rng(0).normal(size=(20, 3))
    assert MLPClassifier(hidden_layer_sizes=(3,), solver="heavy-ball", max_iter=1).fit(X, X[:, 0] > 0).n_iter_ == 1


@pytest.mark.skipif(not HAS_WEB, reason="the web extra is not installed")
def test_the_playground_page_builds_its_selects_from_the_options():
    from ffnn.playground import server
    page = (server.__file__.rsplit("/", 1)[0] + "/static/index.html")
    html = open(page, encoding="utf-8").read()
    assert "<option" not in html            # no hard-coded choices: app.js fills them from /api/options
