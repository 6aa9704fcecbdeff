"""Tests of ffnn.optim: hand-computed single steps, trajectories against torch.optim,
in-place float32 updates, checkpoints and hyper-parameter validation."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from ffnn.errors import ConfigError, ShapeError
from ffnn.optim import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    adadelta_update,
    adagrad_update,
    adam_update,
    rmsprop_update,
    sgd_update,
)
from ffnn.parameter import Parameter
from ffnn.schedules import StepLR

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")

W0 = np.array([[1.0, 2.0], [3.0, 4.0]])
G0 = np.array([[0.5, -1.0], [0.25, 2.0]])


def make_param(value=W0, decay=True, grad=G0, name="weight"):
    p = Parameter(np.array(value, dtype=np.float64), name=name, decay=decay)
    p.grad[...] = grad
    return p


# ---------------------------------------------------------------------------
# One step (or two) recomputed by hand, float64, 2x2
# ---------------------------------------------------------------------------

def test_sgd_plain_step_by_hand():
    p = make_param()
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.value, [[0.95, 2.1], [2.975, 3.8]], rtol=0, atol=1e-15)


def test_sgd_momentum_weight_decay_two_steps_by_hand():
    w, b = make_param(), make_param(decay=False, name="bias")
    opt = SGD([w, b], lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()
    # g = grad + 0.1*w = [[0.6, -0.8], [0.55, 2.4]]; v = -0.1*g; w = w + v
    np.testing.assert_allclose(opt.velocity[0], [[-0.06, 0.08], [-0.055, -0.24]], atol=1e-15)
    np.testing.assert_allclose(w.value, [[0.94, 2.08], [2.945, 3.76]], atol=1e-15)
    # bias: no decay, v = -0.1*grad
    np.testing.assert_allclose(b.value, [[0.95, 2.1], [2.975, 3.8]], atol=1e-15)
    opt.step()
    # g = grad + 0.1*w = [[0.594, -0.792], [0.5445, 2.376]]; v = 0.9*v - 0.1*g
    np.testing.assert_allclose(opt.velocity[0], [[-0.1134, 0.1512], [-0.10395, -0.4536]],
                               atol=1e-15)
    np.testing.assert_allclose(w.value, [[0.8266, 2.2312], [2.84105, 3.3064]], atol=1e-14)
    # bias: v = 0.9*(-0.1 g) - 0.1 g = -0.19 g
    np.testing.assert_allclose(b.value, W0 - 0.1 * G0 - 0.19 * G0, atol=1e-15)


def test_sgd_nesterov_two_steps_by_hand():
    p = make_param()
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.step()
    # v = -0.1 g = [[-0.05, 0.1], [-0.025, -0.2]]; w = w + 0.9 v - 0.1 g
    np.testing.assert_allclose(p.value, [[0.905, 2.19], [2.9525, 3.62]], atol=1e-15)
    opt.step()
    # v = 0.9*(-0.1 g) - 0.1 g = -0.19 g; step = 0.9*v - 0.1 g = -0.271 g
    np.testing.assert_allclose(p.value, [[0.7695, 2.461], [2.88475, 3.078]], atol=1e-14)


def test_adam_two_steps_by_hand():
    p = make_param()
    opt = Adam([p], lr=0.1, betas=(0.9, 0.999), eps=0.0)
    opt.step()
    # m_hat = g, v_hat = g^2 at step 1: w -= 0.1 * sign(g)
    np.testing.assert_allclose(p.value, [[0.9, 2.1], [2.9, 3.9]], atol=1e-15)
    g2 = np.array([[1.0, -1.0], [0.5, -2.0]])
    p.grad[...] = g2
    opt.step()
    m = 0.9 * 0.1 * G0 + 0.1 * g2          # [[0.145, -0.19], [0.0725, -0.02]]
    v = 0.999 * 0.001 * G0**2 + 0.001 * g2**2
    np.testing.assert_allclose(m, [[0.145, -0.19], [0.0725, -0.02]], atol=1e-15)
    np.testing.assert_allclose(v, [[0.00124975, 0.001999], [0.0003124375, 0.007996]], atol=1e-15)
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)      # 1 - 0.81 = 0.19, 0.001999
    expected = np.array([[0.9, 2.1], [2.9, 3.9]]) - 0.1 * m_hat / np.sqrt(v_hat)
    np.testing.assert_allclose(p.value, expected, rtol=1e-14)
    np.testing.assert_allclose(opt.exp_avg[0], m, rtol=1e-14)
    np.testing.assert_allclose(opt.exp_avg_sq[0], v, rtol=1e-14)


def test_adam_l2_decay_and_amsgrad_by_hand():
    p = make_param()
    opt = Adam([p], lr=0.1, eps=0.0, weight_decay=0.25, amsgrad=True)
    opt.step()
    g = G0 + 0.25 * W0                     # [[0.75, -0.5], [1.0, 3.0]]
    np.testing.assert_allclose(g, [[0.75, -0.5], [1.0, 3.0]], atol=1e-15)
    # step 1: m_hat = g, v_hat = g^2: w -= 0.1*sign(g)
    np.testing.assert_allclose(p.value, [[0.9, 2.1], [2.9, 3.9]], atol=1e-15)
    np.testing.assert_allclose(opt.max_exp_avg_sq[0], 0.001 * g**2, rtol=1e-14)
    # step 2 with a zero effective gradient (grad = -0.25 w): v shrinks, AMSGrad keeps its max
    w1 = p.value.copy()
    p.grad[...] = -0.25 * w1
    opt.step()
    m = 0.09 * g
    v_max = 0.001 * g**2                   # > v = 0.999 * 0.001 * g**2
    np.testing.assert_allclose(opt.exp_avg_sq[0], 0.999 * 0.001 * g**2, rtol=1e-14)
    np.testing.assert_allclose(opt.max_exp_avg_sq[0], v_max, rtol=1e-14)
    expected = w1 - 0.1 * (m / 0.19) / np.sqrt(v_max / (1 - 0.999**2))
    np.testing.assert_allclose(p.value, expected, rtol=1e-14)


def test_adamw_step_by_hand():
    p = make_param()
    opt = AdamW([p], lr=0.1, eps=0.0, weight_decay=0.5)
    opt.step()
    # w <- (1 - 0.1*0.5) w, then w -= 0.1 * sign(g)
    np.testing.assert_allclose(p.value, 0.95 * W0 - 0.1 * np.sign(G0), atol=1e-15)
    np.testing.assert_allclose(p.value, [[0.85, 2.0], [2.75, 3.7]], atol=1e-15)


def test_rmsprop_steps_by_hand():
    p = make_param()
    RMSprop([p], lr=0.01, alpha=0.75, eps=0.0).step()
    # s = 0.25 g^2, sqrt(s) = 0.5 |g|: w -= 0.02 sign(g)
    np.testing.assert_allclose(p.value, [[0.98, 2.02], [2.98, 3.98]], atol=1e-15)

    p = make_param()
    RMSprop([p], lr=0.01, alpha=0.75, eps=0.0, centered=True).step()
    # grad_avg = 0.25 g; s - grad_avg^2 = (0.25 - 0.0625) g^2 = 0.1875 g^2
    np.testing.assert_allclose(p.value, W0 - 0.01 * np.sign(G0) / np.sqrt(0.1875), rtol=1e-15)

    p = make_param()
    opt = RMSprop([p], lr=0.01, alpha=0.75, eps=0.0, momentum=0.9)
    opt.step()
    opt.step()
    # step 1: b = g/(0.5|g|) = 2 sign(g); step 2: s = (0.75*0.25 + 0.25) g^2 = 0.4375 g^2,
    # b = 0.9*2 sign(g) + sign(g)/sqrt(0.4375); w -= 0.01*b each step
    b2 = (1.8 + 1 / np.sqrt(0.4375)) * np.sign(G0)
    np.testing.assert_allclose(opt.momentum_buffer[0], b2, rtol=1e-15)
    np.testing.assert_allclose(p.value, W0 - 0.02 * np.sign(G0) - 0.01 * b2, rtol=1e-15)


def test_adagrad_steps_by_hand():
    p = make_param()
    opt = Adagrad([p], lr=0.5, lr_decay=0.5, eps=0.0)
    opt.step()
    # G = g^2; w -= 0.5 * g/|g|
    np.testing.assert_allclose(p.value, [[0.5, 2.5], [2.5, 3.5]], atol=1e-15)
    opt.step()
    # lr_2 = 0.5/(1 + 0.5) = 1/3; G = 2 g^2; w -= (1/3) sign(g)/sqrt(2)
    np.testing.assert_allclose(opt.accumulator[0], 2 * G0**2, atol=1e-15)
    np.testing.assert_allclose(p.value, [[0.5, 2.5], [2.5, 3.5]] - np.sign(G0) / (3 * np.sqrt(2)),
                               rtol=1e-15)


def test_adagrad_initial_accumulator_and_decay_by_hand():
    w, b = make_param(), make_param(decay=False)
    Adagrad([w, b], lr=0.5, eps=0.0, initial_accumulator_value=1.0, weight_decay=0.5).step()
    g = G0 + 0.5 * W0
    np.testing.assert_allclose(w.value, W0 - 0.5 * g / np.sqrt(1 + g**2), rtol=1e-15)
    np.testing.assert_allclose(b.value, W0 - 0.5 * G0 / np.sqrt(1 + G0**2), rtol=1e-15)


def test_pure_update_functions_work_alone():
    w, v = W0.copy(), np.zeros((2, 2))
    sgd_update(w, G0, v, lr=0.1)               # allocates its own scratch
    np.testing.assert_allclose(w, W0 - 0.1 * G0, atol=1e-15)
    w, m, s = W0.copy(), np.zeros((2, 2)), np.zeros((2, 2))
    adam_update(w, G0, m, s, step=1, lr=0.1, eps=0.0)
    np.testing.assert_allclose(w, W0 - 0.1 * np.sign(G0), atol=1e-15)
    w, s = W0.copy(), np.zeros((2, 2))
    rmsprop_update(w, G0, s, lr=0.01, alpha=0.75, eps=0.0)
    np.testing.assert_allclose(w, W0 - 0.02 * np.sign(G0), atol=1e-15)
    w, acc = W0.copy(), np.zeros((2, 2))
    adagrad_update(w, G0, acc, step=1, lr=0.5, eps=0.0)
    np.testing.assert_allclose(w, W0 - 0.5 * np.sign(G0), atol=1e-15)
    g = G0.copy()
    sgd_update(W0.copy(), g, np.zeros((2, 2)), lr=0.1, momentum=0.9, weight_decay=0.1,
               work=(np.empty((2, 2)), np.empty((2, 2))))
    np.testing.assert_array_equal(g, G0)       # the gradient is read, never written


# ---------------------------------------------------------------------------
# Trajectories against torch.optim (float64, same gradients fed to both)
# ---------------------------------------------------------------------------

def _problem(seed=0):
    """A 2-layer tanh regression net 3 -> 4 -> 2 on 8 samples, with its data."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(8, 3))
    T = rng.normal(size=(8, 2))
    values = [rng.normal(size=(4, 3)), 0.1 * rng.normal(size=4),
              rng.normal(size=(2, 4)), 0.1 * rng.normal(size=2)]
    return X, T, values


def _grads(values, X, T):
    """Gradients of E = 1/(2N) sum ||tanh(X W1^T + b1) W2^T + b2 - T||^2."""
    W1, b1, W2, b2 = values
    h = np.tanh(X @ W1.T + b1)
    d_out = (h @ W2.T + b2 - T) / len(X)
    d_h = (d_out @ W2) * (1 - h**2)
    return [d_h.T @ X, d_h.sum(0), d_out.T @ h, d_out.sum(0)]


CASES = [
    ("sgd", SGD, dict(lr=0.1), "SGD", dict(lr=0.1)),
    ("sgd-lr10", SGD, dict(lr=10.0), "SGD", dict(lr=10.0)),
    ("sgd-lr10-momentum", SGD, dict(lr=10.0, momentum=0.9), "SGD", dict(lr=10.0, momentum=0.9)),
    ("sgd-momentum", SGD, dict(lr=0.1, momentum=0.9), "SGD", dict(lr=0.1, momentum=0.9)),
    ("sgd-nesterov", SGD, dict(lr=0.1, momentum=0.9, nesterov=True),
     "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd-weight-decay", SGD, dict(lr=0.1, weight_decay=0.05),
     "SGD", dict(lr=0.1, weight_decay=0.05)),
    ("sgd-momentum-weight-decay", SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.05),
     "SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.05)),
    ("sgd-nesterov-weight-decay", SGD, dict(lr=0.5, momentum=0.5, nesterov=True, weight_decay=0.1),
     "SGD", dict(lr=0.5, momentum=0.5, nesterov=True, weight_decay=0.1)),
    ("adam", Adam, dict(lr=0.01), "Adam", dict(lr=0.01)),
    ("adam-lr1", Adam, dict(lr=1.0, betas=(0.8, 0.9)), "Adam", dict(lr=1.0, betas=(0.8, 0.9))),
    ("adam-weight-decay", Adam, dict(lr=0.01, weight_decay=0.1),
     "Adam", dict(lr=0.01, weight_decay=0.1)),
    ("adam-amsgrad", Adam, dict(lr=0.05, amsgrad=True), "Adam", dict(lr=0.05, amsgrad=True)),
    ("adam-amsgrad-weight-decay", Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1, eps=1e-6),
     "Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, eps=1e-6)),
    ("adamw", AdamW, dict(lr=0.01), "AdamW", dict(lr=0.01)),
    ("adamw-strong", AdamW, dict(lr=0.1, weight_decay=0.5, amsgrad=True),
     "AdamW", dict(lr=0.1, weight_decay=0.5, amsgrad=True)),
    ("rmsprop", RMSprop, dict(lr=0.01), "RMSprop", dict(lr=0.01)),
    ("rmsprop-centered", RMSprop, dict(lr=0.01, centered=True),
     "RMSprop", dict(lr=0.01, centered=True)),
    ("rmsprop-momentum", RMSprop, dict(lr=0.01, momentum=0.9),
     "RMSprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop-all", RMSprop, dict(lr=0.02, alpha=0.9, eps=1e-6, momentum=0.5, centered=True,
                                  weight_decay=0.1),
     "RMSprop", dict(lr=0.02, alpha=0.9, eps=1e-6, momentum=0.5, centered=True,
                     weight_decay=0.1)),
    ("adagrad", Adagrad, dict(lr=0.1), "Adagrad", dict(lr=0.1)),
    ("adagrad-lr-decay", Adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1,
                                       weight_decay=0.1),
     "Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1, weight_decay=0.1)),
]


@requires_torch
@pytest.mark.parametrize("ours, kwargs, theirs, torch_kwargs",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_trajectory_matches_torch(ours, kwargs, theirs, torch_kwargs):
    X, T, values = _problem()
    decays = [True, False, True, False]
    params = [Parameter(v.copy(), name=n, decay=d)
              for v, n, d in zip(values, ["W1", "b1", "W2", "b2"], decays)]
    opt = ours(params, **kwargs)
    tparams = [torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True) for v in values]
    # ffnn never decays biases; torch decays its whole group: biases get their own group.
    groups = [{"params": [tparams[0], tparams[2]]},
              {"params": [tparams[1], tparams[3]], "weight_decay": 0.0}]
    topt = getattr(torch.optim, theirs)(groups, **torch_kwargs)
    for step in range(12):
        grads = _grads([p.value for p in params], X, T)
        for p, tp, g in zip(params, tparams, grads):
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, tp in zip(params, tparams):
            expected = tp.detach().numpy()
            assert np.isfinite(p.value).all()
            np.testing.assert_allclose(
                p.value, expected, rtol=1e-10, atol=1e-12,
                err_msg=f"{ours.__name__}{kwargs} vs torch.optim.{theirs} at step {step + 1}, "
                        f"parameter {p.name}:\nffnn  {p.value!r}\ntorch {expected!r}")


def _reference_sgd(w, grads, lrs, momentum, nesterov):
    """The course's momentum as a literal loop: v = m*v - lr*g; w = w + v."""
    w, v = w.copy(), np.zeros_like(w)
    out = []
    for g, lr in zip(grads, lrs):
        v = momentum * v - lr * g
        w = w + momentum * v - lr * g if nesterov else w + v
        out.append(w.copy())
    return out


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_under_step_lr_follows_course_form(nesterov):
    X, T, values = _problem(1)
    p = Parameter(values[0].copy(), name="W1")
    W2 = values[2]
    opt = SGD([p], lr=0.5, momentum=0.9, nesterov=nesterov)
    schedule = StepLR(opt, step_size=1, gamma=0.5)
    grads, lrs, ours = [], [], []
    for step in range(12):
        g = _grads([p.value, values[1], W2, values[3]], X, T)[0]
        grads.append(g.copy())
        lrs.append(opt.lr)
        p.grad[...] = g
        opt.step()
        ours.append(p.value.copy())
        if step % 3 == 2:                   # an "epoch" is 3 steps
            schedule.step()
    assert lrs == [0.5] * 3 + [0.25] * 3 + [0.125] * 3 + [0.0625] * 3
    reference = _reference_sgd(values[0], grads, lrs, 0.9, nesterov)
    for k, (a, b) in enumerate(zip(ours, reference)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}")


@requires_torch
def test_momentum_under_changing_lr_differs_from_torch_by_design():
    # torch rescales the stored velocity when lr changes; ffnn's velocity carries old lrs.
    w0, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    p = Parameter(w0.copy())
    p.grad[...] = g
    opt = SGD([p], lr=0.1, momentum=0.9)
    tp = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    for lr in [0.1, 0.01]:
        opt.lr = lr
        topt.param_groups[0]["lr"] = lr
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    # ffnn: v2 = 0.9*(-0.1 g) - 0.01 g = -0.1 g; torch: w -= 0.01*(0.9 g + g) = 0.019 g
    np.testing.assert_allclose(p.value, w0 - 0.1 * g - 0.1 * g, rtol=1e-14)
    np.testing.assert_allclose(tp.detach().numpy(), w0 - 0.1 * g - 0.019 * g, rtol=1e-14)


# ---------------------------------------------------------------------------
# dtype, in-place updates, no per-step allocation
# ---------------------------------------------------------------------------

ALL = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (Adam, dict(lr=0.01, weight_decay=0.01, amsgrad=True)),
    (AdamW, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
    (Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01)),
]
ALL_IDS = ["sgd", "sgd-nesterov-wd", "adam-amsgrad-wd", "adamw", "rmsprop-all", "adagrad"]


@pytest.mark.parametrize("cls, kwargs", ALL, ids=ALL_IDS)
def test_float32_stays_float32_and_updates_in_place(cls, kwargs):
    rng = np.random.default_rng(0)
    w64, b64 = rng.normal(size=(3, 4)), rng.normal(size=3)
    p32 = [Parameter(w64.astype(np.float32)), Parameter(b64.astype(np.float32), decay=False)]
    p64 = [Parameter(w64.copy()), Parameter(b64.copy(), decay=False)]
    arrays = [p.value for p in p32]
    opt32, opt64 = cls(p32, **kwargs), cls(p64, **kwargs)
    for _ in range(5):
        g = [rng.normal(size=(3, 4)), rng.normal(size=3)]
        for p, q, gi in zip(p32, p64, g):
            p.grad[...] = gi
            q.grad[...] = gi
        opt32.step()
        opt64.step()
    for p, a, q in zip(p32, arrays, p64):
        assert p.value is a and np.shares_memory(p.value, a)
        assert p.value.dtype == np.float32
        np.testing.assert_allclose(p.value, q.value, rtol=1e-4, atol=1e-5)
    for value in opt32.state_dict().values():
        if isinstance(value, list):
            assert all(a.dtype == np.float32 for a in value)


@pytest.mark.parametrize("cls, kwargs", ALL, ids=ALL_IDS)
def test_step_allocates_no_parameter_sized_temporaries(cls, kwargs):
    params = [Parameter(np.ones((200, 250))), Parameter(np.ones(250), decay=False)]
    for p in params:
        p.grad[...] = 0.5
    opt = cls(params, **kwargs)
    opt.step()
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 250 * 8 // 4, f"step() allocated {peak} bytes"


def test_weight_decay_skips_parameters_without_decay():
    w, b = Parameter(np.ones(3)), Parameter(np.ones(3), decay=False)
    for cls in (SGD, Adam, RMSprop, Adagrad):
        w.value[...] = 1.0
        b.value[...] = 1.0
        w.grad[...] = 0.0
        b.grad[...] = 0.0
        cls([w, b], lr=0.1, weight_decay=0.5).step()
        assert np.all(w.value < 1.0), cls.__name__
        np.testing.assert_array_equal(b.value, 1.0, err_msg=cls.__name__)


# ---------------------------------------------------------------------------
# Attributes, checkpoints, repr
# ---------------------------------------------------------------------------

def test_lr_and_momentum_are_writable_and_validated():
    opt = SGD([make_param()], lr=0.1)
    opt.lr = 0.01
    opt.momentum = 0.5
    assert (opt.lr, opt.momentum) == (0.01, 0.5)
    with pytest.raises(ConfigError, match="-1"):
        opt.lr = -1
    with pytest.raises(ConfigError, match="1.5"):
        opt.momentum = 1.5
    nesterov = SGD([make_param()], lr=0.1, momentum=0.9, nesterov=True)
    with pytest.raises(ConfigError, match="nesterov"):
        nesterov.momentum = 0.0


def test_momentum_set_after_construction_takes_effect():
    p = make_param()
    opt = SGD([p], lr=0.1)
    opt.step()
    opt.momentum = 0.9
    opt.step()
    # v1 = -0.1 g; v2 = 0.9 v1 - 0.1 g = -0.19 g
    np.testing.assert_allclose(p.value, W0 - 0.29 * G0, rtol=1e-15)
    q = make_param()
    rms = RMSprop([q], lr=0.01, alpha=0.75, eps=0.0)
    rms.momentum = 0.9                        # allocates the momentum buffer
    rms.step()
    np.testing.assert_allclose(q.value, W0 - 0.02 * np.sign(G0), rtol=1e-15)


@pytest.mark.parametrize("cls, kwargs", ALL, ids=ALL_IDS)
def test_state_dict_round_trip_without_pickle(cls, kwargs, tmp_path):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 2)), rng.normal(size=3)]
    grads = [[rng.normal(size=(3, 2)), rng.normal(size=3)] for _ in range(6)]

    def run(opt, params, steps):
        for g in steps:
            for p, gi in zip(params, g):
                p.grad[...] = gi
            opt.step()

    a = [Parameter(start[0].copy()), Parameter(start[1].copy(), decay=False)]
    opt_a = cls(a, **kwargs)
    run(opt_a, a, grads)

    b = [Parameter(start[0].copy()), Parameter(start[1].copy(), decay=False)]
    opt_b = cls(b, **kwargs)
    run(opt_b, b, grads[:3])
    state = opt_b.state_dict()
    arrays = {f"{k}/{i}": arr for k, v in state.items() if isinstance(v, list)
              for i, arr in enumerate(v)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, list)}
    np.savez(tmp_path / "opt.npz", **arrays)
    (tmp_path / "opt.json").write_text(json.dumps(scalars))

    c = [Parameter(p.value.copy()) for p in b]
    c[1].decay = False
    opt_c = cls(c, lr=123.0)
    loaded = json.loads((tmp_path / "opt.json").read_text())
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as npz:
        for key in {k.split("/")[0] for k in npz.files}:
            loaded[key] = [npz[f"{key}/{i}"] for i in range(len(c))]
    opt_c.load_state_dict(loaded)
    assert repr(opt_c) == repr(opt_b)
    run(opt_c, c, grads[3:])
    for p, q in zip(a, c):
        np.testing.assert_allclose(q.value, p.value, rtol=1e-14)


def test_load_state_dict_rejects_mismatches():
    opt = SGD([make_param()], lr=0.1, momentum=0.9)
    with pytest.raises(ConfigError, match="Adam"):
        opt.load_state_dict(Adam([make_param()]).state_dict())
    state = opt.state_dict()
    state["velocity"] = [np.zeros(3)]
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        opt.load_state_dict(state)
    with pytest.raises(ConfigError, match="bogus"):
        opt.load_state_dict({**opt.state_dict(), "bogus": 1})
    with pytest.raises(ConfigError, match="-0.5"):
        opt.load_state_dict({**opt.state_dict(), "momentum": -0.5})
    assert opt.momentum == 0.9                # unchanged after a failed load


def test_repr_shows_hyperparameters():
    p = [make_param()]
    assert repr(SGD(p, lr=0.1, momentum=0.9)) == \
        "SGD(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)"
    assert repr(Adam(p)) == \
        "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0, amsgrad=False)"
    assert "weight_decay=0.01" in repr(AdamW(p))
    assert repr(RMSprop(p)).startswith("RMSprop(lr=0.01, alpha=0.99")
    assert repr(Adagrad(p)).startswith("Adagrad(lr=0.01, lr_decay=0.0")


def test_params_generator_is_materialised_and_step_count_kept():
    params = (make_param() for _ in range(2))
    opt = Adam(params, lr=0.1)
    assert isinstance(opt.params, list) and len(opt.params) == 2
    opt.step()
    opt.step()
    assert opt.step_count == 2 and isinstance(opt, Optimizer)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

BAD = [
    (SGD, dict(lr=-0.1), "-0.1"),
    (SGD, dict(lr="0.1"), "'0.1'"),
    (SGD, dict(lr=float("nan")), "nan"),
    (SGD, dict(lr=0.1, momentum=1.0), "1.0"),
    (SGD, dict(lr=0.1, momentum=-0.5), "-0.5"),
    (SGD, dict(lr=0.1, nesterov=True), "momentum"),
    (SGD, dict(lr=0.1, weight_decay=-1e-3), "-0.001"),
    (SGD, dict(lr=0.1, nesterov="yes"), "'yes'"),
    (Adam, dict(lr=-1.0), "-1.0"),
    (Adam, dict(betas=(0.9, 1.0)), "1.0"),
    (Adam, dict(betas=(-0.1, 0.9)), "-0.1"),
    (Adam, dict(betas=0.9), "0.9"),
    (Adam, dict(eps=-1e-8), "-1e-08"),
    (Adam, dict(weight_decay=-0.25), "-0.25"),
    (Adam, dict(amsgrad=1), "1"),
    (AdamW, dict(weight_decay=-0.25), "-0.25"),
    (RMSprop, dict(alpha=1.5), "1.5"),
    (RMSprop, dict(eps=-0.5), "-0.5"),
    (RMSprop, dict(momentum=1.25), "1.25"),
    (RMSprop, dict(weight_decay=-2.0), "-2.0"),
    (RMSprop, dict(centered="no"), "'no'"),
    (Adagrad, dict(lr_decay=-0.5), "-0.5"),
    (Adagrad, dict(initial_accumulator_value=-0.75), "-0.75"),
    (Adagrad, dict(eps=-0.125), "-0.125"),
    (Adagrad, dict(weight_decay=-3.0), "-3.0"),
]


@pytest.mark.parametrize("cls, kwargs, received", BAD,
                         ids=[f"{c.__name__}-{'-'.join(k)}-{r}" for c, k, r in BAD])
def test_bad_hyperparameter_raises_config_error_naming_value(cls, kwargs, received):
    with pytest.raises(ConfigError) as info:
        cls([make_param()], **kwargs)
    assert isinstance(info.value, ValueError)
    assert received in str(info.value), str(info.value)


def test_range_is_named_in_message():
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\)"):
        SGD([make_param()], lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match=">= 0"):
        SGD([make_param()], lr=-0.1)


@pytest.mark.parametrize("params, match", [
    ([], "empty"),
    ([np.zeros(3)], "ndarray"),
    ([Parameter(np.zeros(2)), "w"], "str"),
    (Parameter(np.zeros(2)), "single Parameter"),
    (3, "int"),
    ([Parameter(np.zeros(2, dtype=np.int64))], "int64"),
])
def test_bad_params_raise_config_error(params, match):
    with pytest.raises(ConfigError, match=match):
        SGD(params, lr=0.1)


def test_duplicate_parameter_rejected():
    p = make_param()
    with pytest.raises(ConfigError, match="more than once"):
        Adam([p, p])


def test_grad_shape_mismatch_raises_shape_error():
    p = make_param()
    opt = SGD([p], lr=0.1)
    p.grad = np.ones(2)
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        opt.step()
    assert opt.step_count == 0


@pytest.mark.parametrize("make, update, state", [
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01), "sgd", ("velocity",)),
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), "sgd", ("velocity",)),
    (lambda ps: Adam(ps, lr=0.01, weight_decay=0.01, amsgrad=True), "adam", ("exp_avg", "exp_avg_sq")),
], ids=["sgd-decay", "nesterov", "adam-amsgrad"])
def test_large_parameters_updated_in_chunks_equal_whole_array_update(make, update, state):
    # A parameter larger than the chunk size is updated chunk by chunk (cache-friendly);
    # the result must be bit-identical to one whole-array update.
    rng = np.random.default_rng(5)
    shape = (300, 301)                      # 90,300 elements > one chunk, not a multiple of it
    big = Parameter(rng.normal(size=shape).astype(np.float32))
    reference = Parameter(big.value.copy())
    opt = make([big])
    ref_opt = make([reference])
    for _ in range(3):
        g = rng.normal(size=shape).astype(np.float32)
        big.grad[...] = g
        reference.grad[...] = g
        opt.step()
        # the reference: the pure update on the whole arrays
        kwargs = {k: v for k, v in ref_opt.hyperparameters().items() if k not in ("betas",)}
        ref_opt.step_count += 1
        if update == "sgd":
            sgd_update(reference.value, g, ref_opt.velocity[0], lr=kwargs["lr"], momentum=kwargs["momentum"],
                       nesterov=kwargs["nesterov"], weight_decay=kwargs["weight_decay"])
        else:
            adam_update(reference.value, g, ref_opt.exp_avg[0], ref_opt.exp_avg_sq[0], step=ref_opt.step_count,
                        lr=kwargs["lr"], beta1=0.9, beta2=0.999, eps=kwargs["eps"],
                        weight_decay=kwargs["weight_decay"], v_max=ref_opt.max_exp_avg_sq[0])
        np.testing.assert_array_equal(big.value, reference.value)
        for name in state:
            np.testing.assert_array_equal(getattr(opt, name)[0], getattr(ref_opt, name)[0])


# ---------------------------------------------------------------------------
# zero_grad, exact messages and boundaries
# ---------------------------------------------------------------------------

def test_zero_grad_zeroes_every_gradient_in_place():
    w, b = make_param(), make_param(value=[1.0, 2.0], grad=[3.0, -4.0], name="bias")
    grads = [w.grad, b.grad]
    opt = SGD([w, b], lr=0.1)
    opt.zero_grad()
    assert w.grad is grads[0] and b.grad is grads[1]           # the same arrays (views stay valid)
    assert not w.grad.any() and not b.grad.any()
    opt.step()                                                # a zero gradient leaves the values
    np.testing.assert_array_equal(w.value, W0)


def _exact(kind, fn, message):
    with pytest.raises(kind) as info:
        fn()
    assert str(info.value) == message


def _ps():
    return [make_param()]


EXACT = [
    (lambda: SGD(_ps(), lr=-0.1), "SGD lr must be >= 0.0, got -0.1"),
    (lambda: SGD(_ps(), lr=0.1, momentum=1.0), "SGD momentum must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (lambda: SGD(_ps(), lr=0.1, momentum=-0.5),
     "SGD momentum must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0))"),
    (lambda: SGD(_ps(), lr=0.1, weight_decay=-0.5), "SGD weight_decay must be >= 0.0, got -0.5"),
    (lambda: SGD(_ps(), lr=0.1, nesterov="yes"), "SGD nesterov must be True or False, got 'yes'"),
    (lambda: SGD(_ps(), lr=0.1, nesterov=True), "SGD nesterov=True requires momentum > 0, got momentum=0.0"),
    (lambda: Adam(_ps(), betas=0.9), "Adam betas must be a pair (beta1, beta2) in [0, 1), got 0.9"),
    (lambda: Adam(_ps(), betas=(0.9, 0.9, 0.9)),
     "Adam betas must be a pair (beta1, beta2) in [0, 1), got (0.9, 0.9, 0.9)"),
    (lambda: Adam(_ps(), betas=(1.0, 0.9)), "Adam beta1 must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (lambda: Adam(_ps(), betas=(-0.5, 0.9)), "Adam beta1 must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0))"),
    (lambda: Adam(_ps(), betas=(0.9, 1.0)), "Adam beta2 must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (lambda: Adam(_ps(), betas=(0.9, -0.5)), "Adam beta2 must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0))"),
    (lambda: Adam(_ps(), eps=-0.5), "Adam eps must be >= 0.0, got -0.5"),
    (lambda: Adam(_ps(), weight_decay=-0.5), "Adam weight_decay must be >= 0.0, got -0.5"),
    (lambda: Adam(_ps(), amsgrad=1), "Adam amsgrad must be True or False, got 1"),
    (lambda: AdamW(_ps(), betas=(1.0, 0.9)), "AdamW beta1 must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (lambda: AdamW(_ps(), weight_decay=-0.5), "AdamW weight_decay must be >= 0.0, got -0.5"),
    (lambda: RMSprop(_ps(), alpha=1.5), "RMSprop alpha must be <= 1.0, got 1.5 (expected a value in [0.0, 1.0])"),
    (lambda: RMSprop(_ps(), alpha=-0.5), "RMSprop alpha must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0])"),
    (lambda: RMSprop(_ps(), eps=-0.5), "RMSprop eps must be >= 0.0, got -0.5"),
    (lambda: RMSprop(_ps(), momentum=1.0), "RMSprop momentum must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (lambda: RMSprop(_ps(), momentum=-0.5),
     "RMSprop momentum must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0))"),
    (lambda: RMSprop(_ps(), weight_decay=-0.5), "RMSprop weight_decay must be >= 0.0, got -0.5"),
    (lambda: RMSprop(_ps(), centered="no"), "RMSprop centered must be True or False, got 'no'"),
    (lambda: Adagrad(_ps(), lr_decay=-0.5), "Adagrad lr_decay must be >= 0.0, got -0.5"),
    (lambda: Adagrad(_ps(), eps=-0.5), "Adagrad eps must be >= 0.0, got -0.5"),
    (lambda: Adagrad(_ps(), initial_accumulator_value=-0.5),
     "Adagrad initial_accumulator_value must be >= 0.0, got -0.5"),
    (lambda: Adagrad(_ps(), weight_decay=-0.5), "Adagrad weight_decay must be >= 0.0, got -0.5"),
    (lambda: Adadelta(_ps(), rho=-0.5), "Adadelta rho must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0])"),
    (lambda: Adadelta(_ps(), rho=1.5), "Adadelta rho must be <= 1.0, got 1.5 (expected a value in [0.0, 1.0])"),
    (lambda: Adadelta(_ps(), eps=-0.5), "Adadelta eps must be >= 0.0, got -0.5"),
    (lambda: Adadelta(_ps(), weight_decay=-0.5), "Adadelta weight_decay must be >= 0.0, got -0.5"),
    (lambda: SGD(Parameter(np.zeros(2), name="w"), lr=0.1),
     "SGD expects an iterable of Parameter objects, got a single Parameter ('w'); pass [param]"),
    (lambda: SGD(3, lr=0.1), "SGD expects an iterable of Parameter objects, got int"),
    (lambda: Adam(type("Model", (), {"parameters": lambda self: []})()),
     "Adam expects an iterable of Parameter objects, got Model; did you mean model.parameters()?"),
    (lambda: SGD([], lr=0.1), "SGD got an empty parameter list; expected at least one Parameter"),
    (lambda: SGD([make_param(), "w"], lr=0.1), "SGD expects Parameter objects, got str at position 1"),
    (lambda: RMSprop([Parameter(np.zeros(2, dtype=np.int64), name="w")]),
     "RMSprop: parameter 'w' at position 0 must hold a floating-point NumPy array, got dtype int64"),
    (lambda: (lambda p: Adam([p, p]))(make_param()),
     "Adam: parameter 'weight' at position 1 appears more than once; each parameter must be listed once"),
    (lambda: (lambda o: setattr(o, "momentum", 1.0))(RMSprop(_ps())),
     "RMSprop momentum must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
]


@pytest.mark.parametrize("make, message", EXACT, ids=[m[:60] for _, m in EXACT])
def test_check_message_is_exact(make, message):
    _exact(ConfigError, make, message)


def test_parameter_holding_a_list_is_named():
    p = make_param()
    p.value = [1.0, 2.0]
    _exact(ConfigError, lambda: SGD([p], lr=0.1),
           "SGD: parameter 'weight' at position 0 must hold a floating-point NumPy array, got list")


def test_closed_ends_of_the_ranges_are_accepted():
    SGD(_ps(), lr=0.0, momentum=0.0, weight_decay=0.0)
    Adam(_ps(), betas=(0.0, 0.0), eps=0.0)
    RMSprop(_ps(), alpha=0.0)
    RMSprop(_ps(), alpha=1.0, eps=0.0)
    Adadelta(_ps(), rho=0.0)
    assert Adadelta(_ps(), rho=1.0).rho == 1.0


def test_weight_decay_of_exactly_one_is_applied():
    # g + 1.0 * w: a coefficient of 1 is as valid as any other
    for opt_cls, kwargs in [(SGD, dict(lr=0.1)), (Adam, dict(lr=0.1)), (RMSprop, dict(lr=0.1))]:
        p, q = make_param(), make_param(grad=G0 + W0)
        opt_cls([p], weight_decay=1.0, **kwargs).step()
        opt_cls([q], **kwargs).step()
        np.testing.assert_allclose(p.value, q.value, rtol=1e-15, err_msg=opt_cls.__name__)


def test_sgd_without_momentum_ignores_a_stale_velocity():
    w, g, v = W0.copy(), G0.copy(), np.full_like(W0, np.nan)
    sgd_update(w, g, v, lr=0.1)
    np.testing.assert_allclose(v, -0.1 * G0, rtol=1e-15)
    np.testing.assert_allclose(w, W0 - 0.1 * G0, rtol=1e-15)


def _two_steps(update, state_shapes, **kwargs):
    w, g = W0.copy(), G0.copy()
    state = [np.zeros_like(W0) for _ in range(state_shapes)]
    for step in (1, 2):
        extra = {"step": step} if update in (adam_update, adagrad_update) else {}
        update(w, g, *state, **extra, **kwargs)
    return w, state


@pytest.mark.parametrize("update, n_state, given, defaults", [
    (sgd_update, 1, dict(lr=0.1), dict(momentum=0.0)),
    (sgd_update, 1, dict(lr=0.1, momentum=0.9, weight_decay=0.1), dict(nesterov=False, decay=True)),
    (adam_update, 2, dict(lr=0.1, weight_decay=0.1), dict(beta1=0.9, beta2=0.999, eps=1e-8, decay=True)),
    (rmsprop_update, 1, dict(lr=0.1, weight_decay=0.1), dict(alpha=0.99, eps=1e-8, decay=True)),
    (adagrad_update, 1, dict(lr=0.1, weight_decay=0.1), dict(lr_decay=0.0, eps=1e-10, decay=True)),
    (adadelta_update, 2, dict(weight_decay=0.1), dict(lr=1.0, rho=0.9, eps=1e-6, decay=True)),
    (adadelta_update, 2, dict(), dict(weight_decay=0.0)),
], ids=["sgd", "sgd-momentum", "adam", "rmsprop", "adagrad", "adadelta", "adadelta-no-decay"])
def test_pure_update_defaults_are_the_documented_ones(update, n_state, given, defaults):
    implicit = _two_steps(update, n_state, **given)
    explicit = _two_steps(update, n_state, **given, **defaults)
    np.testing.assert_array_equal(implicit[0], explicit[0])
    for a, b in zip(implicit[1], explicit[1], strict=True):
        np.testing.assert_array_equal(a, b)
    moved = _two_steps(update, n_state, **given, **{k: (not v if isinstance(v, bool) else v / 2 if v else 0.05)
                                                     for k, v in defaults.items()})
    assert not np.array_equal(moved[0], implicit[0])      # each default changes the result


def test_rmsprop_update_needs_its_buffers():
    w, g, s = W0.copy(), G0.copy(), np.zeros_like(W0)
    _exact(ConfigError, lambda: rmsprop_update(w, g, s, lr=0.1, centered=True),
           "rmsprop_update(centered=True) needs a grad_avg array, got None")
    _exact(ConfigError, lambda: rmsprop_update(w, g, s, lr=0.1, momentum=0.5),
           "rmsprop_update(momentum > 0) needs a momentum_buffer array, got None")


def test_rmsprop_centered_keeps_the_running_mean_of_the_gradient():
    p = make_param()
    opt = RMSprop([p], lr=0.1, alpha=0.5, centered=True)
    opt.step()
    opt.step()
    # grad_avg = 0.5 * (0.5 * g) + 0.5 * g = 0.75 g
    np.testing.assert_allclose(opt.grad_avg[0], 0.75 * G0, rtol=1e-15)
    assert set(opt.state_dict()) == {"optimizer", "step_count", "lr", "alpha", "eps", "momentum", "centered",
                                     "weight_decay", "square_avg", "grad_avg"}
    assert set(RMSprop([make_param()]).state_dict()) == {"optimizer", "step_count", "lr", "alpha", "eps", "momentum",
                                                         "centered", "weight_decay", "square_avg"}


def test_rmsprop_keeps_its_state_when_momentum_is_switched_on():
    p = make_param()
    opt = RMSprop([p], lr=0.1)
    opt.step()
    square_avg = opt.square_avg[0].copy()
    opt.momentum = 0.5                            # allocates the momentum buffer only
    np.testing.assert_array_equal(opt.square_avg[0], square_avg)
    assert not opt.momentum_buffer[0].any()
    # a saved momentum buffer is restored into an optimizer whose momentum is 0 now
    state = opt.state_dict()
    opt.step()
    fresh = RMSprop([make_param()], lr=0.1)
    fresh.load_state_dict({**state, "momentum": 0.0})
    assert fresh.momentum == 0.0 and fresh.momentum_buffer is not None
    np.testing.assert_array_equal(fresh.momentum_buffer[0], state["momentum_buffer"][0])
    np.testing.assert_array_equal(fresh.square_avg[0], state["square_avg"][0])


def test_step_rejects_a_parameter_that_changed_shape():
    p = make_param()
    opt = SGD([p], lr=0.1)
    p.value, p.grad = np.zeros((3, 3)), np.zeros((3, 3))
    _exact(ShapeError, opt.step, "SGD: parameter 'weight' changed shape from (2, 2) to (3, 3) after the optimizer "
                                 "was created; create a new optimizer")
    q = make_param()
    opt = Adam([q])
    q.grad = None
    _exact(ShapeError, opt.step, "Adam: parameter 'weight' has value shape (2, 2) but grad shape None; "
                                 "expected equal shapes")
    assert opt.step_count == 0


def test_non_contiguous_parameter_is_updated_in_place():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(301, 300))
    p = Parameter(base.T)                       # a view: not C-contiguous, larger than one chunk
    q = Parameter(np.ascontiguousarray(base.T))
    g = rng.normal(size=(300, 301))
    p.grad, q.grad = g.copy(), g.copy()
    for opt in (SGD([p], lr=0.1, momentum=0.9), SGD([q], lr=0.1, momentum=0.9)):
        opt.step()
    np.testing.assert_array_equal(p.value, q.value)
    np.testing.assert_array_equal(base.T, q.value)     # the update went into the caller's array


def test_load_state_dict_messages_and_missing_keys():
    opt = SGD(_ps(), lr=0.1, momentum=0.9)
    opt.step()
    _exact(ConfigError, lambda: opt.load_state_dict([]), "SGD.load_state_dict expects a dict, got list")
    _exact(ConfigError, lambda: opt.load_state_dict({"step_count": -1}), "SGD step_count must be >= 0, got -1")
    _exact(ConfigError, lambda: opt.load_state_dict({"lr": 0.2}), "SGD.load_state_dict: missing state 'velocity'")
    _exact(ConfigError, lambda: opt.load_state_dict({"velocity": 3}),
           "SGD.load_state_dict: 'velocity' must be a list of 1 arrays, got int")
    _exact(ConfigError, lambda: opt.load_state_dict({"velocity": [W0, W0]}),
           "SGD.load_state_dict: 'velocity' must be a list of 1 arrays, got list of length 2")
    _exact(ConfigError, lambda: opt.load_state_dict({"velocity": [np.full((2, 2), "a")]}),
           "SGD.load_state_dict: 'velocity' for parameter 'weight' has dtype <U1, expected floats")
    _exact(ShapeError, lambda: opt.load_state_dict({"velocity": [np.zeros(3)]}),
           "SGD.load_state_dict: 'velocity' for parameter 'weight' has shape (3,), expected (2, 2)")
    adam = Adam(_ps())
    _exact(ConfigError, lambda: adam.load_state_dict({**Adam(_ps(), amsgrad=True).state_dict(), "amsgrad": False}),
           "Adam.load_state_dict: state ['max_exp_avg_sq'] is not used with "
           "{'lr': 0.001, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0.0, 'amsgrad': False}")
    # no "optimizer" name and no step_count: both kept; an integer array is cast to the dtype
    opt.load_state_dict({"velocity": [np.ones((2, 2), dtype=np.int64)]})
    assert opt.step_count == 1 and opt.velocity[0].dtype == np.float64
    np.testing.assert_array_equal(opt.velocity[0], np.ones((2, 2)))


def test_custom_optimizer_gets_lr_and_its_state_from_the_base_class():
    class Plain(Optimizer):
        """w <- w - lr * g: only the learning rate as hyper-parameter (the base class's)."""

        def _update(self, i, p, g):
            p.value -= self.lr * g

    opt = Plain(_ps(), lr=0.5)
    opt.load_state_dict({"lr": 0.25})
    assert opt.lr == 0.25 and repr(opt) == "Plain(lr=0.25)"

    class Decay(Plain):
        """Plain, remembering the last step in a state array that the base class allocates."""

        _state_keys = ("last",)

        def _state_names(self):
            return ("last",)

        def _update(self, i, p, g):
            self.last[i][...] = self.lr * g
            p.value -= self.last[i]

    opt = Decay(_ps(), lr=0.5)
    opt._allocate()
    opt.step()
    np.testing.assert_array_equal(opt.last[0], 0.5 * G0)
    opt._allocate()                                   # an existing state array is kept
    np.testing.assert_array_equal(opt.last[0], 0.5 * G0)
    fresh = Decay(_ps(), lr=0.5)                       # load_state_dict allocates what it restores
    fresh.load_state_dict({"last": [np.ones((2, 2))], "step_count": 3})
    assert fresh.step_count == 3
    np.testing.assert_array_equal(fresh.last[0], np.ones((2, 2)))


def test_adamw_defaults_and_arguments_reach_adam():
    opt = AdamW(_ps(), betas=(0.5, 0.6), eps=0.25)
    assert (opt.lr, opt.betas, opt.eps, opt.weight_decay) == (1e-3, (0.5, 0.6), 0.25, 0.01)


def test_by_name_and_names():
    from ffnn.catalog import OPTIMIZERS
    from ffnn.optim import by_name
    assert repr(by_name("nesterov", _ps(), 0.2)) == "SGD(lr=0.2, momentum=0.9, nesterov=True, weight_decay=0.0)"
    assert repr(by_name("nesterov", _ps(), 0.2, 0.5, 0.01)) == \
        "SGD(lr=0.2, momentum=0.5, nesterov=True, weight_decay=0.01)"
    import ffnn.optim
    assert OPTIMIZERS.names() == ffnn.optim.NAMES
    with pytest.raises(AttributeError) as info:
        ffnn.optim.bogus  # noqa: B018
    assert str(info.value) == "module 'ffnn.optim' has no attribute 'bogus'"


def test_rmsprop_without_momentum_has_no_buffer_and_round_trips():
    opt = RMSprop([make_param()], lr=0.1)
    assert opt.momentum_buffer is None                 # allocated the first time momentum is > 0
    opt.step()
    fresh = RMSprop([make_param()], lr=0.1)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.momentum_buffer is None
    np.testing.assert_array_equal(fresh.square_avg[0], opt.square_avg[0])


def test_flush_subnormals_of_a_small_array():
    from ffnn.optim import flush_subnormals
    tiny = np.finfo(np.float32).tiny
    a = np.array([tiny / 4, tiny, -tiny / 2, 1.0], np.float32)     # smaller than one chunk: one pass
    flush_subnormals(a, np.empty_like(a))
    np.testing.assert_array_equal(a, np.array([0.0, tiny, 0.0, 1.0], np.float32))


def test_state_is_flushed_every_flush_every_steps_only():
    from ffnn.optim import _FLUSH_EVERY
    sub = np.float32(np.finfo(np.float32).tiny / 4)
    p = Parameter(np.ones(3, np.float32))
    opt = SGD([p], lr=1.0, momentum=0.9)
    opt.velocity[0][...] = 0.0
    opt.velocity[0][0] = sub                         # decays by 0.9 a step (no gradient): 0.9**31 sub is still > 0
    p.grad[...] = 0.0
    for step in range(1, _FLUSH_EVERY + 1):
        opt.step()
        assert (opt.velocity[0][0] != 0) == (step < _FLUSH_EVERY), step
