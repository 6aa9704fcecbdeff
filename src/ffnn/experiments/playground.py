"""TensorFlow Playground's exercises: learning rate, L2 rate and a second hidden layer.

Course claim (the Playground exercises of the course / Google's ML crash course, on the
Playground's 2-D sets with the raw features x1, x2 and tanh units):

* *Learning rate.* Gradient descent ``w <- w - eta dE/dw`` only decreases the loss when the
  step is small compared with the curvature (``eta < 2 / lambda_max`` for a quadratic bowl);
  at the Playground's default ``eta = 0.03`` the training loss falls smoothly, at ``eta = 1``
  the steps overshoot and the loss curve jumps up and down.
* *L2 regularisation.* The penalty ``(lambda/2) ||w||^2`` adds ``lambda w`` to every weight's
  gradient (the Playground's "regularization rate"; biases are not decayed), so each step
  shrinks the weights by the factor ``1 - eta lambda``. A small rate (0.01) leaves room to fit
  the circle; a rate of 1 shrinks the weights to ~0 faster than the data gradient can grow
  them: the network outputs a constant and underfits (training accuracy = the majority class
  fraction, ~0.5).
* *Depth.* A second hidden layer composes the first layer's half-plane features into curved
  regions; on the two interleaved spirals two layers of 8 tanh units beat one layer of 8.

Verified, on the Playground sets (``ffnn.data.load``: 500 points, half for training):

1. ``circle``, a 2-4-2-1 tanh network (the Playground's default architecture), binary
   cross-entropy on the logit, SGD with batch size 10, the same epochs and initial weights
   for both rates, 60 epochs: the *total rise* of the full training loss (the sum of its
   epoch-to-epoch increases; 0 for a monotone curve) is >= 0.25 nats in every seed with
   ``eta = 1`` (the loss repeatedly climbs back; the initial loss is ln 2 = 0.69) and
   <= 0.01 with ``eta = 0.03``. The final losses are reported too: lr 1 is not always higher
   at the end -- it sometimes lands in a very low point between the jumps.
2. Same set and network at ``eta = 0.03`` with L2 rates 0.01, 0.1 and 1: with 0.01 the mean
   training accuracy over seeds is >= 0.9; with 1 the training accuracy in every seed is no
   better than predicting the majority class (<= its fraction + 0.01) and the weights' norm
   is below 1e-3; the weights' norm decreases as the rate grows.
3. ``spiral`` (noise 0): 2-8-1 vs 2-8-8-1 tanh networks, trained by full-batch Adam (SGD at
   the Playground's rate needs thousands of epochs here) from several seeds: the mean test
   accuracy of the two-layer network exceeds the one-layer network's by >= 0.05.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import data, losses, optim
from ..builder import mlp
from ..errors import TrainingDivergedError
from ..model import Sequential
from ..train import Trainer
from ._figures import decision_boundary, pyplot
from ._report import Report

LRS = (0.03, 1.0)
L2_RATES = (0.01, 0.1, 1.0)


def _set(name: str, seed: int):
    ds = data.load(name, seed=seed)
    return (ds.X_train.astype(np.float64), ds.y_train, ds.X_test.astype(np.float64), ds.y_test)


def train_sgd(X, y, sizes, lr, l2, epochs, seed):
    """Playground-style SGD (batch 10); returns the net and the full training loss after each epoch.

    The engine runs the epochs one at a time (each a new permutation of the training points, drawn
    from ``default_rng(seed)``); the curve is the loss of the whole training set after each
    epoch (not the engine's mean of the batch losses during it). A run that diverges is rolled
    back to the start of that epoch and its curve ends there.
    """
    net = mlp(sizes, "tanh", seed=seed, dtype=np.float64)
    loss = losses.BinaryCrossEntropy()
    trainer = Trainer(net, loss, optim.SGD(net.parameters(), lr=lr, weight_decay=l2), batch_size=10, seed=seed)
    t = y[:, None].astype(np.float64)
    curve = []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(epochs):
            try:
                trainer.run_epoch(X, t)
            except TrainingDivergedError:
                break
            curve.append(loss.forward(net.forward(X), t))
    return net, np.array(curve)


def probability(net: Sequential) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> P(class 1 | x) = sigma(net(x))`` for a network with one logit output."""
    return lambda G: 1 / (1 + np.exp(-net.forward(G)[:, 0]))


def accuracy(net, X, y) -> float:
    return float(np.mean((net.forward(X)[:, 0] >= 0) == y))


def weight_norm(net) -> float:
    return float(np.sqrt(sum(np.sum(p.value.astype(np.float64) ** 2) for p in net.parameters() if p.decay)))


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn=print,
        name: str = "playground", title: str = "") -> object:
    rep = Report(name, title, out_dir, print_fn, quick)
    seeds = [seed * 100 + k for k in range(3 if quick else 4)]
    epochs = 60
    sizes = [2, 4, 2, 1]

    # 1. learning rate 0.03 vs 1 on circle.
    lr_runs: dict[float, list[tuple[Sequential, np.ndarray, float, float]]] = {lr: [] for lr in LRS}
    for s in seeds:
        X, y, Xt, yt = _set("circle", s)
        for lr in LRS:
            net, curve = train_sgd(X, y, sizes, lr, 0.0, epochs, s)
            lr_runs[lr].append((net, curve, accuracy(net, X, y), accuracy(net, Xt, yt)))
    frac_up = {lr: [float(np.mean(np.diff(c) > 0)) for _, c, _, _ in runs] for lr, runs in lr_runs.items()}
    rise = {lr: [float(np.clip(np.diff(c), 0, None).sum()) for _, c, _, _ in runs]
            for lr, runs in lr_runs.items()}
    for lr, runs in lr_runs.items():
        rep.say(f"circle, lr {lr:g}: final training loss " + ", ".join(f"{c[-1]:.3f}" for _, c, _, _ in runs)
                + "; test accuracy " + ", ".join(f"{a:.3f}" for *_, a in runs))
    rep.claim("learning rate 1 makes the training loss oscillate, 0.03 decreases it smoothly (circle, "
              "2-4-2-1 tanh, SGD batch 10)",
              min(rise[1.0]) >= 0.25 and max(rise[0.03]) <= 0.01,
              "total rise of the training loss (sum of epoch-to-epoch increases), per seed: lr 1: "
              + ", ".join(f"{v:.3f}" for v in rise[1.0]) + "; lr 0.03: "
              + ", ".join(f"{v:.1e}" for v in rise[0.03])
              + "; fraction of epochs whose loss rose: lr 1: " + ", ".join(f"{v:.2f}" for v in frac_up[1.0])
              + "; lr 0.03: " + ", ".join(f"{v:.2f}" for v in frac_up[0.03])
              + f"; mean final loss lr 1 {np.mean([c[-1] for _, c, _, _ in lr_runs[1.0]]):.3f}, "
              f"lr 0.03 {np.mean([c[-1] for _, c, _, _ in lr_runs[0.03]]):.3f} ({epochs} epochs)")

    # 2. L2 rate 0.01 / 0.1 / 1 on circle.
    l2_runs: dict[float, list[tuple[Sequential, np.ndarray, float, float, float]]] = {r: [] for r in L2_RATES}
    majority = []
    for s in seeds:
        X, y, Xt, yt = _set("circle", s)
        majority.append(max(float(np.mean(y)), 1 - float(np.mean(y))))
        for r in L2_RATES:
            net, curve = train_sgd(X, y, sizes, 0.03, r, epochs, s)
            l2_runs[r].append((net, curve, accuracy(net, X, y), accuracy(net, Xt, yt), weight_norm(net)))
    mean = {r: {"train": float(np.mean([v[2] for v in runs])), "test": float(np.mean([v[3] for v in runs])),
                "norm": float(np.mean([v[4] for v in runs]))} for r, runs in l2_runs.items()}
    for r in L2_RATES:
        rep.say(f"circle, L2 rate {r:g}: train accuracy {mean[r]['train']:.3f}, test {mean[r]['test']:.3f}, "
                f"||W|| {mean[r]['norm']:.3g} (mean of {len(seeds)} seeds)")
    rep.claim("L2 rate 0.01 still fits the circle (mean training accuracy >= 0.9)",
              mean[0.01]["train"] >= 0.9,
              "training accuracy per seed " + ", ".join(f"{v[2]:.3f}" for v in l2_runs[0.01])
              + f" (mean {mean[0.01]['train']:.3f}); test mean {mean[0.01]['test']:.3f}")
    acc1 = [v[2] for v in l2_runs[1.0]]
    norm1 = max(v[4] for v in l2_runs[1.0])
    rep.claim("L2 rate 1 underfits: training accuracy no better than the majority class (~0.5 chance), "
              "weights ~0",
              all(a <= m + 0.01 for a, m in zip(acc1, majority, strict=True)) and norm1 < 1e-3,
              "training accuracy per seed "
              + ", ".join(f"{a:.3f} (majority {m:.3f})" for a, m in zip(acc1, majority, strict=True))
              + f"; largest ||W|| {norm1:.1e}")
    norms = [mean[r]["norm"] for r in L2_RATES]
    rep.claim("the weights shrink as the L2 rate grows (mean ||W|| for 0.01 > 0.1 > 1)",
              norms[0] > norms[1] > norms[2],
              ", ".join(f"rate {r:g}: {n:.3g}" for r, n in zip(L2_RATES, norms, strict=True)))

    # 3. spiral: one hidden layer of 8 vs two.
    steps = 1000 if quick else 2000
    sp_seeds = [seed * 100 + k for k in range(3 if quick else 5)]
    spiral: dict[str, list[tuple[Sequential, list[float], float, float]]] = {"2-8-1": [], "2-8-8-1": []}
    for s in sp_seeds:
        X, y, Xt, yt = _set("spiral", s)
        for arch, sz in (("2-8-1", [2, 8, 1]), ("2-8-8-1", [2, 8, 8, 1])):
            net = mlp(sz, "tanh", seed=s, dtype=np.float64)
            trainer = Trainer(net, losses.BinaryCrossEntropy(), optim.Adam(net.parameters(), lr=0.01),
                              batch_size=None, shuffle=False)
            with contextlib.suppress(TrainingDivergedError):    # rolled back to the last finite step
                trainer.fit(X, y[:, None].astype(np.float64), epochs=steps)     # one epoch = one Adam step
            curve = [r["loss"] for r in trainer.history.records[::10]]         # the loss before every 10th step
            spiral[arch].append((net, curve, accuracy(net, X, y), accuracy(net, Xt, yt)))
    sp = {a: float(np.mean([v[3] for v in runs])) for a, runs in spiral.items()}
    sp_train = {a: float(np.mean([v[2] for v in runs])) for a, runs in spiral.items()}
    rep.claim("spiral: two hidden layers of 8 reach a higher test accuracy than one (mean over seeds, by "
              ">= 0.05)",
              sp["2-8-8-1"] - sp["2-8-1"] >= 0.05,
              "; ".join(f"{a}: test accuracy " + ", ".join(f"{v[3]:.3f}" for v in runs)
                        + f" (mean {sp[a]:.3f}), train mean {sp_train[a]:.3f}"
                        for a, runs in spiral.items())
              + f"; {len(sp_seeds)} seeds, {steps} Adam steps")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        X, y, _, _ = _set("circle", seeds[0])
        Xs, ys, _, _ = _set("spiral", sp_seeds[0])
        panels = [(lr_runs[lr][0][0], X, y, f"circle, lr {lr:g} (train acc {lr_runs[lr][0][2]:.2f})")
                  for lr in LRS]
        panels += [(spiral[a][0][0], Xs, ys, f"spiral, {a} (test acc {spiral[a][0][3]:.2f})") for a in spiral]
        panels += [(l2_runs[r][0][0], X, y, f"circle, L2 rate {r:g} (train acc {l2_runs[r][0][2]:.2f})")
                   for r in L2_RATES]
        fig, axes = plt.subplots(2, 4, figsize=(13, 6.5))
        for ax, (net, A, b, text) in zip(axes.ravel(), panels, strict=False):     # 7 panels, 8 axes
            decision_boundary(ax, probability(net), A, b, text)
        axes[1, 3].axis("off")
        rep.figure(fig, "playground_boundaries.png")

        fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
        for lr, color in zip(LRS, ("tab:blue", "tab:red"), strict=True):
            for k, (_, c, _, _) in enumerate(lr_runs[lr]):
                axes[0].plot(range(1, len(c) + 1), c, color=color, alpha=0.7,
                             label=f"lr {lr:g}" if k == 0 else None)
        axes[0].set_title("circle: training loss, lr 0.03 vs 1 (every seed)", fontsize=9)
        for r, color in zip(L2_RATES, ("tab:green", "tab:orange", "tab:purple"), strict=True):
            for k, (_, c, *_) in enumerate(l2_runs[r]):
                axes[1].plot(range(1, len(c) + 1), c, color=color, alpha=0.7,
                             label=f"L2 {r:g}" if k == 0 else None)
        axes[1].set_title("circle: training loss by L2 rate (lr 0.03)", fontsize=9)
        for arch, color in zip(spiral, ("tab:gray", "tab:blue"), strict=True):
            for k, (_, curve, *_) in enumerate(spiral[arch]):
                axes[2].plot(np.arange(len(curve)) * 10, curve, color=color, alpha=0.7,
                             label=arch if k == 0 else None)
        axes[2].set_title("spiral: training loss, one vs two hidden layers", fontsize=9)
        for ax, xl in zip(axes, ("epoch", "epoch", "Adam step"), strict=True):
            ax.set_xlabel(xl)
            ax.legend(fontsize=7)
        rep.figure(fig, "playground_losses.png")
    return rep.finish()
