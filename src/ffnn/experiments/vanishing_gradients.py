"""Vanishing gradients: per-layer gradient norms through six hidden layers.

Course claim (Nielsen ch. 5; Bishop 5.3; DTU 02456): in the delta recursion
``delta_l = f'(a_l) * (W_{l+1}^T delta_{l+1})`` every layer multiplies the delta by the
activation's derivative. The logistic sigmoid's derivative is at most 1/4, so with weights of
moderate size the deltas -- and the weight gradients ``dE/dW_l = delta_l^T z_{l-1}`` --
shrink roughly geometrically towards the input: the first hidden layer learns orders of
magnitude more slowly than the last. tanh (derivative <= 1, Xavier init) shrinks less, and
ReLU with He initialisation (derivative 1 on active units) keeps the norms of the same order.

Verified on ``mnist-5k`` (784 -> 6 x 30 -> 10, softmax cross-entropy, minibatch SGD): as
in Nielsen's ch. 5 plots, the norm ``||dE/db_l||`` of each hidden layer's bias gradient (the
batch-summed delta ``sum_n delta_l``; unlike ``||dE/dW_l||`` it does not depend on the fan-in
of 784 in layer 1), measured on a fixed batch of
1,000 training digits at initialisation and after each epoch. Claims: for the sigmoid
network the ratio last-hidden / first-hidden is > 100 at initialisation (and stays > 10
throughout training); for ReLU the ratio stays within [0.1, 10].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import losses, optim
from ..builder import mlp
from ..errors import TrainingDivergedError
from ..train import Trainer
from ._figures import pyplot
from ._report import Report

SETUPS = {"sigmoid": ("sigmoid", "xavier"), "tanh": ("tanh", "xavier"), "relu": ("relu", "he")}


def load(seed: int, n: int):
    from ..data.mnist import load_mnist_5k
    ds = load_mnist_5k()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds.X_train))[:n]
    return ds.X_train[idx], ds.y_train[idx]


def layer_norms(model, loss, X, y) -> list[float]:
    loss.forward(model.forward(X), y)
    model.backward(loss.backward(), input_grad=False)
    linears = [layer for layer in model.layers if hasattr(layer, "weight")]
    return [float(np.linalg.norm(layer.bias.grad)) for layer in linears[:-1]]   # the six hidden layers


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn=print,
        name: str = "vanishing-gradients", title: str = "") -> object:
    rep = Report(name, title, out_dir, print_fn, quick)
    X, y = load(seed, 1000 if quick else 4000)
    Xm, ym = X[:1000], y[:1000]
    epochs = 2 if quick else 5
    history = {}
    for label, (act, init) in SETUPS.items():
        model = mlp([784] + [30] * 6 + [10], act, init=init, seed=seed, dtype=np.float32)
        loss = losses.SoftmaxCrossEntropy()
        opt = optim.SGD(model.parameters(), lr=0.1 if act != "sigmoid" else 0.5)
        trainer = Trainer(model, loss, opt, batch_size=32, seed=seed)
        norms = [layer_norms(model, loss, Xm, ym)]
        for _ in range(epochs):
            try:
                trainer.run_epoch(X, y)               # one epoch of shuffled minibatch SGD
            except TrainingDivergedError as err:      # rolled back to the epoch's start: the norms so far
                rep.say(f"{label}: {err}")
                break
            norms.append(layer_norms(model, loss, Xm, ym))
        history[label] = np.array(norms)
        ratios = history[label][:, -1] / history[label][:, 0]
        rep.say(f"{label:>7} ||dE/db_l|| at init, layers 1..6: "
                + ", ".join(f"{v:.2e}" for v in history[label][0])
                + "; last/first per epoch: " + ", ".join(f"{r:.3g}" for r in ratios))
    sig = history["sigmoid"][:, -1] / history["sigmoid"][:, 0]
    rel = history["relu"][:, -1] / history["relu"][:, 0]
    tanh = history["tanh"][:, -1] / history["tanh"][:, 0]
    rep.claim("sigmoid: the first hidden layer's gradient is orders of magnitude below the last's",
              sig[0] > 100 and sig.min() > 10,
              f"||db_6|| / ||db_1|| = {sig[0]:.3g} at init, min over {epochs} epochs {sig.min():.3g}")
    rep.claim("ReLU (He init): the ratio stays much closer to 1",
              rel.min() >= 0.1 and rel.max() <= 10,
              f"||db_6|| / ||db_1|| = {rel[0]:.3g} at init, range over training [{rel.min():.3g}, "
              f"{rel.max():.3g}]; tanh at init {tanh[0]:.3g}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
        for ax, (label, per_epoch) in zip(axes, history.items(), strict=True):
            for e, row in enumerate(per_epoch):
                ax.semilogy(range(1, 7), row, "o-", alpha=0.4 + 0.6 * e / max(len(per_epoch) - 1, 1),
                            label=f"epoch {e}")
            ax.set_xlabel("hidden layer")
            ax.set_title(f"{label}: ||dE/db_l||", fontsize=9)
        axes[0].legend(fontsize=7)
        rep.figure(fig, "vanishing_gradients.png")
    return rep.finish()
