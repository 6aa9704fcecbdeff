"""Building a multi-layer perceptron from a list of sizes, after checking that it fits in memory."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._typing import Seed
from ._validation import check_dtype, check_int, check_number, make_rng
from .catalog import ACTIVATIONS
from .catalog import activation as activation_layer
from .errors import ConfigError
from .init import Initializer
from .layers import BatchNorm, Dropout, Layer, LayerNorm, Linear
from .model import Sequential

__all__ = ["mlp", "default_init", "memory_estimate", "available_memory", "check_memory"]

GiB = float(1 << 30)

NORMS: dict[str, type[BatchNorm] | type[LayerNorm]] = {"batch": BatchNorm, "layer": LayerNorm}
"""The normalization layers ``mlp(norm=...)`` inserts, by name."""


def memory_estimate(sizes: Sequence[int], dtype: Any = np.float32, *, batch_size: int = 1,
                    optimizer_slots: int = 0, dropout: bool = False) -> int:
    """Bytes an MLP of ``sizes`` needs to train: parameters, gradients, optimizer state, activations.

    With :math:`P = \\sum_l (n_{l-1} + 1) n_l` parameters, :math:`s` optimizer slots per
    parameter (1 for momentum, 2 for Adam) and :math:`B` rows per batch, the estimate in
    elements of ``dtype`` is

    .. math:: (2 + s) P + B \\left(n_0 + \\sum_{l \\ge 1} c\\, n_l\\right)

    where a row keeps its input and, per layer, ``c = 3`` arrays of the layer's width (its
    output, the activation's output and the backward delta; 4 with dropout's mask). It counts
    the arrays the engine holds at once, not NumPy's short-lived temporaries.

    >>> memory_estimate([784, 256, 10], np.float32, batch_size=64, optimizer_slots=1) // 1024
    2780
    """
    sizes = [int(s) for s in sizes]
    itemsize = np.dtype(dtype).itemsize
    parameters = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False))
    per_row = (4 if dropout else 3) * sum(sizes[1:]) + sizes[0]
    return ((2 + optimizer_slots) * parameters + max(batch_size, 1) * per_row) * itemsize


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: ``MemAvailable`` of ``/proc/meminfo``,
    else the free physical pages (``os.sysconf``); None when neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(needed: int, what: str) -> None:
    """Raise :class:`~ffnn.ConfigError` with both figures when ``needed`` bytes exceed the
    :func:`available_memory`; do nothing when it is unknown."""
    available = available_memory()
    if available is not None and needed > available:
        raise ConfigError(f"{what} needs about {needed / GiB:.1f} GiB of memory, but only "
                          f"{available / GiB:.1f} GiB is available; use fewer or smaller layers "
                          "(or a smaller batch size)")


def default_init(activation: str) -> str:
    """He (MSRA) initialization for the ReLU family, Xavier for the others (the catalogue says which)."""
    return str(ACTIVATIONS.entry(activation).extra.get("init", "xavier"))


def mlp(sizes: Sequence[int], activation: str | Sequence[str] = "relu", *, dropout: float = 0.0,
        init: str | Initializer | None = None, bias: bool = True, dtype: Any = np.float32,
        seed: Seed = None, norm: str | None = None) -> Sequential:
    """A fully connected network ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

    Every hidden layer is ``Linear`` (+ ``BatchNorm``/``LayerNorm`` with ``norm``) +
    activation (+ ``Dropout(dropout)`` if > 0); the
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
    norm : {None, "batch", "layer"}
        A :class:`~ffnn.layers.BatchNorm` or :class:`~ffnn.layers.LayerNorm` after each hidden
        ``Linear``, before its activation (Ioffe & Szegedy's placement).

    Raises
    ------
    ConfigError
        With the figure, before allocating anything, when the parameters and their gradients
        (:func:`memory_estimate`) do not fit in the available memory.

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
    if norm is not None and norm not in NORMS:
        raise ConfigError(f"norm must be one of {', '.join(NORMS)} or None, got {norm!r}")
    check_memory(memory_estimate(sizes, check_dtype(dtype), dropout=dropout > 0),
                 f"the network {'-'.join(map(str, sizes))} ({np.dtype(dtype).name})")
    rng = make_rng(seed)
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        hidden = i < n_hidden
        layer_init = init or (default_init(acts[i]) if hidden else "xavier")
        layers.append(Linear(n_in, n_out, bias=bias, init=layer_init, rng=rng, dtype=dtype))
        if hidden:
            if norm is not None:
                layers.append(NORMS[norm](n_out, dtype=dtype))
            layers.append(activation_layer(acts[i], rng=rng, dtype=dtype))
            if dropout > 0:
                layers.append(Dropout(dropout, rng=rng))
    return Sequential(layers)
