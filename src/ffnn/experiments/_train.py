"""A minimal full-batch / minibatch loop for the experiments' small networks.

Tiny problems (4 XOR points, 50 Bishop points) need thousands of steps; the per-epoch
bookkeeping of :func:`ffnn.fit` (metrics, callbacks) would dominate there, so these loops
call the same public pieces directly: ``model.forward``, ``loss.forward/backward``,
``model.backward(g, input_grad=False)`` and ``optimizer.step()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..model import Sequential

__all__ = ["full_batch", "minibatch"]


def full_batch(model: Sequential, loss: Any, optimizer: Any, X: np.ndarray, y: Any, steps: int,
               record_every: int = 1) -> list[float]:
    """``steps`` gradient steps on the whole data set; returns the loss every ``record_every`` steps."""
    curve = []
    for i in range(steps):
        value = loss.forward(model.forward(X), y)
        if i % record_every == 0:
            curve.append(value)
        if not np.isfinite(value):
            break
        model.backward(loss.backward(), input_grad=False)
        optimizer.step()
    return curve


def minibatch(model: Sequential, loss: Any, optimizer: Any, X: np.ndarray, y: Any, epochs: int,
              batch_size: int, rng: np.random.Generator) -> list[float]:
    """Shuffled minibatch SGD; returns the mean training loss of each epoch."""
    n = len(X)
    curve = []
    for _ in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            total += loss.forward(model.forward(X[idx]), y[idx]) * len(idx)
            model.backward(loss.backward(), input_grad=False)
            optimizer.step()
        curve.append(total / n)
        if not np.isfinite(curve[-1]):
            break
    return curve
