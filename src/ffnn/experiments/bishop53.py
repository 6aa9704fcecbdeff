"""Bishop fig. 5.3: a two-layer network with 3 tanh hidden units approximates four functions.

Course claim (Bishop 5.1, universal approximation): a 1-3-1 network (tanh hidden units,
linear output) fitted to N = 50 evenly spaced points on [-1, 1] reproduces ``x^2``,
``sin(pi x)``, ``|x|`` and the Heaviside step ``H(x)``; the fit is the sum of the three
hidden units' contributions ``w2_j tanh(w1_j x + b1_j)`` plus the output bias (dashed in the
figure).

Verified: each function is fitted (sum-of-squares ``EuclideanLoss``, full-batch Adam, the
best of 3 random initialisations) and the mean squared error ``(1/N) sum_n (y_n - t_n)^2``
is below a per-function bound (1e-4 for x^2, 1e-3 for sin, 2e-3 for |x|, 1e-2 for the
step, whose jump a sum of three tanh can only approximate). The hidden-unit contributions
add up to the network output exactly (1e-12).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import losses, optim
from ..builder import mlp
from ..errors import TrainingDivergedError
from ..layers import Linear
from ..model import Sequential
from ..train import Trainer
from ._figures import pyplot
from ._report import Report

FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "x^2": np.square, "sin(pi x)": lambda x: np.sin(np.pi * x), "|x|": np.abs, "H(x)": lambda x: np.heaviside(x, 1.0)}
BOUNDS = {"x^2": 1e-4, "sin(pi x)": 1e-3, "|x|": 2e-3, "H(x)": 1e-2}


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn=print,
        name: str = "bishop-5.3", title: str = "") -> object:
    rep = Report(name, title, out_dir, print_fn, quick)
    x = np.linspace(-1, 1, 50)[:, None]
    steps = 2000 if quick else 5000
    fits: dict[str, tuple[Sequential, float]] = {}      # the best of 3 initialisations: net, MSE
    for fname, f in FUNCTIONS.items():
        t = f(x)
        best: tuple[Sequential, float] | None = None
        for k in range(3):
            net = mlp([1, 3, 1], "tanh", seed=seed * 10 + k, init="xavier", dtype=np.float64)
            opt = optim.Adam(net.parameters(), lr=0.03)
            trainer = Trainer(net, losses.EuclideanLoss(), opt, batch_size=None, shuffle=False)
            with contextlib.suppress(TrainingDivergedError):     # rolled back to the last finite step
                trainer.fit(x, t, epochs=steps)                  # one epoch = one full-batch step
            mse = float(np.mean((net.forward(x) - t) ** 2))
            if best is None or mse < best[1]:
                best = (net, mse)
        assert best is not None
        fits[fname] = best
    rep.claim("a 1-3-1 tanh network fits x^2, sin(pi x), |x| and the step (MSE below each bound)",
              all(fits[k][1] < BOUNDS[k] for k in FUNCTIONS),
              ", ".join(f"{k}: MSE {fits[k][1]:.1e} (bound {BOUNDS[k]:g})" for k in FUNCTIONS))

    worst = 0.0
    contributions = {}
    for fname, (net, _) in fits.items():
        l1, l2 = net[0], net[2]
        assert isinstance(l1, Linear) and isinstance(l2, Linear) and l1.bias is not None and l2.bias is not None
        h = np.tanh(x @ l1.weight.value.T + l1.bias.value)          # (50, 3)
        parts = h * l2.weight.value[0]                               # each unit's contribution
        contributions[fname] = parts
        worst = max(worst, float(np.abs(parts.sum(axis=1) + l2.bias.value[0] - net.forward(x)[:, 0]).max()))
    rep.claim("the output is the sum of the three hidden units' contributions plus the bias",
              worst < 1e-12, f"max |sum_j w2_j tanh(w1_j x + b1_j) + b2 - y(x)| = {worst:.1e}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, axes = plt.subplots(1, 4, figsize=(14, 3.3))
        for ax, (fname, (net, mse)) in zip(axes, fits.items(), strict=True):
            ax.plot(x, FUNCTIONS[fname](x), "o", ms=3, color="tab:blue", label="data")
            ax.plot(x, net.forward(x), "r-", label="network")
            for j in range(3):
                ax.plot(x, contributions[fname][:, j], "--", lw=0.9)
            ax.set_title(f"{fname} (MSE {mse:.1e})", fontsize=9)
        axes[0].legend(fontsize=7)
        rep.figure(fig, "bishop_5_3.png")
    return rep.finish()
