"""Data augmentation for image batches: random shifts, applied by the engine to each batch.

An augmentation is any callable ``f(batch, rng) -> batch`` taking a training batch
``(n_samples, n_features)`` and a :class:`numpy.random.Generator` and returning a new batch
of the same shape (it must not write into ``batch``: that may be a view of the training
data). :class:`ffnn.Trainer` (``augment=``) calls it on every training batch before the
forward pass with its own generator, so a run is reproducible from its seed and a resumed
checkpoint continues with the same draws; held-out and test data are never augmented.

The course's ConvNetJS demos train on random 24x24 crops of 28x28 digits; for a
fully connected network, which has no translation invariance of its own, random shifts of a
pixel or two teach it the same thing without changing the input size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import check_int
from .errors import ShapeError

__all__ = ["RandomShift"]


class RandomShift:
    """Shift each image by ``(dy, dx)``, each drawn uniformly from ``{-pixels, ..., pixels}``,
    filling the uncovered border with zeros.

    ``out[n, i, j] = x[n, i - dy_n, j - dx_n]`` where that pixel exists, else 0, for images
    stored row-major as rows of ``height * width`` features (the 28x28 sets: 784 features).
    ``pixels=0`` is the identity. It takes no gradient: it changes the data, not the network.

    Parameters
    ----------
    pixels : int
        Largest shift in each direction, >= 0.
    image_shape : (height, width)
        The shape of one image (default 28x28).

    Examples
    --------
    >>> import numpy as np
    >>> shift = RandomShift(1, image_shape=(3, 3))
    >>> x = np.arange(1, 10, dtype=np.float32).reshape(1, 9)
    >>> out = shift(x, np.random.default_rng(0))
    >>> out.shape, float(out.sum()) <= 45.0
    ((1, 9), True)
    """

    def __init__(self, pixels: int, image_shape: Sequence[int] = (28, 28)) -> None:
        self.pixels = check_int("shift pixels", pixels, low=0)
        shape = tuple(image_shape)
        if len(shape) != 2:
            raise ShapeError(f"RandomShift image_shape must be (height, width), got {image_shape!r}")
        self.image_shape = (check_int("image height", shape[0], low=1), check_int("image width", shape[1], low=1))
        if self.pixels >= min(self.image_shape):
            raise ShapeError(f"RandomShift of up to {self.pixels} pixels would move a {self.image_shape[0]}x"
                             f"{self.image_shape[1]} image out of its frame; expected fewer than "
                             f"{min(self.image_shape)} pixels")

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A shifted copy of the batch ``x`` (n_samples, height * width)."""
        h, w = self.image_shape
        if x.ndim != 2 or x.shape[1] != h * w:
            raise ShapeError(f"RandomShift({self.pixels}) expects images of {h}x{w} = {h * w} features, "
                             f"got a batch of shape {x.shape}")
        n, p = len(x), self.pixels
        shifts = rng.integers(-p, p + 1, size=(n, 2))
        if p == 0:
            return x.copy()
        padded = np.zeros((n, h + 2 * p, w + 2 * p), dtype=x.dtype)
        padded[:, p:p + h, p:p + w] = x.reshape(n, h, w)
        # out[i, j] = padded[i - dy + p, j - dx + p]: one gather of every image's window
        rows = (p - shifts[:, 0])[:, None] + np.arange(h)
        cols = (p - shifts[:, 1])[:, None] + np.arange(w)
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return out.reshape(n, h * w)

    def config(self) -> dict[str, Any]:
        return {"pixels": self.pixels, "image_shape": list(self.image_shape)}

    def __repr__(self) -> str:
        return f"RandomShift({self.pixels}, image_shape={self.image_shape})"
