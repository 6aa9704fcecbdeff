"""Digit images the way MNIST made them, and the 24x24 crops of ConvNetJS's MNIST demo.

MNIST's digits were size-normalised to fit a 20x20 box keeping their aspect ratio
(anti-aliased, so grey levels appear), then placed in a 28x28 image so that their centre of
mass falls on the image centre. A digit drawn on a canvas or saved as a PNG is not: it is
large, off-centre, dark on light. :func:`mnist_style` applies the same normalisation to any
grey image, so the playground's drawing canvas and ``ffnn predict digit.png`` feed a network
what it was trained on.

:func:`crops` cuts ``size x size`` windows out of flattened square images: random ones for
training (a new one per image per epoch) and fixed ones (:data:`TEST_OFFSETS`) whose outputs
are averaged at test time.

>>> import numpy as np
>>> ink = np.zeros((100, 60)); ink[10:90, 5:15] = 1.0     # a tall bar, drawn off to the left
>>> x = mnist_style(ink)
>>> x.shape, round(float(x.max()), 3)
((28, 28), 1.0)
>>> rows, cols = np.nonzero(x > 0.5); int(rows.max() - rows.min() + 1)   # 20 pixels tall
20
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_float_array
from ..errors import ShapeError

__all__ = ["mnist_style", "as_ink", "crops", "TEST_OFFSETS", "BOX", "SIZE"]

SIZE = 28
"""Side of an MNIST image."""
BOX = 20
"""Side of the box the digit's larger dimension is scaled to."""
INK_THRESHOLD = 0.1
"""Pixels above this (ink in [0, 1]) define the bounding box."""


def as_ink(image: Any) -> np.ndarray:
    """A grey image as ink in [0, 1] (1 = ink): values in [0, 255] are divided by 255, and a
    light background (the mean of the border pixels above 0.5) is inverted to MNIST's dark one."""
    x = as_float_array(image, "image", dtype=np.float64, ndim=2)
    if x.size == 0:
        raise ShapeError("image: expected a non-empty 2-D array of grey levels, got shape (0, ...)")
    if x.max() > 1.0:
        x = x / 255.0
    x = np.clip(x, 0.0, 1.0)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    return 1.0 - x if border.mean() > 0.5 else x


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``R`` (n_out, n_in) with ``R[i, j]`` the fraction of output pixel ``i`` that input pixel
    ``j`` covers, when ``n_in`` pixels are stretched over ``n_out``: ``R @ v`` is area averaging
    (anti-aliased when shrinking, piecewise constant when enlarging); rows sum to 1."""
    edges = np.arange(n_out + 1) * (n_in / n_out)              # output pixel edges in input units
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)
    return overlap / (n_in / n_out)


def mnist_style(image: Any, *, size: int = SIZE, box: int = BOX) -> np.ndarray:
    """``image`` normalised as MNIST's digits were: (size, size) ink in [0, 1].

    1. :func:`as_ink` (light backgrounds inverted, values scaled to [0, 1]);
    2. crop to the bounding box of the pixels above :data:`INK_THRESHOLD`;
    3. scale by area averaging so the larger side is ``box`` pixels (aspect ratio kept);
    4. paste into a ``size x size`` image at the integer shift that brings the centre of mass
       ``(sum_i i x_i / sum_i x_i)`` (0-based pixel indices) closest to ``(size / 2, size / 2)``,
       keeping the digit inside the image (MNIST's digits have theirs at 14.0 +- 0.3 on both
       axes, measured on mnist-5k);
    5. scale so the darkest pixel is 1 (MNIST's strokes saturate).

    An image without ink returns zeros.
    """
    x = as_ink(image)
    rows, cols = np.nonzero(x > INK_THRESHOLD)
    out = np.zeros((size, size))
    if len(rows) == 0:
        return out
    x = x[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = x.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = _area_matrix(h, nh) @ x @ _area_matrix(w, nw).T
    mass = small.sum()
    cy = float((small.sum(axis=1) * np.arange(nh)).sum() / mass)
    cx = float((small.sum(axis=0) * np.arange(nw)).sum() / mass)
    top = int(np.clip(round(size / 2 - cy), 0, size - nh))
    left = int(np.clip(round(size / 2 - cx), 0, size - nw))
    out[top:top + nh, left:left + nw] = small
    peak = out.max()
    return out / peak if peak > 0 else out


TEST_OFFSETS = ((1, 1), (1, 3), (3, 1), (3, 3))
"""The (row, column) offsets of the four 24x24 test-time crops of a 28x28 image: around
the centre crop (2, 2), one pixel towards each corner; their outputs are averaged."""


def crops(X: np.ndarray, size: int, offsets: np.ndarray) -> np.ndarray:
    """``size x size`` windows of flattened square images.

    Parameters
    ----------
    X : ndarray, shape (n, side * side)
        Flattened square images.
    size : int
        Side of the crop, <= side.
    offsets : ndarray of int, shape (n, 2) or (2,)
        Top-left (row, column) of each image's window (one for all when (2,)).

    Returns
    -------
    ndarray, shape (n, size * size), the dtype of ``X``.

    >>> X = np.arange(16.0).reshape(1, 16)                   # one 4x4 image
    >>> crops(X, 2, np.array([1, 2]))
    array([[ 6.,  7., 10., 11.]])
    """
    n = len(X)
    side = round(np.sqrt(X.shape[1]))
    if side * side != X.shape[1] or not 1 <= size <= side:
        raise ShapeError(f"crops: expected square images of side >= {size}, got {X.shape[1]} pixels per image")
    off = np.broadcast_to(np.asarray(offsets, dtype=np.int64), (n, 2))
    if off.min() < 0 or off.max() > side - size:
        raise ShapeError(f"crops: offsets must be in [0, {side - size}], got {off.min()}..{off.max()}")
    r = off[:, 0, None, None] + np.arange(size)[None, :, None]
    c = off[:, 1, None, None] + np.arange(size)[None, None, :]
    flat = (r * side + c).reshape(n, -1)
    return np.take_along_axis(X, flat, axis=1)

