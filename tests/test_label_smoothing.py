"""Label smoothing in SoftmaxCrossEntropy: PyTorch's definition in float64, central
differences, and the ``label_smoothing`` option of the recipe and ``ffnn train``."""

from __future__ import annotations

import numpy as np
import pytest

from ffnn import losses
from ffnn.cli import build_parser
from ffnn.errors import ConfigError
from ffnn.recipe import Recipe
from reference import compare_with_torch

torch = pytest.importorskip("torch")


def _logits(n=6, k=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, k)) * 3


@pytest.mark.requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("eps", [0.1, 0.35, 1.0])
def test_matches_torch_cross_entropy_with_labels(eps, reduction):
    loss = losses.SoftmaxCrossEntropy(reduction=reduction, label_smoothing=eps)
    labels = np.array([0, 3, 1, 1, 2, 0])
    torch_loss = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=eps)
    compare_with_torch(lambda z, t: loss.forward(z, t), lambda r: r * loss.backward(),
                       lambda z, t: torch_loss(z, t), [_logits(), labels])


@pytest.mark.requires_torch
def test_matches_torch_cross_entropy_with_probability_targets():
    loss = losses.SoftmaxCrossEntropy(label_smoothing=0.2)
    t = np.random.default_rng(1).dirichlet(np.ones(4), size=6)
    torch_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.2)
    compare_with_torch(lambda z, t: loss.forward(z, t), lambda r: r * loss.backward(),
                       lambda z, tt: torch_loss(z, tt), [_logits(), t], differentiable=[True, False])


def test_gradient_is_p_minus_the_smoothed_target_by_central_differences():
    z, labels = _logits(), np.array([0, 3, 1, 1, 2, 0])
    loss = losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    loss.forward(z, labels)
    analytic = loss.backward().copy()
    numeric = np.empty_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += 1e-6
        zm[i] -= 1e-6
        numeric[i] = (loss.forward(zp, labels) - loss.forward(zm, labels)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    smoothed = np.full_like(z, 0.1 / 4)
    smoothed[np.arange(6), labels] += 0.9
    np.testing.assert_allclose(analytic, (p - smoothed) / 6, rtol=1e-12)


def test_zero_smoothing_is_the_plain_loss_and_float32_stays_float32():
    z, labels = _logits().astype(np.float32), np.array([0, 3, 1, 1, 2, 0])
    plain, smooth0 = losses.SoftmaxCrossEntropy(), losses.SoftmaxCrossEntropy(label_smoothing=0.0)
    assert plain.forward(z, labels) == smooth0.forward(z, labels)
    smooth = losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    smooth.forward(z, labels)
    assert smooth.backward().dtype == np.float32
    assert smooth.config() == {"reduction": "mean", "label_smoothing": 0.1}


def test_bad_smoothing_is_refused():
    with pytest.raises(ConfigError, match="label_smoothing"):
        losses.SoftmaxCrossEntropy(label_smoothing=1.5)
    with pytest.raises(ConfigError, match="label_smoothing applies to the softmax cross-entropy"):
        Recipe(loss="mse", label_smoothing=0.1)


def test_recipe_and_command_line_build_the_smoothed_loss():
    recipe = Recipe(data="xor", hidden="4", epochs=1, label_smoothing=0.1)
    assert recipe.prepare().loss.label_smoothing == 0.1
    args = build_parser().parse_args(["train", "--label-smoothing", "0.1"])
    assert args.label_smoothing == 0.1
    assert "--label-smoothing 0.1" in recipe.to_command()
