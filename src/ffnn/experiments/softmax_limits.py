"""Softmax: its argmax limit, its shift invariance, and K = 2 as the logistic sigmoid.

Course claims (Bishop 4.3.4 / 5.2; Tsinghua "MLP" slides):

1. ``softmax(c z) -> onehot(argmax z)`` as ``c -> inf`` (hence "soft max"): for a unique
   maximum with gap ``g = z_max - z_second``, ``1 - softmax(cz)_max <= (K-1) exp(-c g)``.
2. ``softmax(z + a 1) = softmax(z)`` for any constant ``a`` (what makes subtracting the
   row max a free, stabilising operation).
3. For K = 2, ``softmax(z)_1 = 1 / (1 + exp(-(z_1 - z_0))) = sigma(z_1 - z_0)``.

Verified on random logits with the library's :class:`ffnn.layers.Softmax` and
:class:`ffnn.layers.Sigmoid` in float64: the distance to the one-hot vector for growing
``c`` (monotone, below the bound, < 1e-12 at c = 1000); the largest change under shifts up
to +-1e3 (within a few units of the rounding ``|a| eps`` of ``z + a`` itself); the K = 2 identity to 1e-15.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import layers
from ._figures import pyplot
from ._report import ExperimentResult, Report


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn: Callable[..., None] = print,
        name: str = "softmax-limits", title: str = "") -> ExperimentResult:
    rep = Report(name, title, out_dir, print_fn, quick)
    rng = np.random.default_rng(seed)
    K, N = 5, (200 if quick else 2000)
    Z = rng.normal(size=(N, K))
    srt = np.sort(Z, axis=1)
    gap = srt[:, -1] - srt[:, -2]
    onehot = np.eye(K)[Z.argmax(axis=1)]
    softmax = layers.Softmax()

    cs = np.array([0.1, 1, 3, 10, 30, 100, 300, 1000], dtype=float)
    dist: list[float] = []
    bound_ok = True
    for c in cs:
        P = softmax.forward(c * Z).copy()
        d = np.abs(P - onehot).max(axis=1)
        dist.append(float(np.median(d)))
        # 1 - p_max <= (K-1) exp(-c g), and |p_k - onehot_k| <= 1 - p_max for every k
        bound_ok &= bool(np.all(d <= (K - 1) * np.exp(-c * gap) + 1e-15))
    final = np.abs(softmax.forward(1000 * Z) - onehot).max(axis=1)
    big_gap = gap > 0.05
    rep.claim("softmax(c z) tends to the one-hot argmax as c grows",
              bool(np.all(np.diff(dist) < 0)) and bound_ok and final[big_gap].max() < 1e-12,
              "median max|softmax(cz) - onehot| for c = "
              + ", ".join(f"{c:g}: {d:.1e}" for c, d in zip(cs, dist, strict=True))
              + f"; bound (K-1)exp(-c*gap) holds for all {N} rows: {bound_ok}; at c=1000 max "
              f"{final[big_gap].max():.1e} over rows with gap > 0.05")

    base = softmax.forward(Z).copy()
    worst, worst_units = 0.0, 0.0
    eps = np.finfo(np.float64).eps
    for a in (-1000.0, -10.0, -1.0, 0.5, 7.0, 1000.0):
        err = float(np.abs(softmax.forward(Z + a) - base).max())
        worst = max(worst, err)
        # z + a is itself rounded to ~|a| eps, so that is the scale of the exact-arithmetic error
        worst_units = max(worst_units, err / (eps * max(1.0, abs(a))))
    with np.errstate(over="ignore"):
        n_inf = int(np.isinf(np.exp(Z + 1000.0)).sum())
    rep.claim("softmax is invariant to adding a constant to every logit",
              worst_units < 16,
              f"max |softmax(z + a) - softmax(z)| over a in [-1000, 1000]: {worst:.1e} = at most "
              f"{worst_units:.2f} x eps*max(1,|a|) (the rounding of z + a itself); the naive "
              f"exp(z + 1000) overflows: {n_inf} infinities")

    Z2 = rng.normal(scale=5.0, size=(N, 2))
    p1 = softmax.forward(Z2)[:, 1].copy()
    s = layers.Sigmoid().forward((Z2[:, 1] - Z2[:, 0])[:, None])[:, 0]
    err = float(np.abs(p1 - s).max())
    rep.claim("two-class softmax equals the logistic sigmoid of the logit difference",
              err < 1e-15 * 10,
              f"max |softmax(z)_1 - sigma(z_1 - z_0)| = {err:.1e} over {N} random pairs")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        z = np.array([[1.0, 0.6, -0.2, 0.3, -1.0]])
        cgrid = np.logspace(-1, 2, 200)
        P = np.vstack([softmax.forward(c * z)[0] for c in cgrid])
        for k in range(5):
            axes[0].semilogx(cgrid, P[:, k], label=f"z_{k}={z[0, k]:g}")
        axes[0].set_xlabel("c")
        axes[0].set_title("softmax(c z) -> one-hot argmax", fontsize=9)
        axes[0].legend(fontsize=7)
        axes[1].loglog(cs, dist, "o-")
        axes[1].set_xlabel("c")
        axes[1].set_title("median max|softmax(cz) - onehot|", fontsize=9)
        rep.figure(fig, "softmax_limits.png")
    return rep.finish()
