"""Trainable parameters."""

from __future__ import annotations

import math

from . import backend as _backend
from ._typing import Array

__all__ = ["Parameter"]


class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    value : ndarray
        The array; kept as given (no copy, no dtype change).
    name : str
        A short name such as ``"weight"``, ``"bias"`` or ``"slope"``.
    decay : bool
        Whether weight decay (the L2 penalty ``lambda/2 ||w||^2``) applies. True for
        weights, False for biases and PReLU slopes.

    Notes
    -----
    ``grad`` always has ``value``'s shape and dtype. A layer's ``backward`` *replaces*
    its contents (it never accumulates), so no ``zero_grad`` is needed between steps.
    Optimizers update ``value`` in place: code holding a reference sees the new value.

    Examples
    --------
    >>> import numpy as np
    >>> p = Parameter(np.zeros((2, 3)), name="weight")
    >>> p.grad.shape, p.decay
    ((2, 3), True)
    """

    __slots__ = ("value", "grad", "name", "decay")

    def __init__(self, value: Array, name: str = "param", decay: bool = True) -> None:
        self.value = value
        # zeros (calloc) leave the pages untouched until written; zeros_like writes every byte
        self.grad = _backend.of(value).zeros(value.shape, value.dtype)
        self.name = name
        self.decay = decay

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def size(self) -> int:
        return math.prod(self.value.shape)

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.value.dtype}, decay={self.decay})"
