"""Numerically stable elementwise functions shared by layers, losses and the linear models.

Each is written so that no exponential of a large positive number is taken:

- ``sigmoid(z) = 1 / (1 + exp(-z))`` as ``1/(1+e)`` for z >= 0 and ``e/(1+e)`` for z < 0,
  with ``e = exp(-|z|)`` in (0, 1];
- ``softplus(z) = log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))``;
- ``log_sigmoid(z) = log sigmoid(z) = -softplus(-z)``.

At z = +-1e4 they give the exact limits (1 and 0; 1e4 and 0; 0 and -1e4) without overflow
warnings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._typing import Array

__all__ = ["sigmoid", "softplus", "log_sigmoid"]


def sigmoid(z: Array, out: Array | None = None, work: Array | None = None, xp: Any = np) -> Array:
    """Logistic sigmoid ``1 / (1 + exp(-z))`` without overflow.

    ``out`` (the result) and ``work`` (scratch of ``z``'s shape and dtype) are allocated when
    not given; neither may alias ``z``. Layers pass their own buffers to avoid allocations.

    >>> import numpy as np
    >>> sigmoid(np.array([-1e4, 0.0, 1e4]))
    array([0. , 0.5, 1. ])
    """
    e = xp.abs(z, out=work)
    xp.negative(e, out=e)
    xp.exp(e, out=e)                            # e = exp(-|z|) in (0, 1]
    if out is None:
        out = xp.empty_like(e)
    xp.add(e, 1.0, out=out)
    xp.divide(1.0, out, out=out)                # 1 / (1 + e): sigmoid(z) for z >= 0
    xp.multiply(out, e, out=out, where=z < 0)   # e / (1 + e): sigmoid(z) for z < 0
    return out


def softplus(z: Array, xp: Any = np) -> Array:
    """``log(1 + exp(z))`` computed as ``max(z, 0) + log1p(exp(-|z|))``.

    >>> import numpy as np
    >>> softplus(np.array([-1e4, 0.0, 1e4]))
    array([0.00000000e+00, 6.93147181e-01, 1.00000000e+04])
    """
    return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))


def log_sigmoid(z: Array, xp: Any = np) -> Array:
    """``log(1 / (1 + exp(-z))) = -softplus(-z)``, finite for every finite z.

    >>> import numpy as np
    >>> log_sigmoid(np.array([-1e4, 0.0]))
    array([-1.00000000e+04, -6.93147181e-01])
    """
    return -softplus(-z, xp=xp)
