"""A warm training step allocates no array of a parameter's or an activation's size.

Layers write into buffers they own, the optimizer updates in place with shared scratch
space and the engine gathers each batch into one reused buffer, so after the first steps
the NumPy hot path of 784-1024-1024-10 at batch 128 allocates only small objects (the loss
gradient, a few (128, 10) arrays). tracemalloc sees NumPy's data allocations: one
temporary of a hidden activation's size (128 x 1024 float32 = 0.5 MB) or a weight's size
(4 MB) would show up in the peak.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import ffnn
from ffnn import layers, losses, optim

MB = 1024 * 1024
LIMIT = 0.25 * MB
"""Half of the smallest large block (one (128, 1024) float32 activation)."""


def _net() -> ffnn.Sequential:
    return ffnn.Sequential([layers.Linear(784, 1024, rng=0), layers.ReLU(),
                            layers.Linear(1024, 1024, rng=1), layers.ReLU(),
                            layers.Linear(1024, 10, rng=2)])


def _data(n: int = 512) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def _peak(run) -> int:
    """Peak bytes allocated (above the start) while ``run()`` executes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


@pytest.mark.parametrize("make_opt", [
    lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
    lambda p: optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda p: optim.Adam(p, lr=1e-3),
], ids=["sgd-momentum", "sgd-nesterov-decay", "adam"])
def test_warm_engine_steps_allocate_no_large_block(make_opt):
    X, y = _data()
    net = _net()
    trainer = ffnn.Trainer(net, losses.SoftmaxCrossEntropy(), make_opt(net.parameters()),
                           batch_size=128, seed=0)
    trainer.fit(X, y, epochs=1)                  # warm: buffers, scratch and state exist now
    data = trainer._data
    assert data is not None
    order = np.random.default_rng(1).permutation(len(X))

    def steps() -> None:
        for b in range(3):
            idx = order[b * 128:(b + 1) * 128]
            trainer._step(data.gather(idx), data.y[idx], b)

    peak = _peak(steps)
    assert peak < LIMIT, f"3 warm steps allocated a peak of {peak / MB:.2f} MB"


def test_a_large_temporary_would_be_seen():
    """The measurement itself: one activation-sized temporary per step exceeds the limit."""
    X, y = _data()
    net = _net()
    loss, opt = losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    xb, yb = X[:128], y[:128]

    def step(extra: bool) -> None:
        out = net._forward(xb)
        loss.forward(out, yb)
        net._backward(loss.backward(), input_grad=False)
        if extra:
            net.layers[1]._y.copy()      # what an unbuffered ReLU would allocate
        opt.step()

    step(False)
    assert _peak(lambda: step(False)) < LIMIT
    assert _peak(lambda: step(True)) >= LIMIT
