"""Backpropagation by hand (Aalto CS-E4850 exercise): formulas vs library vs finite differences.

The network: ``x`` (D) -> ``z1 = W1 x`` -> ``y1 = sigma(z1)`` (7 logistic units) ->
``z2 = W2 y1`` -> ``y2 = softmax(z2)`` (10 classes), no biases, loss
``E = -sum_k t_k log y2_k`` per sample (mean over the N samples of the batch).

The exercise's step-by-step gradients for one sample (column vectors):

    dE/dz2 = (y2 - t)^T                       (1 x 10): softmax + cross-entropy fused
    dE/dW2 = (dE/dz2)^T y1^T                  (10 x 7)
    dE/dy1 = W2^T (dE/dz2)^T                  (7)
    dE/dz1 = dE/dy1 * y1 (1 - y1)             (7): the logistic derivative
    dE/dW1 = dE/dz1 x^T                       (7 x D)

summed over the batch and divided by N. With weight decay ``lambda``, the loss gains
``lambda/2 (||W1||^2 + ||W2||^2)`` and the gradients ``+ lambda W``; one gradient-descent
step ``W <- W - eta (dE/dW + lambda W)`` must equal one step of the engine (``ffnn.Trainer.step``:
forward, backward, ``SGD(lr=eta, weight_decay=lambda).step()``).

Verified on real ``mnist-5k`` digits (D = 784) in float64: the formula gradients equal the
library's backprop (``Sequential([Linear(784, 7, bias=False), Sigmoid(), Linear(7, 10,
bias=False)])`` + ``SoftmaxCrossEntropy``) to 1e-12 relative, both equal central finite
differences (``ffnn.gradcheck``), and the hand-written weight-decay step equals the
optimizer's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import layers, losses, optim
from ..gradcheck import gradcheck
from ..model import Sequential
from ..train import Trainer
from ._figures import pyplot
from ._report import Report


def load_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` mnist-5k training digits (float64) or, if unavailable, random inputs."""
    try:
        from ..data.mnist import load_mnist_5k
        ds = load_mnist_5k()
        idx = np.random.default_rng(seed).choice(len(ds.X_train), n, replace=False)
        return ds.X_train[idx].astype(np.float64), ds.y_train[idx], "mnist-5k digits"
    except Exception:  # pragma: no cover - data package unavailable
        rng = np.random.default_rng(seed)
        return rng.uniform(size=(n, 784)), rng.integers(0, 10, n), "random inputs"


def formula_gradients(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, labels: np.ndarray):
    """The exercise's formulas, sample by sample, averaged over the batch."""
    gW1, gW2 = np.zeros_like(W1), np.zeros_like(W2)
    loss = 0.0
    for x, label in zip(X, labels, strict=True):
        x = x[:, None]                                   # (D, 1)
        t = np.zeros((10, 1))
        t[label] = 1.0
        z1 = W1 @ x
        y1 = 1.0 / (1.0 + np.exp(-z1))                   # (7, 1)
        z2 = W2 @ y1
        y2 = np.exp(z2 - z2.max()) / np.exp(z2 - z2.max()).sum()
        loss += float(-np.log(y2[label, 0]))
        dE_dz2 = (y2 - t).T                              # (1, 10)
        gW2 += dE_dz2.T @ y1.T                           # (10, 7)
        dE_dz1 = (W2.T @ dE_dz2.T) * y1 * (1.0 - y1)     # (7, 1)
        gW1 += dE_dz1 @ x.T                              # (7, D)
    n = len(X)
    return loss / n, gW1 / n, gW2 / n


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn=print,
        name: str = "backprop-by-hand", title: str = "") -> object:
    rep = Report(name, title, out_dir, print_fn, quick)
    n = 8 if quick else 32
    X, labels, source = load_digits(n, seed)
    D, H, K = X.shape[1], 7, 10
    first = layers.Linear(D, H, bias=False, init="xavier_normal", rng=seed, dtype=np.float64)
    second = layers.Linear(H, K, bias=False, init="xavier_normal", rng=seed + 1, dtype=np.float64)
    net = Sequential([first, layers.Sigmoid(), second])
    W1, W2 = first.weight.value.copy(), second.weight.value.copy()
    rep.say(f"network {D}-{H}-{K}, logistic hidden units, softmax output, no biases; {n} {source}")

    loss_f, gW1_f, gW2_f = formula_gradients(W1, W2, X, labels)
    ce = losses.SoftmaxCrossEntropy()
    loss_l = ce.forward(net.forward(X), labels)
    net.backward(ce.backward(), input_grad=False)
    gW1_l, gW2_l = first.weight.grad.copy(), second.weight.grad.copy()

    def rel(a, b):
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))

    r1, r2 = rel(gW1_f, gW1_l), rel(gW2_f, gW2_l)
    rep.claim("the exercise's formulas give the library's backprop gradients",
              r1 < 1e-12 and r2 < 1e-12 and abs(loss_f - loss_l) < 1e-12,
              f"max rel. difference dE/dW1 {r1:.1e}, dE/dW2 {r2:.1e}; loss {loss_f:.6f} vs {loss_l:.6f}")

    report = gradcheck(net, ce, X, labels, eps=1e-6, max_elements=300 if quick else None, rtol=1e-5,
                       atol=1e-9, rng=seed)
    checked = sum(e.checked for e in report.entries)
    rep.claim("both agree with central finite differences (ffnn.gradcheck)",
              report.ok,
              f"{checked} weights checked, max relative error {report.max_relative_error:.1e}, "
              f"max absolute error {report.max_absolute_error:.1e}")

    lam, eta = 0.01, 0.5
    hand = [W1 - eta * (gW1_f + lam * W1), W2 - eta * (gW2_f + lam * W2)]
    opt = optim.SGD(net.parameters(), lr=eta, weight_decay=lam)
    Trainer(net, ce, opt, batch_size=None, shuffle=False).step(X, labels)   # forward, backward, opt.step()
    after = [first.weight.value, second.weight.value]
    wd_err = max(float(np.abs(a - h).max()) for a, h in zip(after, hand, strict=True))

    def E_dec(A, B):
        """The decayed loss; its finite-difference gradient is dE/dW + lambda W."""
        return formula_gradients(A, B, X, labels)[0] + lam / 2 * (np.sum(A ** 2) + np.sum(B ** 2))

    i, j, h = 3, 5, 1e-6
    A1, A2 = W2.copy(), W2.copy()
    A1[i, j] += h
    A2[i, j] -= h
    fd = (E_dec(W1, A1) - E_dec(W1, A2)) / (2 * h)
    fd_err = abs(fd - (gW2_f[i, j] + lam * W2[i, j]))
    rep.claim("with weight decay: gradient + lambda W, and the step equals SGD(weight_decay=lambda)",
              wd_err < 1e-14 and fd_err < 1e-8,
              f"lambda={lam}, eta={eta}: max |SGD step - hand step| {wd_err:.1e}; finite-difference "
              f"check of dE/dW2[3,5] + lambda W2[3,5]: error {fd_err:.1e}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None and D == 784:
        fig, axes = plt.subplots(2, H, figsize=(12, 3.8))
        for u in range(H):
            for row, (g, lab) in enumerate(((gW1_f, "formula"), (gW1_l, "library"))):
                lim = np.abs(gW1_f[u]).max()
                axes[row, u].imshow(g[u].reshape(28, 28), cmap="RdBu", vmin=-lim, vmax=lim)
                axes[row, u].set_xticks([])
                axes[row, u].set_yticks([])
                if u == 0:
                    axes[row, u].set_ylabel(lab, fontsize=8)
            axes[0, u].set_title(f"dE/dW1 unit {u}", fontsize=8)
        rep.figure(fig, "backprop_by_hand.png")
    return rep.finish()
