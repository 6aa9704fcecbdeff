"""Building a multi-layer perceptron from a list of sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._typing import Seed
from ._validation import check_int, check_number, make_rng
from .catalog import ACTIVATIONS
from .catalog import activation as activation_layer
from .errors import ConfigError
from .init import Initializer
from .layers import Dropout, Layer, Linear
from .model import Sequential

__all__ = ["mlp", "default_init"]

def default_init(activation: str) -> str:
    """He (MSRA) initialization for the ReLU family, Xavier for the others (the catalogue says which)."""
    return str(ACTIVATIONS.entry(activation).extra.get("init", "xavier"))


def mlp(sizes: Sequence[int], activation: str | Sequence[str] = "relu", *, dropout: float = 0.0,
        init: str | Initializer | None = None, bias: bool = True, dtype: Any = np.float32,
        seed: Seed = None) -> Sequential:
    """A fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Every hidden layer is ``Linear`` + activation (+ ``Dropout(dropout)`` if > 0); the
    output layer is a plain ``Linear`` (its output is the logits / the regression value:
    the loss supplies the output non-linearity).

    Parameters
    ----------
    sizes : sequence of int
        Input size, hidden sizes, output size (at least two entries).
    activation : str or sequence of str
        One name from :data:`ffnn.catalog.ACTIVATIONS` for every hidden layer, or one per
        hidden layer.
    dropout : float
        Dropout probability after each hidden activation (0: none).
    init : str, callable or None
        Initializer name or ``f(shape, rng, dtype)``; None picks :func:`default_init` per layer.
    bias, dtype, seed : as :class:`ffnn.layers.Linear`.

    Examples
    --------
    >>> net = mlp([784, 100, 10], "relu", seed=0)
    >>> [type(layer).__name__ for layer in net]
    ['Linear', 'ReLU', 'Linear']
    """
    sizes = [check_int(f"sizes[{i}]", s, low=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ConfigError(f"mlp needs at least an input and an output size, got {sizes}")
    n_hidden = len(sizes) - 2
    acts = [activation] * n_hidden if isinstance(activation, str) else list(activation)
    if len(acts) != n_hidden:
        raise ConfigError(f"got {len(acts)} activations for {n_hidden} hidden layers; give one, or one per layer")
    for a in acts:
        ACTIVATIONS.entry(a)             # an unknown name raises ConfigError listing the choices
    dropout = check_number("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
    rng = make_rng(seed)
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        hidden = i < n_hidden
        layer_init = init or (default_init(acts[i]) if hidden else "xavier")
        layers.append(Linear(n_in, n_out, bias=bias, init=layer_init, rng=rng, dtype=dtype))
        if hidden:
            layers.append(activation_layer(acts[i], rng=rng, dtype=dtype))
            if dropout > 0:
                layers.append(Dropout(dropout, rng=rng))
    return Sequential(layers)
