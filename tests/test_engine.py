"""Tests of the engine (ffnn.Trainer) and of the protocols it relies on.

A layer and a loss written here, the way a user writes them, must get what built-ins get:
label checks, accuracy, the skipped input gradient, save/load. The Trainer's own API (step,
run_epoch with a deadline, state_dict) is checked against runs that were not split up: the
same seed gives the same weights bit for bit however the run is cut into calls.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import ffnn
from ffnn import catalog, layers, losses, optim, schedules
from ffnn.builder import mlp
from ffnn.errors import ConfigError, LabelError, ModelFileError, TrainingDivergedError
from ffnn.parameter import Parameter


def blobs(n=60, d=4, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.normal(scale=3.0, size=(k, d))[y] + rng.normal(size=(n, d))
    return X.astype(dtype), y


def weights(model):
    return [p.value.copy() for p in model.parameters()]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------
# a user's own layer and loss
# ---------------------------------------------------------------------------

class Scale(layers.Layer):
    """``y = x * s`` with one learnable scale per feature; dy/dx = s, dE/ds = sum_n g x."""

    def __init__(self, features: int, dtype="float64"):
        super().__init__()
        self.features, self.dtype = features, np.dtype(dtype)
        self.in_features = features
        self.scale = Parameter(np.ones(features, self.dtype), name="scale", decay=False)
        self.input_grad_calls: list[bool] = []

    def forward(self, x):
        self._x = x
        return x * self.scale.value

    def backward(self, grad_out, input_grad=True):
        self.input_grad_calls.append(input_grad)
        np.sum(grad_out * self._x, axis=0, out=self.scale.grad)
        return grad_out * self.scale.value if input_grad else None

    def parameters(self):
        return [self.scale]

    def config(self):
        return {"features": self.features, "dtype": self.dtype.name}


class OldStyleLayer(layers.Layer):
    """A layer written before ``input_grad`` was part of the protocol."""

    def forward(self, x):
        return x + 0.0

    def backward(self, grad_out):
        return grad_out


class MulticlassHinge(losses.Loss):
    """Crammer-Singer hinge: ``E^(n) = max(0, 1 + max_{k != t} z_k - z_t)``; takes class labels."""

    target_kind = "classes"

    def forward(self, output, target):
        z = self._check_output(output)
        n = len(z)
        rows = np.arange(n)
        others = z.copy()
        others[rows, target] = -np.inf
        j = others.argmax(axis=1)
        margin = 1.0 + z[rows, j] - z[rows, target]
        active = margin > 0
        grad = np.zeros_like(z)
        grad[rows[active], j[active]] += 1.0
        grad[rows[active], target[active]] -= 1.0
        scale = self._scale(n)
        self._grad = grad * scale
        return float(np.sum(np.maximum(margin, 0.0)) * scale)


def scale_net(seed=0):
    return ffnn.Sequential([Scale(4), layers.Linear(4, 6, rng=seed, dtype=np.float64), layers.Tanh(),
                            layers.Linear(6, 3, rng=seed + 1, dtype=np.float64)])


def test_a_users_loss_gets_label_checks_like_a_builtin():
    X, y = blobs(n=12)
    model = scale_net()
    opt = optim.SGD(model.parameters(), 0.1)
    with pytest.raises(LabelError, match="7"):
        ffnn.fit(model, MulticlassHinge(), opt, X, np.r_[y[:-1], 7], epochs=1, progress=False)
    with pytest.raises(LabelError, match="<U1"):
        ffnn.fit(model, MulticlassHinge(), opt, X, np.array(["a"] * 12), epochs=1, progress=False)


def test_a_users_loss_gets_accuracy_like_a_builtin():
    X, y = blobs(n=60)
    model = scale_net()
    history = ffnn.fit(model, MulticlassHinge(), optim.SGD(model.parameters(), 0.05, momentum=0.9), X, y,
                       epochs=8, batch_size=10, validation=(X, y), seed=0, progress=False)
    assert "accuracy" in history.keys() and "val_accuracy" in history.keys()
    direct = float(np.mean(model.predict(X).argmax(axis=1) == y))
    assert history["val_accuracy"][-1] == pytest.approx(direct)
    assert history["accuracy"][-1] > 0.8                    # it learns


def test_a_users_first_layer_skips_the_input_gradient():
    X, y = blobs(n=12)
    model = scale_net()
    ffnn.fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y, epochs=2,
             batch_size=4, progress=False)
    assert model[0].input_grad_calls == [False] * 6          # the engine never asks it for dE/dx
    model[0].input_grad_calls.clear()
    model.forward(X)
    dx = model.backward(np.ones((12, 3)))
    assert dx.shape == X.shape and model[0].input_grad_calls == [True]


def test_a_layer_without_input_grad_still_trains_first():
    X, y = blobs(n=12)
    model = ffnn.Sequential([OldStyleLayer(), *mlp([4, 5, 3], "tanh", seed=0, dtype=np.float64).layers])
    history = ffnn.fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                       epochs=2, batch_size=4, progress=False)
    model.forward(X)
    assert len(history) == 2 and model.backward(np.ones((12, 3)), input_grad=False) is None


def test_sizes_come_from_the_layers_in_features(tmp_path):
    model = scale_net()
    assert model.in_features == 4 and model.out_features == 3
    assert ffnn.Sequential([layers.Tanh()]).in_features is None


def test_a_users_layer_saves_and_loads_like_a_builtin(tmp_path, monkeypatch):
    model = scale_net()
    model[0].scale.value[...] = [0.5, 1.5, -2.0, 3.0]
    path = tmp_path / "net.ffnn"
    ffnn.save(model, path)
    with pytest.raises(ModelFileError, match="register_layer"):
        ffnn.load(path)                                   # not registered: refused, by name
    monkeypatch.setattr(catalog, "LAYERS", catalog.Table("layer type", catalog.LAYERS.entries()))
    catalog.register_layer(Scale)
    loaded = ffnn.load(path)
    assert isinstance(loaded[0], Scale)
    assert same(weights(loaded), weights(model))
    X, _ = blobs(n=5)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_register_layer_refuses_a_taken_name_and_non_layers(monkeypatch):
    monkeypatch.setattr(catalog, "LAYERS", catalog.Table("layer type", catalog.LAYERS.entries()))

    class Linear(layers.Layer):                # same name as the built-in
        def forward(self, x):
            return x

        def backward(self, grad_out, input_grad=True):
            return grad_out

    with pytest.raises(ConfigError, match="already taken"):
        catalog.register_layer(Linear)
    with pytest.raises(ConfigError, match="Layer"):
        catalog.register_layer(int)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# the Trainer's API
# ---------------------------------------------------------------------------

def trainer_for(seed=0, **kwargs):
    model = mlp([4, 8, 3], "relu", dropout=0.2, seed=seed, dtype=np.float64)
    opt = optim.SGD(model.parameters(), 0.05, momentum=0.9)
    kwargs.setdefault("batch_size", 7)
    return ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), opt, seed=seed, **kwargs)


def test_step_is_one_forward_backward_update():
    X, y = blobs(n=10)
    trainer = trainer_for()
    reference = mlp([4, 8, 3], "relu", dropout=0.2, seed=0, dtype=np.float64)
    value = trainer.step(X, y)
    loss = losses.SoftmaxCrossEntropy()
    expected = loss.forward(reference.forward(X), y)
    reference.backward(loss.backward())
    for p in reference.parameters():
        p.value -= 0.05 * p.grad                               # first momentum step: v = -lr g
    assert value == pytest.approx(expected)
    for p, q in zip(trainer.model.parameters(), reference.parameters(), strict=True):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12, atol=1e-15)


def test_run_epoch_cut_by_deadlines_equals_an_uncut_epoch():
    X, y = blobs(n=60)
    whole, cut = trainer_for(), trainer_for()
    records = [whole.run_epoch(X, y) for _ in range(3)]
    cut_records = []
    calls = 0
    while len(cut_records) < 3:
        calls += 1
        record = cut.run_epoch(X, y, deadline=0.0)              # pause after every batch
        if record is not None:
            cut_records.append(record)
    assert calls == 3 * whole.batches_per_epoch
    assert same(weights(cut.model), weights(whole.model))
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(cut_records) == strip(records)


def test_fit_trains_until_the_total_number_of_epochs():
    X, y = blobs(n=30)
    trainer = trainer_for()
    trainer.fit(X, y, epochs=2)
    assert trainer.epoch == 2 and len(trainer.history) == 2
    trainer.fit(X, y, epochs=5)
    assert trainer.epoch == 5 and [r["epoch"] for r in trainer.history.records] == [1, 2, 3, 4, 5]
    one_go = trainer_for()
    one_go.fit(X, y, epochs=5)
    assert same(weights(one_go.model), weights(trainer.model))


def test_state_dict_mid_epoch_continues_bit_for_bit():
    X, y = blobs(n=60)
    reference = trainer_for(schedules=None, early_stopping=3)
    reference.fit(X, y, epochs=4, validation=0.2)
    first = trainer_for(early_stopping=3)
    first.fit(X, y, epochs=1, validation=0.2)
    first.run_epoch(X, y, validation=0.2, deadline=0.0)         # one batch into epoch 2
    state = first.state_dict()
    assert state["position"]["epoch"] == 1 and state["position"]["batch"] == 1
    second = trainer_for(seed=123, early_stopping=3)            # other seed: everything comes from the state
    set_state_with_same_split(second, X, y, state)
    second.fit(X, y, epochs=4, validation=0.2)
    assert same(weights(second.model), weights(reference.model))


def set_state_with_same_split(trainer, X, y, state):
    from ffnn._validation import set_generator_state
    set_generator_state(trainer.rng, state["rng_start"])
    trainer._bind(X, y, 0.2)
    trainer.load_state_dict(state)


def test_load_state_dict_checks_everything_first():
    X, y = blobs(n=30)
    trainer = trainer_for()
    trainer.fit(X, y, epochs=1)
    state = trainer.state_dict()
    other = trainer_for(seed=5)
    other.fit(X, y, epochs=1)
    before = weights(other.model)
    broken = dict(state, position=dict(state["position"], order=np.array([0, 0, 1])))
    with pytest.raises(ConfigError, match="permutation"):
        other.load_state_dict(broken)
    assert same(weights(other.model), before)                  # nothing half-loaded
    with pytest.raises(ConfigError, match="other training data"):
        other._bind(X[:20], y[:20])
        other.load_state_dict(state)


def test_the_trainer_refuses_what_it_cannot_train():
    model = mlp([2, 2], seed=0)
    with pytest.raises(ConfigError, match="optimizer"):
        ffnn.Trainer(model, losses.EuclideanLoss(), "sgd")      # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="batch_size"):
        ffnn.Trainer(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), 0.1), batch_size=0)


# ---------------------------------------------------------------------------
# divergence rolls everything back
# ---------------------------------------------------------------------------

class EpochStartState(ffnn.Callback):
    def __init__(self):
        self.velocity, self.plateau = {}, {}

    def on_epoch_begin(self, epoch):
        self.velocity[epoch] = [v.copy() for v in self.trainer.optimizer.velocity]
        self.plateau[epoch] = self.trainer.schedules[0].state_dict()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_rolls_back_the_optimizer_and_the_schedules():
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(64, 3)), 10 * rng.normal(size=(64, 2))
    model = mlp([3, 8, 2], "tanh", seed=0, dtype=np.float64)
    opt = optim.SGD(model.parameters(), 0.02, momentum=0.9)
    plateau = schedules.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    spy = EpochStartState()

    class Explode(ffnn.Callback):                 # a huge step once training is under way
        def on_epoch_begin(self, epoch):
            if epoch == 3:
                opt.lr = 1e6

    trainer = ffnn.Trainer(model, losses.EuclideanLoss(), opt, schedules=[plateau], callbacks=[spy, Explode()],
                           batch_size=8, seed=0)
    with pytest.raises(TrainingDivergedError) as info:
        trainer.fit(X, T, epochs=20)
    epoch = info.value.epoch
    assert epoch >= 3
    assert all(np.isfinite(v).all() for v in opt.velocity)
    assert same(opt.velocity, spy.velocity[epoch])           # the momentum is the epoch's start, not 1e23
    assert plateau.state_dict() == spy.plateau[epoch]
    assert all(np.isfinite(p.value).all() for p in model.parameters())


# ---------------------------------------------------------------------------
# import hygiene
# ---------------------------------------------------------------------------

def test_the_engine_imports_numpy_only():
    code = ("import sys, ffnn.train, ffnn.recipe, ffnn.checkpoint; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('urllib', 'http', 'ssl', 'socket', 'matplotlib', "
            "'tqdm', 'starlette', 'torch', 'sklearn') and m != 'urllib' and not m.startswith('urllib.parse')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_history_is_recorded_before_the_schedules_see_the_epoch():
    X, y = blobs(n=20)
    model = mlp([4, 6, 3], "tanh", seed=0, dtype=np.float64)
    opt = optim.SGD(model.parameters(), 0.4)
    history = ffnn.fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=5, seed=0,
                       schedule=schedules.StepLR(opt, 1, 0.5), progress=False)
    assert history["lr"] == pytest.approx([0.4, 0.2, 0.1]) and math.isclose(opt.lr, 0.05)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_parameter_outside_the_model_is_guarded_and_checkpointed(tmp_path):
    # a loss with a learned parameter the optimizer updates but the model does not hold
    class PushUp(ffnn.Callback):
        def __init__(self, p, at):
            self.p, self.at = p, at

        def on_before_step(self, batch):
            self.p.grad[0] = 1e308 if self.trainer.epoch + 1 >= self.at else -1.0

    X, T = np.ones((4, 1)), np.zeros((4, 1))
    net = ffnn.Sequential([layers.Linear(1, 1, rng=0, dtype=np.float64)])
    extra = Parameter(np.zeros(1), name="extra")
    opt = optim.SGD(net.parameters() + [extra], lr=10.0)
    trainer = ffnn.Trainer(net, losses.EuclideanLoss(), opt, callbacks=[PushUp(extra, at=3)], batch_size=None)
    assert trainer.parameters[-1] is extra
    with pytest.raises(TrainingDivergedError, match="'extra'"):
        trainer.fit(X, T, epochs=5)
    assert extra.value[0] == 20.0                      # rolled back to the start of epoch 3
    # and a checkpoint keeps it, so a resumed run continues with it
    trainer = ffnn.Trainer(net, losses.EuclideanLoss(), opt, callbacks=[PushUp(extra, at=99)], batch_size=None)
    trainer.fit(X, T, epochs=1, checkpoint=tmp_path / "c.ckpt")
    saved = extra.value.copy()
    extra.value[...] = -5.0
    trainer.resume(tmp_path / "c.ckpt")
    np.testing.assert_array_equal(extra.value, saved)


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGINT"), reason="needs POSIX signals")
def test_ctrl_c_between_batches_and_the_epoch_end_still_marks_the_run_interrupted():
    import os
    import signal

    class CtrlCAtEpochEnd(ffnn.Callback):           # as if Ctrl-C came during the held-out evaluation
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    X, y = blobs(n=30)
    trainer = trainer_for(callbacks=[CtrlCAtEpochEnd()])
    history = trainer.fit(X, y, epochs=5)
    assert history.interrupted and trainer.epoch == 2 and len(history) == 2
    done = trainer_for(callbacks=[CtrlCAtEpochEnd()])
    assert not done.fit(X, y, epochs=2).interrupted        # nothing was left to train
