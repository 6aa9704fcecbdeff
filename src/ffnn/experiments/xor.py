"""XOR: no linear model separates it; one hidden layer does.

Course claim (Tsinghua "MLP" slides, Bishop 4.1, Nielsen ch. 1): XOR's four points
(0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0 are not linearly separable, so the perceptron never
converges and logistic regression / Adaline cannot classify all four (at most 3 of 4 with
any line). A 2-2-1 network trained by backprop solves it, and the slides' hand-set ReLU
network

    h = ReLU(V x + c),  V = [[1, 1], [1, 1]],  c = [0, -1];   y = w . h + b,  w = [1, -2], b = 0

computes XOR *exactly*: h = (x1+x2, max(0, x1+x2-1)) and y = (x1+x2) - 2 max(0, x1+x2-1).

Verified: perceptron ``converged_`` is False with errors in every epoch; linear models'
accuracy <= 3/4; a 2-2-1 tanh network (BCE on the logit, full-batch gradient descent)
reaches accuracy 1 from most of several random initialisations (the count is reported: a
2-2-1 net has local minima); the hand-set network, built from library layers in float64,
outputs exactly [0, 1, 1, 0].
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .. import layers, losses, optim
from ..builder import mlp
from ..errors import TrainingDivergedError
from ..linear_models import Adaline, ConvergenceWarning, LogisticRegression, Perceptron
from ..model import Sequential
from ..train import Trainer
from ._figures import decision_boundary, pyplot
from ._report import Report

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
T = np.array([0, 1, 1, 0])


def hand_set_relu_net() -> Sequential:
    """The slides' ReLU network with V = [[1,1],[1,1]], c = [0,-1], w = [1,-2], b = 0 (float64)."""
    hidden, out = layers.Linear(2, 2, dtype=np.float64), layers.Linear(2, 1, dtype=np.float64)
    assert hidden.bias is not None and out.bias is not None          # Linear has a bias by default
    hidden.weight.value[...] = [[1, 1], [1, 1]]
    hidden.bias.value[...] = [0, -1]
    out.weight.value[...] = [[1, -2]]
    out.bias.value[...] = [0]
    return Sequential([hidden, layers.ReLU(), out])


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn=print,
        name: str = "xor", title: str = "") -> object:
    rep = Report(name, title, out_dir, print_fn, quick)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        perc = Perceptron(eta=1.0, max_iter=100).fit(X, T)
        logit = LogisticRegression(alpha=1e-3, max_iter=5000).fit(X, T)
        ada = Adaline(eta=0.1, max_iter=500).fit(X, T)
    rep.claim("the perceptron does not converge on XOR (an error in every epoch)",
              not perc.converged_ and min(perc.errors_) > 0,
              f"converged_={perc.converged_}, {perc.n_iter_} epochs, errors per epoch min "
              f"{min(perc.errors_)} max {max(perc.errors_)}, accuracy {perc.score(X, T):.2f}")
    accs = {m: est.score(X, T) for m, est in
            (("perceptron", perc), ("logistic", logit), ("adaline", ada))}
    rep.claim("no linear model classifies all four points (accuracy <= 3/4)",
              max(accs.values()) <= 0.75,
              ", ".join(f"{k} {v:.2f}" for k, v in accs.items()))

    # 2-2-1 tanh network, BCE on the logit, full-batch gradient descent with momentum.
    n_init = 5
    steps = 1500 if quick else 3000
    solved = 0
    best: tuple[Sequential, float, float, list[float]] | None = None     # net, final loss, accuracy, curve
    for k in range(n_init):
        net = mlp([2, 2, 1], "tanh", seed=seed * 100 + k, dtype=np.float64)
        opt = optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
        trainer = Trainer(net, losses.BinaryCrossEntropy(), opt, batch_size=None, shuffle=False)
        try:
            curve = trainer.fit(X, T[:, None], epochs=steps)["loss"]     # one epoch = one full-batch step
        except TrainingDivergedError:        # rolled back to the last finite step: the curve so far, then NaN
            curve = [r["loss"] for r in trainer.history.records] + [np.nan]
        pred = (net.forward(X)[:, 0] >= 0).astype(int)
        acc = float(np.mean(pred == T))
        solved += acc == 1.0
        if best is None or curve[-1] < best[1]:
            best = (net, curve[-1], acc, curve)
    assert best is not None
    rep.claim("a 2-2-1 tanh network trained by backprop solves XOR (accuracy 1)",
              best[2] == 1.0 and best[1] < 0.05,
              f"{solved}/{n_init} random initialisations reach accuracy 1 after {steps} steps; "
              f"best final loss {best[1]:.2e}")

    hand = hand_set_relu_net()
    out = hand.forward(X)[:, 0]
    rep.claim("the hand-set ReLU net (V=[[1,1],[1,1]], c=[0,-1], w=[1,-2], b=0) computes XOR exactly",
              np.array_equal(out, T.astype(np.float64)),
              f"outputs {out.tolist()} for inputs (0,0), (0,1), (1,0), (1,1)")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, axes = plt.subplots(1, 4, figsize=(13, 3.3))
        def sig(z):
            return 1 / (1 + np.exp(-z))

        decision_boundary(axes[0], lambda G: logit.predict_proba(G)[:, 1], X, T,
                          f"logistic regression (acc {accs['logistic']:.2f})")
        decision_boundary(axes[1], lambda G: sig(best[0].forward(G)[:, 0]), X, T,
                          f"2-2-1 tanh net (acc {best[2]:.2f})")
        decision_boundary(axes[2], lambda G: np.clip(hand.forward(G)[:, 0], 0, 1), X, T,
                          "hand-set ReLU net (output clipped to [0,1])")
        axes[3].semilogy(best[3])
        axes[3].set_title("2-2-1 training loss", fontsize=9)
        axes[3].set_xlabel("step")
        rep.figure(fig, "xor.png")
    return rep.finish()
