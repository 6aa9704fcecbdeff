"""Perceptron networks are scale invariant; sigmoid networks approach them as weights grow.

Course claims (Nielsen ch. 1 exercises "sigmoid neurons simulating perceptrons"):

1. Multiplying every weight and bias of a network of perceptrons (``H(z) = 1 if z > 0 else 0``)
   by a constant ``c > 0`` leaves its outputs unchanged: ``H(c z) = H(z)``.
2. Doing the same to a network of sigmoid neurons, ``sigma(c z) -> H(z)`` as ``c -> inf`` for
   every ``z != 0``, so the sigmoid network's output tends to the perceptron network's ...
3. ... except where some unit has ``w . x + b = 0``: there ``sigma(c * 0) = 1/2`` for every c,
   and the sigmoid neuron does not behave like the perceptron.

Verified with a random 2-6-1 network in float64 (sigmoid version built from library
``Linear`` and ``Sigmoid`` layers): exact equality of the perceptron outputs for
c in {1e-3, ..., 1e6}; for inputs whose pre-activations all have |z| >= 0.05 the largest
difference between the two networks shrinks monotonically with c, below 1e-6 at c = 1000;
for an input on a unit's boundary the sigmoid output stays exactly 1/2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import layers
from ..model import Sequential
from ._figures import pyplot
from ._report import ExperimentResult, Report


def step(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(np.float64)


_Params = Sequence[tuple[np.ndarray, np.ndarray]]
"""``[(W1, b1), (W2, b2)]``: the weights and biases of the hidden and the output layer."""


def perceptron_net(params: _Params, X: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    (W1, b1), (W2, b2) = params
    h = step(X @ (c * W1).T + c * b1)
    return step(h @ (c * W2).T + c * b2), h


def sigmoid_net(params: _Params, c: float) -> Sequential:
    (W1, b1), (W2, b2) = params
    l1, l2 = layers.Linear(W1.shape[1], W1.shape[0], dtype=np.float64), layers.Linear(W2.shape[1], 1, dtype=np.float64)
    assert l1.bias is not None and l2.bias is not None  # Linear has a bias by default
    l1.weight.value[...], l1.bias.value[...] = c * W1, c * b1
    l2.weight.value[...], l2.bias.value[...] = c * W2, c * b2
    return Sequential([l1, layers.Sigmoid(), l2, layers.Sigmoid()])


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn: Callable[..., None] = print,
        name: str = "perceptron-scaling", title: str = "") -> ExperimentResult:
    rep = Report(name, title, out_dir, print_fn, quick)
    rng = np.random.default_rng(seed)
    H = 6
    params = [(rng.normal(size=(H, 2)), rng.normal(size=H)), (rng.normal(size=(1, H)), rng.normal(size=1))]
    X = rng.uniform(-3, 3, size=(2000 if quick else 20000, 2))
    base, h = perceptron_net(params, X)
    cs = [1e-3, 0.1, 0.5, 2.0, 10.0, 1e3, 1e6]
    same = all(np.array_equal(perceptron_net(params, X, c)[0], base) for c in cs)
    rep.claim("scaling all weights and biases of a perceptron network by c > 0 leaves every output unchanged",
              same, f"{len(X)} inputs, c in {cs}: outputs identical = {same}")

    z1 = X @ params[0][0].T + params[0][1]
    z2 = h @ params[1][0].T + params[1][1]
    margin = np.minimum(np.abs(z1).min(axis=1), np.abs(z2[:, 0]))
    keep = margin >= 0.05
    Xk, target = X[keep], base[keep]
    grid = [1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0]
    diffs = [float(np.abs(sigmoid_net(params, c).forward(Xk) - target).max()) for c in grid]
    rep.claim("sigmoid networks with weights c*w, c*b approach the perceptron network as c grows",
              all(np.diff(diffs) <= 0) and diffs[-1] < 1e-6,
              f"max |sigmoid net - perceptron net| over {int(keep.sum())} inputs with all |z| >= 0.05: "
              + ", ".join(f"c={c:g}: {d:.1e}" for c, d in zip(grid, diffs, strict=True)))

    # a unit and an input exactly on its boundary (dyadic numbers: w.x + b is exactly 0)
    w, b = np.array([[2.0, -1.0]]), np.array([0.5])
    x0 = np.array([[0.25, 1.0]])
    outs: list[float] = []
    for c in grid:
        unit = layers.Sigmoid().forward(x0 @ (c * w).T + c * b)
        outs.append(float(unit[0, 0]))
    z_at = float((x0 @ w.T + b)[0, 0])
    rep.claim("where w.x + b = 0 the sigmoid neuron is stuck at 1/2 for every c (the perceptron outputs 0)",
              all(abs(o - 0.5) < 1e-12 for o in outs) and step(np.array([z_at]))[0] == 0.0,
              f"w = (2, -1), b = 0.5, x = (0.25, 1): z = {z_at:g}; sigma(c z) for c = {grid[0]:g}..{grid[-1]:g}: "
              f"{sorted(set(round(o, 12) for o in outs))}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        axes[0].loglog(grid, np.maximum(diffs, 1e-300), "o-")
        axes[0].set_xlabel("c")
        axes[0].set_title("max |sigmoid net(c) - perceptron net| (margin >= 0.05)", fontsize=9)
        zz = np.linspace(-2, 2, 400)
        for c in (1, 3, 10, 100):
            axes[1].plot(zz, 1 / (1 + np.exp(-c * zz)), label=f"sigma({c} z)")
        axes[1].plot(zz, step(zz), "k--", label="H(z)")
        axes[1].plot([0], [0.5], "ro")
        axes[1].legend(fontsize=8)
        axes[1].set_title("sigma(cz) -> H(z) except at z = 0 (stuck at 1/2)", fontsize=9)
        rep.figure(fig, "perceptron_scaling.png")
    return rep.finish()
