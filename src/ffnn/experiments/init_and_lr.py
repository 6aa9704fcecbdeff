"""Initialisation (Gaussian 0.01, Xavier, He) and learning-rate schedules on mnist-5k.

Course claims (DTU 02456, Nielsen ch. 3, Bishop 5.2; Glorot & Bengio 2010; He et al. 2015):

*Initialisation.* A forward pass multiplies the signal by each weight matrix; a unit's
pre-activation has variance ``n_in Var(w) Var(z)``. With ``w ~ N(0, 0.01^2)`` and
``n_in = 100`` every layer scales the signal's standard deviation by about
``sqrt(100) * 0.01 = 0.1`` (and ReLU halves the variance once more), so through three hidden
layers the logits are ~1e-4 times smaller than the input: the softmax output is uniform, the
loss sits at ``ln 10 = 2.303`` and the backward deltas shrink by the same factors -- the
network hardly learns. Xavier (``Var(w) = 2 / (n_in + n_out)``) and He
(``Var(w) = 2 / n_in``, for ReLU) keep the variance of the signal of order one from layer to
layer, so training starts at once.

*Learning-rate schedules.* With ``t`` the number of completed epochs (the lr used in epoch
``e = t + 1``): constant ``eta_t = eta_0``; step halving ``eta_t = eta_0 0.5^floor(t / s)``;
inverse time ``eta_t = a / (b + t)`` (Robbins-Monro: ``sum eta_t = inf``,
``sum eta_t^2 < inf``); reduce-on-plateau ``eta_{t+1} = eta_t / 2`` when the validation loss
of epoch ``t + 1`` is not below ``best (1 - threshold)`` (patience 0), else unchanged.

Verified: a 784-100-100-100-10 ReLU network (softmax cross-entropy, minibatch SGD, lr 0.05)
from each initialisation, same data order: after every epoch the He and Xavier networks'
training loss is below the Gaussian(0.01) network's, by at least 0.1 after the first epoch,
while the Gaussian network stays within 0.01 of ``ln 10`` (the logits' standard deviation at
initialisation is printed). For the schedules a 784-100-10 ReLU network is trained with each
(validation: the 1,000 test digits) and the ``lr`` recorded in :class:`ffnn.History` is
compared, exactly (``==`` on floats), with the formula recomputed here from the epoch number
(and, for the plateau rule, from the recorded ``val_loss``); the step and plateau schedules
must actually have reduced the rate at least once, so the check is not vacuous.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import TypedDict

import numpy as np

from .. import losses, optim, schedules
from ..builder import mlp
from ..train import History, fit
from ._figures import pyplot
from ._report import ExperimentResult, Report

INITS = {"gaussian(0.01)": "gaussian", "xavier": "xavier", "he": "he"}
LR0 = 0.1
STEP_SIZE = 2
A, B = 0.5, 5.0                 # inverse time: lr = a / (b + t), lr_0 = 0.1


class _PlateauOptions(TypedDict):
    """Keyword arguments of :class:`ffnn.schedules.ReduceLROnPlateau` used here."""

    factor: float
    threshold: float
    patience: int


PLATEAU: _PlateauOptions = {"factor": 0.5, "threshold": 0.05, "patience": 0}


def load(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from ..data.mnist import load_mnist_5k
    ds = load_mnist_5k()
    idx = np.random.default_rng(seed).permutation(len(ds.X_train))[:n]   # the file is sorted by class
    return ds.X_train[idx], ds.y_train[idx], ds.X_test, ds.y_test


def expected_lrs(name: str, history: History) -> list[float]:
    """The formula's learning rate for each recorded epoch (lr used during epoch e = t + 1)."""
    n = len(history)
    if name == "constant":
        return [LR0] * n
    if name == "step (halve every 2)":
        return [LR0 * 0.5 ** (t // STEP_SIZE) for t in range(n)]
    if name == "a / (b + t)":
        return [A / (B + t) for t in range(n)]
    lr, best = LR0, math.inf                    # reduce on plateau, recomputed from val_loss
    out: list[float] = []
    for v in history["val_loss"]:
        out.append(lr)
        if v < best * (1 - PLATEAU["threshold"]):
            best = v
        else:
            lr = lr * PLATEAU["factor"]
    return out


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn: Callable[..., None] = print,
        name: str = "init-and-lr", title: str = "") -> ExperimentResult:
    rep = Report(name, title, out_dir, print_fn, quick)
    X, y, X_val, y_val = load(seed, 1000 if quick else 4000)
    loss = losses.SoftmaxCrossEntropy()

    epochs = 3 if quick else 5
    init_hist: dict[str, np.ndarray] = {}
    logit_std: dict[str, float] = {}
    for label, init in INITS.items():
        net = mlp([784, 100, 100, 100, 10], "relu", init=init, seed=seed)
        logit_std[label] = float(net.forward(X[:500]).std())
        h = fit(net, loss, optim.SGD(net.parameters(), lr=0.05), X, y, epochs=epochs, batch_size=32,
                seed=seed, progress=False)
        init_hist[label] = np.array(h["loss"])
        rep.say(f"{label:>15}: logits' std at init {logit_std[label]:.2e}; training loss per epoch "
                + ", ".join(f"{v:.4f}" for v in h["loss"]))
    g = init_hist["gaussian(0.01)"]
    gap = {k: float(g[0] - init_hist[k][0]) for k in ("xavier", "he")}
    below = all(np.all(init_hist[k] < g) for k in ("xavier", "he"))
    rep.claim("He and Xavier initialisation reach a lower training loss than Gaussian(0.01) after the "
              "first epoch (and every later one)",
              below and min(gap.values()) >= 0.1,
              f"epoch-1 loss: gaussian {g[0]:.4f}, xavier {init_hist['xavier'][0]:.4f}, "
              f"he {init_hist['he'][0]:.4f}; after {epochs} epochs: gaussian {g[-1]:.4f}, "
              f"xavier {init_hist['xavier'][-1]:.4f}, he {init_hist['he'][-1]:.4f}")
    dev = float(np.abs(g - math.log(10)).max())
    rep.claim("the Gaussian(0.01) network's signal vanishes: its loss stays at ln 10 (uniform softmax)",
              dev <= 0.01,
              f"max |loss - ln 10| over {epochs} epochs = {dev:.4f}; logits' std at init: "
              + ", ".join(f"{k} {v:.1e}" for k, v in logit_std.items()))

    sched_epochs = 10 if quick else 12
    sched_hist: dict[str, History] = {}
    for label in ("constant", "step (halve every 2)", "reduce on plateau", "a / (b + t)"):
        net = mlp([784, 100, 10], "relu", init="he", seed=seed)
        opt = optim.SGD(net.parameters(), lr=LR0)
        choices: dict[str, list[schedules.Schedule]] = {
            "constant": [], "step (halve every 2)": [schedules.StepLR(opt, STEP_SIZE, gamma=0.5)],
            "reduce on plateau": [schedules.ReduceLROnPlateau(opt, **PLATEAU)],
            "a / (b + t)": [schedules.InverseTimeLR(opt, a=A, b=B)]}
        sched = choices[label]
        sched_hist[label] = fit(net, loss, opt, X, y, epochs=sched_epochs, batch_size=32,
                                validation=(X_val, y_val), schedule=sched, seed=seed, progress=False)
    rows: list[str] = []
    exact = True
    for label, h in sched_hist.items():
        got, want = list(h["lr"]), expected_lrs(label, h)
        exact &= got == want
        rows.append(f"{label}: {sum(a != b for a, b in zip(got, want, strict=True))} mismatches, lr "
                    + " ".join(f"{v:.4g}" for v in got))
        rep.say(f"{label:>20}: val loss " + ", ".join(f"{v:.4f}" for v in h["val_loss"])
                + f"; final val accuracy {h['val_accuracy'][-1]:.3f}")
    reductions = {k: sum(b < a for a, b in pairwise(sched_hist[k]["lr"]))
                  for k in ("step (halve every 2)", "reduce on plateau")}
    rep.claim("every schedule's recorded lr sequence follows its formula exactly (constant, "
              f"0.1 * 0.5^floor(t/{STEP_SIZE}), {A}/({B:g}+t), halve on a val-loss plateau)",
              exact and min(reductions.values()) >= 1,
              "; ".join(rows) + f"; reductions: step {reductions['step (halve every 2)']}, "
              f"plateau {reductions['reduce on plateau']}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
        for label, curve in init_hist.items():
            axes[0].plot(range(1, epochs + 1), curve, "o-", label=label)
        axes[0].axhline(math.log(10), color="k", ls=":", lw=0.8, label="ln 10")
        axes[0].set_title("784-100-100-100-10 ReLU: training loss by init", fontsize=9)
        axes[0].set_xlabel("epoch")
        axes[0].legend(fontsize=7)
        for label, h in sched_hist.items():
            e = range(1, len(h) + 1)
            axes[1].plot(e, h["val_loss"], "o-", ms=3, label=label)
            axes[2].step(e, h["lr"], where="post", label=label)
        axes[1].set_title("784-100-10: validation loss by schedule", fontsize=9)
        axes[1].set_xlabel("epoch")
        axes[1].legend(fontsize=7)
        axes[2].set_title("recorded learning rate", fontsize=9)
        axes[2].set_xlabel("epoch")
        axes[2].legend(fontsize=7)
        rep.figure(fig, "init_and_lr.png")
    return rep.finish()
