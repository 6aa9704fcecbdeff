"""Tests of ffnn.train: fit (minibatches, shuffling, validation, schedules, callbacks, early
stopping, Ctrl-C, divergence, input checks, dtype), evaluate and History.

Each training test compares with something computed independently: a manual NumPy loop of
the same forward/backward/SGD steps, a state captured by a callback, or a count of hooks.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal

import numpy as np
import pytest

from ffnn import data, losses, optim, schedules
from ffnn.builder import mlp
from ffnn.errors import ConfigError, FfnnError, LabelError, ShapeError, TrainingDivergedError
from ffnn.train import Callback, EarlyStopping, History, evaluate, fit

RECORD_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "momentum", "seconds")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def blobs(n=60, d=4, k=3, seed=0, dtype=np.float64):
    """A small, learnable classification problem."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centers = rng.normal(scale=3.0, size=(k, d))
    X = centers[y] + rng.normal(size=(n, d))
    return X.astype(dtype), y


def small_net(d=4, k=3, hidden=6, seed=0, dtype=np.float64, activation="tanh"):
    return mlp([d, hidden, k], activation, seed=seed, dtype=dtype)


def quiet_fit(model, loss, opt, X, y, **kwargs):
    kwargs.setdefault("progress", False)
    return fit(model, loss, opt, X, y, **kwargs)


def states_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def twin_nets():
    """Two networks built from the same seed: the same initial weights."""
    model, reference = small_net(), small_net()
    assert states_equal(model.state(), reference.state())
    return model, reference


def assert_same_weights(model, reference):
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.value, q.value, err_msg=name)


def manual_sgd(model, loss, X, y, lr, batches_per_epoch):
    """The training step written out by hand: forward, loss, backward, w -= lr * grad."""
    for batches in batches_per_epoch:
        for idx in batches:
            out = model.forward(X[idx])
            loss.forward(out, y[idx])
            model.backward(loss.backward())
            for p in model.parameters():
                p.value -= lr * p.grad


class Recorder(Callback):
    """Logs every hook call as a tuple."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch):
        self.calls.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self):
        self.calls.append(("train_end",))

    def batches(self):
        return [c for c in self.calls if c[0] == "batch_end"]


class TargetRecordingLoss(losses.EuclideanLoss):
    """An EuclideanLoss that remembers the targets of every training batch (in order)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, output, target):
        self.seen.append(np.array(target, copy=True))
        return super().forward(output, target)


def index_regression(n=10, d=3, seed=0):
    """Regression whose target is the sample's own index: the loss sees which rows are batched."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    T = np.arange(n, dtype=np.float64)[:, None]
    return X, T


# ---------------------------------------------------------------------------
# minibatches and shuffling
# ---------------------------------------------------------------------------

def test_same_seed_gives_bit_identical_weights_and_history():
    X, y = blobs()
    runs = []
    for _ in range(2):
        model = small_net()
        h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1, momentum=0.9),
                      X, y, epochs=3, batch_size=8, seed=123, validation=0.2)
        runs.append((model.state(), h))
    assert states_equal(runs[0][0], runs[1][0])
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h.records]  # noqa: E731
    assert strip(runs[0][1]) == strip(runs[1][1])


def test_different_seed_gives_different_weights():
    X, y = blobs()
    states = []
    for seed in (1, 2):
        model = small_net()
        quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=2, batch_size=8, seed=seed)
        states.append(model.state())
    assert not states_equal(*states)


def test_batches_follow_a_permutation_drawn_from_the_callers_seed():
    X, T = index_regression(n=10)
    model = mlp([3, 4, 1], "tanh", seed=0, dtype=np.float64)
    loss = TargetRecordingLoss()
    quiet_fit(model, loss, optim.SGD(model.parameters(), 0.01), X, T, epochs=3, batch_size=4, seed=7)
    rng = np.random.default_rng(7)
    expected = []
    for _ in range(3):
        order = rng.permutation(10)
        expected += [order[0:4], order[4:8], order[8:10]]
    got = [t[:, 0].astype(int) for t in loss.seen]
    assert [g.tolist() for g in got] == [e.tolist() for e in expected]


def test_shuffle_false_keeps_order_and_the_last_partial_batch():
    X, T = index_regression(n=10)
    model = mlp([3, 4, 1], "tanh", seed=0, dtype=np.float64)
    loss = TargetRecordingLoss()
    quiet_fit(model, loss, optim.SGD(model.parameters(), 0.01), X, T, epochs=2, batch_size=4,
              shuffle=False, seed=0)
    got = [t[:, 0].astype(int).tolist() for t in loss.seen]
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2


def test_shuffle_false_equals_a_manual_sgd_loop():
    X, y = blobs(n=30)
    model, reference = twin_nets()
    lr = 0.2
    quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr), X, y,
              epochs=3, batch_size=7, shuffle=False)
    batches = [np.arange(s, min(s + 7, 30)) for s in range(0, 30, 7)]   # 7,7,7,7,2: last one kept
    manual_sgd(reference, losses.SoftmaxCrossEntropy(), X, y, lr, [batches] * 3)
    assert_same_weights(model, reference)


def test_shuffled_fit_equals_a_manual_loop_over_the_same_permutations():
    X, y = blobs(n=30)
    model, reference = twin_nets()
    lr = 0.2
    quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr), X, y,
              epochs=2, batch_size=8, seed=5)
    rng = np.random.default_rng(5)
    epochs = []
    for _ in range(2):
        order = rng.permutation(30)
        epochs.append([order[s:s + 8] for s in range(0, 30, 8)])
    manual_sgd(reference, losses.SoftmaxCrossEntropy(), X, y, lr, epochs)
    assert_same_weights(model, reference)


def test_batch_size_none_is_one_full_batch_step_per_epoch():
    X, y = blobs(n=24)
    model, reference = twin_nets()
    rec = Recorder()
    quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.3), X, y,
              epochs=3, batch_size=None, seed=0, callbacks=[rec])
    assert [c[1] for c in rec.batches()] == [0, 0, 0]
    # full-batch gradient descent does not depend on the order of the samples
    manual_sgd(reference, losses.SoftmaxCrossEntropy(), X, y, 0.3, [[np.arange(24)]] * 3)
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12, atol=1e-14)


def test_batch_size_one_is_online_sgd_with_n_steps_per_epoch():
    X, y = blobs(n=9)
    model = small_net()
    rec = Recorder()
    opt = optim.SGD(model.parameters(), 0.05)
    quiet_fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=2, batch_size=1, seed=0, callbacks=[rec])
    assert [c[1] for c in rec.batches()] == list(range(9)) * 2
    assert opt.step_count == 18


@pytest.mark.parametrize("n, batch_size, expected", [(10, 4, 3), (10, 5, 2), (10, 64, 1), (1, 3, 1)])
def test_number_of_batches_keeps_the_remainder(n, batch_size, expected):
    X, y = blobs(n=max(n, 3))
    X, y = X[:n], y[:n]
    model = small_net()
    rec = Recorder()
    quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.05), X, y,
              epochs=1, batch_size=batch_size, seed=0, callbacks=[rec])
    assert len(rec.batches()) == expected


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def test_validation_pair_is_evaluated_every_epoch():
    X, y = blobs(n=40)
    Xv, yv = blobs(n=20, seed=1)
    model = small_net()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=2, batch_size=8, validation=(Xv, yv), seed=0)
    assert len(h["val_loss"]) == 2
    final = evaluate(model, losses.SoftmaxCrossEntropy(), Xv, yv)
    assert h["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-12)
    assert h["val_accuracy"][-1] == pytest.approx(final["accuracy"])


def test_validation_fraction_is_stratified_with_the_right_sizes():
    n = 100
    X = np.random.default_rng(0).normal(size=(n, 4))
    y = np.r_[np.zeros(70, int), np.ones(30, int)]
    seen_train, seen_val = [], []

    class SizeLoss(losses.SoftmaxCrossEntropy):
        def forward(self, output, target):
            (seen_val if not model.training else seen_train).append(np.array(target))
            return super().forward(output, target)

    model = mlp([4, 5, 2], "tanh", seed=0, dtype=np.float64)
    quiet_fit(model, SizeLoss(), optim.SGD(model.parameters(), 0.01), X, y, epochs=1,
              batch_size=1000, validation=0.2, seed=0)
    train_targets = np.concatenate(seen_train)
    val_targets = np.concatenate(seen_val)
    assert len(train_targets) == 80 and len(val_targets) == 20
    assert np.bincount(val_targets).tolist() == [14, 6]      # 20 % of each class
    assert np.bincount(train_targets).tolist() == [56, 24]


def test_validation_fraction_with_many_small_classes_holds_out_samples():
    # 10 classes of 4 samples: 10 % is 4 held-out samples, but 10 % of each class rounds to 0.
    # Expected: a usable held-out set (or a clear FfnnError), never a crash.
    X, _ = blobs(n=40, k=10)
    y = np.repeat(np.arange(10), 4)
    model = mlp([4, 5, 10], "tanh", seed=0, dtype=np.float64)
    try:
        h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                      epochs=1, validation=0.1, seed=0)
    except FfnnError as exc:
        assert "0.1" in str(exc)
    else:
        assert math.isfinite(h["val_loss"][0])


def test_validation_fraction_is_used_for_regression_too():
    X, T = index_regression(n=20)
    model = mlp([3, 4, 1], "tanh", seed=0, dtype=np.float64)
    loss = TargetRecordingLoss()
    h = quiet_fit(model, loss, optim.SGD(model.parameters(), 0.001), X, T, epochs=1, batch_size=100,
                  validation=0.25, seed=0)
    train_idx, val_idx = loss.seen[0][:, 0].astype(int), loss.seen[1][:, 0].astype(int)
    assert len(train_idx) == 15 and len(val_idx) == 5
    assert sorted(np.r_[train_idx, val_idx].tolist()) == list(range(20))
    assert "val_loss" in h.keys() and "val_accuracy" not in h.keys()


# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------

@pytest.fixture
def history(tmp_path):
    X, y = blobs()
    model = small_net()
    return quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1, momentum=0.5),
                     X, y, epochs=3, batch_size=16, validation=0.25, seed=0)


def test_history_records_every_key(history):
    assert len(history) == history.epochs == 3
    for i, r in enumerate(history.records, start=1):
        assert tuple(r) == RECORD_KEYS
        assert r["epoch"] == i
        assert r["lr"] == 0.1 and r["momentum"] == 0.5
        assert r["seconds"] >= 0
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["val_accuracy"] <= 1
    assert history["loss"] == [r["loss"] for r in history.records]
    assert history.keys() == list(RECORD_KEYS)
    with pytest.raises(KeyError, match="nope"):
        history["nope"]
    assert not history.interrupted and not history.stopped_early
    assert "History(epochs=3" in repr(history)


def test_history_training_loss_is_the_mean_over_the_epoch():
    X, y = blobs(n=20)
    model = small_net()
    rec = Recorder()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=1, batch_size=8, shuffle=False, callbacks=[rec])
    batch_losses = [c[2]["loss"] for c in rec.batches()]
    assert h["loss"][0] == pytest.approx((8 * batch_losses[0] + 8 * batch_losses[1] + 4 * batch_losses[2]) / 20)


def test_history_to_csv_and_to_json(history, tmp_path):
    history.to_csv(tmp_path / "h.csv")
    history.to_json(tmp_path / "h.json")
    with open(tmp_path / "h.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert list(rows[0]) == list(RECORD_KEYS)
    for row, rec in zip(rows, history.records):
        for k in RECORD_KEYS:
            assert float(row[k]) == pytest.approx(rec[k], rel=1e-12)
    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc["records"] == json.loads(json.dumps(history.records))
    assert doc["interrupted"] is False and doc["stopped_early"] is False
    assert sorted(os.listdir(tmp_path)) == ["h.csv", "h.json"]      # no temporary files left


def test_empty_history():
    h = History()
    assert len(h) == 0 and h.keys() == []
    with pytest.raises(KeyError):
        h["loss"]


# ---------------------------------------------------------------------------
# callbacks
# ---------------------------------------------------------------------------

def test_callback_hooks_are_called_in_order():
    X, y = blobs(n=10)
    model = small_net()
    rec = Recorder()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=2, batch_size=4, seed=0, callbacks=[rec])
    kinds = [c[0] if c[0] != "epoch_begin" and c[0] != "epoch_end" else (c[0], c[1]) for c in rec.calls]
    kinds = [k if not (isinstance(k, str) and k == "batch_end") else "batch" for k in kinds]
    assert kinds == ["train_begin",
                     ("epoch_begin", 1), "batch", "batch", "batch", ("epoch_end", 1),
                     ("epoch_begin", 2), "batch", "batch", "batch", ("epoch_end", 2),
                     "train_end"]
    assert rec.model is model and rec.history is h
    epoch_logs = [c[2] for c in rec.calls if c[0] == "epoch_end"]
    assert epoch_logs == h.records
    batch_logs = [c[2] for c in rec.batches()]
    assert [b["batch"] for b in batch_logs] == [0, 1, 2, 0, 1, 2]
    assert all(math.isfinite(b["loss"]) for b in batch_logs)


def test_stop_training_stops_after_that_epoch():
    class StopAt(Callback):
        def __init__(self):
            self.batches = 0

        def on_batch_end(self, batch, logs):
            self.batches += 1
            if self.batches == 4:           # the second batch of epoch 2
                self.stop_training = True

    X, y = blobs(n=12)
    model = small_net()
    cb = StopAt()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=10, batch_size=4, seed=0, callbacks=[cb])
    assert len(h) == 2                     # the epoch is finished, then training stops
    assert cb.batches == 6


def test_stop_training_in_on_epoch_end():
    class StopAfter(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 3:
                self.stop_training = True

    X, y = blobs(n=12)
    model = small_net()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=10, batch_size=4, seed=0, callbacks=[StopAfter()])
    assert len(h) == 3


# ---------------------------------------------------------------------------
# early stopping
# ---------------------------------------------------------------------------

class Snapshots(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, epoch, logs):
        self.states[epoch] = self.model.state()


def overfitting_problem():
    """Held-out labels are the opposite of the training labels: held-out loss rises as training fits."""
    X, y = blobs(n=40, k=2)
    return X, y, (X.copy(), 1 - y)


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y, val = overfitting_problem()
    model = small_net(k=2)
    snaps = Snapshots()
    stopper = EarlyStopping(patience=2, restore_best=True)
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.2), X, y,
                  epochs=30, batch_size=8, validation=val, seed=0, callbacks=[snaps], early_stopping=stopper)
    assert h.stopped_early and len(h) < 30
    best = int(np.argmin(h["val_loss"])) + 1
    assert h.best_epoch == stopper.best_epoch == best
    assert len(h) == best + 2                      # patience 2
    assert states_equal(model.state(), snaps.states[best])
    assert not states_equal(model.state(), snaps.states[len(h)])


def test_early_stopping_as_an_int_patience_and_restore_best_false():
    X, y, val = overfitting_problem()
    model = small_net(k=2)
    snaps = Snapshots()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.2), X, y,
                  epochs=30, batch_size=8, validation=val, seed=0, callbacks=[snaps], early_stopping=1)
    assert h.stopped_early and len(h) == int(np.argmin(h["val_loss"])) + 2
    model2 = small_net(k=2)
    snaps2 = Snapshots()
    h2 = quiet_fit(model2, losses.SoftmaxCrossEntropy(), optim.SGD(model2.parameters(), 0.2), X, y,
                   epochs=30, batch_size=8, validation=val, seed=0, callbacks=[snaps2],
                   early_stopping=EarlyStopping(patience=1, restore_best=False))
    assert len(h2) == len(h)
    assert states_equal(model2.state(), snaps2.states[len(h2)])     # the last weights are kept
    assert h2.best_epoch is None


def test_early_stopping_min_delta():
    X, y = blobs(n=30)
    model = small_net()
    # the training loss keeps decreasing, but never by more than 100
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.05), X, y,
                  epochs=20, batch_size=10, seed=0, early_stopping=EarlyStopping(patience=3, min_delta=100.0))
    assert len(h) == 4 and h.stopped_early
    model = small_net()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.05), X, y,
                  epochs=6, batch_size=10, seed=0, early_stopping=EarlyStopping(patience=3, min_delta=0.0))
    assert len(h) == 6 and not h.stopped_early


@pytest.mark.parametrize("kwargs, bad", [({"patience": -1}, "-1"), ({"min_delta": -0.5}, "-0.5")])
def test_early_stopping_rejects_bad_options(kwargs, bad):
    with pytest.raises(ConfigError, match=bad):
        EarlyStopping(**kwargs)


# ---------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------

def test_step_lr_is_stepped_once_per_epoch():
    X, y = blobs(n=20)
    model = small_net()
    opt = optim.SGD(model.parameters(), 0.4)
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=5, batch_size=4, seed=0,
                  schedule=schedules.StepLR(opt, step_size=2, gamma=0.5))
    assert h["lr"] == pytest.approx([0.4, 0.4, 0.2, 0.2, 0.1])      # the lr each epoch used
    assert opt.lr == pytest.approx(0.1)                                # lr_at(5) after 5 steps


def test_reduce_on_plateau_receives_the_held_out_loss():
    class Recording(schedules.ReduceLROnPlateau):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.metrics = []

        def step(self, metric=None):
            self.metrics.append(metric)
            return super().step(metric)

    X, y, val = overfitting_problem()
    model = small_net(k=2)
    opt = optim.SGD(model.parameters(), 0.2)
    plateau = Recording(opt, factor=0.5, patience=0)
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=4, batch_size=8, seed=0,
                  validation=val, schedule=[plateau])
    assert plateau.metrics == h["val_loss"]
    assert plateau.epoch == 4
    # the held-out loss rises after the first epoch, so with patience 0 lr halves at each step
    rises = np.diff(h["val_loss"]) > 0
    assert rises.all()
    assert h["lr"] == pytest.approx([0.2, 0.2, 0.1, 0.05])
    assert opt.lr == pytest.approx(0.025)


def test_schedule_without_held_out_data_gets_the_training_loss():
    class Spy:
        lr = 0.1

        def __init__(self):
            self.metrics = []

        def step(self, metric=None):
            self.metrics.append(metric)

    X, y = blobs(n=20)
    model = small_net()
    spy = Spy()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=3, batch_size=5, seed=0, schedule=spy)
    assert spy.metrics == h["loss"]


def test_momentum_schedule_is_recorded():
    X, y = blobs(n=20)
    model = small_net()
    opt = optim.SGD(model.parameters(), 0.1, momentum=0.9)
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=4, batch_size=5, seed=0,
                  schedule=schedules.MomentumSchedule(opt, 0.5, 0.9, after=2))
    assert h["momentum"] == [0.5, 0.5, 0.9, 0.9]


# ---------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------

class CtrlC(Callback):
    """Sends SIGINT to this process at the ``at``-th batch (counting from 1 over the run)."""

    def __init__(self, at, times=1):
        self.at, self.times, self.count = at, times, 0

    def on_batch_end(self, batch, logs):
        self.count += 1
        if self.count == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_stops_after_the_current_batch():
    X, y = blobs(n=40)
    model = small_net()
    cb = CtrlC(at=7)                         # epoch 2 (5 batches per epoch), its second batch
    rec = Recorder()
    previous = signal.getsignal(signal.SIGINT)
    try:
        h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                      epochs=10, batch_size=8, seed=0, callbacks=[cb, rec])
    except KeyboardInterrupt:                 # pragma: no cover - the bug this test guards against
        pytest.fail("Ctrl-C during fit escaped as KeyboardInterrupt")
    assert h.interrupted
    assert len(h) == 2 < 10
    assert cb.count == 7                      # no batch after the interrupted one
    assert rec.calls[-1] == ("train_end",)
    assert all(math.isfinite(v) for v in h["loss"])
    assert signal.getsignal(signal.SIGINT) is previous          # the handler is put back


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_second_ctrl_c_aborts():
    X, y = blobs(n=40)
    model = small_net()
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=10, batch_size=8, seed=0, callbacks=[CtrlC(at=2, times=2)])
    assert signal.getsignal(signal.SIGINT) is previous


# ---------------------------------------------------------------------------
# divergence
# ---------------------------------------------------------------------------

class EpochStart(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_begin(self, epoch):
        self.states[epoch] = self.model.state()


class Poison(Callback):
    """Writes inf into one parameter after the second batch of epoch 2."""

    def __init__(self, layer, name):
        self.layer, self.name = layer, name

    def on_batch_end(self, batch, logs):
        if len(self.history) == 1 and batch == 1:
            getattr(self.model[self.layer], self.name).value.flat[0] = np.inf


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_injected_inf_raises_diverged_and_rolls_back():
    X, y = blobs(n=40)
    model = small_net()
    starts = EpochStart()
    with pytest.raises(TrainingDivergedError) as info:
        quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=5, batch_size=8, seed=0, callbacks=[starts, Poison(2, "bias")])
    err = info.value
    assert (err.epoch, err.batch) == (2, 2)
    assert "epoch 2" in str(err) and "batch 2" in str(err)
    assert err.layer is not None and "layer 2" in err.layer
    assert err.layer in str(err)
    assert isinstance(err, FfnnError) and isinstance(err, FloatingPointError)
    assert all(np.isfinite(p.value).all() for p in model.parameters())
    assert states_equal(model.state(), starts.states[2])


def test_divergence_is_reported_without_numpy_runtime_warnings():
    # The project treats RuntimeWarnings from ffnn as errors (pyproject filterwarnings); fit
    # detects non-finite values itself, so the path to TrainingDivergedError should not emit
    # "invalid value encountered" / "overflow" warnings first (under the project's filter they
    # replace the TrainingDivergedError).
    import warnings
    X, y = blobs(n=40)
    model = small_net()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(TrainingDivergedError):
            quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                      epochs=5, batch_size=8, seed=0, callbacks=[Poison(2, "bias")])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_inf_weight_hidden_by_a_saturating_activation_is_not_silently_kept():
    # inf in a first-layer weight of a tanh net: tanh(+-inf) = +-1 keeps the loss finite, so a
    # loss-only check never fires. fit must not return a model with a non-finite weight
    # (STYLE rule 8: "refuse or flag non-finite weights and losses").
    X, y = blobs(n=40)
    model = small_net(activation="tanh")
    starts = EpochStart()
    try:
        quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y,
                  epochs=5, batch_size=8, seed=0, callbacks=[starts, Poison(0, "weight")])
    except TrainingDivergedError as err:
        assert err.epoch == 2 and err.layer is not None and "layer 0" in err.layer
        assert states_equal(model.state(), starts.states[2])
    else:
        bad = [name for name, p in model.named_parameters() if not np.isfinite(p.value).all()]
        assert not bad, f"fit returned normally with non-finite parameters {bad}"


def diverging_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    T = 10 * rng.normal(size=(64, 2))
    model = mlp([3, 8, 2], "tanh", seed=0, dtype=np.float64)
    return model, X, T


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_huge_learning_rate_raises_diverged_and_rolls_back():
    model, X, T = diverging_regression()
    starts = EpochStart()
    with pytest.raises(TrainingDivergedError) as info:
        quiet_fit(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), 1e6), X, T,
                  epochs=20, batch_size=8, seed=0, callbacks=[starts])
    err = info.value
    assert isinstance(err.epoch, int) and isinstance(err.batch, int)
    assert f"epoch {err.epoch}" in str(err) and f"batch {err.batch}" in str(err)
    assert "1e+06" in str(err)                           # the learning rate is named
    assert all(np.isfinite(p.value).all() for p in model.parameters())
    assert states_equal(model.state(), starts.states[err.epoch])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_huge_learning_rate_error_names_a_layer():
    # The loss overflows (inf) while every layer output is still finite; the error should still
    # point at a layer (e.g. the one whose output blew up), as the module docstring promises.
    model, X, T = diverging_regression()
    with pytest.raises(TrainingDivergedError) as info:
        quiet_fit(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), 1e6), X, T,
                  epochs=20, batch_size=8, seed=0)
    err = info.value
    assert err.layer is not None, f"no layer named in: {err}"
    assert "layer" in str(err)


# ---------------------------------------------------------------------------
# the model learns
# ---------------------------------------------------------------------------

def test_xor_table_is_learned():
    X, y = data.toy.xor_table()
    model = mlp([2, 8, 2], "tanh", seed=0, dtype=np.float64)
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.5, momentum=0.9),
                  X, y, epochs=300, batch_size=None, seed=0)
    assert h["accuracy"][-1] == 1.0
    assert evaluate(model, losses.SoftmaxCrossEntropy(), X, y)["accuracy"] == 1.0
    assert np.array_equal(model.predict(X).argmax(axis=1), y)


def test_mnist_5k_small_net_learns():
    ds = data.load("mnist-5k")
    model = mlp([784, 64, 10], "relu", seed=0)
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.05, momentum=0.9),
                  ds.X_train, ds.y_train, epochs=2, batch_size=64, seed=0)
    assert len(h) == 2 and h["loss"][1] < h["loss"][0]
    acc = evaluate(model, losses.SoftmaxCrossEntropy(), ds.X_test, ds.y_test)["accuracy"]
    assert acc > 0.85


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def _fit_small(X=None, y=None, **kwargs):
    Xd, yd = blobs(n=12)
    model = small_net()
    return quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1),
                     Xd if X is None else X, yd if y is None else y, **{"epochs": 1, **kwargs})


def _with_nan():
    X, _ = blobs(n=12)
    X[3, 2] = np.nan
    return X


@pytest.mark.parametrize("case, kwargs, error, needle", [
    ("nan in X", lambda: {"X": _with_nan()}, ShapeError, "nan"),
    ("length mismatch", lambda: {"y": np.arange(11) % 3}, ShapeError, "11"),
    ("label out of range", lambda: {"y": np.r_[np.arange(11) % 3, 7]}, LabelError, "7"),
    ("negative label", lambda: {"y": np.r_[np.arange(11) % 3, -1]}, LabelError, "-1"),
    ("non-integer label", lambda: {"y": np.r_[np.arange(11) % 3, 0.5]}, LabelError, "0.5"),
    ("string X", lambda: {"X": "abc"}, ShapeError, "abc"),
    ("string labels", lambda: {"y": np.array(["a"] * 12)}, LabelError, "<U1"),
    ("wrong feature count", lambda: {"X": np.ones((12, 5))}, ShapeError, "5"),
    ("1-D X", lambda: {"X": np.ones(12)}, ShapeError, "(12,)"),
    ("epochs=-1", lambda: {"epochs": -1}, ConfigError, "-1"),
    ("epochs=1.5", lambda: {"epochs": 1.5}, ConfigError, "1.5"),
    ("batch_size=0", lambda: {"batch_size": 0}, ConfigError, "0"),
    ("validation 1.5", lambda: {"validation": 1.5}, ConfigError, "1.5"),
    ("validation 0.0", lambda: {"validation": 0.0}, ConfigError, "0.0"),
    ("validation bad pair", lambda: {"validation": (np.ones((3, 4)),)}, ConfigError, "tuple"),
    ("validation length mismatch", lambda: {"validation": (np.ones((3, 4)), [0, 1])}, ShapeError, "3 and 2"),
    ("validation nan", lambda: {"validation": (np.full((3, 4), np.nan), [0, 1, 2])}, ShapeError, "nan"),
    ("bad seed", lambda: {"seed": "abc"}, ConfigError, "abc"),
])
def test_bad_input_is_refused_with_the_bad_value(case, kwargs, error, needle):
    with pytest.raises(error) as info:
        _fit_small(**kwargs())
    assert isinstance(info.value, (FfnnError,)) and isinstance(info.value, ValueError)
    assert needle in str(info.value), f"{case}: {info.value}"


def test_bad_input_does_not_touch_the_weights():
    Xd, _ = blobs(n=12)
    model = small_net()
    before = model.state()
    with pytest.raises(LabelError):
        quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), Xd,
                  np.r_[np.arange(11) % 3, 9], epochs=1)
    assert states_equal(before, model.state())


def test_fit_refuses_non_model_and_non_loss():
    X, y = blobs(n=12)
    model = small_net()
    with pytest.raises(ConfigError, match="Sequential"):
        fit(object(), losses.SoftmaxCrossEntropy(), None, X, y, progress=False)
    with pytest.raises(ConfigError, match="loss"):
        fit(model, "ce", optim.SGD(model.parameters(), 0.1), X, y, progress=False)


def test_zero_epochs_returns_an_empty_history():
    X, y = blobs(n=12)
    model = small_net()
    before = model.state()
    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), X, y, epochs=0)
    assert len(h) == 0 and states_equal(before, model.state())


# ---------------------------------------------------------------------------
# dtype
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_model_trains_in_its_own_dtype(dt):
    X, y = blobs(n=20, dtype=np.float64 if dt == np.float32 else np.float32)   # the other dtype
    model = small_net(dtype=dt)
    opt = optim.SGD(model.parameters(), 0.1, momentum=0.9)
    seen = []

    class DtypeSpy(Callback):
        def on_batch_end(self, batch, logs):
            seen.append({p.value.dtype for p in self.model.parameters()} | {p.grad.dtype for p in self.model.parameters()})

    h = quiet_fit(model, losses.SoftmaxCrossEntropy(), opt, X, y, epochs=2, batch_size=5, seed=0,
                  validation=0.2, callbacks=[DtypeSpy()])
    assert all(s == {np.dtype(dt)} for s in seen)
    assert all(p.value.dtype == dt for p in model.parameters())
    assert all(v.dtype == dt for v in opt.velocity)
    assert model.dtype == dt
    assert all(math.isfinite(v) for v in h["loss"])


def test_float64_regression_targets_keep_float64():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    T = rng.normal(size=(20, 2)).astype(np.float32)
    model = mlp([3, 4, 2], "tanh", seed=0, dtype=np.float64)
    quiet_fit(model, losses.EuclideanLoss(), optim.SGD(model.parameters(), 0.01), X, T, epochs=1)
    assert all(p.value.dtype == np.float64 for p in model.parameters())


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------

def test_evaluate_matches_a_direct_computation_and_restores_the_mode():
    X, y = blobs(n=50)
    model = mlp([4, 6, 3], "relu", dropout=0.5, seed=0, dtype=np.float64)
    model.train()
    result = evaluate(model, losses.SoftmaxCrossEntropy(), X, y, batch_size=7)
    assert model.training
    model.eval()
    out = model.forward(X)
    loss = losses.SoftmaxCrossEntropy().forward(out, y)
    assert result["loss"] == pytest.approx(loss, rel=1e-12)
    assert result["accuracy"] == pytest.approx(np.mean(out.argmax(axis=1) == y))


def test_evaluate_regression_has_no_accuracy():
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    model = mlp([3, 4, 1], "tanh", seed=0, dtype=np.float64)
    result = evaluate(model, losses.EuclideanLoss(), X, T, batch_size=3)
    assert set(result) == {"loss"}
    assert result["loss"] == pytest.approx(0.5 * np.mean(np.sum((model.predict(X) - T) ** 2, axis=1)))


# ---------------------------------------------------------------------------
# accuracy of every target kind, and the epoch's running totals
# ---------------------------------------------------------------------------

FROZEN_LR = 1e-300     # an SGD step that leaves every weight exactly as it was


def frozen_fit(model, loss, X, T, **kwargs):
    """One epoch whose steps change nothing: every batch sees the initial weights (made
    nonzero by :func:`nudged`: a zero bias would move by lr * grad)."""
    before = model.state()
    h = quiet_fit(model, loss, optim.SGD(model.parameters(), FROZEN_LR), X, T, epochs=1, seed=0, **kwargs)
    assert states_equal(model.state(), before)
    return h


def nudged(model):
    for p in model.parameters():
        p.value += 0.0625
    return model


def probability_rows(y, k):
    """Soft targets whose most probable class is ``y``: 0.6 on it, the rest spread."""
    P = np.full((len(y), k), 0.4 / (k - 1))
    P[np.arange(len(y)), y] = 0.6
    return P


@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize("targets", ["labels", "one-hot", "probabilities"])
def test_accuracy_of_labels_one_hot_and_probability_targets(targets, batch_size):
    X, y = blobs(n=30)
    model = nudged(small_net(seed=3))
    out = model.forward(X)
    expected = np.mean(out.argmax(axis=1) == y)
    assert 0 < expected < 1 and expected != 0.5          # a flipped comparison would show
    T = {"labels": y, "one-hot": np.eye(3)[y], "probabilities": probability_rows(y, 3)}[targets]
    h = frozen_fit(model, losses.SoftmaxCrossEntropy(), X, T, batch_size=batch_size, validation=(X, T))
    assert h["accuracy"][0] == pytest.approx(expected, abs=1e-12)
    assert h["val_accuracy"][0] == pytest.approx(expected, abs=1e-12)
    assert evaluate(model, losses.SoftmaxCrossEntropy(), X, T, batch_size=4)["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize("batch_size", [None, 4])
def test_binary_cross_entropy_accuracy_counts_each_output(batch_size):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(18, 4))
    T = (rng.random((18, 2)) > 0.5).astype(np.float64)
    model = nudged(mlp([4, 5, 2], "tanh", seed=2, dtype=np.float64))
    out = model.forward(X)
    expected = np.mean((out > 0) == (T > 0.5))          # logits: a 1 is predicted above 0
    assert 0 < expected < 1 and expected != 0.5
    h = frozen_fit(model, losses.BinaryCrossEntropy(), X, T, batch_size=batch_size, validation=(X, T))
    assert h["accuracy"][0] == pytest.approx(expected, abs=1e-12)
    assert h["val_accuracy"][0] == pytest.approx(expected, abs=1e-12)


def test_regression_records_no_accuracy():
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(12, 3)), rng.normal(size=(12, 1))
    h = frozen_fit(nudged(mlp([3, 4, 1], "tanh", seed=0, dtype=np.float64)), losses.EuclideanLoss(), X, T,
                   batch_size=5, validation=(X, T))
    assert "accuracy" not in h.keys() and "val_accuracy" not in h.keys() and "val_loss" in h.keys()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_epoch_loss_of_minibatches_with_a_remainder(reduction):
    X, y = blobs(n=23)
    model = nudged(small_net())
    loss = losses.SoftmaxCrossEntropy(reduction=reduction)
    direct = loss.forward(model.forward(X), y)
    h = frozen_fit(model, loss, X, y, batch_size=10, shuffle=False)
    # mean: the sum over batches of (batch mean * batch size) / n; sum: the sum of the batch sums
    assert h["loss"][0] == pytest.approx(direct, rel=1e-12)
    held_out = evaluate(model, loss, X, y, batch_size=6)
    assert held_out["loss"] == pytest.approx(direct, rel=1e-12)


def test_batches_per_epoch_is_an_int_with_the_remainder():
    from ffnn.train import Trainer
    X, y = blobs(n=10)
    model = small_net()
    trainer = Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1), batch_size=4)
    assert trainer.batches_per_epoch == 0                  # nothing bound yet
    trainer.run_epoch(X, y)
    assert trainer.batches_per_epoch == 3 and type(trainer.batches_per_epoch) is int
    for batch_size, expected in [(5, 2), (64, 1), (1, 10), (None, 1)]:
        trainer = Trainer(model, losses.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), 0.1),
                          batch_size=batch_size)
        trainer.run_epoch(X, y)
        assert trainer.batches_per_epoch == expected and type(trainer.batches_per_epoch) is int
