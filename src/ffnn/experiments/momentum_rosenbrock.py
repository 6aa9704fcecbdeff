"""Gradient descent vs momentum (and Nesterov, Adam) on the Rosenbrock function.

``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2``, minimum 0 at (1, 1), gradient
``df/dx = -2 (1 - x) - 400 x (y - x^2)``, ``df/dy = 200 (y - x^2)``. Its long curved valley
is the course's picture of ill-conditioning (DTU 02456; Nielsen ch. 3): the curvature
across the valley (~ 2000 at the start) caps the stable learning rate, while the step along
the valley floor is tiny, so plain gradient descent crawls. Momentum
(``v = mu v - eta g; w = w + v``) accumulates the consistent along-valley component.

The library's optimizers are what runs: the point is a :class:`ffnn.Parameter`, its
``grad`` is set from the hand-written gradient, and ``ffnn.optim.SGD`` (plain, momentum
0.9, Nesterov) and ``ffnn.optim.Adam`` take the steps, from (-1.5, 2).

Verified: for each method, the number of steps to reach ``f < 1e-6`` at each learning rate of
a small grid, the same for GD, momentum and Nesterov (diverging or too slow runs count as
failures); the claim is that momentum's best is fewer steps than plain gradient descent's best.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import optim
from ..optim import Optimizer
from ..parameter import Parameter
from ._figures import pyplot
from ._report import ExperimentResult, Report

START = (-1.5, 2.0)
GRID = [2.5e-4, 5e-4, 1e-3, 2e-3, 3e-3]
"""The learning rates tried for GD, momentum and Nesterov (the same grid for each)."""


def rosenbrock(w: np.ndarray) -> float:
    x, y = w
    return float((1 - x) ** 2 + 100 * (y - x * x) ** 2)


def gradient(w: np.ndarray, out: np.ndarray) -> None:
    x, y = w
    out[0] = -2 * (1 - x) - 400 * x * (y - x * x)
    out[1] = 200 * (y - x * x)


_MakeOptimizer = Callable[[list[Parameter]], Optimizer]
"""Builds an optimizer for the given parameters."""


def descend(make_opt: _MakeOptimizer, max_steps: int, target: float = 1e-6,
            keep_path: bool = False) -> tuple[int | None, list[np.ndarray] | None]:
    """Run until f < target; return (steps or None, path)."""
    p = Parameter(np.array(START, dtype=np.float64), name="xy", decay=False)
    opt = make_opt([p])
    path = [p.value.copy()] if keep_path else None
    for step in range(1, max_steps + 1):
        gradient(p.value, p.grad)
        opt.step()
        if path is not None:  # keep_path
            path.append(p.value.copy())
        f = rosenbrock(p.value)
        if f < target:
            return step, path
        if not np.isfinite(f) or f > 1e8:
            return None, path
    return None, path


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn: Callable[..., None] = print,
        name: str = "momentum-rosenbrock", title: str = "") -> ExperimentResult:
    rep = Report(name, title, out_dir, print_fn, quick)
    max_steps = 20_000 if quick else 60_000
    methods: dict[str, tuple[list[float], Callable[[float], _MakeOptimizer]]] = {
        "GD": (GRID, lambda lr: lambda ps: optim.SGD(ps, lr=lr)),
        "momentum 0.9": (GRID, lambda lr: lambda ps: optim.SGD(ps, lr=lr, momentum=0.9)),
        "Nesterov 0.9": (GRID,
                         lambda lr: lambda ps: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True)),
        "Adam": ([3e-3, 1e-2, 3e-2], lambda lr: lambda ps: optim.Adam(ps, lr=lr)),
    }
    best: dict[str, tuple[int, float] | tuple[None, None]] = {}
    for label, (grid, factory) in methods.items():
        results: list[tuple[float, int | None]] = []
        for lr in grid:
            steps, _ = descend(factory(lr), max_steps)
            results.append((lr, steps))
        ok = [(s, lr) for lr, s in results if s is not None]
        best[label] = min(ok) if ok else (None, None)
        rep.say(f"{label:>13}: " + ", ".join(f"lr={lr:g}: {s if s is not None else 'no'}" for lr, s in results)
                + f"  (steps to f < 1e-6, max {max_steps})")
    gd, mom = best["GD"][0], best["momentum 0.9"][0]
    rep.claim("momentum reaches f < 1e-6 in fewer steps than plain gradient descent (best lr of each grid)",
              mom is not None and (gd is None or mom < gd),
              f"GD {gd if gd is not None else f'> {max_steps}'} steps (lr={best['GD'][1]}), momentum 0.9 "
              f"{mom} steps (lr={best['momentum 0.9'][1]}); Nesterov {best['Nesterov 0.9'][0]}, "
              f"Adam {best['Adam'][0]}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, ax = plt.subplots(figsize=(7, 5))
        gx, gy = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
        F = (1 - gx) ** 2 + 100 * (gy - gx ** 2) ** 2
        ax.contour(gx, gy, np.log10(F + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
        for label, (_, factory) in methods.items():
            best_lr = best[label][1]
            if best_lr is None:
                continue
            steps, path = descend(factory(best_lr), max_steps, keep_path=True)
            xy = np.array(path)
            ax.plot(xy[:, 0], xy[:, 1], lw=1.2, label=f"{label} lr={best_lr:g} ({steps} steps)")
        ax.plot(*START, "ko")
        ax.plot(1, 1, "r*", ms=12)
        ax.legend(fontsize=8)
        ax.set_title("Rosenbrock: paths to f < 1e-6", fontsize=9)
        rep.figure(fig, "momentum_rosenbrock.png")
    return rep.finish()
