"""Nielsen ch. 1 exercise: one extra layer turns the 10 digit outputs into a 4-bit binary code.

Course claim (Nielsen, "Neural Networks and Deep Learning", ch. 1, exercise after the
three-layer digit network): add a fourth layer of 4 sigmoid units to the 10-output network
so that it outputs the bitwise representation of the digit. Premise: in the old output layer
the correct digit's activation is at least 0.99 and every other activation at most 0.01.

The construction used here: output bit ``j`` (``j = 0`` least significant) receives the
weight ``+w`` from every digit unit ``d`` whose binary code has bit ``j`` set and ``-w``
from the others, with bias ``b``:

    z_j = sum_d W_jd a_d + b,   W_jd = w (2 bit_j(d) - 1),   bit_j = [sigmoid(z_j) >= 1/2]

With ``w = 10``, ``b = 0``. Under the premise (``a_c in [0.99, 1]`` for the correct digit c,
``a_d in [0, 0.01]`` for the others) a bit that should be 1 has
``z_j >= 0.99 w - 0.01 w n_0 >= w (0.99 - 0.08) = 9.1`` (``n_0 <= 8`` digits have the bit
clear: bit 3 is set only for 8 and 9), so ``sigmoid(z_j) >= 0.9998``; symmetrically a bit
that should be 0 has ``sigmoid(z_j) <= 1.2e-4``. Every bit is right with a wide margin.

Verified: (1) for every digit with the one-hot-like input 0.99 / 0.01 the sigmoid bits are the
digit's code and at least 0.99 / at most 0.01 away from it; (2) *adversarially*: ``z_j`` is
linear in the activations, so its extremes over the premise's box are at the box's corners;
all 10 x 2^10 corners (correct unit 0.99 or 1, each other unit 0 or 0.01) are enumerated and
every bit is right with the same margin; (3) on a network trained on ``mnist-5k`` (784-100-10
ReLU, softmax outputs), extended by the new layer (built from library layers: ``Softmax``,
``Linear(10, 4)`` with the weights above, ``Sigmoid``): for *every* test digit that meets
the premise (top probability >= 0.99, all others <= 0.01) the thresholded bits equal the
code of the argmax digit -- 100 % -- and on all test digits the decoded bits agree with the
argmax in at least 95 %; for softmax outputs (which sum to 1) ``z_j = w (2 P(bit_j = 1) - 1)``
with ``P(bit_j = 1)`` the total probability of the digits whose bit j is set, so the bits can
disagree with the argmax only when the top probability is below 1/2 -- also checked (to 1e-4,
float32 rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from .. import layers, losses, optim
from ..builder import mlp
from ..model import Sequential
from ..train import fit
from ._figures import pyplot
from ._report import ExperimentResult, Report

W_SCALE = 10.0
BIAS = 0.0
HI, LO = 0.99, 0.01            # the premise: correct output >= 0.99, the others <= 0.01

CODES = np.array([[(d >> j) & 1 for j in range(4)] for d in range(10)])   # (10, 4), bit 0 first


def code_layer(dtype: Any = np.float64) -> layers.Linear:
    """``Linear(10, 4)`` with ``W[j, d] = +w`` if bit j of d is set else ``-w``, bias ``b``."""
    lin = layers.Linear(10, 4, dtype=dtype)
    assert lin.bias is not None  # Linear has a bias by default
    lin.weight.value[...] = W_SCALE * (2 * CODES.T - 1)
    lin.bias.value[...] = BIAS
    return lin


def premise_corners() -> tuple[np.ndarray, np.ndarray]:
    """Every corner of the premise's box for every digit: (10 * 2^10, 10) inputs and their digits."""
    rows: list[np.ndarray] = []
    digits: list[int] = []
    for d in range(10):
        for choice in product((0, 1), repeat=10):
            a = np.where(np.array(choice) == 1, LO, 0.0)
            a[d] = HI if choice[d] else 1.0
            rows.append(a)
            digits.append(d)
    return np.array(rows), np.array(digits)


def margins(bits_prob: np.ndarray, digits: np.ndarray) -> tuple[float, float, int]:
    """Lowest output of a bit that should be 1, highest of one that should be 0, wrong bits."""
    want = CODES[digits].astype(bool)
    wrong = int(np.sum((bits_prob >= 0.5) != want))
    return float(bits_prob[want].min()), float(bits_prob[~want].max()), wrong


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn: Callable[..., None] = print,
        name: str = "binary-output-layer", title: str = "") -> ExperimentResult:
    rep = Report(name, title, out_dir, print_fn, quick)
    code = code_layer()
    head = Sequential([code, layers.Sigmoid()])
    rep.say(f"new layer: W[j, d] = {W_SCALE:g} * (2 bit_j(d) - 1), bias {BIAS:g}; "
            f"premise: correct output >= {HI}, others <= {LO}")

    onehot = np.full((10, 10), LO) + np.eye(10) * (HI - LO)
    p = head.forward(onehot)
    lo1, hi0, wrong = margins(p, np.arange(10))
    rep.claim("one-hot-like inputs (0.99 for the digit, 0.01 elsewhere): every digit's 4 bits are its "
              "binary code, each bit within 0.01 of 0 or 1",
              wrong == 0 and lo1 >= 0.99 and hi0 <= 0.01,
              f"{wrong} wrong bits of 40; bits that should be 1 are >= {lo1:.6f}, bits that should "
              f"be 0 are <= {hi0:.2e}")

    corners, digits = premise_corners()
    p = head.forward(corners)
    lo1, hi0, wrong = margins(p, digits)
    rep.claim("adversarial premise inputs: all 10 x 2^10 corners of the premise's box (where the linear "
              "z_j takes its extremes) give the right bits with margin",
              wrong == 0 and lo1 >= 0.99 and hi0 <= 0.01,
              f"{len(corners)} corner inputs, {wrong} wrong bits; worst bit that should be 1: "
              f"{lo1:.6f} (bound sigmoid(9.1) = {1 / (1 + np.exp(-9.1)):.6f}), worst bit that should "
              f"be 0: {hi0:.2e}")

    # A trained digit network with softmax outputs, extended by the new layer.
    from ..data.mnist import load_mnist_5k
    ds = load_mnist_5k()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds.X_train))[:1200 if quick else len(ds.X_train)]
    net = mlp([784, 100, 10], "relu", init="he", seed=seed)
    epochs = 6 if quick else 15
    fit(net, losses.SoftmaxCrossEntropy(), optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
        ds.X_train[idx], ds.y_train[idx], epochs=epochs, batch_size=32, seed=seed, progress=False)
    extended = Sequential(list(net.layers) + [layers.Softmax(), code_layer(net.dtype), layers.Sigmoid()])
    probs = layers.Softmax().forward(net.predict(ds.X_test).astype(np.float64))
    bits = (extended.predict(ds.X_test) >= 0.5).astype(int)
    top = probs.argmax(axis=1)
    test_acc = float(np.mean(top == ds.y_test))
    srt = np.sort(probs, axis=1)
    premise = (srt[:, -1] >= HI) & (srt[:, -2] <= LO)
    agree = np.all(bits == CODES[top], axis=1)
    n_prem = int(premise.sum())
    rep.say(f"trained 784-100-10 ReLU net: {len(idx)} training digits, {epochs} epochs, "
            f"test accuracy {test_acc:.3f}")
    rep.claim("trained mnist-5k network: for every test digit meeting the premise the bits equal the "
              "code of the argmax digit (100 %)",
              n_prem >= 100 and bool(np.all(agree[premise])),
              f"{int(agree[premise].sum())}/{n_prem} premise test digits agree "
              f"({n_prem / len(probs):.1%} of the {len(probs)} test digits meet the premise)")
    rate = float(agree.mean())
    dis = ~agree
    worst_top = float(srt[dis, -1].max()) if dis.any() else 0.0
    code_acc = float(np.mean(np.all(bits == CODES[ds.y_test], axis=1)))
    rep.claim("on all test digits the decoded bits agree with the argmax digit in >= 95 %, and they "
              "disagree only where the top probability is below 1/2",
              rate >= 0.95 and worst_top < 0.5 + 1e-4,
              f"agreement {rate:.4f} ({int(dis.sum())} disagreements, their largest top probability "
              f"{worst_top:.4f}); code accuracy vs the true labels {code_acc:.3f}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
        im = axes[0].imshow(code.weight.value, cmap="RdBu", vmin=-W_SCALE, vmax=W_SCALE)
        axes[0].set_xticks(range(10))
        axes[0].set_yticks(range(4), [f"bit {j}" for j in range(4)])
        axes[0].set_xlabel("digit unit")
        axes[0].set_title("new layer's weights", fontsize=9)
        fig.colorbar(im, ax=axes[0], shrink=0.6)
        z = code.forward(corners)
        signed = np.where(CODES[digits] == 1, z, -z)          # > 0: the bit is right
        axes[1].hist(signed.ravel(), bins=40, color="tab:blue")
        axes[1].axvline(np.log(99), color="k", ls="--", lw=0.8, label="log 99: output within 0.01")
        axes[1].set_xlabel("(2 bit - 1) z_j over all premise corners")
        axes[1].set_title(f"adversarial corners: min margin {signed.min():.2f}", fontsize=9)
        axes[1].legend(fontsize=7)
        axes[2].hist([srt[agree, -1], srt[dis, -1]], bins=20, range=(0, 1), stacked=True,
                     label=["bits agree with argmax", "disagree"], log=True)
        axes[2].axvline(HI, color="k", ls="--", lw=0.8)
        axes[2].set_xlabel("top softmax probability (test digits)")
        axes[2].set_title("trained net: agreement vs confidence", fontsize=9)
        axes[2].legend(fontsize=7)
        rep.figure(fig, "binary_output_layer.png")
    return rep.finish()
