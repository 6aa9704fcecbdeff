"""Tests of Adadelta (ffnn.optim.Adadelta, adadelta_update): a step by hand, trajectories
against torch.optim.Adadelta in float64 at 1e-10, float32 in place, checkpoints, validation,
and its catalogue entry (``ffnn train --optimizer adadelta``)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from ffnn import catalog
from ffnn.errors import ConfigError
from ffnn.optim import Adadelta, adadelta_update
from ffnn.parameter import Parameter
from ffnn.recipe import Recipe

torch = pytest.importorskip("torch")


def test_two_steps_by_hand():
    w, g = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    s, u = np.zeros(2), np.zeros(2)
    rho, eps, lr, d = 0.8, 1e-3, 0.5, 0.1
    ws, ss, us = w.copy(), s.copy(), u.copy()
    for _ in range(2):
        adadelta_update(w, g, s, u, lr=lr, rho=rho, eps=eps, weight_decay=d)
        gd = g + d * ws                                    # the literal algorithm
        ss = rho * ss + (1 - rho) * gd**2
        delta = np.sqrt(us + eps) / np.sqrt(ss + eps) * gd
        us = rho * us + (1 - rho) * delta**2
        ws = ws - lr * delta
    np.testing.assert_allclose(w, ws, rtol=1e-14)
    np.testing.assert_allclose(s, ss, rtol=1e-14)
    np.testing.assert_allclose(u, us, rtol=1e-14)
    np.testing.assert_array_equal(g, [0.5, 1.0])           # the gradient is read only


def _problem(seed=0):
    """A 2-layer tanh regression net 3 -> 4 -> 2 on 8 samples: values and a gradient function."""
    rng = np.random.default_rng(seed)
    X, T = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    values = [rng.normal(size=(4, 3)), 0.1 * rng.normal(size=4), rng.normal(size=(2, 4)), 0.1 * rng.normal(size=2)]

    def grads(W1, b1, W2, b2):
        h = np.tanh(X @ W1.T + b1)
        d_out = (h @ W2.T + b2 - T) / len(X)
        d_h = (d_out @ W2) * (1 - h**2)
        return [d_h.T @ X, d_h.sum(0), d_out.T @ h, d_out.sum(0)]
    return values, grads


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.5}, {"lr": 2.0, "rho": 0.95, "eps": 1e-4},
                                    {"rho": 0.5, "eps": 1e-8, "weight_decay": 0.1}, {"rho": 0.0}, {"rho": 1.0}],
                         ids=["defaults", "lr", "convnetjs-rho", "weight-decay", "rho0", "rho1"])
def test_trajectory_matches_torch(kwargs):
    values, grads = _problem()
    params = [Parameter(v.copy(), name=n, decay=d)
              for v, n, d in zip(values, ["W1", "b1", "W2", "b2"], [True, False, True, False], strict=True)]
    opt = Adadelta(params, **kwargs)
    tparams = [torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True) for v in values]
    # ffnn never decays biases; torch decays its whole group: biases get their own group
    topt = torch.optim.Adadelta([{"params": [tparams[0], tparams[2]]},
                                 {"params": [tparams[1], tparams[3]], "weight_decay": 0.0}], **kwargs)
    for step in range(15):
        for p, tp, g in zip(params, tparams, grads(*[p.value for p in params]), strict=True):
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, tp in zip(params, tparams, strict=True):
            np.testing.assert_allclose(p.value, tp.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"Adadelta{kwargs} vs torch at step {step + 1}, {p.name}")
    assert any(not np.array_equal(p.value, v) for p, v in zip(params, values, strict=True))


def test_float32_stays_float32_in_place_and_allocates_nothing_per_step():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(200, 250))
    p32, p64 = Parameter(w.astype(np.float32)), Parameter(w.copy())
    array = p32.value
    o32, o64 = Adadelta([p32], weight_decay=0.01), Adadelta([p64], weight_decay=0.01)
    for _ in range(3):
        g = rng.normal(size=w.shape)
        p32.grad[...] = g
        p64.grad[...] = g
        o32.step()
        o64.step()
    assert p32.value is array and p32.value.dtype == np.float32
    assert all(a.dtype == np.float32 for a in o32.square_avg + o32.acc_delta)
    np.testing.assert_allclose(p32.value, p64.value, rtol=1e-4, atol=1e-6)
    tracemalloc.start()
    try:
        o64.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < w.size * 8 // 4, f"step() allocated {peak} bytes"


def test_weight_decay_skips_biases():
    w, b = Parameter(np.ones(3)), Parameter(np.ones(3), decay=False)
    Adadelta([w, b], weight_decay=0.5).step()              # zero gradients: only decay moves w
    assert np.all(w.value < 1.0)
    np.testing.assert_array_equal(b.value, 1.0)


def test_state_dict_round_trip():
    values, grads = _problem(2)
    a = [Parameter(v.copy()) for v in values]
    b = [Parameter(v.copy()) for v in values]
    opt_a = Adadelta(a, rho=0.8)
    for p, g in zip(a, grads(*[p.value for p in a]), strict=True):
        p.grad[...] = g
    opt_a.step()
    for p, q in zip(a, b, strict=True):
        q.value[...] = p.value
    opt_b = Adadelta(b)
    opt_b.load_state_dict(opt_a.state_dict())
    assert opt_b.rho == 0.8 and opt_b.step_count == 1
    g2 = grads(*[p.value for p in a])
    for opt, ps in ((opt_a, a), (opt_b, b)):
        for p, g in zip(ps, g2, strict=True):
            p.grad[...] = g
        opt.step()
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.value, q.value)


@pytest.mark.parametrize("kwargs, match", [({"rho": 1.5}, "rho"), ({"eps": -1.0}, "eps"),
                                           ({"lr": -1.0}, "lr"), ({"weight_decay": -0.1}, "weight_decay")])
def test_bad_hyperparameters_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Adadelta([Parameter(np.zeros(2))], **kwargs)


def test_catalogue_entry_reaches_ffnn_train():
    assert "adadelta" in catalog.OPTIMIZERS.names()
    assert catalog.OPTIMIZERS.entry("adadelta").default_lr == 1.0
    run = Recipe(data="xor", hidden="4", optimizer="adadelta", epochs=2, seed=0).prepare()
    assert isinstance(run.optimizer, Adadelta) and run.optimizer.lr == 1.0
    assert "--optimizer adadelta" in Recipe(optimizer="adadelta").to_command()
