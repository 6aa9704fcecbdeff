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


# ----------------------------------------------------------------------------- the engine's protocol
# check_targets (validates a whole target array once), count_correct (accuracy), __call__,
# config and repr: exact values, messages and the boundaries of each rule.

def _label_error(fn, message):
    from ffnn.errors import LabelError
    with pytest.raises(LabelError) as info:
        fn()
    assert str(info.value) == message


def test_check_targets_class_labels():
    loss = losses.SoftmaxCrossEntropy()
    out = loss.check_targets([0, 2, 1], 3)
    assert out.dtype == np.intp and out.tolist() == [0, 2, 1]
    assert loss.check_targets(np.array([0.0, 2.0]), None).dtype == np.intp     # K from the largest label
    _label_error(lambda: loss.check_targets([0, 3], 3), "y must be in [0, 3) for 3 classes, got 3")
    # without n_outputs, K = max(label) + 1 (at least 1): named in the message
    _label_error(lambda: loss.check_targets([-1, 2], None, what="labels"),
                 "labels must be in [0, 3) for 3 classes, got -1")
    _label_error(lambda: loss.check_targets([-1], None), "y must be in [0, 1) for 1 classes, got -1")
    _label_error(lambda: loss.check_targets("ab", 3), "y must be an array of targets, got the string 'ab'")


def test_check_targets_dense_and_binary():
    probs = losses.SoftmaxCrossEntropy().check_targets([[0.25, 0.75]], 2, dtype=np.float32)
    assert probs.dtype == np.float32 and probs.tolist() == [[0.25, 0.75]]
    values = losses.EuclideanLoss().check_targets([[1, -2]], 2)
    assert values.dtype == np.float64 and values.tolist() == [[1.0, -2.0]]
    _label_error(lambda: losses.EuclideanLoss().check_targets(np.array(["a", "b"]), 1),
                 "y must be numeric, got dtype <U1 (class labels need a classification loss)")
    _label_error(lambda: losses.EuclideanLoss().check_targets(np.array([1j]), 1),
                 "y must be numeric, got dtype complex128")
    bce = losses.BinaryCrossEntropy()
    assert bce.check_targets([[0.0, 1.0, 0.5]], 3).tolist() == [[0.0, 1.0, 0.5]]   # [0, 1] closed
    assert bce.check_targets(np.zeros((0, 2)), 2).shape == (0, 2)
    _label_error(lambda: bce.check_targets([[0.0, 1.5]], 2, what="t"),     # names the first value out
                 "t: BinaryCrossEntropy targets must lie in [0, 1], got 1.5")
    _label_error(lambda: bce.check_targets([[1.0, -0.5]], 2),
                 "y: BinaryCrossEntropy targets must lie in [0, 1], got -0.5")
    with pytest.raises(ShapeError) as info:
        losses.EuclideanLoss().check_targets([[np.nan]], 1, what="t")
    assert str(info.value) == "t contains a non-finite value nan at index (0, 0); expected finite numbers"
    # a regression loss takes any real value
    assert losses.EuclideanLoss().check_targets([[-0.5, 1.5]], 2).tolist() == [[-0.5, 1.5]]


def test_count_correct_classes():
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    loss = losses.SoftmaxCrossEntropy()
    assert loss.count_correct(out, np.array([1, 1, 1, 0])) == 2.0
    probs = np.array([[0.0, 1.0], [0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])     # most probable class, row by row
    assert loss.count_correct(out, probs) == 4.0
    assert losses.CrossEntropy().count_correct(out, np.array([0, 0, 0, 0])) == 1.0


def test_count_correct_binary_at_the_thresholds():
    # logits: an output counts as 1 above 0 (0 itself is 0); a target counts as 1 above 0.5
    out = np.array([[0.5, -0.5], [0.0, 2.0], [-1.0, 1.0]])
    target = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.0]])
    assert losses.BinaryCrossEntropy().count_correct(out, target) == 2.5     # 5 of 6 outputs, 2 per sample
    probs = np.array([[0.5], [0.75], [0.25]])                                  # 0.5 itself predicts 0
    assert losses.BinaryCrossEntropy(from_logits=False).count_correct(probs, np.array([0.0, 1.0, 1.0])) == 2.0
    assert losses.EuclideanLoss().count_correct(out, target) is None


def test_call_is_forward():
    gen = np.random.default_rng(3)
    y, t = _logits(gen), gen.integers(0, K, N)
    called, direct = losses.SoftmaxCrossEntropy(), losses.SoftmaxCrossEntropy()
    assert called(y, t) == direct.forward(y, t)
    np.testing.assert_array_equal(called.backward(), direct.backward())


@pytest.mark.parametrize("loss, text", [
    (losses.EuclideanLoss(), "EuclideanLoss(reduction='mean')"),
    (losses.SoftmaxCrossEntropy(reduction="sum", label_smoothing=0.1),
     "SoftmaxCrossEntropy(reduction='sum', label_smoothing=0.1)"),
    (losses.CrossEntropy(), "CrossEntropy(reduction='mean')"),
    (losses.BinaryCrossEntropy(from_logits=False, reduction="sum"),
     "BinaryCrossEntropy(from_logits=False, reduction='sum')"),
    (losses.RobustBinaryCrossEntropy(0.2, from_logits=False, reduction="sum"),
     "RobustBinaryCrossEntropy(epsilon=0.2, from_logits=False, reduction='sum')"),
])
def test_config_and_repr(loss, text):
    assert repr(loss) == text
    rebuilt = type(loss)(**loss.config())
    assert rebuilt.config() == loss.config() and repr(rebuilt) == text


# ----------------------------------------------------------------------------- sample weights
WEIGHTED = [
    (lambda: losses.EuclideanLoss, lambda gen: gen.standard_normal((N, K))),
    (lambda: losses.SoftmaxCrossEntropy, lambda gen: gen.integers(0, K, N)),
    (lambda: losses.SoftmaxCrossEntropy, _soft_targets),
    (lambda: losses.BinaryCrossEntropy, _binary),
    (lambda: (lambda reduction: losses.BinaryCrossEntropy(from_logits=False, reduction=reduction)),
     _binary),
    (lambda: losses.RobustBinaryCrossEntropy, _binary),
    (lambda: (lambda reduction: losses.RobustBinaryCrossEntropy(0.0, reduction=reduction)), _binary),
    (lambda: (lambda reduction: losses.RobustBinaryCrossEntropy(0.2, from_logits=False, reduction=reduction)),
     _binary),
]
WEIGHTED_IDS = ["euclid", "sce-labels", "sce-probs", "bce", "bce-probs", "robust", "robust-eps0", "robust-probs"]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("make, target", WEIGHTED, ids=WEIGHTED_IDS)
def test_sample_weight_weights_each_sample(make, target, reduction):
    # E = sum_n w_n E^(n) / sum_n w_n ("mean") or sum_n w_n E^(n) ("sum"), row by row
    gen = np.random.default_rng(5)
    cls = make()
    y = _probs(gen) if "probs" in repr(cls(reduction="sum")) or "False" in repr(cls(reduction="sum")) else _logits(gen)
    t = target(gen)
    w = gen.uniform(0.5, 2.0, N)
    loss = cls(reduction=reduction)
    value = loss.forward(y, t, sample_weight=w)
    grad = loss.backward()
    per_row, grads = [], []
    for n in range(N):
        one = cls(reduction="sum")
        per_row.append(one.forward(y[n:n + 1], t[n:n + 1]))
        grads.append(one.backward()[0])
    factor = w / w.sum() if reduction == "mean" else w
    assert value == pytest.approx(float(np.dot(factor, per_row)), rel=1e-12)
    np.testing.assert_allclose(grad, factor[:, None] * np.array(grads), rtol=1e-12, atol=1e-15)
    # float32 outputs: the weights take the output's dtype, so the gradient stays float32
    loss32 = cls(reduction=reduction)
    loss32.forward(y.astype(np.float32), t, sample_weight=w)
    assert loss32.backward().dtype == np.float32


def test_sample_weight_is_checked():
    y = np.zeros((3, 2))
    for weights, message in [(np.ones(2), "EuclideanLoss: 2 sample weights for 3 samples"),
                             (np.ones((3, 1)), "sample_weight must be 1-D, got shape (3, 1)"),
                             ([1.0, np.inf, 1.0], "sample_weight contains a non-finite value inf at index (1,); "
                                                  "expected finite numbers")]:
        with pytest.raises(ShapeError) as info:
            losses.EuclideanLoss().forward(y, y, sample_weight=weights)
        assert str(info.value) == message


# ----------------------------------------------------------------------------- messages and edge cases

def _error(kind, fn, message):
    with pytest.raises(kind) as info:
        fn()
    assert str(info.value) == message


def test_output_and_target_checks_name_the_loss():
    from ffnn.errors import LabelError
    ce, euclid = losses.CrossEntropy(), losses.EuclideanLoss()
    _error(ConfigError, lambda: losses.EuclideanLoss(reduction="avg"),
           "reduction must be one of 'mean', 'sum'; got 'avg'")
    _error(ShapeError, losses.CrossEntropy().backward, "CrossEntropy.backward called before forward")
    _error(ShapeError, lambda: euclid.forward([[1.0]], [[1.0]]),
           "EuclideanLoss expects the network output as a floating-point array, got list")
    _error(ShapeError, lambda: euclid.forward(np.array([[1]]), [[1]]),
           "EuclideanLoss expects the network output as a floating-point array, got ndarray of dtype int64")
    _error(ShapeError, lambda: ce.forward(np.ones(3), [0]),
           "CrossEntropy expects a 2-D batch of shape (n_samples, n_features), got shape (3,)")
    _error(ShapeError, lambda: euclid.forward(np.zeros((0, 2)), np.zeros((0, 2))),
           "EuclideanLoss got an empty batch (0 samples)")
    assert euclid.forward(np.zeros((2, 0)), np.zeros((2, 0))) == 0.0      # no outputs: nothing to lose
    _error(LabelError, lambda: euclid.forward(np.zeros((1, 2)), "ab"),
           "EuclideanLoss expects numeric targets, got the string 'ab'")
    _error(LabelError, lambda: ce.forward(np.ones((1, 2)),
           "ab"), "CrossEntropy expects numeric targets, got the string 'ab'")
    _error(LabelError, lambda: euclid.forward(np.zeros((1, 2)), np.array([["a", "b"]])),
           "EuclideanLoss expects numeric targets, got dtype <U1")
    _error(ShapeError, lambda: euclid.forward(np.zeros((3, 2)), np.zeros((3, 1))),
           "EuclideanLoss: target shape (3, 1) does not match the output shape (3, 2)")
    _error(LabelError, lambda: ce.forward(np.full((2, 3), 1 / 3), np.array([0, 5])),
           "CrossEntropy labels must be in [0, 3) for 3 classes, got 5")
    _error(ShapeError, lambda: ce.forward(np.full((3, 3), 1 / 3), np.array([0, 1])),
           "CrossEntropy: 2 labels for 3 outputs")


def test_cross_entropy_label_forms_agree():
    y = np.array([[0.2, 0.8], [0.6, 0.4]])
    expected = -(np.log(0.8) + np.log(0.6)) / 2
    for target in ([1, 0], np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0]])):
        assert losses.CrossEntropy().forward(y, target) == pytest.approx(expected, rel=1e-14)
    # one output: a (N,) target is the dense target of that output, not class labels
    assert losses.CrossEntropy().forward(np.array([[1.0], [0.5]]), np.array([1.0, 0.0])) == 0.0


def test_softmax_cross_entropy_label_forms_agree():
    z = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0]])
    reference = losses.SoftmaxCrossEntropy()
    expected = reference.forward(z, np.array([0, 1, 2], np.intp))
    grad = reference.backward().copy()
    for target in ([0, 1, 2], np.array([0, 1, 2], np.int32), np.array([0.0, 1.0, 2.0]), np.eye(3)):
        loss = losses.SoftmaxCrossEntropy()
        assert loss.forward(z, target) == pytest.approx(expected, rel=1e-14), target
        np.testing.assert_allclose(loss.backward(), grad, rtol=1e-14, atol=1e-16)


def test_softmax_cross_entropy_rejects_bad_labels_with_their_name():
    from ffnn.errors import LabelError
    z = np.zeros((2, 3))
    sce = losses.SoftmaxCrossEntropy()
    for labels, bad in [(np.array([-1, 0], np.intp), "-1"), (np.array([3, 0], np.intp), "3"),
                        (np.array([0.5, 0.0]), None)]:
        with pytest.raises(LabelError) as info:
            sce.forward(z, labels)
        if bad is not None:
            assert str(info.value) == f"SoftmaxCrossEntropy labels must be in [0, 3) for 3 classes, got {bad}"
        else:
            assert str(info.value) == "SoftmaxCrossEntropy labels must be integers in [0, 3), got the non-integer 0.5"
    _error(ShapeError, lambda: sce.forward(z, np.array([], np.intp)), "SoftmaxCrossEntropy: 0 labels for 2 outputs")
    _error(ShapeError, lambda: sce.forward(z, np.array([0, 1, 2], np.int32)),
           "SoftmaxCrossEntropy: 3 labels for 2 outputs")
    _error(LabelError, lambda: sce.forward(z, np.array([[0.5, 1.0, -0.5], [1.0, 0.0, 0.0]])),
           "SoftmaxCrossEntropy probability targets must be >= 0, got -0.5")
    _error(LabelError, lambda: sce.forward(z, "ab"), "SoftmaxCrossEntropy expects numeric targets, got the string 'ab'")
    _error(ConfigError, lambda: losses.SoftmaxCrossEntropy(label_smoothing=-0.5),
           "label_smoothing must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0])")
    _error(ConfigError, lambda: losses.SoftmaxCrossEntropy(label_smoothing=1.5),
           "label_smoothing must be <= 1.0, got 1.5 (expected a value in [0.0, 1.0])")
    assert losses.SoftmaxCrossEntropy(label_smoothing=1.0).label_smoothing == 1.0


def test_softmax_cross_entropy_shifts_each_row_by_its_own_max():
    # one row of huge logits must not push another row's exponentials to 0
    z = np.array([[1000.0, 0.0], [0.0, 1.0]])
    loss = losses.SoftmaxCrossEntropy(reduction="sum")
    assert loss.forward(z, np.array([0, 1])) == pytest.approx(np.log1p(np.exp(-1000.0)) + np.log1p(np.exp(-1.0)))
    assert np.isfinite(loss.backward()).all()


def test_softmax_cross_entropy_batch_size_may_change():
    gen = np.random.default_rng(2)
    loss = losses.SoftmaxCrossEntropy(reduction="sum")
    for n in (3, 2, 3, 1):
        z, t = gen.standard_normal((n, 4)), gen.integers(0, 4, n)
        fresh = losses.SoftmaxCrossEntropy(reduction="sum")
        assert loss.forward(z, t) == fresh.forward(z, t)
        np.testing.assert_array_equal(loss.backward(), fresh.backward())


def test_binary_targets_outside_0_1_are_named():
    from ffnn.errors import LabelError
    y = np.zeros((1, 4))
    for loss in (losses.BinaryCrossEntropy(), losses.RobustBinaryCrossEntropy()):
        name = type(loss).__name__
        _error(LabelError, lambda loss=loss: loss.forward(y, np.array([[0.0, 1.0, 1.5, -0.5]])),
               f"{name} targets must lie in [0, 1], got 1.5")
        _error(LabelError, lambda loss=loss: loss.forward(y, np.array([[1.0, 0.0, 2.0, 0.5]])),
               f"{name} targets must lie in [0, 1], got 2")
    _error(LabelError, lambda: losses.RobustBinaryCrossEntropy().forward(y, np.array([[0.0, 1.0, 0.5, 0.25]])),
           "RobustBinaryCrossEntropy targets must be 0 or 1, got 0.5")


@pytest.mark.parametrize("loss", [losses.BinaryCrossEntropy(from_logits=False),
                                  losses.RobustBinaryCrossEntropy(0.1, from_logits=False)], ids=["bce", "robust"])
def test_probability_outputs_of_exactly_0_and_1_stay_finite(loss):
    y = np.array([[0.0, 1.0, 0.0, 1.0]])
    value = loss.forward(y, np.array([[0.0, 1.0, 1.0, 0.0]]))
    assert np.isfinite(value) and np.isfinite(loss.backward()).all()
    value = loss.forward(y, np.array([[0.0, 1.0, 0.0, 1.0]]))            # all right: close to the minimum
    assert np.isfinite(value) and np.isfinite(loss.backward()).all()


def test_robust_binary_cross_entropy_defaults_and_epsilon_range():
    assert losses.RobustBinaryCrossEntropy().config() == {"epsilon": 0.1, "from_logits": True, "reduction": "mean"}
    assert losses.RobustBinaryCrossEntropy(0.0).epsilon == 0.0
    _error(ConfigError, lambda: losses.RobustBinaryCrossEntropy(-0.1),
           "epsilon must be >= 0.0, got -0.1 (expected a value in [0.0, 0.5))")
    _error(ConfigError, lambda: losses.RobustBinaryCrossEntropy(0.5),
           "epsilon must be < 0.5, got 0.5 (expected a value in [0.0, 0.5))")


def test_robust_at_epsilon_zero_is_binary_cross_entropy_in_both_dtypes(dtype):
    gen = np.random.default_rng(4)
    y, t = _logits(gen).astype(dtype), _binary(gen)
    robust, bce = losses.RobustBinaryCrossEntropy(0.0), losses.BinaryCrossEntropy()
    assert robust.forward(y, t) == pytest.approx(bce.forward(y, t), rel=1e-6)
    grad = robust.backward()
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, bce.backward(), rtol=1e-5, atol=1e-7)


def test_losses_module_names():
    from ffnn.catalog import LOSS_CLASSES
    assert losses.LOSSES is LOSS_CLASSES
    with pytest.raises(AttributeError) as info:
        losses.bogus  # noqa: B018
    assert str(info.value) == "module 'ffnn.losses' has no attribute 'bogus'"


def test_robust_probabilities_at_epsilon_zero_stay_finite_when_all_wrong():
    # at eps = 0 nothing bounds q = s, so the clipping of p to [tiny, 1 - epsneg] keeps log q finite
    loss = losses.RobustBinaryCrossEntropy(0.0, from_logits=False)
    value = loss.forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    assert np.isfinite(value) and np.isfinite(loss.backward()).all()


def test_robust_logits_gradient_at_epsilon_zero_in_float32():
    # dE/dz = -sigma (1 - s) / N at eps = 0 (s/q = 1), computed in the output's dtype
    from ffnn._math import sigmoid
    gen = np.random.default_rng(0)
    y = (gen.standard_normal((6, 4)) * 3).astype(np.float32)
    t = gen.integers(0, 2, (6, 4)).astype(np.float32)
    loss = losses.RobustBinaryCrossEntropy(0.0)
    loss.forward(y, t)
    sign = 2.0 * t - 1.0
    np.testing.assert_array_equal(loss.backward(), -sign * (1.0 - sigmoid(sign * y)) * (1 / 6))
