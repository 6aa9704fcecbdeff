"""Minibatches: index streams and a gatherer that copies rows into a reused buffer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._typing import Seed
from .._validation import check_int, make_rng
from ..errors import ShapeError

__all__ = ["minibatch_indices", "BatchGatherer"]


def minibatch_indices(n: int, batch_size: int | None = None, shuffle: bool = True,
                      rng: Seed = None) -> Iterator[np.ndarray]:
    """Yield the sample indices of each minibatch of one epoch.

    The ``n`` indices (a permutation drawn from ``rng`` when ``shuffle``, else ``0..n-1``)
    are cut into consecutive batches of ``batch_size``; the last batch keeps the remainder
    ``n mod batch_size`` rather than being dropped, so every sample is seen once per epoch.

    Parameters
    ----------
    n : int
        Number of samples.
    batch_size : int or None
        Samples per batch; None gives one full batch (batch gradient descent).
    shuffle : bool
        Visit the samples in a random order.
    rng : int, Generator or None
        Source of the permutation; pass the same Generator every epoch.

    Yields
    ------
    numpy.ndarray of intp, shape (batch,)
        Views into one index array; do not modify them.

    Examples
    --------
    >>> [b.tolist() for b in minibatch_indices(5, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    n = check_int("n", n, low=0)
    batch_size = n if batch_size is None else check_int("batch_size", batch_size, low=1)
    order = make_rng(rng).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, max(batch_size, 1)):
        yield order[start:start + batch_size]


class BatchGatherer:
    """Gather rows ``X[idx]`` into one preallocated buffer, without a new array per step.

    ``gather(idx)`` is ``np.take(X, idx, axis=0, out=buffer[:len(idx)])``. The returned array
    is a view of the buffer: it is overwritten by the next call, so use it before then (the
    training loop does) or copy it.

    Parameters
    ----------
    X : numpy.ndarray, shape (n_samples, ...)
        The data; any dtype, kept as is.
    max_batch_size : int
        Largest batch that will be gathered.

    Notes
    -----
    ``np.take`` with ``out=`` and the default ``mode="raise"`` first gathers into a temporary
    copy to stay safe if an index is bad; ``mode="clip"`` writes straight into ``out``. The
    indices are therefore checked here against ``[0, n_samples)`` (a cheap min/max) and the
    copy uses ``mode="clip"``.

    Examples
    --------
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> gather = BatchGatherer(X, 2)
    >>> gather(np.array([4, 0])).tolist()
    [[8.0, 9.0], [0.0, 1.0]]
    """

    def __init__(self, X: np.ndarray, max_batch_size: int) -> None:
        if not isinstance(X, np.ndarray) or X.ndim < 1:
            raise ShapeError(f"BatchGatherer expects an array with a sample axis, got {X!r:.60}")
        max_batch_size = check_int("max_batch_size", max_batch_size, low=1)
        self.X = X
        self._buffer = np.empty((min(max_batch_size, max(len(X), 1)),) + X.shape[1:], dtype=X.dtype)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        if len(idx) > len(self._buffer):
            raise ShapeError(f"BatchGatherer holds at most {len(self._buffer)} rows, got a batch "
                             f"of {len(idx)} indices")
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self.X)):
            raise ShapeError(f"batch indices must lie in [0, {len(self.X)}), got values in "
                             f"[{idx.min()}, {idx.max()}]")
        return np.take(self.X, idx, axis=0, out=self._buffer[:len(idx)], mode="clip")
