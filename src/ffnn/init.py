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


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 1:
        return shape[0], shape[0]
    fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
    return fan_in, fan_out


def gaussian(std: float = 0.01) -> Initializer:
    """Return an initializer drawing from N(0, ``std``^2) (the course's small random weights)."""
    std = check_number("std", std, low=0.0)

    def init(shape, rng, dtype):
        return (rng.standard_normal(shape) * std).astype(check_dtype(dtype))

    init.__name__ = f"gaussian(std={std})"
    return init


def xavier_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """N(0, std^2) with std = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(check_dtype(dtype))


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), i.e. std = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape).astype(check_dtype(dtype))


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """N(0, std^2) with std = sqrt(2 / fan_in) (He et al. 2015, "MSRA")."""
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(check_dtype(dtype))


def he_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in), i.e. std = sqrt(2 / fan_in)."""
    fan_in, _ = _fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, shape).astype(check_dtype(dtype))


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
