"""Optimizer state never keeps subnormal numbers (the slow path of x86 arithmetic).

A velocity whose parameter stops getting gradient decays as ``v <- mu v`` and, without the
flush, sticks at a few units of the last subnormal place forever; every update of that
parameter then runs on the CPU's slow path. The optimizers zero them every
``_FLUSH_EVERY`` steps; weights are unchanged by it (a subnormal cannot move a normal weight).
"""

from __future__ import annotations

import numpy as np
import pytest

from ffnn import optim
from ffnn.optim import _FLUSH_EVERY, flush_subnormals, sgd_update
from ffnn.parameter import Parameter


def _subnormal(a: np.ndarray) -> np.ndarray:
    return (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_zeroes_subnormals_and_keeps_every_other_value(dtype):
    info = np.finfo(dtype)
    a = np.array([info.tiny / 2, -info.tiny / 8, info.smallest_subnormal, info.tiny, -info.tiny, 0.0, -0.0,
                  1.5, -2.0, np.inf, -np.inf, np.nan] * 30_000, dtype=dtype)      # > one chunk
    before = a.copy()
    flush_subnormals(a, np.empty_like(a))
    assert not _subnormal(a).any()
    keep = ~_subnormal(before)
    np.testing.assert_array_equal(a[keep], before[keep])
    assert (a[~keep] == 0).all()


def test_without_the_flush_a_decaying_velocity_sticks_in_the_subnormals():
    w, g, v = np.ones(3, np.float32), np.full(3, 1e-3, np.float32), np.zeros(3, np.float32)
    sgd_update(w, g, v, lr=1.0, momentum=0.9)
    g[:] = 0
    for _ in range(2000):                      # 0.9**2000 ~ 1e-92: exact arithmetic would reach 0
        sgd_update(w, g, v, lr=1.0, momentum=0.9)
    assert _subnormal(v).all()                 # mu * k ulp rounds back to k ulp


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=1.0, momentum=0.9),
    lambda ps: optim.SGD(ps, lr=1.0, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=1e-3),
    lambda ps: optim.AdamW(ps, lr=1e-3),
    lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.9),
    lambda ps: optim.Adadelta(ps),
], ids=["sgd", "nesterov", "adam", "adamw", "rmsprop", "adadelta"])
def test_optimizer_state_holds_no_subnormals_and_the_weights_are_unchanged(make):
    p = Parameter(np.ones(70_000, np.float32))             # larger than one chunk
    reference = Parameter(p.value.copy())
    opt, ref_opt = make([p]), make([reference])
    ref_opt._flush_subnormals = lambda: None               # the same optimizer without the flush
    for step in range(1200):                               # 0.9**1200 ~ 1e-55
        for q in (p, reference):
            q.grad = np.full_like(q.value, 1e-3) if step == 0 else np.zeros_like(q.value)
        opt.step()
        ref_opt.step()
        if step % _FLUSH_EVERY == _FLUSH_EVERY - 1:
            for name in opt._state_names():
                assert not any(_subnormal(a).any() for a in getattr(opt, name)), (step, name)
    assert any(_subnormal(a).any() for name in ref_opt._state_names() for a in getattr(ref_opt, name))
    np.testing.assert_array_equal(p.value, reference.value)
