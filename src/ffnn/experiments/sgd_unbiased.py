"""The minibatch gradient is an unbiased estimate of the full-batch gradient.

Course claim (Nielsen ch. 1; DTU 02456): for a batch ``B`` of ``m`` samples drawn
uniformly, ``E_B[(1/m) sum_{n in B} grad E_n] = (1/N) sum_n grad E_n``. Averaging ``k``
independent minibatch gradients therefore converges to the full gradient with error
``O(1/sqrt(k))`` (the central limit theorem: each is the full gradient plus zero-mean noise).
One epoch over a random partition of the data averages *exactly* to the full gradient.

Verified on a 2-32-32-2 tanh network and 2,000 spiral points (float64): a pool of
independent minibatch gradients (m = 16, samples drawn without replacement within a batch)
is averaged in groups of k = 1, 4, 16, ..., and the relative error ``||avg - g|| / ||g||``
is measured; its log-log slope against k is close to -1/2 and it shrinks by at least 10x
from k = 1 to the largest k; the partition average matches to 1e-12.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import losses
from ..builder import mlp
from ..losses import Loss
from ..model import Sequential
from ._figures import pyplot
from ._report import ExperimentResult, Report


def flat_gradient(model: Sequential, loss: Loss, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    loss.forward(model.forward(X), y)
    model.backward(loss.backward(), input_grad=False)
    return np.concatenate([p.grad.ravel() for p in model.parameters()])


def spiral_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        from ..data import toy
        X, y = toy.spiral(n, noise=0.2, rng=seed)
    except Exception:  # pragma: no cover - data package unavailable
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, 2))
        y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X.astype(np.float64) / 5.0, y


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn: Callable[..., None] = print,
        name: str = "sgd-unbiased", title: str = "") -> ExperimentResult:
    rep = Report(name, title, out_dir, print_fn, quick)
    N, m = 2000, 16
    X, y = spiral_data(N, seed)
    model = mlp([2, 32, 32, 2], "tanh", seed=seed, dtype=np.float64)
    loss = losses.SoftmaxCrossEntropy()
    g = flat_gradient(model, loss, X, y)
    rng = np.random.default_rng(seed + 1)

    pool_size = 4096 if quick else 16384
    pool = np.empty((pool_size, g.size))
    for i in range(pool_size):
        idx = rng.choice(N, m, replace=False)
        pool[i] = flat_gradient(model, loss, X[idx], y[idx])
    ks = [k for k in (1, 4, 16, 64, 256, 1024, 4096) if pool_size // k >= 4]
    errors: list[float] = []
    gnorm = np.linalg.norm(g)
    for k in ks:
        groups = pool[: (pool_size // k) * k].reshape(-1, k, g.size).mean(axis=1)
        errors.append(float(np.mean(np.linalg.norm(groups - g, axis=1)) / gnorm))
    slope = float(np.polyfit(np.log(ks), np.log(errors), 1)[0])
    rep.claim("averaging k minibatch gradients converges to the full-batch gradient like 1/sqrt(k)",
              -0.6 < slope < -0.4 and errors[-1] < errors[0] / 10,
              "relative error ||mean - g||/||g|| for k = "
              + ", ".join(f"{k}: {e:.3g}" for k, e in zip(ks, errors, strict=True))
              + f"; log-log slope {slope:.3f} (theory -0.5); minibatch size {m}, N = {N}")

    mean_all = pool.mean(axis=0)
    # the pooled mean's deviation should be of the size predicted by the single-batch spread
    expected = errors[0] / np.sqrt(pool_size)
    dev = float(np.linalg.norm(mean_all - g) / gnorm)
    perm = rng.permutation(N)
    part = np.mean([flat_gradient(model, loss, X[perm[s:s + m]], y[perm[s:s + m]])
                    for s in range(0, N, m)], axis=0)
    part_err = float(np.linalg.norm(part - g) / gnorm)
    rep.claim("no bias: the mean of all pooled minibatch gradients deviates only by the noise "
              "level, and one epoch over a random partition averages to g exactly",
              dev < 3 * expected and part_err < 1e-12,
              f"mean of {pool_size} minibatch gradients: relative error {dev:.2e} (noise level "
              f"{expected:.2e}); partition into {N // m} batches: {part_err:.1e}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        ax.loglog(ks, errors, "o-", label="measured")
        ax.loglog(ks, errors[0] / np.sqrt(ks), "k--", label="errors[0] / sqrt(k)")
        ax.set_xlabel("number of minibatches averaged, k")
        ax.set_ylabel("||mean gradient - full gradient|| / ||full||")
        ax.legend()
        ax.set_title(f"minibatch gradient is unbiased (slope {slope:.2f})", fontsize=9)
        rep.figure(fig, "sgd_unbiased.png")
    return rep.finish()
