"""Weight initializers.

An initializer is a callable ``f(shape, rng, dtype) -> ndarray``. Weight shapes follow
:class:`ffnn.layers.Linear`: ``(fan_out, fan_in)``. The names below are accepted as strings
by ``Linear(init=...)``:

================  ===========================================  ==========================
name              distribution                                 scale
================  ===========================================  ==========================
``"gaussian"``    N(0, std^2)                                  std = 0.01
``"xavier"``      U(-a, a) (= ``"xavier_uniform"``)            a = sqrt(6 / (fan_in + fan_out))
``"xavier_normal"`` N(0, std^2)                                std = sqrt(2 / (fan_in + fan_out))
``"he"``          N(0, std^2) (= ``"he_normal"``, MSRA)        std = sqrt(2 / fan_in)
``"he_uniform"``  U(-a, a)                                     a = sqrt(6 / fan_in)
``"zeros"``       all zeros                                    --
================  ===========================================  ==========================

Weights are drawn straight into an array of the layer's dtype, a block of at most
:data:`BLOCK` values at a time: a float32 layer never holds a float64 copy of its weights
(the values are the float64 draws rounded to the dtype, the same for any block size).

Xavier (Glorot & Bengio, 2010) keeps the variance of activations and of back-propagated
deltas roughly constant through tanh/logistic layers; He/MSRA (He et al., 2015) doubles the
variance to make up for ReLU zeroing half of its inputs. Both match ``torch.nn.init``'s
``xavier_*_`` (gain 1) and ``kaiming_*_`` (``mode="fan_in"``, ``nonlinearity="relu"``).

Examples
--------
>>> import numpy as np
>>> w = he_normal((100, 784), np.random.default_rng(0), np.float32)
>>> w.dtype, w.shape, round(float(w.std()), 3), round((2 / 784) ** 0.5, 3)
(dtype('float32'), (100, 784), 0.05, 0.051)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import check_dtype, check_number

__all__ = ["gaussian", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "zeros", "get",
           "Initializer"]

Initializer = Callable[[tuple[int, ...], np.random.Generator, Any], np.ndarray]
"""``f(shape, rng, dtype) -> array``: the signature every initializer has."""

BLOCK = 1 << 16
"""Values drawn (in float64) per block before they are rounded into the output array."""


def _draw(shape: tuple[int, ...], dtype: Any, sample: Callable[[int], np.ndarray]) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` filled with ``sample(k)``, block by block.

    ``sample(k)`` draws ``k`` float64 values from the generator; drawing in blocks consumes the
    generator exactly as one call of the whole size would, so the values do not depend on
    :data:`BLOCK`, and float64 results are those of ``sample(size)``.
    """
    out = np.empty(shape, dtype=check_dtype(dtype))
    flat = out.reshape(-1)
    for start in range(0, flat.size, BLOCK):
        stop = min(start + BLOCK, flat.size)
        flat[start:stop] = sample(stop - start)
    return out


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
    return fan_in, fan_out


def gaussian(std: float = 0.01) -> Initializer:
    """Return an initializer drawing from N(0, ``std``^2) (the course's small random weights)."""
    std = check_number("std", std, low=0.0)

    def init(shape, rng, dtype):
        return _draw(shape, dtype, lambda k: rng.standard_normal(k) * std)

    init.__name__ = f"gaussian(std={std})"
    return init


def xavier_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """N(0, std^2) with std = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return _draw(shape, dtype, lambda k: rng.standard_normal(k) * std)


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), i.e. std = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return _draw(shape, dtype, lambda k: rng.uniform(-a, a, k))


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """N(0, std^2) with std = sqrt(2 / fan_in) (He et al. 2015, "MSRA")."""
    fan_in, _ = _fans(shape)
    std = np.sqrt(2.0 / fan_in)
    return _draw(shape, dtype, lambda k: rng.standard_normal(k) * std)


def he_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in), i.e. std = sqrt(2 / fan_in)."""
    fan_in, _ = _fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return _draw(shape, dtype, lambda k: rng.uniform(-a, a, k))


def zeros(shape: tuple[int, ...], rng: np.random.Generator | None = None, dtype=np.float32) -> np.ndarray:
    """All zeros (for biases; for weights it leaves every hidden unit identical)."""
    return np.zeros(shape, dtype=check_dtype(dtype))


def get(init: str | Initializer) -> Initializer:
    """Return the initializer for a name (see :data:`ffnn.catalog.INITIALIZERS`), ``"gaussian:STD"``
    or a callable ``f(shape, rng, dtype)``.

    ``"gaussian:0.1"`` (or ``"gaussian(std=0.1)"``, the name of ``gaussian(0.1)``) selects
    another standard deviation.
    """
    from .catalog import initializer
    return initializer(init)


def __getattr__(name: str) -> Any:
    # NAMES moved to the catalogue (the one table of names); kept here too.
    if name == "NAMES":
        from .catalog import INITIALIZERS
        return tuple(INITIALIZERS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
