"""Gradient clipping by the global norm: ``torch.nn.utils.clip_grad_norm_``'s definition, the
engine option ``Trainer(clip_grad_norm=...)`` and ``ffnn train --clip-grad-norm``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ffnn
from ffnn import losses, mlp, optim
from ffnn.callbacks import GradientClipping
from ffnn.cli import build_parser
from ffnn.errors import ConfigError
from ffnn.recipe import Recipe

torch = pytest.importorskip("torch")


def _net_with_grads(scale, seed=0):
    net = mlp([4, 6, 3], dtype=np.float64, seed=seed)
    gen = np.random.default_rng(seed)
    for p in net.parameters():
        p.grad[...] = gen.standard_normal(p.shape) * scale
    return net


class _Attached:
    """What the engine gives a callback: the trainer (its parameters)."""

    def __init__(self, net):
        self.parameters = net.parameters()


@pytest.mark.requires_torch
@pytest.mark.parametrize("scale, max_norm", [(1.0, 0.5), (1.0, 100.0), (10.0, 2.0)])
def test_clips_as_torch_clip_grad_norm(scale, max_norm):
    net = _net_with_grads(scale)
    tensors = [torch.from_numpy(p.value.copy()).requires_grad_() for p in net.parameters()]
    for t, p in zip(tensors, net.parameters(), strict=True):
        t.grad = torch.from_numpy(p.grad.copy())
    total = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    clip = GradientClipping(max_norm)
    clip.trainer = _Attached(net)
    clip.on_before_step(0)
    assert clip.last_norm == pytest.approx(total, rel=1e-12)
    for t, p in zip(tensors, net.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)
    norm = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in net.parameters()))
    assert norm <= max_norm * (1 + 1e-9) or total <= max_norm


def _data(seed=0):
    gen = np.random.default_rng(seed)
    return gen.standard_normal((40, 4)).astype(np.float32), gen.integers(0, 3, 40)


def test_the_engine_clips_before_every_step():
    X, y = _data()
    net = mlp([4, 6, 3], seed=0)
    seen = []

    class Probe(ffnn.Callback):            # after each step: the gradients the step used
        def on_batch_end(self, batch, logs):
            seen.append(math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in self.model.parameters())))

    trainer = ffnn.Trainer(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.1),
                           callbacks=[Probe()], clip_grad_norm=0.05, batch_size=8, seed=0)
    trainer.run_epoch(X, y)
    assert len(seen) == 5 and max(seen) <= 0.05 * (1 + 1e-5)
    clipper = [cb for cb in trainer.callbacks if isinstance(cb, GradientClipping)]
    assert len(clipper) == 1 and clipper[0].last_norm > 0.05


def test_clipping_changes_the_weights_only_when_the_norm_is_larger():
    X, y = _data()

    def train(clip):
        net = mlp([4, 6, 3], seed=0)
        ffnn.Trainer(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.1), clip_grad_norm=clip,
                     batch_size=8, seed=0).run_epoch(X, y)
        return net[0].weight.value.copy()

    plain = train(None)
    np.testing.assert_array_equal(train(1e6), plain)
    assert not np.allclose(train(1e-3), plain)


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match="clip_grad_norm"):
        GradientClipping(0.0)
    net = mlp([2, 2], seed=0)
    with pytest.raises(ConfigError, match="clip_grad_norm"):
        ffnn.Trainer(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.1), clip_grad_norm=-1)
    with pytest.raises(ConfigError, match="clip_grad_norm"):
        Recipe(clip_grad_norm=0)


def test_recipe_and_command_line_option():
    recipe = Recipe(data="xor", hidden="4", epochs=1, clip_grad_norm=2.5)
    trainer = recipe.prepare().trainer()
    assert [cb.max_norm for cb in trainer.callbacks if isinstance(cb, GradientClipping)] == [2.5]
    assert "--clip-grad-norm 2.5" in recipe.to_command()
    assert build_parser().parse_args(["train", "--clip-grad-norm", "2.5"]).clip_grad_norm == 2.5
