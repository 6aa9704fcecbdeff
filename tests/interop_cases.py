"""One small network per built-in layer type (and per variant), for the ONNX and PyTorch
interop tests: each is ``Linear(5, 6)`` followed by the layer, so the layer sees inputs of
both signs, with random values in every parameter and running statistic."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import ffnn
from ffnn import layers as L

LayerFactory = Callable[[type, np.random.Generator], L.Layer]


def _prelu(n: int) -> LayerFactory:
    def build(dt: type, rng: np.random.Generator) -> L.Layer:
        layer = L.PReLU(n, dtype=dt)
        layer.slope.value[...] = rng.uniform(-0.5, 1.5, n)
        return layer
    return build


def _norm(cls: type, affine: bool) -> LayerFactory:
    def build(dt: type, rng: np.random.Generator) -> L.Layer:
        extra = ({"running_mean": rng.normal(size=6), "running_var": rng.uniform(0.2, 3.0, 6)}
                 if cls is L.BatchNorm else {})
        layer = cls(6, affine=affine, dtype=dt, **extra)
        for p in layer.parameters():
            p.value[...] = rng.normal(size=p.value.shape)
        return layer
    return build


CASES: dict[str, LayerFactory] = {
    "Linear": lambda dt, rng: L.Linear(6, 4, rng=rng, dtype=dt),
    "Linear-no-bias": lambda dt, rng: L.Linear(6, 4, bias=False, rng=rng, dtype=dt),
    "Sigmoid": lambda dt, rng: L.Sigmoid(),
    "Tanh": lambda dt, rng: L.Tanh(),
    "ReLU": lambda dt, rng: L.ReLU(),
    "LeakyReLU": lambda dt, rng: L.LeakyReLU(0.2),
    "PReLU-shared": _prelu(1),
    "PReLU-per-unit": _prelu(6),
    "RReLU": lambda dt, rng: L.RReLU(0.1, 0.4),
    "ELU": lambda dt, rng: L.ELU(0.7),
    "Softplus": lambda dt, rng: L.Softplus(),
    "Softsign": lambda dt, rng: L.Softsign(),
    "Identity": lambda dt, rng: L.Identity(),
    "Softmax": lambda dt, rng: L.Softmax(),
    "Dropout": lambda dt, rng: L.Dropout(0.4),
    "BatchNorm": _norm(L.BatchNorm, True),
    "BatchNorm-no-affine": _norm(L.BatchNorm, False),
    "LayerNorm": _norm(L.LayerNorm, True),
    "LayerNorm-no-affine": _norm(L.LayerNorm, False),
}
"""Case id -> ``build(dtype, rng)`` of the layer under test."""


def network(case: str, dtype: type, seed: int = 0) -> ffnn.Sequential:
    """``Linear(5, 6)`` (weights scaled up so activations saturate somewhere) + the case's layer."""
    rng = np.random.default_rng(seed)
    first = L.Linear(5, 6, rng=rng, dtype=dtype)
    first.weight.value *= 2
    first.bias.value[...] = rng.normal(size=6)
    return ffnn.Sequential([first, CASES[case](dtype, rng)])


def inputs(n: int, dtype: type, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=2.0, size=(n, 5)).astype(dtype)


def covered_layer_types() -> set[str]:
    """The class names the cases cover (the tests check this is every registered layer)."""
    return {type(network(case, np.float64)[1]).__name__ for case in CASES}
