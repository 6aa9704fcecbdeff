"""BatchNorm and LayerNorm beyond the layer contract (tests/test_layers.py runs the contract,
central differences in both modes and the whole-net gradient check): PyTorch in float64,
PyTorch's running statistics, evaluation mode, model files, checkpoints and ``mlp(norm=)``."""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn import layers, losses, mlp, optim
from ffnn.errors import ConfigError, ShapeError
from reference import compare_with_torch, to_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _x(n=6, d=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)) * 2 + 0.5


def _affine(layer, seed=3):
    """Distinct gamma and beta, so that a mixed-up index shows."""
    gen = np.random.default_rng(seed)
    layer.weight.value[...] = gen.uniform(0.5, 1.5, layer.num_features)
    layer.bias.value[...] = gen.standard_normal(layer.num_features)
    return layer


def _params(layer):
    return {"weight": (layer.weight, to_torch(layer.weight.value, requires_grad=True)),
            "bias": (layer.bias, to_torch(layer.bias.value, requires_grad=True))}


@pytest.mark.requires_torch
def test_batchnorm_training_matches_torch_float64():
    layer = _affine(layers.BatchNorm(5, dtype=np.float64))
    params = _params(layer)
    w, b = params["weight"][1], params["bias"][1]
    compare_with_torch(layer.forward, layer.backward,
                       lambda x: F.batch_norm(x, None, None, w, b, training=True, eps=1e-5), [_x()], params)


@pytest.mark.requires_torch
def test_batchnorm_eval_matches_torch_float64():
    layer = _affine(layers.BatchNorm(5, dtype=np.float64)).eval()
    gen = np.random.default_rng(7)
    layer.running_mean = gen.standard_normal(5)
    layer.running_var = gen.uniform(0.5, 2.0, 5)
    mean, var = torch.from_numpy(layer.running_mean.copy()), torch.from_numpy(layer.running_var.copy())
    params = _params(layer)
    w, b = params["weight"][1], params["bias"][1]
    compare_with_torch(layer.forward, layer.backward,
                       lambda x: F.batch_norm(x, mean, var, w, b, training=False, eps=1e-5), [_x()], params)


@pytest.mark.requires_torch
@pytest.mark.parametrize("momentum", [0.1, 0.3, 1.0])
def test_running_statistics_follow_torch_batchnorm1d(momentum):
    ours = layers.BatchNorm(5, momentum=momentum, eps=1e-3, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(5, momentum=momentum, eps=1e-3).double()
    for seed, n in enumerate([6, 2, 9]):
        x = _x(n, seed=seed)
        ours.forward(x)
        theirs(to_torch(x))
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12, atol=1e-14)
    theirs.eval()
    ours.eval()
    x = _x(4, seed=9)
    np.testing.assert_allclose(ours.forward(x), theirs(to_torch(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.requires_torch
def test_layernorm_matches_torch_float64():
    layer = _affine(layers.LayerNorm(5, eps=1e-4, dtype=np.float64))
    params = _params(layer)
    w, b = params["weight"][1], params["bias"][1]
    compare_with_torch(layer.forward, layer.backward, lambda x: F.layer_norm(x, (5,), w, b, eps=1e-4),
                       [_x()], params)


def test_batchnorm_normalizes_each_feature_over_the_batch():
    y = layers.BatchNorm(5, eps=1e-12, dtype=np.float64).forward(_x(50))
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-9)


def test_layernorm_normalizes_each_sample_over_its_features():
    y = layers.LayerNorm(5, eps=1e-12, dtype=np.float64).forward(_x(4))
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1.0, rtol=1e-9)


def test_batchnorm_needs_two_samples_in_training_but_not_in_evaluation():
    layer = layers.BatchNorm(5)
    with pytest.raises(ShapeError, match="more than 1 sample"):
        layer.forward(_x(1).astype(np.float32))
    assert layer.eval().forward(_x(1).astype(np.float32)).shape == (1, 5)


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="momentum"):
        layers.BatchNorm(3, momentum=0.0)
    with pytest.raises(ConfigError, match="eps"):
        layers.LayerNorm(3, eps=0.0)
    with pytest.raises(ShapeError, match=r"running_mean must have shape \(3,\)"):
        layers.BatchNorm(3, running_mean=[0.0, 1.0])
    with pytest.raises(ConfigError, match="running_var"):
        layers.BatchNorm(2, running_var=[1.0, -1.0])
    with pytest.raises(ShapeError, match="expects 3 input features"):
        layers.LayerNorm(3).forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError, match="outputs 4"):
        ffnn.Sequential([layers.Linear(2, 4), layers.BatchNorm(3)])


def test_model_eval_switches_batchnorm_to_its_running_statistics():
    net = mlp([5, 8, 3], norm="batch", seed=0)
    x = _x(16).astype(np.float32)
    for _ in range(3):
        net.forward(x)
    bn = net[1]
    train_out = net.forward(x)
    net.eval()
    before = bn.running_mean.copy()
    eval_out = net.forward(x)
    np.testing.assert_array_equal(bn.running_mean, before)       # evaluation does not update them
    assert not np.allclose(train_out, eval_out)
    assert net.predict(x).shape == (16, 3) and not net.training


def _trained(norm="batch", seed=0):
    net = mlp([5, 8, 3], norm=norm, dropout=0.1, seed=seed)
    gen = np.random.default_rng(seed)
    X, y = gen.standard_normal((64, 5)).astype(np.float32), gen.integers(0, 3, 64)
    ffnn.fit(net, losses.SoftmaxCrossEntropy(), optim.Adam(net.parameters(), lr=0.01), X, y, epochs=2,
             batch_size=16, seed=0, progress=False)
    return net, X


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_the_running_statistics_are_saved_in_model_files(tmp_path, norm):
    net, X = _trained(norm)
    ffnn.save(net, tmp_path / "net.ffnn")
    loaded = ffnn.load(tmp_path / "net.ffnn")
    if norm == "batch":
        np.testing.assert_array_equal(loaded[1].running_mean, net[1].running_mean)
        np.testing.assert_array_equal(loaded[1].running_var, net[1].running_var)
        assert not np.allclose(net[1].running_var, 1.0)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_checkpoints_restore_the_running_statistics():
    net, X = _trained("batch")
    gen = np.random.default_rng(1)
    y = gen.integers(0, 3, len(X))
    trainer = ffnn.Trainer(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.01), seed=0)
    trainer.run_epoch(X, y)
    state = trainer.state_dict()
    saved = net[1].running_mean.copy()
    trainer.run_epoch(X, y)
    assert not np.array_equal(net[1].running_mean, saved)
    trainer.load_state_dict(state)
    np.testing.assert_array_equal(net[1].running_mean, saved)
    with pytest.raises(ConfigError, match="running_mean and running_var"):
        net[1].load_extra_state({"rng": 1})


def test_astype_float64_carries_the_running_statistics():
    net, X = _trained("batch")
    wide = net.astype(np.float64).eval()
    np.testing.assert_allclose(wide.forward(X.astype(np.float64)), net.predict(X), rtol=1e-4, atol=1e-5)
    assert wide[1].running_mean.dtype == np.float64


def test_mlp_puts_the_norm_between_each_hidden_linear_and_its_activation():
    net = mlp([4, 6, 5, 2], "tanh", norm="layer", dropout=0.2, seed=0)
    assert [type(m).__name__ for m in net] == ["Linear", "LayerNorm", "Tanh", "Dropout",
                                              "Linear", "LayerNorm", "Tanh", "Dropout", "Linear"]
    assert net[1].num_features == 6 and net[5].num_features == 5
    with pytest.raises(ConfigError, match="norm must be one of batch, layer"):
        mlp([4, 2, 2], norm="group")


def test_norm_parameters_are_not_weight_decayed():
    bn = layers.BatchNorm(3)
    assert [(p.name, p.decay) for p in bn.parameters()] == [("weight", False), ("bias", False)]
    assert layers.LayerNorm(3, affine=False).parameters() == []


class _RunningMeans(ffnn.callbacks.Callback):
    """Records the first BatchNorm's running mean at the end of each epoch."""

    def __init__(self) -> None:
        self.means: list[np.ndarray] = []

    def on_epoch_end(self, epoch, logs):
        self.means.append(self.model[1].running_mean.copy())


def _norm_problem():
    gen = np.random.default_rng(0)
    X, y = gen.standard_normal((64, 5)).astype(np.float32), gen.integers(0, 3, 64)
    return mlp([5, 8, 3], norm="batch", seed=0), X, y


def test_early_stopping_puts_back_the_running_statistics_of_the_best_epoch():
    net, X, y = _norm_problem()
    record = _RunningMeans()
    stop = ffnn.EarlyStopping(patience=10, monitor="loss", mode="max")   # the best is the first (worst) epoch
    ffnn.fit(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.1), X, y, epochs=4,
             batch_size=16, seed=0, progress=False, callbacks=[record], early_stopping=stop)
    assert stop.best_epoch == 1 and not np.array_equal(record.means[-1], record.means[0])
    np.testing.assert_array_equal(net[1].running_mean, record.means[0])
    state = stop.state_dict()                      # kept in checkpoints, checked when read back
    assert len(state["best_layers"]) == len(net.layers)
    with pytest.raises(ConfigError, match="one extra state per layer"):
        stop.load_state_dict({**state, "best_layers": state["best_layers"][:1]})


def test_the_divergence_rollback_puts_back_the_running_statistics():
    class Poison(ffnn.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1:                # in the second epoch: a weight turns NaN
                self.model[0].weight.value[0, 0] = np.nan

    net, X, y = _norm_problem()
    record = _RunningMeans()
    with pytest.raises(ffnn.TrainingDivergedError):
        ffnn.fit(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.1), X, y, epochs=3,
                 batch_size=16, seed=0, progress=False, callbacks=[record, Poison()])
    assert len(record.means) == 1 and np.isfinite(record.means[0]).all()
    np.testing.assert_array_equal(net[1].running_mean, record.means[0])
