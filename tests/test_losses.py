"""Losses: values and gradients against PyTorch float64 and central differences; stability."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import pytest

import ffnn
from ffnn import layers, losses
from ffnn.errors import ConfigError, ShapeError
from reference import compare_with_torch

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = F = None

N, K = 6, 4


def _logits(gen):
    return gen.standard_normal((N, K)) * 2


def _probs(gen):
    z = _logits(gen)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _soft_targets(gen):
    return _probs(gen)


def _binary(gen):
    return gen.integers(0, 2, (N, K)).astype(np.float64)


def _in_unit(gen):
    return gen.uniform(0.05, 0.95, (N, K))


def _reduce(per_element_sum, n, reduction):
    return per_element_sum / n if reduction == "mean" else per_element_sum


def _robust_torch(p, t, eps):
    q = (1 - eps) * p ** t * (1 - p) ** (1 - t) + eps * p ** (1 - t) * (1 - p) ** t
    return -torch.log(q).sum()


# (id, make loss(reduction), make output(gen), make target(gen), torch loss(y, t, reduction))
LOSS_CASES = [
    ("Euclidean", lambda r: losses.EuclideanLoss(reduction=r), lambda g: g.standard_normal((N, K)),
     lambda g: g.standard_normal((N, K)),
     lambda y, t, r: _reduce(0.5 * ((y - t) ** 2).sum(), len(y), r)),
    ("SoftmaxCE-labels", lambda r: losses.SoftmaxCrossEntropy(reduction=r), _logits,
     lambda g: g.integers(0, K, N), lambda z, t, r: F.cross_entropy(z, t, reduction=r)),
    ("SoftmaxCE-probs", lambda r: losses.SoftmaxCrossEntropy(reduction=r), _logits, _soft_targets,
     lambda z, t, r: F.cross_entropy(z, t, reduction=r)),
    ("CrossEntropy-labels", lambda r: losses.CrossEntropy(reduction=r), _probs,
     lambda g: g.integers(0, K, N),
     lambda p, t, r: _reduce(-torch.log(p)[torch.arange(len(p)), t].sum(), len(p), r)),
    ("CrossEntropy-probs", lambda r: losses.CrossEntropy(reduction=r), _probs, _soft_targets,
     lambda p, t, r: _reduce(-(t * torch.log(p)).sum(), len(p), r)),
    ("BCE-logits", lambda r: losses.BinaryCrossEntropy(True, reduction=r), _logits, _binary,
     lambda z, t, r: _reduce(F.binary_cross_entropy_with_logits(z, t, reduction="sum"), len(z), r)),
    ("BCE-logits-soft", lambda r: losses.BinaryCrossEntropy(True, reduction=r), _logits, _in_unit,
     lambda z, t, r: _reduce(F.binary_cross_entropy_with_logits(z, t, reduction="sum"), len(z), r)),
    ("BCE-probs", lambda r: losses.BinaryCrossEntropy(False, reduction=r), _in_unit, _binary,
     lambda p, t, r: _reduce(F.binary_cross_entropy(p, t, reduction="sum"), len(p), r)),
    ("RobustBCE-logits", lambda r: losses.RobustBinaryCrossEntropy(0.1, True, reduction=r), _logits, _binary,
     lambda z, t, r: _reduce(_robust_torch(torch.sigmoid(z), t, 0.1), len(z), r)),
    ("RobustBCE-probs", lambda r: losses.RobustBinaryCrossEntropy(0.2, False, reduction=r), _in_unit, _binary,
     lambda p, t, r: _reduce(_robust_torch(p, t, 0.2), len(p), r)),
]
CASE_IDS = [c[0] for c in LOSS_CASES]
REDUCTIONS = ["mean", "sum"]


def _case(case_id):
    return next(c for c in LOSS_CASES if c[0] == case_id)


def test_every_loss_has_a_case():
    covered = {type(_case(i)[1]("mean")).__name__ for i in CASE_IDS}
    assert covered == set(losses.LOSSES)


@pytest.mark.requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_loss_matches_torch_float64(case_id, reduction):
    _, make, out_fn, target_fn, torch_fn = _case(case_id)
    gen = np.random.default_rng(0)
    y, t = out_fn(gen), target_fn(gen)
    loss = make(reduction)
    compare_with_torch(lambda a, b: loss.forward(a, b), lambda R: R * loss.backward(),
                       lambda a, b: torch_fn(a, b, reduction), [y, t], differentiable=[True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_loss_central_differences(case_id, reduction):
    _, make, out_fn, target_fn, _ = _case(case_id)
    gen = np.random.default_rng(1)
    y, t = out_fn(gen), target_fn(gen)
    loss = make(reduction)
    value = loss.forward(y, t)
    assert isinstance(value, float)
    analytic = loss.backward().copy()
    assert analytic.shape == y.shape
    eps = 1e-6
    numeric = np.empty_like(y)
    for i in np.ndindex(y.shape):
        saved = y[i]
        y[i] = saved + eps
        plus = loss.forward(y, t)
        y[i] = saved - eps
        minus = loss.forward(y, t)
        y[i] = saved
        numeric[i] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9, err_msg=f"{case_id} {reduction}")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_sum_is_n_times_mean(case_id):
    _, make, out_fn, target_fn, _ = _case(case_id)
    gen = np.random.default_rng(2)
    y, t = out_fn(gen), target_fn(gen)
    mean, total = make("mean"), make("sum")
    np.testing.assert_allclose(total.forward(y, t), N * mean.forward(y, t), rtol=1e-12)
    np.testing.assert_allclose(total.backward(), N * mean.backward(), rtol=1e-12)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_loss_keeps_dtype_and_returns_float(case_id, dtype):
    _, make, out_fn, target_fn, _ = _case(case_id)
    gen = np.random.default_rng(3)
    y, t = out_fn(gen).astype(dtype), target_fn(gen)
    if np.asarray(t).dtype.kind == "f":
        t = t.astype(dtype)
    loss = make("mean")
    value = loss.forward(y, t)
    assert type(value) is float and np.isfinite(value)
    g = loss.backward()
    assert g.dtype == dtype and g.shape == y.shape


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_loss_gradient_is_caller_owned(case_id):
    _, make, out_fn, target_fn, _ = _case(case_id)
    gen = np.random.default_rng(4)
    loss = make("mean")
    loss.forward(out_fn(gen), target_fn(gen))
    g1 = loss.backward()
    kept = g1.copy()
    loss.forward(out_fn(gen), target_fn(gen))
    loss.backward()
    np.testing.assert_array_equal(g1, kept)


def test_loss_backward_before_forward_raises():
    with pytest.raises(ShapeError, match="before forward"):
        losses.EuclideanLoss().backward()


def test_bad_reduction_raises_config_error():
    with pytest.raises(ConfigError, match="'avg'"):
        losses.EuclideanLoss(reduction="avg")


def test_euclidean_loss_is_half_sum_of_squares_mean_over_samples():
    y = np.array([[1.0, 2.0], [3.0, 0.0]])
    t = np.zeros_like(y)
    assert losses.EuclideanLoss().forward(y, t) == pytest.approx(0.5 * (5 + 9) / 2)
    assert losses.EuclideanLoss(reduction="sum").forward(y, t) == pytest.approx(0.5 * 14)


def test_single_output_accepts_1d_target():
    z = np.array([[0.3], [-1.2], [2.0]])
    t = np.array([1.0, 0.0, 1.0])
    a, b = losses.BinaryCrossEntropy(), losses.BinaryCrossEntropy()
    assert a.forward(z, t) == b.forward(z, t[:, None])
    np.testing.assert_array_equal(a.backward(), b.backward())


# ----------------------------------------------------------------------------- robust BCE
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probs"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_robust_bce_at_epsilon_zero_equals_bce(from_logits, reduction):
    gen = np.random.default_rng(5)
    y = _logits(gen) if from_logits else _in_unit(gen)
    t = _binary(gen)
    robust = losses.RobustBinaryCrossEntropy(0.0, from_logits=from_logits, reduction=reduction)
    plain = losses.BinaryCrossEntropy(from_logits=from_logits, reduction=reduction)
    np.testing.assert_allclose(robust.forward(y, t), plain.forward(y, t), rtol=1e-12)
    np.testing.assert_allclose(robust.backward(), plain.backward(), rtol=1e-10, atol=1e-15)


@contextmanager
def no_float_trouble():
    """Overflow/invalid/divide raise, any warning raises; exact underflow to 0 is allowed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            yield


@pytest.mark.parametrize("eps", [0.01, 0.1, 0.3])
@pytest.mark.parametrize("z", [-20.0, -50.0, -1e4])
def test_robust_bce_bounded_for_confidently_wrong_label(eps, z):
    y, t = np.array([[z]]), np.array([[1.0]])
    with no_float_trouble():
        robust = losses.RobustBinaryCrossEntropy(eps, from_logits=True, reduction="sum").forward(y, t)
        plain = losses.BinaryCrossEntropy(from_logits=True, reduction="sum").forward(y, t)
        robust_p = losses.RobustBinaryCrossEntropy(eps, from_logits=False, reduction="sum").forward(
            np.array([[0.0]]), t)
    assert robust <= -np.log(eps) + 1e-12
    assert robust == pytest.approx(-np.log(eps), rel=1e-6)
    assert robust_p <= -np.log(eps) + 1e-12
    assert plain == pytest.approx(-z, rel=1e-6)  # plain BCE grows without bound


def test_robust_bce_bound_per_element_with_many_outputs():
    eps = 0.1
    y = np.full((3, 4), 30.0)
    t = np.zeros((3, 4))  # every label contradicts a confident output
    value = losses.RobustBinaryCrossEntropy(eps, reduction="sum").forward(y, t)
    assert value <= 12 * -np.log(eps) + 1e-9


# ----------------------------------------------------------------------------- stability
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_softmax_cross_entropy_stable_for_huge_logits(dt):
    z = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], dtype=dt)
    with no_float_trouble():
        loss = losses.SoftmaxCrossEntropy(reduction="sum")
        assert loss.forward(z, np.array([0, 1])) == 0.0
        np.testing.assert_allclose(loss.backward(), np.zeros_like(z), atol=0)
        assert loss.forward(z, np.array([1, 2])) == pytest.approx(2e4)
        g = loss.backward()
    np.testing.assert_allclose(g, [[1, -1, 0], [0, 1, -1]], atol=1e-7)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["float32", "float64"])
def test_bce_from_logits_stable_for_huge_logits(dt):
    z = np.array([[1e4, -1e4]], dtype=dt)
    with no_float_trouble():
        loss = losses.BinaryCrossEntropy(reduction="sum")
        assert loss.forward(z, np.array([[1.0, 0.0]])) == 0.0
        assert loss.forward(z, np.array([[0.0, 1.0]])) == pytest.approx(2e4)
        np.testing.assert_array_equal(loss.backward(), np.array([[1.0, -1.0]], dtype=dt))
        robust = losses.RobustBinaryCrossEntropy(0.1, reduction="sum")
        assert np.isfinite(robust.forward(z, np.array([[0.0, 1.0]])))
        assert np.isfinite(robust.backward()).all()


def test_cross_entropy_finite_when_probability_underflows():
    y = np.array([[1.0, 0.0]])
    with no_float_trouble():
        loss = losses.CrossEntropy()
        value = loss.forward(y, np.array([1]))
        assert np.isfinite(value) and np.isfinite(loss.backward()).all()


# ----------------------------------------------------------------------------- CrossEntropy on Softmax
@pytest.mark.parametrize("target_kind", ["labels", "probs"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_after_softmax_equals_fused(target_kind, reduction):
    gen = np.random.default_rng(6)
    X = gen.standard_normal((N, 3))
    t = gen.integers(0, K, N) if target_kind == "labels" else _soft_targets(gen)
    logits_net = ffnn.Sequential([layers.Linear(3, K, rng=0, dtype=np.float64)])
    prob_net = ffnn.Sequential([layers.Linear(3, K, rng=0, dtype=np.float64), layers.Softmax()])
    fused, ce = losses.SoftmaxCrossEntropy(reduction=reduction), losses.CrossEntropy(reduction=reduction)
    v1 = fused.forward(logits_net.forward(X), t)
    v2 = ce.forward(prob_net.forward(X), t)
    assert v1 == pytest.approx(v2, rel=1e-12)
    # gradient w.r.t. the logits: through the Softmax layer vs fused (p - t)/N
    g_fused = fused.backward()
    g_through = np.array(prob_net[1].backward(ce.backward()))
    np.testing.assert_allclose(g_through, g_fused, rtol=1e-9, atol=1e-14)
    dx1 = logits_net.backward(g_fused)
    dx2 = prob_net.backward(ce.backward())
    np.testing.assert_allclose(dx2, dx1, rtol=1e-9, atol=1e-14)
    for p, q in zip(logits_net.parameters(), prob_net.parameters()):
        np.testing.assert_allclose(q.grad, p.grad, rtol=1e-9, atol=1e-14, err_msg=p.name)
