"""Weight-space symmetries of a tanh network: 2^M M! equivalent weight vectors per layer.

Course claim (Bishop 5.1.1): for a hidden layer of M tanh units,

- *sign flips*: ``tanh(-a) = -tanh(a)``, so negating every weight and the bias into a
  hidden unit and every weight out of it leaves the network function unchanged (2^M ways);
- *permutations*: exchanging two hidden units together with their incoming and outgoing
  weights changes nothing (M! orderings).

So each hidden layer has ``2^M M!`` equivalent weight settings and a network with L hidden
layers of M units ``(2^M M!)^L``. In matrix form, with ``S = diag(s)``, ``s in {+-1}^M`` and
a permutation matrix ``P``:  ``W_l <- S P W_l``, ``b_l <- S P b_l``, ``W_{l+1} <- W_{l+1} P^T S``.

Verified: for a 3-M-M-2 tanh network (M = 3: 48 per layer), every transform of each layer
and every combination over both layers (48^2 = 2304) is applied to library ``Linear`` layers
in float64; the output changes by < 1e-12 each time, and the transformed weight vectors are
pairwise distinct (the count of distinct vectors equals 2^M M! per layer and the product for
the network).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations, product
from math import factorial
from pathlib import Path

import numpy as np

from ..builder import mlp
from ..layers import Layer, Linear
from ..parameter import Parameter
from ._figures import pyplot
from ._report import ExperimentResult, Report


def layer_transforms(M: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """All ``(signs, permutation)`` pairs for M units: 2^M M! of them."""
    return [(np.array(s, dtype=float), np.array(p)) for p in permutations(range(M))
            for s in product((1.0, -1.0), repeat=M)]


def _weight_and_bias(layer: Layer) -> tuple[Parameter, Parameter]:
    """The ``weight`` and ``bias`` parameters of a ``Linear`` layer that has a bias."""
    if not isinstance(layer, Linear) or layer.bias is None:
        raise TypeError(f"expected a Linear layer with a bias, got {layer!r}")
    return layer.weight, layer.bias


def apply(weights: list[np.ndarray], biases: list[np.ndarray], layer: int, signs: np.ndarray,
          perm: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Transform hidden layer ``layer``: rows of W_l, b_l permuted and signed; columns of W_{l+1}."""
    W, b = [w.copy() for w in weights], [v.copy() for v in biases]
    W[layer] = signs[:, None] * W[layer][perm]
    b[layer] = signs * b[layer][perm]
    W[layer + 1] = W[layer + 1][:, perm] * signs[None, :]
    return W, b


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn: Callable[..., None] = print,
        name: str = "weight-symmetries", title: str = "") -> ExperimentResult:
    rep = Report(name, title, out_dir, print_fn, quick)
    M, n_hidden = 3, 2
    net = mlp([3] + [M] * n_hidden + [2], "tanh", seed=seed, dtype=np.float64)
    params = [_weight_and_bias(net[i]) for i in range(0, len(net), 2)]   # (weight, bias) of each Linear
    rng = np.random.default_rng(seed)
    for _, bias in params:                  # non-zero biases so their transform is exercised
        bias.value[...] = rng.normal(size=bias.value.shape)
    W0 = [weight.value.copy() for weight, _ in params]
    b0 = [bias.value.copy() for _, bias in params]
    X = rng.normal(size=(64, 3))
    y0 = net.forward(X)

    def output(W: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
        for (weight, bias), w, v in zip(params, W, b, strict=True):
            weight.value[...] = w
            bias.value[...] = v
        return net.forward(X)

    def key(W: list[np.ndarray], b: list[np.ndarray]) -> bytes:
        return np.round(np.concatenate([a.ravel() for a in W + b]), 12).tobytes()

    transforms = layer_transforms(M)
    expected = 2 ** M * factorial(M)
    per_layer: list[int] = []
    worst = 0.0
    for layer in range(n_hidden):
        keys: set[bytes] = set()
        for s, p in transforms:
            W, b = apply(W0, b0, layer, s, p)
            worst = max(worst, float(np.abs(output(W, b) - y0).max()))
            keys.add(key(W, b))
        per_layer.append(len(keys))
    rep.claim(f"each hidden layer of M={M} tanh units has 2^M M! = {expected} equivalent, distinct "
              "weight settings",
              len(transforms) == expected and all(c == expected for c in per_layer) and worst < 1e-12,
              f"{len(transforms)} transforms per layer; distinct weight vectors per layer {per_layer}; "
              f"max |output change| {worst:.1e}")

    keys, worst_all = set(), 0.0
    devs: list[float] = []
    for (s1, p1), (s2, p2) in product(transforms, transforms):
        W, b = apply(W0, b0, 0, s1, p1)
        W, b = apply(W, b, 1, s2, p2)
        d = float(np.abs(output(W, b) - y0).max())
        devs.append(d)
        worst_all = max(worst_all, d)
        keys.add(key(W, b))
    output(W0, b0)
    total = expected ** n_hidden
    rep.claim(f"the whole network ({n_hidden} hidden layers) has (2^M M!)^{n_hidden} = {total} equivalent "
              "weight vectors",
              len(keys) == total and worst_all < 1e-12,
              f"{len(devs)} combined transforms, {len(keys)} distinct weight vectors, max |output change| "
              f"{worst_all:.1e}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.hist(np.log10(np.maximum(devs, 1e-18)), bins=30)
        ax.set_xlabel("log10 max |output change|")
        ax.set_title(f"{total} symmetry transforms of a 3-{M}-{M}-2 tanh net (float64)", fontsize=9)
        rep.figure(fig, "weight_symmetries.png")
    return rep.finish()
