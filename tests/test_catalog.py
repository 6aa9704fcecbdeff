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


# ----------------------------------------------------------------------------- what front ends are shown
#: ``catalog.options()``, the playground's /api/options: the names in catalogue order, each one's
#: help text, and the facts front ends read (default learning rate, momentum, label, default init).
OPTIONS = (
    {'activations': [{'name': 'relu', 'help': 'max(0, x)', 'init': 'he'},
                     {'name': 'tanh', 'help': 'tanh(x)'},
                     {'name': 'sigmoid', 'help': '1 / (1 + exp(-x))'},
                     {'name': 'leaky_relu', 'help': 'x if x > 0 else 0.01 x', 'init': 'he'},
                     {'name': 'prelu', 'help': 'x if x > 0 else a x, a learned (starts at 0.25)', 'init': 'he'},
                     {'name': 'rrelu', 'help': 'x if x >= 0 else a x, a ~ U(1/8, 1/3) in training', 'init': 'he'},
                     {'name': 'elu', 'help': 'x if x > 0 else exp(x) - 1', 'init': 'he'},
                     {'name': 'softplus', 'help': 'log(1 + exp(x))'},
                     {'name': 'softsign', 'help': 'x / (1 + |x|)'},
                     {'name': 'identity', 'help': 'x (a linear unit)'}],
     'optimizers': [{'name': 'sgd', 'help': 'plain gradient descent: w -= lr g', 'default_lr': 0.1, 'label': 'SGD'},
                    {'name': 'momentum',
                     'help': 'SGD with momentum: v = m v - lr g; w += v',
                     'default_lr': 0.05,
                     'momentum': True,
                     'label': 'Momentum'},
                    {'name': 'nesterov',
                     'help': 'SGD with Nesterov momentum',
                     'default_lr': 0.05,
                     'momentum': True,
                     'label': 'Nesterov'},
                    {'name': 'adam',
                     'help': 'Adam (Kingma & Ba), as torch.optim.Adam',
                     'default_lr': 0.001,
                     'label': 'Adam'},
                    {'name': 'adamw',
                     'help': 'Adam with decoupled weight decay, as torch.optim.AdamW',
                     'default_lr': 0.001,
                     'label': 'AdamW'},
                    {'name': 'rmsprop',
                     'help': 'RMSprop, as torch.optim.RMSprop',
                     'default_lr': 0.001,
                     'label': 'RMSprop'},
                    {'name': 'adagrad',
                     'help': 'Adagrad, as torch.optim.Adagrad',
                     'default_lr': 0.05,
                     'label': 'Adagrad'},
                    {'name': 'adadelta',
                     'help': 'Adadelta (Zeiler), as torch.optim.Adadelta',
                     'default_lr': 1.0,
                     'label': 'Adadelta'}],
     'schedules': [{'name': 'step', 'help': 'lr times GAMMA (0.5) every STEP_SIZE epochs'},
                   {'name': 'inverse-time', 'help': 'lr = A / (B + epoch)'},
                   {'name': 'exponential', 'help': 'lr times GAMMA every epoch'},
                   {'name': 'plateau',
                    'help': 'lr times FACTOR (0.5) when the held-out loss stops improving for PATIENCE (0) epochs'},
                   {'name': 'cosine', 'help': 'cosine annealing from lr to 0 over all the epochs'},
                   {'name': 'momentum', 'help': 'momentum START until epoch AFTER, then END'},
                   {'name': 'warmup',
                    'help': 'lr rising linearly over the first EPOCHS epochs (from lr/(EPOCHS+1), or '
                            'lr*START_FACTOR), then the other lr schedule (e.g. warmup:2+cosine)'}],
     'initializers': [{'name': 'gaussian', 'help': 'N(0, 0.01^2); gaussian:STD for another std'},
                      {'name': 'xavier', 'help': 'U(-a, a), a = sqrt(6 / (fan_in + fan_out))'},
                      {'name': 'xavier_normal', 'help': 'N(0, 2 / (fan_in + fan_out))'},
                      {'name': 'he', 'help': 'N(0, 2 / fan_in) (MSRA)'},
                      {'name': 'he_uniform', 'help': 'U(-a, a), a = sqrt(6 / fan_in)'},
                      {'name': 'zeros', 'help': 'all zeros'}],
     'losses': [{'name': 'ce',
                 'help': 'softmax cross-entropy on the logits (class labels)',
                 'label': 'Softmax + cross-entropy',
                 'targets': 'classes'},
                {'name': 'mse',
                 'help': 'sum of squares 1/2 ||y - t||^2 (regression, or one-hot classes)',
                 'label': 'Squared error',
                 'targets': 'values'},
                {'name': 'bce',
                 'help': 'binary cross-entropy on logits (one output per binary label)',
                 'label': 'Sigmoid + binary cross-entropy',
                 'targets': 'binary'},
                {'name': 'robust-bce',
                 'help': 'binary cross-entropy for labels flipped with probability 0.1 (label noise)',
                 'label': 'Robust binary cross-entropy (10% flips)',
                 'targets': 'binary'}]}
)


def test_options_are_every_tables_names_help_and_facts():
    assert catalog.options() == OPTIONS
    assert [row["name"] for row in OPTIONS["losses"]] == list(catalog.LOSSES.names())


def test_the_help_texts_state_the_real_defaults():
    assert layers.LeakyReLU().config()["negative_slope"] == 0.01                 # "0.01 x"
    assert float(layers.PReLU().slope.value[0]) == 0.25                          # "starts at 0.25"
    assert (layers.RReLU().config()["lower"], layers.RReLU().config()["upper"]) == (1 / 8, 1 / 3)
    assert catalog.LOSSES["robust-bce"]().config()["epsilon"] == 0.1             # "probability 0.1"


# ----------------------------------------------------------------------------- the Table itself
def test_a_table_maps_names_and_aliases_to_values():
    table = catalog.ACTIVATIONS
    assert table["logistic"] is table["sigmoid"] is layers.Sigmoid and table["linear"] is layers.Identity
    assert table.entry("logistic").name == "sigmoid"
    assert len(table) == 12 and list(table)[:4] == ["relu", "tanh", "sigmoid", "logistic"]
    assert len(table.names()) == len(table.entries()) == 10 and "logistic" not in table.names()
    assert repr(table) == ("Table('activation', ['relu', 'tanh', 'sigmoid', 'leaky_relu', 'prelu', 'rrelu', 'elu', "
                           "'softplus', 'softsign', 'identity'])")
    with pytest.raises(KeyError):
        table["swish"]
    assert "swish" not in table and "logistic" in table


def test_unknown_names_are_refused_with_every_choice():
    with pytest.raises(ConfigError) as info:
        catalog.OPTIMIZERS.entry("adamx")
    assert str(info.value) == ("unknown optimizer 'adamx'; expected one of sgd, momentum, nesterov, adam, adamw, "
                               "rmsprop, adagrad, adadelta")
    with pytest.raises(ConfigError, match="unknown activation 3; expected one of relu, tanh"):
        catalog.activation(3)                                        # not a string: no lookup at all
    with pytest.raises(ConfigError, match="unknown loss 'hinge'; expected one of ce, mse, bce, robust-bce"):
        catalog.loss("hinge")


def test_adding_a_taken_name_needs_replace():
    table = catalog.Table("thing", [Entry("a", 1, aliases=("b",))])
    with pytest.raises(ConfigError, match="thing name 'a' is already taken by 1"):
        table.add(Entry("a", 2))
    with pytest.raises(ConfigError, match="thing name 'b' is already taken by 1"):
        table.add(Entry("c", 2, aliases=("b",)))
    assert table.names() == ("a",)                                   # nothing half-added
    table.add(Entry("b", 1))                                         # the same value under its own alias
    assert table.entry("b").name == "b"
    again = table.add(Entry("a", 3), replace=True)
    assert table["a"] == 3 and table.entry("a") is again


def test_default_lr_is_a_float_or_none():
    assert catalog.ACTIVATIONS.entry("relu").default_lr is None
    assert catalog.OPTIMIZERS.entry("adadelta").default_lr == 1.0
    assert type(Entry("x", 1, extra={"default_lr": 1}).default_lr) is float
    assert Entry("x", 1).extra == {} and Entry("x", 1).help == "" and Entry("x", 1).aliases == ()


def test_register_layer_and_loss_check_what_they_add(monkeypatch):
    monkeypatch.setattr(catalog, "LAYERS", catalog.Table("layer type", catalog.LAYERS.entries()))
    monkeypatch.setattr(catalog, "LOSS_CLASSES", catalog.Table("loss class", catalog.LOSS_CLASSES.entries()))

    class Cube(layers.Identity):
        """Cube: y = x^3.

        More text."""

    assert catalog.register_layer(Cube) is Cube and catalog.LAYERS.entry("Cube").help == "Cube: y = x^3."
    assert catalog.register_layer(Cube, "Cubic") is Cube and catalog.LAYERS["Cubic"] is Cube
    with pytest.raises(ConfigError, match="register_layer expects a subclass of ffnn.layers.Layer, got <class 'int'>"):
        catalog.register_layer(int)
    with pytest.raises(ConfigError, match="register_layer expects a subclass"):
        catalog.register_layer(layers.Identity())                    # an instance, not a class
    with pytest.raises(ConfigError, match="already taken"):
        catalog.register_layer(type("Cube", (layers.Identity,), {}))
    other = type("Cube", (layers.Identity,), {})
    assert catalog.register_layer(other, replace=True) is other and catalog.LAYERS["Cube"] is other

    class Hinge(ffnn.losses.EuclideanLoss):
        pass

    assert catalog.register_loss(Hinge) is Hinge and catalog.LOSS_CLASSES["Hinge"] is Hinge
    assert catalog.register_loss(Hinge, "H") is Hinge and catalog.LOSS_CLASSES["H"] is Hinge
    with pytest.raises(ConfigError, match="register_loss expects a subclass of ffnn.losses.Loss, got <class 'int'>"):
        catalog.register_loss(int)
    with pytest.raises(ConfigError, match="already taken"):
        catalog.register_loss(type("Hinge", (ffnn.losses.EuclideanLoss,), {}))
    other_loss = type("Hinge", (ffnn.losses.EuclideanLoss,), {})
    assert catalog.register_loss(other_loss, replace=True) is other_loss


# ----------------------------------------------------------------------------- builders
def test_activations_are_built_new_with_their_rng_and_dtype():
    a, b = catalog.activation("relu"), catalog.activation("relu")
    assert type(a) is layers.ReLU and a is not b
    assert catalog.activation("prelu", dtype=np.float64).slope.value.dtype == np.float64
    assert catalog.activation("prelu").slope.value.dtype == np.float32
    x = -np.ones((2, 50))
    one, same = catalog.activation("rrelu", rng=4), catalog.activation("rrelu", rng=4)
    np.testing.assert_array_equal(one.forward(x), same.forward(x))
    assert not np.array_equal(one.forward(x), catalog.activation("rrelu", rng=5).forward(x))
    assert catalog.ACTIVATIONS.entry("relu").extra == {"init": "he"} and catalog.ACTIVATIONS.entry("tanh").extra == {}


def test_losses_are_built_new():
    a, b = catalog.loss("ce"), catalog.loss("cross-entropy")
    assert type(a) is type(b) is ffnn.losses.SoftmaxCrossEntropy and a is not b
    assert type(catalog.loss("binary-cross-entropy")) is ffnn.losses.BinaryCrossEntropy
    assert type(catalog.loss("sum-of-squares")) is ffnn.losses.EuclideanLoss


@pytest.mark.parametrize("name, cls, momentum, nesterov", [
    ("sgd", ffnn.optim.SGD, 0.0, False), ("momentum", ffnn.optim.SGD, 0.7, False),
    ("nesterov", ffnn.optim.SGD, 0.7, True), ("adam", ffnn.optim.Adam, None, None),
    ("adamw", ffnn.optim.AdamW, None, None), ("rmsprop", ffnn.optim.RMSprop, None, None),
    ("adagrad", ffnn.optim.Adagrad, None, None), ("adadelta", ffnn.optim.Adadelta, None, None)])
def test_optimizers_get_lr_momentum_and_weight_decay(name, cls, momentum, nesterov):
    p = Parameter(np.ones(2))
    opt = catalog.optimizer(name, [p], lr=0.3, momentum=0.7, weight_decay=0.01)
    assert type(opt) is cls and opt.lr == 0.3 and opt.weight_decay == 0.01 and opt.params == [p]
    if momentum is not None:
        assert opt.momentum == momentum and opt.nesterov is nesterov
    assert catalog.optimizer(name, [p]).lr == catalog.OPTIMIZERS.entry(name).default_lr
    assert catalog.optimizer(name, [p]).weight_decay == 0.0


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_momentum_optimizers_need_a_positive_momentum(name):
    with pytest.raises(ConfigError, match=f"optimizer '{name}' needs momentum > 0, got 0"):
        catalog.optimizer(name, [Parameter(np.ones(1))], momentum=0.0)
    with pytest.raises(ConfigError, match="got -0.5"):
        catalog.optimizer(name, [Parameter(np.ones(1))], momentum=-0.5)
    assert catalog.optimizer(name, [Parameter(np.ones(1))]).momentum == 0.9      # the default


# ----------------------------------------------------------------------------- schedules
def test_schedule_usage_lines():
    assert [e.value.usage(e.name) for e in catalog.SCHEDULES.entries()] == [
        "step:STEP_SIZE:[GAMMA]", "inverse-time:A:B", "exponential:GAMMA", "plateau:[FACTOR:[PATIENCE]]",
        "cosine", "momentum:START:END:AFTER", "warmup:EPOCHS:[START_FACTOR]"]


def test_parse_schedule_converts_and_checks_each_argument():
    assert catalog.parse_schedule(None) == [] and catalog.parse_schedule("  ") == []
    assert catalog.parse_schedule(" step:3 + cosine ") == [("step", {"step_size": 3}), ("cosine", {})]
    assert catalog.parse_schedule("plateau") == [("plateau", {})]
    parsed = catalog.parse_schedule("plateau:0.25:4+inverse-time:1:10")
    assert parsed == [("plateau", {"factor": 0.25, "patience": 4}), ("inverse-time", {"a": 1.0, "b": 10.0})]
    assert type(parsed[0][1]["patience"]) is int and type(parsed[1][1]["a"]) is float
    bad = {
        5: "schedule must be a string such as 'step:5:0.5', got 5",
        "step": r"schedule 'step': expected step:STEP_SIZE:\[GAMMA\]",
        "step:1:0.5:9": r"schedule 'step:1:0.5:9': expected step:STEP_SIZE:\[GAMMA\]",
        "step:1.5": "schedule 'step:1.5': STEP_SIZE must be an integer, got '1.5'",
        "exponential:a": "schedule 'exponential:a': GAMMA must be a number, got 'a'",
        "zzz": r"unknown schedule 'zzz'; expected step:STEP_SIZE:\[GAMMA\], inverse-time:A:B, exponential:GAMMA, "
               r"plateau:\[FACTOR:\[PATIENCE\]\], cosine, momentum:START:END:AFTER, warmup:EPOCHS:\[START_FACTOR\] "
               r"\(join several with \+\)",
    }
    for spec, message in bad.items():
        with pytest.raises(ConfigError, match="^" + message):
            catalog.parse_schedule(spec)


def sgd(momentum=0.9):
    return ffnn.optim.SGD([Parameter(np.zeros(1))], 0.1, momentum=momentum)


def test_cosine_anneals_over_the_epochs_after_the_warmup():
    assert catalog.schedules("cosine", sgd(), 10)[0].t_max == 10
    assert catalog.schedules("cosine", sgd(), 0)[0].t_max == 1                 # at least one epoch
    (warm,) = catalog.schedules("warmup:2+cosine", sgd(), 10)
    assert type(warm) is ffnn.schedules.LinearWarmup and warm.epochs == 2 and warm.then.t_max == 8
    (warm,) = catalog.schedules("warmup:3+cosine", sgd(), 2)
    assert warm.then.t_max == 1
    assert catalog.schedules(None, sgd(), 10) == []


def test_warmup_wraps_the_one_lr_schedule_in_place():
    made = catalog.schedules("momentum:0.5:0.9:3+warmup:2:0.25+step:2", sgd(), 10)
    assert [type(s).__name__ for s in made] == ["MomentumSchedule", "LinearWarmup"]
    assert made[1].start_factor == 0.25 and type(made[1].then) is ffnn.schedules.StepLR
    alone = catalog.schedules("warmup:2+momentum:0.5:0.9:3", sgd(), 10)
    assert [type(s).__name__ for s in alone] == ["LinearWarmup", "MomentumSchedule"] and alone[0].then is None
    with pytest.raises(ConfigError, match=r"schedule 'warmup:2\+warmup:3': give at most one warmup"):
        catalog.schedules("warmup:2+warmup:3", sgd(), 10)
    with pytest.raises(ConfigError, match=r"warmup composes with one learning-rate schedule, got 2"):
        catalog.schedules("warmup:2+step:2+exponential:0.9", sgd(), 10)
    two = catalog.schedules("step:2+exponential:0.9", sgd(), 10)              # without warmup: both kept
    assert [type(s).__name__ for s in two] == ["StepLR", "ExponentialLR"]


# ----------------------------------------------------------------------------- initializers
def test_initializers_by_name_std_or_callable():
    def mine(shape, rng, dtype):
        return np.zeros(shape, dtype)

    assert catalog.initializer(mine) is mine
    assert catalog.initializer("msra") is catalog.INITIALIZERS["he"]
    rng = np.random.default_rng(0)
    for spec in ("gaussian:0.5", "gaussian(std=0.5)", "gaussian:5e-1"):
        w = catalog.initializer(spec)((400, 50), np.random.default_rng(0), np.float64)
        assert w.std() == pytest.approx(0.5, rel=0.02), spec
    assert catalog.initializer("gaussian")((400, 50), rng, np.float64).std() == pytest.approx(0.01, rel=0.02)
    for bad in ("gaussian:", "gaussian:1e", "gaussian:0.5)", "gaussian(std=0.5", "Gaussian:1", "nope", 3):
        with pytest.raises(ConfigError) as info:
            catalog.initializer(bad)
        assert str(info.value) == ("init must be one of 'gaussian', 'xavier', 'xavier_uniform', 'xavier_normal', "
                                   "'he', 'he_normal', 'msra', 'he_uniform', 'zeros', 'gaussian:STD' or a callable "
                                   f"f(shape, rng, dtype); got {bad!r}")


# The tables are built at import, so their builders are also called directly here: a test that only
# goes through the table would run the builders made before any change to them.
@pytest.mark.parametrize("nesterov", [False, True])
def test_the_momentum_builder(nesterov):
    p = Parameter(np.ones(2))
    opt = catalog._momentum(nesterov)([p], 0.3, 0.7, 0.01)
    assert type(opt) is ffnn.optim.SGD and opt.params == [p]
    assert (opt.lr, opt.momentum, opt.nesterov, opt.weight_decay) == (0.3, 0.7, nesterov, 0.01)
    assert catalog._momentum(nesterov)([p], 0.3, 1e-9, 0.0).momentum == 1e-9        # any momentum > 0
    name = "nesterov" if nesterov else "momentum"
    for bad in (0.0, -0.5):
        with pytest.raises(ConfigError) as info:
            catalog._momentum(nesterov)([p], 0.3, bad, 0.0)
        assert str(info.value) == f"optimizer '{name}' needs momentum > 0, got {bad:g}"


@pytest.mark.parametrize("cls", [ffnn.optim.Adam, ffnn.optim.AdamW, ffnn.optim.RMSprop, ffnn.optim.Adagrad,
                                 ffnn.optim.Adadelta])
def test_the_plain_builder(cls):
    p = Parameter(np.ones(2))
    opt = catalog._plain(cls)([p], 0.3, 0.7, 0.01)
    assert type(opt) is cls and opt.params == [p] and opt.lr == 0.3 and opt.weight_decay == 0.01
    sgd = catalog._sgd([p], 0.3, 0.7, 0.01)
    assert (sgd.lr, sgd.momentum, sgd.weight_decay, sgd.params) == (0.3, 0.0, 0.01, [p])


def test_lookups_by_a_non_string_and_a_missing_key():
    with pytest.raises(ConfigError, match=r"^unknown optimizer \['adam'\]; expected one of sgd"):
        catalog.OPTIMIZERS.entry(["adam"])                           # unhashable: no lookup at all
    with pytest.raises(KeyError) as info:
        catalog.OPTIMIZERS["adamx"]
    assert info.value.args == ("adamx",)


def test_a_layer_without_a_docstring_gets_an_empty_help(monkeypatch):
    monkeypatch.setattr(catalog, "LAYERS", catalog.Table("layer type", catalog.LAYERS.entries()))
    bare = type("Bare", (layers.Identity,), {"__doc__": None})
    catalog.register_layer(bare)
    assert catalog.LAYERS.entry("Bare").help == ""
