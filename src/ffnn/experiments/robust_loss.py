"""Flipped training labels: the robust binary cross-entropy vs the plain one.

Course claim (DTU 02456 / Bishop 4.3 exercise on label noise): if each observed label is the
true one flipped with probability ``eps``, the likelihood of an observed label ``t`` under the
model's ``p = P(true label = 1)`` is

    q = (1 - eps) p^t (1 - p)^(1 - t) + eps p^(1 - t) (1 - p)^t  =  eps + (1 - 2 eps) s,

with ``s`` the model's probability of the *observed* label, and the robust loss is
``E^(n) = -log q``. At ``eps = 0`` it is binary cross-entropy. Because ``q >= eps`` a
confidently contradicted label costs at most ``-log eps`` (plain BCE: ``-log s``, unbounded)
and its gradient ``dE/dz = -sigma (1 - 2 eps) s (1 - s) / q`` vanishes as ``s -> 0``
instead of tending to 1: a flexible network is no longer dragged into memorising the flipped
points, so it generalises better to clean data.

Verified (:class:`ffnn.losses.RobustBinaryCrossEntropy` vs
:class:`ffnn.losses.BinaryCrossEntropy`, both on the logit): (1) at ``eps = 0`` the two give
identical loss values (``==``) and gradients equal to rounding (1e-12 relative: the classes
use different but equivalent formulas) on random logits and labels; (2) the per-sample robust
loss is ``<= -log eps`` (to 1e-12 relative: at a logit of -1e3 the stable log-space formula
rounds a few 1e-14 above the bound) for logits down to -1e3 and approaches it (within 1e-6 at
a logit of -30), while plain BCE grows linearly; (3) on the Playground ``circle`` set (400
points, 200 train / 200 test) a fraction ``r`` of the *training* labels is flipped at random
and a 2-32-32-1 tanh network is trained by full-batch Adam long enough to overfit (the plain
net reaches ~100 % accuracy on the noisy labels); with ``eps = r`` the robust net's accuracy
on the *clean* test labels, averaged over seeds (data, flips and initialisation), is at least
the plain net's at every flip rate >= 0.2, by >= 0.03 on average over those rates (rates
0, 0.1, ..., 0.4 and 5 seeds; quick mode: 0, 0.2, 0.3 and 3 seeds -- at 0.4 the gain varies
most between seed sets, from ~0 to 0.15, so 3 seeds are too few for it); at
``r = 0`` the two trainings are the same fit (equal accuracy in every seed, test logits equal
to 1e-6: they differ only by the rounding of the two formulas).
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

SIZES = [2, 32, 32, 1]


def noisy_circle(seed: int, rate: float):
    """The circle set with a fraction ``rate`` of the training labels flipped (test labels clean)."""
    ds = data.load("circle", n=400, seed=seed)
    y = ds.y_train.copy()
    flip = np.random.default_rng(10_000 + seed).permutation(len(y))[:int(round(rate * len(y)))]
    y[flip] = 1 - y[flip]
    return (ds.X_train.astype(np.float64), y, ds.X_test.astype(np.float64), ds.y_test, flip)


def train(X, y, loss, seed: int, steps: int):
    """A 2-32-32-1 tanh network fitted by ``steps`` full-batch Adam steps (one engine epoch each)."""
    net = mlp(SIZES, "tanh", seed=seed, dtype=np.float64)
    trainer = Trainer(net, loss, optim.Adam(net.parameters(), lr=0.02), batch_size=None, shuffle=False)
    with contextlib.suppress(TrainingDivergedError):     # rolled back to the last finite step: judged as is
        trainer.fit(X, y[:, None].astype(np.float64), epochs=steps)
    return net


def probability(net: Sequential) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> P(class 1 | x) = sigma(net(x))`` for a network with one logit output."""
    return lambda G: 1 / (1 + np.exp(-net.forward(G)[:, 0]))


def accuracy(net, X, y) -> float:
    return float(np.mean((net.forward(X)[:, 0] >= 0) == y))


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn=print,
        name: str = "robust-loss", title: str = "") -> object:
    rep = Report(name, title, out_dir, print_fn, quick)

    # (1) eps = 0 is binary cross-entropy.
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 4, (1000, 3))
    t = rng.integers(0, 2, (1000, 3)).astype(np.float64)
    plain, robust0 = losses.BinaryCrossEntropy(), losses.RobustBinaryCrossEntropy(0.0)
    v_plain, v_rob = plain.forward(z, t), robust0.forward(z, t)
    g_plain, g_rob = plain.backward(), robust0.backward()
    g_rel = float(np.abs(g_plain - g_rob).max() / np.abs(g_plain).max())
    rep.claim("at eps = 0 the robust loss is binary cross-entropy (identical values; gradients equal to "
              "rounding, 1e-12 relative)",
              v_plain == v_rob and g_rel <= 1e-12,
              f"1000 x 3 random logits: BCE {v_plain!r}, robust(0) {v_rob!r}; max |gradient difference| "
              f"{float(np.abs(g_plain - g_rob).max()):.1e} ({g_rel:.1e} of the largest gradient; the two "
              f"classes use different but equivalent formulas)")

    # (2) bounded per-sample loss.
    worst = []
    logits = np.array([[-1e3], [-100.0], [-30.0], [-5.0], [0.0], [5.0]])
    for eps in (0.05, 0.1, 0.2, 0.4):
        per = np.array([losses.RobustBinaryCrossEntropy(eps, reduction="sum").forward(z_n[None], [[1]])
                        for z_n in logits])
        worst.append((eps, float(per.max()), float(-np.log(eps)), float(-np.log(eps) - per[2])))
    bce_30 = losses.BinaryCrossEntropy(reduction="sum").forward(np.array([[-30.0]]), [[1]])
    excess = max(m - b for _, m, b, _ in worst)
    rep.claim("the per-sample robust loss is bounded by -log(eps) (to rounding, 1e-12 relative) and "
              "approaches it for a confidently contradicted label",
              all(m <= b * (1 + 1e-12) and 0 <= gap < 1e-6 for _, m, b, gap in worst),
              "; ".join(f"eps {e}: max {m:.6f}, -log eps {b:.6f} (bound minus loss at z = -30: {g:.1e})"
                        for e, m, b, g in worst)
              + f"; largest excess over the bound {excess:.1e} (float rounding at z = -1e3); "
              f"plain BCE at z = -30: {bce_30:.2f}")

    # (3) flipped training labels.
    rates = [0.0, 0.2, 0.3] if quick else [0.0, 0.1, 0.2, 0.3, 0.4]
    seeds = [seed * 100 + k for k in range(3 if quick else 5)]
    steps = 1000 if quick else 2000
    acc: dict[float, dict[str, list[float]]] = {
        r: {"plain": [], "robust": [], "plain_train": [], "robust_train": []} for r in rates}
    examples: dict[tuple[float, str], tuple[Sequential, np.ndarray, np.ndarray, np.ndarray]] = {}
    for r in rates:
        for s in seeds:
            X, y, Xt, yt, flip = noisy_circle(s, r)
            for kind, loss in (("plain", losses.BinaryCrossEntropy()),
                               ("robust", losses.RobustBinaryCrossEntropy(r))):
                net = train(X, y, loss, s, steps)
                acc[r][kind].append(accuracy(net, Xt, yt))
                acc[r][kind + "_train"].append(accuracy(net, X, y))
                if s == seeds[0]:
                    examples[(r, kind)] = (net, X, y, flip)
        m = {k: float(np.mean(v)) for k, v in acc[r].items()}
        rep.say(f"flip rate {r:.1f}: clean test accuracy plain {m['plain']:.3f} "
                f"[{', '.join(f'{v:.3f}' for v in acc[r]['plain'])}], robust(eps={r:g}) {m['robust']:.3f} "
                f"[{', '.join(f'{v:.3f}' for v in acc[r]['robust'])}]; accuracy on the noisy training "
                f"labels plain {m['plain_train']:.3f}, robust {m['robust_train']:.3f}")
    mean = {r: {k: float(np.mean(v)) for k, v in acc[r].items()} for r in rates}
    net_p, net_r = examples[(0.0, "plain")][0], examples[(0.0, "robust")][0]
    Xt0 = noisy_circle(seeds[0], 0.0)[2]
    drift = float(np.abs(net_p.forward(Xt0) - net_r.forward(Xt0)).max())
    rep.claim("at flip rate 0 (eps = 0) robust and plain training are the same fit: equal test accuracy "
              "in every seed, test logits equal to 1e-6",
              acc[0.0]["plain"] == acc[0.0]["robust"] and drift <= 1e-6,
              f"clean test accuracy plain {mean[0.0]['plain']:.3f}, robust {mean[0.0]['robust']:.3f} "
              f"({len(seeds)} seeds); max |test logit difference| after {steps} steps (seed {seeds[0]}) "
              f"{drift:.1e}")
    high = [r for r in rates if r >= 0.2]
    diffs = [mean[r]["robust"] - mean[r]["plain"] for r in high]
    rep.claim("with flipped training labels (rate >= 0.2, eps = rate) the robust loss reaches at least "
              "the plain loss's clean-test accuracy (mean over seeds), by >= 0.03 on average",
              min(diffs) >= 0 and float(np.mean(diffs)) >= 0.03,
              ", ".join(f"rate {r:.1f}: robust {mean[r]['robust']:.3f} vs plain {mean[r]['plain']:.3f}"
                        for r in high)
              + f"; mean gain {np.mean(diffs):.3f}; plain fits the noisy training labels to "
              f"{mean[high[-1]]['plain_train']:.3f} at rate {high[-1]:.1f} "
              f"(robust {mean[high[-1]]['robust_train']:.3f}); {len(seeds)} seeds, {steps} Adam steps")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        r_show = max(rates)
        fig, axes = plt.subplots(1, 4, figsize=(15, 3.5))
        for kind in ("plain", "robust"):
            means = [mean[r][kind] for r in rates]
            sd = [float(np.std(acc[r][kind])) for r in rates]
            axes[0].errorbar(rates, means, yerr=sd, marker="o", capsize=3,
                             label="BCE" if kind == "plain" else "robust BCE, eps = rate")
        axes[0].set_xlabel("fraction of flipped training labels")
        axes[0].set_ylabel("clean test accuracy")
        axes[0].legend(fontsize=7)
        axes[0].set_title(f"mean +- std over {len(seeds)} seeds", fontsize=9)
        for ax, kind in zip(axes[1:3], ("plain", "robust"), strict=True):
            net, X, y, flip = examples[(r_show, kind)]
            decision_boundary(ax, probability(net), X, y,
                              f"{kind}, {r_show:.0%} flipped (rings: flipped)")
            ax.scatter(X[flip, 0], X[flip, 1], facecolors="none", edgecolors="k", s=30, linewidths=0.6)
        zz = np.linspace(-10, 10, 400)[:, None]
        axes[3].plot(zz, [losses.BinaryCrossEntropy(reduction="sum").forward(v[None], [[1]]) for v in zz],
                     label="BCE")
        for eps in (0.05, 0.2, 0.4):
            axes[3].plot(zz, [losses.RobustBinaryCrossEntropy(eps, reduction="sum").forward(v[None], [[1]])
                              for v in zz], label=f"robust eps={eps}")
        axes[3].set_xlabel("logit z (label 1)")
        axes[3].set_ylim(0, 6)
        axes[3].set_title("per-sample loss: bounded by -log eps", fontsize=9)
        axes[3].legend(fontsize=7)
        rep.figure(fig, "robust_loss.png")
    return rep.finish()
