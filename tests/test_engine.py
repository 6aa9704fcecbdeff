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


# ---------------------------------------------------------------------------
# what the engine is given: checked once, with messages that say what came in
# ---------------------------------------------------------------------------

def test_the_parts_are_named_when_they_are_not_ffnn_objects():
    model = mlp([2, 2], seed=0)
    opt = optim.SGD(model.parameters(), 0.1)
    cases = [
        ((layers.Linear(2, 2), losses.EuclideanLoss(), opt), "^training expects an ffnn.Sequential model, got Linear$"),
        ((model, "mse", opt), r"^training expects an ffnn loss \(a subclass of ffnn.losses.Loss, e.g. "
                              r"losses.SoftmaxCrossEntropy\(\)\), got str$"),
        ((model, losses.EuclideanLoss(), "sgd"), r"^training expects an ffnn optimizer built over model.parameters\(\) "
                                                 r"\(e.g. optim.SGD\(model.parameters\(\), lr=0.1\)\), got str$"),
    ]
    for args, message in cases:
        with pytest.raises(ConfigError, match=message):
            ffnn.Trainer(*args)
        with pytest.raises(ConfigError, match=message):
            ffnn.fit(*args, np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ConfigError, match=r"^augment must be a callable f\(batch, rng\) -> batch \(e.g. "
                                          r"ffnn.augment.RandomShift\(2\)\), got int$"):
        ffnn.Trainer(model, losses.EuclideanLoss(), opt, augment=3)


def test_schedules_and_early_stopping_are_normalised():
    model = mlp([2, 2], seed=0)
    opt = optim.SGD(model.parameters(), 0.1)
    step = schedules.StepLR(opt, 2)
    expo = schedules.ExponentialLR(opt, 0.9)
    assert ffnn.Trainer(model, losses.EuclideanLoss(), opt).schedules == []
    assert ffnn.Trainer(model, losses.EuclideanLoss(), opt, schedules=step).schedules == [step]
    assert ffnn.Trainer(model, losses.EuclideanLoss(), opt, schedules=(step, expo)).schedules == [step, expo]
    trainer = ffnn.Trainer(model, losses.EuclideanLoss(), opt, early_stopping=3)
    (stopper,) = trainer._user_callbacks
    assert isinstance(stopper, ffnn.EarlyStopping) and stopper.patience == 3
    mine = ffnn.EarlyStopping(patience=2)
    assert ffnn.Trainer(model, losses.EuclideanLoss(), opt, early_stopping=mine)._user_callbacks == [mine]
    assert ffnn.Trainer(model, losses.EuclideanLoss(), opt)._user_callbacks == []
    t = ffnn.Trainer(model, losses.EuclideanLoss(), opt, shuffle=0, batch_size=None)
    assert t.shuffle is False and t.batch_size is None and t.epoch == 0 and t.batch == 0
    assert repr(t) == (f"Trainer(epoch=0, batch=0, loss={t.loss!r}, optimizer={opt!r}, batch_size=None)")


@pytest.mark.parametrize("y, message", [
    ("abc", "^y must be an array of targets, got the string 'abc'$"),
    (np.int64(1), "^X and y must have the same number of samples, got 3 and a scalar$"),
    (np.array([0, 1]), "^X and y must have the same number of samples, got 3 and 2$"),
])
def test_targets_are_checked_against_the_samples(y, message):
    from ffnn.errors import ShapeError
    trainer = trainer_for()
    with pytest.raises(ShapeError, match=message):
        trainer.fit(np.zeros((3, 4)), y, epochs=1)
    with pytest.raises(ShapeError, match=message.replace("y must", "yb must").replace(" y ", " yb ")):
        trainer.step(np.zeros((3, 4)), y)


def test_empty_training_data_is_refused():
    from ffnn.errors import ShapeError
    with pytest.raises(ShapeError, match="^X has no samples$"):
        trainer_for().fit(np.zeros((0, 4)), np.zeros(0, dtype=int), epochs=1)


@pytest.mark.parametrize("validation, message", [
    (1, r"validation fraction must be < 1"),
    (0.0, r"validation fraction must be > 0"),
    (0.01, r"^validation fraction 0.01 of 30 samples leaves 0 held-out and 30 training samples; expected at least "
           r"1 of each$"),
    (True, r"^validation must be None, a fraction in \(0, 1\) or a pair \(X_val, y_val\); got bool$"),
    ((np.zeros((2, 4)),), r"got tuple$"),
    ([np.zeros((2, 4)), np.zeros(2, dtype=int), 1], r"got list$"),
])
def test_bad_held_out_data_is_refused(validation, message):
    X, y = blobs(n=30)
    with pytest.raises(ConfigError, match=message):
        trainer_for().fit(X, y, epochs=1, validation=validation)


def test_a_held_out_pair_as_a_list_and_its_targets_checked():
    from ffnn.errors import ShapeError
    X, y = blobs(n=30)
    h = trainer_for().fit(X, y, epochs=1, validation=[X[:5], y[:5]])
    assert "val_loss" in h.keys()
    with pytest.raises(ShapeError, match="^X and y_val must have the same number of samples, got 5 and 4$"):
        trainer_for().fit(X, y, epochs=1, validation=(X[:5], y[:4]))


def test_the_bound_data_is_reused_while_the_same_arrays_come_back():
    X, y = blobs(n=30)
    trainer = trainer_for()
    trainer.fit(X, y, epochs=1, validation=0.2)
    data = trainer._data
    assert len(data.X) == 24 and len(data.X_val) == 6
    trainer.fit(X, y, epochs=2, validation=0.2)
    assert trainer._data is data                               # the same split: not drawn again
    trainer.fit(X, y, epochs=3, validation=0.25)
    assert trainer._data is not data and len(trainer._data.X_val) == 8
    data = trainer._data
    trainer.fit(X.copy(), y, epochs=4, validation=0.25)
    assert trainer._data is not data
    pair = (X[:5], y[:5])
    trainer.fit(X, y, epochs=5, validation=pair)
    data = trainer._data
    trainer.fit(X, y, epochs=6, validation=pair)
    assert trainer._data is data
    trainer.fit(X, y, epochs=7, validation=(X[:5], y[:5]))     # an equal pair, but another object
    assert trainer._data is not data


def test_step_returns_the_batch_loss_and_skips_a_non_finite_one():
    X, y = blobs(n=10)
    model = mlp([4, 8, 3], "tanh", seed=0, dtype=np.float64)
    trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), seed=0)
    expected = losses.SoftmaxCrossEntropy().forward(model.forward(X), y)
    before = weights(model)
    assert trainer.step(X, y) == expected
    assert not same(weights(model), before) and trainer.epoch == 0 and trainer.batch == 0
    model[2].bias.value[0] = np.nan
    before = weights(model)
    assert math.isnan(trainer.step(X, y))
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(weights(model), before, strict=True))  # no update


def test_the_first_ctrl_c_sets_the_flag_and_says_so(capsys):
    import signal as signal_module

    from ffnn.train import _InterruptFlag
    flag = _InterruptFlag()
    assert flag.raised is False
    flag._handle(signal_module.SIGINT, None)
    assert flag.raised
    assert capsys.readouterr().err == "\nInterrupted: stopping after the current batch (Ctrl-C again to abort).\n"
    with pytest.raises(KeyboardInterrupt):
        flag._handle(signal_module.SIGINT, None)
    assert capsys.readouterr().err == ""


class BeforeStep(ffnn.Callback):
    def __init__(self):
        self.batches = []

    def on_before_step(self, batch):
        self.batches.append(batch)


def test_step_passes_the_current_batch_index_and_names_its_input():
    from ffnn.errors import ShapeError
    X, y = blobs(n=10)
    spy = BeforeStep()
    trainer = trainer_for(callbacks=[spy], batch_size=4)
    trainer.step(X[:4], y[:4])
    trainer.run_epoch(X, y)
    trainer.step(X[:4], y[:4])
    assert spy.batches == [0, 0, 1, 2, 0]
    with pytest.raises(ShapeError, match=r"^xb must be 2-D, got shape \(4,\)$"):
        trainer.step(X[0], y[:1])
    assert trainer.step(X[:4].astype(np.float32), y[:4]) > 0          # converted to the model's float64
    assert trainer.last_batch.dtype == np.float64


class Wild(losses.EuclideanLoss):
    """A user's loss whose forward trips one floating-point error of NumPy (and returns inf or nan)."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, output, target, sample_weight=None):
        super().forward(output, target)
        return float({"over": lambda: np.exp(np.array(1000.0)), "invalid": lambda: np.sqrt(np.array(-1.0)),
                      "divide": lambda: -np.log(np.array(0.0))}[self.kind]())


@pytest.mark.parametrize("kind", ["over", "invalid", "divide"])
def test_a_step_silences_numpys_floating_point_warnings(kind):
    import warnings
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    model = mlp([3, 2], seed=0, dtype=np.float64)
    trainer = ffnn.Trainer(model, Wild(kind), optim.SGD(model.parameters(), 0.1), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not math.isfinite(trainer.step(X, T))
        with pytest.raises(TrainingDivergedError):
            trainer.run_epoch(X, T)
        with pytest.raises(TrainingDivergedError):
            trainer.fit(X, T, epochs=1)


def test_save_checkpoint_and_resume():
    import tempfile
    from pathlib import Path
    X, y = blobs(n=30)
    trainer = trainer_for()
    trainer.fit(X, y, epochs=2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.ckpt"
        assert trainer.save_checkpoint(path) == path and path.exists()
        other = trainer_for(seed=3)
        other._bind(X, y)
        other.resume(str(path))
    assert other.epoch == 2 and same(weights(other.model), weights(trainer.model))
    assert other.history.records == trainer.history.records


class Halving:
    """A user's schedule: only step() (no state to save)."""

    def __init__(self, opt):
        self.opt = opt

    def step(self, metric=None):
        self.opt.lr /= 2


class HalvingWithState(Halving):
    def state_dict(self):
        return {"lr": self.opt.lr}


def test_a_schedule_without_state_is_saved_as_none_and_one_that_cannot_load_is_refused():
    X, y = blobs(n=30)
    trainer = trainer_for()
    plain = Halving(trainer.optimizer)
    trainer.schedules = [plain]
    trainer.fit(X, y, epochs=2)
    assert trainer.optimizer.lr == 0.05 / 4
    state = trainer.state_dict()
    assert state["schedules"] == [None]
    trainer.load_state_dict(state)                               # nothing to restore for it
    snapshot = trainer.snapshot()
    assert snapshot["schedules"] == [None]
    trainer.restore(snapshot)
    half = HalvingWithState(trainer.optimizer)
    trainer.schedules = [half]
    state = trainer.state_dict()
    assert state["schedules"] == [{"lr": 0.05 / 4}]
    with pytest.raises(ConfigError, match="^HalvingWithState cannot restore a saved state "
                                          r"\(it has no load_state_dict\)$"):
        trainer.load_state_dict(state)
    with pytest.raises(ConfigError, match="^HalvingWithState cannot restore"):
        trainer.restore(trainer.snapshot())


# ---------------------------------------------------------------------------
# per-sample weights
# ---------------------------------------------------------------------------

def test_an_integer_sample_weight_equals_repeating_the_sample():
    X, y = blobs(n=12)
    w = np.array([2, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1])
    reps = np.repeat(np.arange(12), w)

    def plain():
        model = mlp([4, 8, 3], "tanh", seed=0, dtype=np.float64)
        return ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1, momentum=0.9),
                            batch_size=None, seed=0)

    weighted, repeated = plain(), plain()
    hw = weighted.fit(X, y, epochs=2, sample_weight=w)
    hr = repeated.fit(X[reps], y[reps], epochs=2)
    for a, b in zip(weights(weighted.model), weights(repeated.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert hw["loss"] == pytest.approx(hr["loss"], rel=1e-12)


def test_sample_weights_are_checked():
    from ffnn.errors import ShapeError
    X, y = blobs(n=12)
    trainer_for(batch_size=4).fit(X, y, epochs=1, sample_weight=np.r_[np.zeros(1), np.full(11, 0.5)])
    cases = [
        (np.ones(11), ShapeError, "^sample_weight has 11 entries for 12 samples$"),
        (np.ones((12, 1)), ShapeError, r"^sample_weight must be 1-D, got shape \(12, 1\)$"),
        (np.r_[-1.0, np.ones(11)], ConfigError, "^sample_weight must be >= 0$"),
        (np.array(["a"] * 12), ShapeError, "^sample_weight must be a numeric array"),
    ]
    for w, error, message in cases:
        with pytest.raises(error, match=message):
            trainer_for().fit(X, y, epochs=1, sample_weight=w)

    class Unweighted(losses.SoftmaxCrossEntropy):
        def forward(self, output, target):
            return super().forward(output, target)

    model = mlp([4, 3], seed=0)
    trainer = ffnn.Trainer(model, Unweighted(), optim.SGD(model.parameters(), 0.1))
    with pytest.raises(ConfigError, match=r"^Unweighted does not take per-sample weights: its forward has no "
                                          r"sample_weight argument \(expected forward\(output, target, "
                                          r"sample_weight=None\)\)$"):
        trainer.fit(X, y, epochs=1, sample_weight=np.ones(12))


def test_sample_weights_are_split_with_a_held_out_fraction_and_stored_in_the_models_dtype():
    X, y = blobs(n=20, dtype=np.float32)
    model = mlp([4, 8, 3], "relu", seed=0, dtype=np.float32)
    trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), seed=0,
                           batch_size=None)
    w = np.arange(1.0, 21.0)
    trainer.fit(X, y, epochs=1, sample_weight=w, validation=0.25)
    data = trainer._data
    assert data.weights.dtype == np.float32 and len(data.weights) == len(data.X) == 15
    rows = [int(np.flatnonzero((X == row).all(axis=1))[0]) for row in data.X]
    np.testing.assert_array_equal(data.weights, w[rows])
    assert trainer.last_weights is not None and len(trainer.last_weights) == 15


# ---------------------------------------------------------------------------
# the training state: every check of load_state_dict, with its message
# ---------------------------------------------------------------------------

def fitted(epochs=1, **kwargs):
    X, y = blobs(n=30)
    trainer = trainer_for(**kwargs)
    trainer.fit(X, y, epochs=epochs)
    return trainer, trainer.state_dict(), X, y


def refused(trainer, state, message):
    before = weights(trainer.model)
    with pytest.raises(ConfigError, match=message):
        trainer.load_state_dict(state)
    assert same(weights(trainer.model), before)


def test_a_state_of_another_format_or_version_is_refused():
    trainer, state, _, _ = fitted()
    expects = r"^Trainer.load_state_dict expects the output of Trainer.state_dict\(\)$"
    refused(trainer, [state], expects)
    refused(trainer, dict(state, format="ffnn-model"), expects)
    refused(trainer, dict(state, version=2), r"^training state version 2 is not supported \(this ffnn reads 1\)$")
    refused(trainer, {k: v for k, v in state.items() if k != "version"}, "^training state version None is not")


def test_a_state_of_other_data_callbacks_schedules_or_layers_is_refused():
    trainer, state, X, y = fitted()
    other = trainer_for()
    other._bind(X[:20], y[:20])
    refused(other, state, r"^the checkpoint was made with other training data \(\{'n': 30, .*\}\); this run has "
                          r"\{'n': 20, ")
    refused(trainer, dict(state, callbacks=[{"type": "EarlyStopping", "state": {}}]),
            r"^the checkpoint holds the state of callbacks \['EarlyStopping'\]; this run has \[\]$")
    stopping, stopping_state, _, _ = fitted(early_stopping=3)
    refused(stopping, dict(stopping_state, callbacks=["EarlyStopping"]),
            r"^the checkpoint holds the state of callbacks \[None\]; this run has \['EarlyStopping'\]$")
    refused(stopping, {k: v for k, v in stopping_state.items() if k != "callbacks"},
            r"holds the state of callbacks \[\]; this run has \['EarlyStopping'\]$")
    refused(trainer, dict(state, schedules=[None]), "^the checkpoint holds 1 schedules, this run has 0$")
    refused(trainer, dict(state, layers=state["layers"][:2]), "^the checkpoint holds 2 layers, this model has 4$")
    refused(trainer, {k: v for k, v in state.items() if k != "layers"}, "^the checkpoint holds 0 layers")
    refused(trainer, dict(state, extra_parameters=[np.zeros(2)]),
            r"^the checkpoint's parameters outside the model do not match this optimizer's \(\[\]\)$")
    refused(trainer, dict(state, extra_parameters={}), "parameters outside the model do not match")


def test_a_state_without_optional_entries_still_loads():
    trainer, state, _, _ = fitted(epochs=2)
    lean = {k: v for k, v in state.items() if k not in ("callbacks", "extra_parameters", "schedules")}
    other = trainer_for(seed=4)
    other.load_state_dict(lean)
    assert other.epoch == 2 and same(weights(other.model), weights(trainer.model))
    assert other._rng_start == state["rng_start"] and other._rng_start != trainer_for(seed=4)._rng_start


@pytest.mark.parametrize("change, message", [
    (lambda p: 5, "^training state: position must be a dict, got 5$"),
    (lambda p: dict(p, epoch=-1), "^checkpoint epoch must be >= 0, got -1$"),
    (lambda p: dict(p, epoch=1.5), "^checkpoint epoch must be an integer"),
    (lambda p: dict(p, batch=-1), "^checkpoint batch must be >= 0, got -1$"),
    (lambda p: dict(p, seen=-1), "^checkpoint seen must be >= 0, got -1$"),
    (lambda p: dict(p, loss_sum=True), "^training state: loss_sum must be a number, got True$"),
    (lambda p: dict(p, correct="3"), "^training state: correct must be a number, got '3'$"),
    (lambda p: dict(p, order=np.r_[0, np.arange(29)]),
     "^training state: the saved sample order is not a permutation of the training samples$"),
    (lambda p: dict(p, order=np.arange(30.0)), "not a permutation"),
    (lambda p: dict(p, order=np.arange(30).reshape(5, 6)), "not a permutation"),
    (lambda p: dict(p, order=np.arange(29)), "not a permutation"),
    (lambda p: dict(p, rng={"bit_generator": "MT19937"}), "^trainer rng: the saved state is of a 'MT19937' generator"),
])
def test_a_bad_position_is_refused(change, message):
    X, y = blobs(n=30)
    trainer = trainer_for(batch_size=7)
    trainer.fit(X, y, epochs=1)
    trainer.run_epoch(X, y, deadline=0.0)                      # stopped after one batch of the second epoch
    state = trainer.state_dict()
    assert state["position"]["batch"] == 1 and state["position"]["order"] is not None
    refused(trainer, dict(state, position=change(state["position"])), message)


def test_a_position_at_zero_and_numpy_integers_load_as_ints():
    X, y = blobs(n=30)
    trainer = trainer_for()
    trainer._bind(X, y)
    state = trainer.state_dict()
    assert state["position"]["epoch"] == state["position"]["batch"] == state["position"]["seen"] == 0
    trainer.load_state_dict(state)                             # 0 is a valid epoch, batch and count
    trainer.fit(X, y, epochs=1)
    trainer.run_epoch(X, y, deadline=0.0)
    state = trainer.state_dict()
    position = dict(state["position"], epoch=np.int64(1), batch=np.int64(1), seen=np.int64(7),
                    order=[int(i) for i in state["position"]["order"]])
    other = trainer_for(seed=2)
    other._bind(X, y)
    other.load_state_dict(dict(state, position=position))
    assert type(other.epoch) is int and type(other.batch) is int and type(other._seen) is int
    assert (other.epoch, other.batch, other._seen) == (1, 1, 7)
    assert other._order.dtype == np.intp and list(other._order) == position["order"]
    fresh = trainer_for(seed=2)                                # nothing bound: any permutation is taken
    fresh.load_state_dict(dict(state, position=position))
    assert fresh.batch == 1


def test_the_fingerprint_hashes_up_to_256_evenly_spaced_rows_and_every_target():
    import hashlib

    from ffnn.train import _fingerprint
    rng = np.random.default_rng(0)
    for n, val in [(300, None), (5, 3), (1, None)]:
        X, y = rng.normal(size=(n, 4)), rng.integers(0, 3, n)
        trainer = trainer_for()
        trainer._bind(X, y, validation=None if val is None else (X[:val], y[:val]))
        rows = np.unique(np.floor(np.linspace(0, n - 1, min(n, 256))).astype(int))
        digest = hashlib.sha256(np.ascontiguousarray(X[rows]).tobytes())
        digest.update(y.astype(np.intp).tobytes())
        expected = {"n": n, "shape": [n, 4], "dtype": "float64", "n_val": val, "sha256": digest.hexdigest()}
        assert _fingerprint(trainer._data) == expected
        assert trainer.state_dict()["data"] == _fingerprint(trainer._data)
    assert trainer_for().state_dict()["data"] is None


def test_loading_a_state_clears_an_interrupted_epochs_partial_record():
    trainer, state, X, y = fitted()
    trainer._partial_record = True
    trainer.load_state_dict(state)
    assert trainer._partial_record is False


def test_a_held_out_fraction_is_compared_by_value_only_with_another_fraction():
    X, y = blobs(n=30)
    trainer = trainer_for()
    trainer.fit(X, y, epochs=1, validation=0.25)
    with pytest.raises(ConfigError, match="validation must be None, a fraction"):
        trainer.fit(X, y, epochs=2, validation=np.array(0.25))   # equal to 0.25, but not a fraction


def test_an_inactive_interrupt_flag_leaves_ctrl_c_alone():
    import signal as signal_module

    from ffnn.train import _InterruptFlag
    before = signal_module.getsignal(signal_module.SIGINT)
    with _InterruptFlag(active=False):
        assert signal_module.getsignal(signal_module.SIGINT) is before
    with _InterruptFlag() as flag:
        assert signal_module.getsignal(signal_module.SIGINT) == flag._handle
    assert signal_module.getsignal(signal_module.SIGINT) is before


def test_fit_hands_every_option_to_the_trainer(monkeypatch):
    from ffnn import train as train_module
    seen = {}

    class Recording(ffnn.Trainer):
        def __init__(self, *args, **kwargs):
            seen["init"] = kwargs
            super().__init__(*args, **kwargs)

        def fit(self, X, y, epochs=10, **kwargs):
            seen["fit"] = (epochs, kwargs)
            return ffnn.History()

    monkeypatch.setattr(train_module, "Trainer", Recording)
    model = mlp([4, 3], seed=0)
    opt = optim.SGD(model.parameters(), 0.1)
    step = schedules.StepLR(opt, 2)
    cb = BeforeStep()
    X, y = blobs(n=6)
    train_module.fit(model, losses.SoftmaxCrossEntropy(), opt, X, y)
    assert seen["init"] == {"schedules": None, "callbacks": (), "early_stopping": None, "batch_size": 128,
                            "shuffle": True, "seed": None, "progress": True, "verbose": False, "distributed": None}
    assert seen["fit"] == (10, {"validation": None, "checkpoint": None, "checkpoint_every": None})
    train_module.fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=3, batch_size=2, validation=0.5,
                     shuffle=False, schedule=step, callbacks=[cb], early_stopping=4, seed=7, progress=False,
                     verbose=True, checkpoint="c.ckpt", checkpoint_every=5, distributed=False)
    assert seen["init"] == {"schedules": step, "callbacks": [cb], "early_stopping": 4, "batch_size": 2,
                            "shuffle": False, "seed": 7, "progress": False, "verbose": True, "distributed": False}
    assert seen["fit"] == (3, {"validation": 0.5, "checkpoint": "c.ckpt", "checkpoint_every": 5})


def test_evaluate_works_in_chunks_of_2048_and_names_its_input():
    from ffnn.errors import ShapeError
    from ffnn.train import evaluate
    seen = []

    class Probe(layers.Identity):
        def forward(self, x):
            seen.append((len(x), x.dtype))
            return x

    model = ffnn.Sequential([Probe(), layers.Linear(4, 3, rng=0, dtype=np.float32)])
    X, y = blobs(n=2049)
    evaluate(model, losses.SoftmaxCrossEntropy(), X, y)
    assert seen == [(2048, np.float32), (1, np.float32)]
    with pytest.raises(ShapeError, match=r"^X must be 2-D, got shape \(4,\)$"):
        evaluate(model, losses.SoftmaxCrossEntropy(), X[0], y[:1])
    with pytest.raises(ShapeError, match="^X and y must have the same number of samples, got 2049 and 2$"):
        evaluate(model, losses.SoftmaxCrossEntropy(), X, y[:2])


def test_evaluate_with_a_summed_loss_adds_the_batch_sums():
    from ffnn.train import evaluate
    X, y = blobs(n=25)
    model = mlp([4, 6, 3], "tanh", seed=0, dtype=np.float64)
    summed = losses.SoftmaxCrossEntropy(reduction="sum")
    result = evaluate(model, summed, X, y, batch_size=7)
    assert result["loss"] == pytest.approx(summed.forward(model.forward(X), y), rel=1e-12)
    mean = evaluate(model, losses.SoftmaxCrossEntropy(), X, y, batch_size=7)
    assert mean["loss"] == pytest.approx(result["loss"] / 25, rel=1e-12)


def test_run_epoch_plans_one_more_epoch_and_takes_sample_weights():
    X, y = blobs(n=12)
    trainer = trainer_for(batch_size=None)
    assert trainer.epochs_planned is None
    trainer.run_epoch(X, y, sample_weight=np.ones(12))
    assert trainer.epochs_planned == 1 and trainer.epoch == 1
    assert trainer._data.weights is not None and trainer.last_weights is not None
    trainer.run_epoch(X, y, sample_weight=trainer._data_weights)
    assert trainer.epochs_planned == 1                         # set once, by the first call
    with pytest.raises(ConfigError, match="sample_weight must be >= 0"):
        trainer_for().run_epoch(X, y, sample_weight=-np.ones(12))


def test_a_full_batch_epoch_records_the_loss_of_its_one_batch_exactly():
    X, y = blobs(n=7)
    model = mlp([4, 5, 3], "tanh", seed=1, dtype=np.float64)
    for p in model.parameters():                                # no zero bias: the step changes nothing
        p.value += 0.0625
    direct = losses.SoftmaxCrossEntropy().forward(model.forward(X), y)
    assert direct * 7 / 7 != direct                             # so value * n / n would show
    trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 1e-300),
                           batch_size=None, seed=0)
    assert trainer.fit(X, y, epochs=1)["loss"][0] == direct


def test_restore_puts_back_the_layers_state_and_starts_the_epoch_over():
    X, y = blobs(n=30)
    model = ffnn.Sequential([layers.Linear(4, 5, rng=0, dtype=np.float64), layers.BatchNorm(5, dtype=np.float64),
                             layers.Tanh(), layers.Linear(5, 3, rng=1, dtype=np.float64)])
    opt = optim.SGD(model.parameters(), 0.1)
    step = schedules.StepLR(opt, 1, gamma=0.5)
    trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), opt, schedules=[step], batch_size=7, seed=0)
    trainer.fit(X, y, epochs=1)
    snapshot = trainer.snapshot()
    running = model[1].extra_state()
    trainer.run_epoch(X, y, deadline=0.0)
    step.step()
    assert trainer.batch == 1 and model[1].extra_state() != running and step.state_dict() != snapshot["schedules"][0]
    trainer.restore(snapshot)
    assert trainer.batch == 0 and trainer._order is None
    assert model[1].extra_state() == running
    assert step.state_dict() == snapshot["schedules"][0] == trainer.state_dict()["schedules"][0]


# ---------------------------------------------------------------------------
# the epoch's bookkeeping: time, interruption, deadlines, momentum, two batches
# ---------------------------------------------------------------------------

class Slow(ffnn.Callback):
    def on_batch_end(self, batch, logs=None):
        import time
        time.sleep(0.02)


def test_seconds_add_up_every_slice_of_an_epoch():
    import time
    X, y = blobs(n=30)
    trainer = trainer_for(batch_size=10, callbacks=[Slow()])
    t0 = time.perf_counter()
    trainer.fit(X, y, epochs=1)
    whole = time.perf_counter() - t0
    seconds = trainer.history["seconds"][0]
    assert 0.06 <= seconds <= whole
    t0 = time.perf_counter()
    records = [trainer.run_epoch(X, y, deadline=0.0) for _ in range(3)]   # one batch per call
    whole = time.perf_counter() - t0
    assert records[:2] == [None, None] and records[2]["epoch"] == 2
    assert 0.06 <= records[2]["seconds"] <= whole


class InterruptAt(ffnn.Callback):
    def __init__(self, batch):
        self.at = batch

    def on_batch_end(self, batch, logs=None):
        if batch == self.at:
            self.trainer._interrupt.raised = True


def test_an_interrupted_epoch_is_recorded_as_partial_and_continued():
    import time
    X, y = blobs(n=30)
    trainer = trainer_for(batch_size=10, callbacks=[InterruptAt(0), Slow()])
    t0 = time.perf_counter()
    history = trainer.fit(X, y, epochs=2)
    whole = time.perf_counter() - t0
    (record,) = history.records
    assert record["partial"] == 1.0 and record["epoch"] == 1 and 0.02 <= record["seconds"] <= whole
    assert history.interrupted is True and trainer._partial_record is True
    assert trainer.epoch == 0 and trainer.batch == 1 and trainer._order is not None
    trainer._user_callbacks = [Slow()]
    history = trainer.fit(X, y, epochs=2)                      # in memory: the partial record goes
    assert [r["epoch"] for r in history.records] == [1, 2] and "partial" not in history.records[0]
    assert history.interrupted is False and trainer._partial_record is False and trainer.epoch == 2


def test_a_deadline_reached_exactly_pauses_the_epoch(monkeypatch):
    from ffnn import train as train_module

    class Clock:
        @staticmethod
        def perf_counter():
            return 100.0

    monkeypatch.setattr(train_module, "time", Clock)
    X, y = blobs(n=30)
    trainer = trainer_for(batch_size=10)
    assert trainer.run_epoch(X, y, deadline=100.0) is None and trainer.batch == 1     # now == deadline: pause
    record = trainer.run_epoch(X, y, deadline=100.5)           # not reached: the epoch runs to its end
    assert record is not None and record["seconds"] == 0.0 and trainer.batch == 0 and trainer.epoch == 1
    assert trainer.run_epoch(X, y, deadline=99.0) is None and trainer.batch == 1


@pytest.mark.parametrize("n, batches", [(20, 2), (23, 3)])
def test_the_epoch_loss_of_two_or_more_batches_is_their_weighted_mean(n, batches):
    X, y = blobs(n=n)
    trainer = trainer_for(batch_size=10, shuffle=False)
    losses_seen = []

    class Batches(ffnn.Callback):
        def on_batch_end(self, batch, logs=None):
            losses_seen.append(logs["loss"])

    trainer._user_callbacks.append(Batches())
    h = trainer.fit(X, y, epochs=1)
    sizes = [10] * (n // 10) + ([n % 10] if n % 10 else [])
    assert len(losses_seen) == batches
    assert h["loss"][0] == pytest.approx(sum(s * v for s, v in zip(sizes, losses_seen, strict=True)) / n, rel=1e-12)


def test_an_optimizer_without_momentum_records_none():
    X, y = blobs(n=12)
    model = mlp([4, 3], seed=0)
    h = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.Adam(model.parameters(), 0.01)).fit(X, y, epochs=1)
    assert "momentum" not in h.keys() and h["lr"] == [0.01]


class OneRank:
    """A data-parallel backend of one process: what MPI with one rank does, with every call recorded."""

    rank, size = 0, 1

    def __init__(self):
        self.calls, self.reduced = [], []

    def shard(self, indices):
        self.calls.append(("shard", list(indices)))
        return indices

    def broadcast_parameters(self, params):
        self.calls.append(("broadcast_parameters", len(params)))

    def allreduce_gradients(self, params, loss, correct, n, reduction):
        self.calls.append(("allreduce", n, reduction, correct is None))
        self.reduced.append((params, loss, correct))
        return loss, correct

    def broadcast(self, value):
        return value


def test_a_one_rank_backend_trains_exactly_like_none():
    X, y = blobs(n=10)
    backend = OneRank()
    alone, shared = trainer_for(batch_size=4, seed=1), trainer_for(batch_size=4, seed=1, distributed=backend)
    h1, h2 = alone.fit(X, y, epochs=2), shared.fit(X, y, epochs=2)
    assert same(weights(alone.model), weights(shared.model))
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in h1.records] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in h2.records]
    assert backend.calls[0] == ("broadcast_parameters", 4)
    shards = [c[1] for c in backend.calls if c[0] == "shard"]
    assert len(shards) == 6 and sorted(sum(shards[:3], [])) == list(range(10))
    assert [c for c in backend.calls if c[0] == "allreduce"][:3] == [("allreduce", 4, "mean", False),
                                                                    ("allreduce", 4, "mean", False),
                                                                    ("allreduce", 2, "mean", False)]
    params, loss, correct = backend.reduced[0]
    assert params is shared.parameters and loss > 0 and correct in (0.0, 1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ConfigError, match="augment is not supported with distributed training"):
        trainer_for(distributed=OneRank(), augment=lambda batch, rng: batch)
    with pytest.raises(ConfigError, match="^sample_weight is not supported with distributed training$"):
        trainer_for(distributed=OneRank()).fit(X, y, epochs=1, sample_weight=np.ones(10))


class SecondOfTwo(OneRank):
    """Rank 1 of 2: the second half of each batch, empty for a batch of one."""

    rank, size = 1, 2

    def shard(self, indices):
        self.calls.append(("shard", list(indices)))
        return indices[len(indices) // 2 + len(indices) % 2:]


@pytest.mark.parametrize("classification", [True, False])
def test_an_empty_share_of_a_batch_adds_nothing(classification):
    X, y = blobs(n=3)
    backend = SecondOfTwo()
    if classification:
        trainer = trainer_for(batch_size=1, distributed=backend)
        T = y
    else:
        model = mlp([4, 2], seed=0, dtype=np.float64)
        trainer = ffnn.Trainer(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), 0.1), batch_size=1,
                               distributed=backend)
        T = np.zeros((3, 2))
    trainer.fit(X, T, epochs=1)
    assert [c for c in backend.calls if c[0] == "allreduce"] == [("allreduce", 0, "mean", not classification)] * 3
    assert [(loss, correct) for _, loss, correct in backend.reduced] == [(0.0, 0.0 if classification else None)] * 3


def test_augment_transforms_each_training_batch_with_the_trainers_generator():
    X, y = blobs(n=8)
    seen = []

    def shift(batch, rng):
        seen.append((batch.copy(), rng))
        return batch + 1.0

    trainer = trainer_for(batch_size=4, augment=shift, shuffle=False)
    trainer.fit(X, y, epochs=1, validation=(X[:2], y[:2]))
    assert len(seen) == 2 and all(rng is trainer.rng for _, rng in seen)
    np.testing.assert_array_equal(seen[0][0], X[:4])
    np.testing.assert_array_equal(trainer.last_batch, X[4:] + 1.0)


def test_fit_trains_ten_epochs_by_default_and_names_a_bad_count():
    X, y = blobs(n=12)
    trainer = trainer_for()
    assert len(trainer.fit(X, y)) == 10 and trainer.epochs_planned == 10
    trainer.fit(X, y, epochs=12)
    assert trainer.epochs_planned == 12
    with pytest.raises(ConfigError, match="^epochs must be >= 0, got -1$"):
        trainer_for().fit(X, y, epochs=-1)


def test_fit_resumes_from_its_checkpoint_with_the_first_runs_split(tmp_path):
    X, y = blobs(n=30)
    path = tmp_path / "run.ckpt"
    whole = trainer_for(seed=1)
    whole.fit(X, y, epochs=3, validation=0.2)
    first = trainer_for(seed=1)
    first.fit(X, y, epochs=1, validation=0.2, checkpoint=path)
    second = trainer_for(seed=9)                               # another seed: the checkpoint's is used
    history = second.fit(X, y, epochs=3, validation=0.2, checkpoint=path)
    assert second.epoch == 3 and len(history) == 3
    assert same(weights(second.model), weights(whole.model))
    np.testing.assert_array_equal(second._data.X_val, whole._data.X_val)


def test_checkpoint_every_writes_the_file_during_the_epoch(tmp_path):
    X, y = blobs(n=30)

    class Exists(ffnn.Callback):
        def __init__(self, path):
            self.path, self.seen = path, []

        def on_batch_end(self, batch, logs=None):
            self.seen.append(self.path.exists())

    for every, expected in [(2, [False, False, True, True, True]), (None, [False] * 5)]:
        path = tmp_path / f"every{every}.ckpt"
        spy = Exists(path)
        trainer_for(batch_size=7, callbacks=[spy]).fit(X, y, epochs=1, checkpoint=path, checkpoint_every=every)
        assert spy.seen == expected and path.exists()


def test_restore_refuses_a_snapshot_of_another_trainer():
    small, big = trainer_for(), ffnn.Trainer(mlp([4, 3], seed=0), losses.SoftmaxCrossEntropy(),
                                             optim.SGD(mlp([4, 3], seed=0).parameters(), 0.1))
    for part in ("values", "layers", "schedules"):
        snapshot = small.snapshot()
        snapshot[part] = snapshot[part] + [None]
        with pytest.raises(ValueError, match="zip"):
            small.restore(snapshot)
    with pytest.raises(ValueError):
        big.restore(small.snapshot())


def test_a_schedules_state_is_restored_and_the_order_is_made_intp():
    X, y = blobs(n=30)

    def with_step(seed):
        model = mlp([4, 8, 3], "tanh", seed=seed, dtype=np.float64)
        opt = optim.SGD(model.parameters(), 0.1)
        return ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), opt, schedules=[schedules.StepLR(opt, 1, gamma=0.5)],
                            batch_size=7, seed=seed)

    first = with_step(0)
    first.fit(X, y, epochs=2)
    first.run_epoch(X, y, deadline=0.0)
    state = first.state_dict()
    state["position"] = dict(state["position"], order=np.asarray(state["position"]["order"], dtype=np.int32))
    second = with_step(1)
    second.load_state_dict(state)
    assert second.schedules[0].state_dict() == first.schedules[0].state_dict() and second.optimizer.lr == 0.025
    assert second._order.dtype == np.intp


def test_a_loss_whose_forward_cannot_be_inspected_takes_no_weights():
    class Opaque(losses.SoftmaxCrossEntropy):
        pass

    Opaque.forward = max                 # inspect.signature(max) raises ValueError
    model = mlp([4, 3], seed=0)
    trainer = ffnn.Trainer(model, Opaque(), optim.SGD(model.parameters(), 0.1))
    X, y = blobs(n=6)
    with pytest.raises(ConfigError, match="^Opaque does not take per-sample weights"):
        trainer.fit(X, y, epochs=1, sample_weight=np.ones(6))


def test_a_regression_loss_counts_no_correct_predictions():
    class Counting(losses.EuclideanLoss):
        def count_correct(self, output, target):
            return 1.0                       # ignored: a regression loss has no accuracy

    X, T = np.random.default_rng(0).normal(size=(10, 4)), np.zeros((10, 2))
    model = mlp([4, 2], seed=0, dtype=np.float64)
    trainer = ffnn.Trainer(model, Counting(), optim.SGD(model.parameters(), 0.1), batch_size=4)
    trainer.run_epoch(X, T, deadline=0.0)
    assert trainer.state_dict()["position"]["correct"] == 0.0


def test_an_interrupt_during_run_epoch_marks_the_history_and_keeps_earlier_slices_time():
    import time
    X, y = blobs(n=30)
    trainer = trainer_for(batch_size=10, callbacks=[Slow(), InterruptAt(1)])
    t0 = time.perf_counter()
    assert trainer.run_epoch(X, y, deadline=0.0) is None               # batch 0, then paused
    record = trainer.run_epoch(X, y)                                    # batch 1, then Ctrl-C
    whole = time.perf_counter() - t0
    assert record["partial"] == 1.0 and trainer.history.interrupted is True and trainer.batch == 2
    assert 0.04 <= record["seconds"] <= whole


def test_a_checkpoints_bad_start_state_is_named(tmp_path, monkeypatch):
    from ffnn import checkpoint as checkpoint_module
    X, y = blobs(n=30)
    path = tmp_path / "run.ckpt"
    trainer_for().fit(X, y, epochs=1, checkpoint=path)
    good = checkpoint_module.read_checkpoint(path)
    monkeypatch.setattr(checkpoint_module, "read_checkpoint",
                        lambda p, **kw: dict(good, rng_start={"bit_generator": "MT19937"}))
    with pytest.raises(ConfigError, match="^checkpoint rng_start: the saved state is of a 'MT19937' generator"):
        trainer_for().fit(X, y, epochs=2, checkpoint=path)


# ---------------------------------------------------------------------------
# the trainer's defaults and what it builds from its options
# ---------------------------------------------------------------------------

def test_the_trainers_defaults():
    import inspect
    params = inspect.signature(ffnn.Trainer).parameters
    defaults = {k: params[k].default for k in ("batch_size", "shuffle", "progress", "verbose", "seed",
                                               "clip_grad_norm", "augment", "distributed", "early_stopping")}
    assert defaults == {"batch_size": 128, "shuffle": True, "progress": False, "verbose": False, "seed": None,
                        "clip_grad_norm": None, "augment": None, "distributed": None, "early_stopping": None}
    model = mlp([4, 3], seed=0)
    trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), seed=0)
    X, y = blobs(n=129)
    trainer.fit(X, y, epochs=1)
    assert trainer.batches_per_epoch == 2 and trainer.batch_size == 128 and trainer.shuffle is True
    kinds = [type(cb).__name__ for cb in trainer.callbacks.callbacks]
    assert "ProgressBar" not in kinds and "EpochPrinter" not in kinds and "GradientClipping" not in kinds
    fresh = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1))
    assert fresh.last_batch is None and fresh.last_weights is None and fresh.history.records == []
    position = fresh.state_dict()["position"]
    assert (position["loss_sum"], position["correct"], position["seen"]) == (0.0, 0.0, 0)


def test_progress_verbose_and_clipping_become_callbacks(monkeypatch):
    from ffnn import callbacks as callbacks_module
    from ffnn import train as train_module
    asked = []

    class Bar(ffnn.Callback):
        pass

    monkeypatch.setattr(train_module, "want_progress", lambda p: asked.append(p) or p is True)
    monkeypatch.setattr(train_module, "ProgressBar", Bar)
    model = mlp([4, 3], seed=0)

    def kinds(**kwargs):
        t = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), **kwargs)
        return [type(cb).__name__ for cb in t.callbacks.callbacks], t

    assert "Bar" not in kinds()[0] and asked[-1] is False                            # quiet by default
    assert "Bar" in kinds(progress=True)[0] and asked[-1] is True
    assert "Bar" not in kinds(progress=None)[0] and asked[-1] is None
    assert "EpochPrinter" in kinds(verbose=True)[0]
    assert "Bar" not in kinds(progress=True, distributed=SecondOfTwo())[0]         # rank 1 stays quiet
    assert "EpochPrinter" not in kinds(verbose=True, distributed=SecondOfTwo())[0]
    assert "EpochPrinter" in kinds(verbose=True, distributed=OneRank())[0]         # rank 0 prints
    names, t = kinds(clip_grad_norm=0.5)
    (clip,) = [cb for cb in t.callbacks.callbacks if isinstance(cb, callbacks_module.GradientClipping)]
    assert clip.max_norm == 0.5
    with pytest.raises(ConfigError, match="^batch_size must be >= 1, got 0$"):
        kinds(batch_size=0)
    with pytest.raises(ConfigError) as info:
        kinds(distributed=OneRank(), augment=lambda b, r: b)
    assert str(info.value) == ("augment is not supported with distributed training (each rank would draw its own "
                               "transforms from the shared seed)")


def test_only_rank_zero_writes_checkpoints(tmp_path):
    X, y = blobs(n=12)
    trainer_for(distributed=SecondOfTwo()).fit(X, y, epochs=1, checkpoint=tmp_path / "r1.ckpt")
    trainer_for(distributed=OneRank()).fit(X, y, epochs=1, checkpoint=tmp_path / "r0.ckpt")
    assert not (tmp_path / "r1.ckpt").exists() and (tmp_path / "r0.ckpt").exists()


def test_the_data_is_converted_to_the_models_dtype_and_named():
    from ffnn.errors import LabelError, ShapeError
    model = mlp([4, 8, 3], "tanh", seed=0, dtype=np.float32)
    trainer = ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), seed=0)
    X, y = blobs(n=20)
    trainer.fit(X, np.eye(3)[y], epochs=1, validation=(X[:4], np.eye(3)[y[:4]]))
    data = trainer._data
    assert data.X.dtype == data.X_val.dtype == data.y.dtype == data.y_val.dtype == np.float32
    for bad, message in [((X[0], y), r"^X must be 2-D, got shape \(4,\)$"),
                         ((X, y, (X[0], y[:1])), r"^X_val must be 2-D, got shape \(4,\)$")]:
        with pytest.raises(ShapeError, match=message):
            trainer.fit(bad[0], bad[1], epochs=1, validation=bad[2] if len(bad) > 2 else None)
    with pytest.raises(LabelError, match="y_val"):
        trainer.fit(X, y, epochs=1, validation=(X[:4], np.array([0, 1, 2, 7])))


def test_held_out_fractions_are_stratified_for_labels_only_and_reproducible():
    X = np.random.default_rng(0).normal(size=(20, 4))
    y = np.array([0] * 10 + [1] * 10)
    for seed in range(5):
        trainer = trainer_for(seed=seed)
        trainer._bind(X, y, validation=0.5)
        assert sorted(trainer._data.y_val.tolist()) == [0] * 5 + [1] * 5        # stratified: 5 of each
        again = trainer_for(seed=seed)
        again._bind(X, y, validation=0.5)
        np.testing.assert_array_equal(again._data.X_val, trainer._data.X_val)
    onehot = trainer_for()
    onehot._bind(X, np.eye(3)[y], validation=0.25)                             # not labels: a plain split
    assert len(onehot._data.X_val) == 5
    model = mlp([4, 2], seed=0, dtype=np.float64)
    reg = ffnn.Trainer(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), 0.1), seed=0)
    reg._bind(X[:2], np.arange(2.0), validation=0.5)                          # one held out, one to train on
    assert len(reg._data.X_val) == len(reg._data.X) == 1
    reg._bind(X[:4], np.arange(4.0)[:, None], validation=0.25)
    assert len(reg._data.X_val) == 1 and len(reg._data.X) == 3


def test_the_same_sample_weight_object_keeps_the_bound_split():
    X, y = blobs(n=20)
    w = np.ones(20)
    trainer = trainer_for()
    trainer.fit(X, y, epochs=1, validation=0.25, sample_weight=w)
    data = trainer._data
    trainer.fit(X, y, epochs=2, validation=0.25, sample_weight=w)
    assert trainer._data is data
    trainer.fit(X, y, epochs=3, validation=0.25, sample_weight=w.copy())
    assert trainer._data is not data


def test_a_mid_epoch_state_resumes_without_stale_time():
    import time
    X, y = blobs(n=30)
    first = trainer_for(batch_size=10)
    first.fit(X, y, epochs=1)
    first.run_epoch(X, y, deadline=0.0)
    state = first.state_dict()
    second = trainer_for(batch_size=10, seed=3)
    second.load_state_dict(state)
    t0 = time.perf_counter()
    record = second.run_epoch(X, y)
    assert record["seconds"] <= time.perf_counter() - t0


def test_resume_mid_epoch_then_fit_continues_bit_for_bit(tmp_path):
    X, y = blobs(n=30)
    whole = trainer_for(seed=1)
    whole.fit(X, y, epochs=2)
    first = trainer_for(seed=1)
    first.fit(X, y, epochs=1)
    first.run_epoch(X, y, deadline=0.0)                        # one batch into the second epoch
    first.save_checkpoint(tmp_path / "mid.ckpt")
    second = trainer_for(seed=7)
    second.resume(tmp_path / "mid.ckpt")                       # before any data is bound
    second.fit(X, y, epochs=2)
    assert same(weights(second.model), weights(whole.model))
    other = trainer_for(seed=7)
    other.resume(tmp_path / "mid.ckpt")
    other._bind(X[:20], y[:20])                                # other data: the saved order does not apply
    assert other._order is None and other._loaded_data is None


def test_new_data_mid_epoch_starts_a_new_epoch_order():
    X, y = blobs(n=30)
    trainer = trainer_for(batch_size=7)
    trainer.run_epoch(X, y, deadline=0.0)
    assert trainer._order is not None and len(trainer._order) == 30
    record = trainer.run_epoch(X[:12], y[:12])                  # other data: its own order, from batch 0
    assert record["epoch"] == 1 and trainer._order is None and trainer._seen == 12


def test_a_one_batch_epoch_resumed_after_its_batch_records_its_loss():
    X, y = blobs(n=12)

    def full(seed):
        model = mlp([4, 5, 3], "tanh", seed=0, dtype=np.float64)
        return ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1),
                            batch_size=None, seed=seed)

    class Grab(ffnn.Callback):
        def on_batch_end(self, batch, logs=None):
            self.state = self.trainer.state_dict()

    grab = Grab()
    first = full(0)
    first._user_callbacks.append(grab)
    first.fit(X, y, epochs=1)
    assert grab.state["position"]["batch"] == 1                # saved after the epoch's only batch
    second = full(3)
    second._user_callbacks.append(Grab())
    second.fit(X, y, epochs=1)                                 # a loss of its own from a finished epoch
    second.load_state_dict(grab.state)
    record = second.run_epoch(X, y)
    assert record["loss"] == pytest.approx(first.history["loss"][0], rel=1e-14)


@pytest.mark.parametrize("seed", [0, 3])
def test_the_held_out_split_is_drawn_from_the_trainers_generator(seed):
    from ffnn.sampling import train_test_split
    X = np.random.default_rng(9).normal(size=(10, 4))
    labels = np.arange(10) % 2
    trainer = trainer_for(seed=seed)
    trainer._bind(X, labels, validation=0.3)
    _, val = train_test_split(10, 0.3, np.random.default_rng(seed), stratify=labels)
    np.testing.assert_array_equal(trainer._data.X_val, X[val])
    model = mlp([4, 2], seed=0, dtype=np.float64)
    reg = ffnn.Trainer(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), 0.1), seed=seed)
    reg._bind(X, np.linspace(0, 1, 10), validation=0.3)          # real-valued targets: not stratified
    _, val = train_test_split(10, 0.3, np.random.default_rng(seed))
    np.testing.assert_array_equal(reg._data.X_val, X[val])


def test_a_state_loaded_on_bound_data_keeps_its_order_for_an_equal_copy():
    X, y = blobs(n=30)
    first = trainer_for()
    first.fit(X, y, epochs=1)
    first.run_epoch(X, y, deadline=0.0)
    state = first.state_dict()
    second = trainer_for(seed=4)
    second._bind(X, y)
    second.load_state_dict(state)
    second.run_epoch(X.copy(), y.copy())                        # the same data in new arrays
    first.run_epoch(X, y)                                       # the epoch finished where it was saved
    assert second.epoch == first.epoch == 2 and same(weights(second.model), weights(first.model))
