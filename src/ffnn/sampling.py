"""Sampling of sample indices: train/test splits, minibatch orders and the batch gatherer.

Everything the training loop needs to turn a data set into minibatches lives here, in the
core (NumPy only): :func:`train_test_split` holds out a (stratified) part of the samples,
:func:`epoch_order` and :func:`minibatch_indices` give each epoch's visiting order cut into
batches, and :class:`BatchGatherer` copies the rows of one batch into a reused buffer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ._typing import Seed
from ._validation import check_int, check_number, make_rng
from .backend import NUMPY, Backend
from .errors import ShapeError

__all__ = ["train_test_split", "epoch_order", "minibatch_indices", "BatchGatherer"]


def train_test_split(n: int, test_fraction: float, seed: Seed = 0,
                     stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into sorted train and test index arrays.

    ``n_test = round(test_fraction * n)`` indices, drawn at random, go to the test part.
    With ``stratify`` (labels of shape (n,)), class ``c`` with ``n_c`` members contributes
    ``floor(test_fraction * n_c)`` of them, plus one for the classes with the largest
    remainders until the total is ``n_test`` (largest-remainder rounding), so class
    proportions are kept as closely as whole samples allow.

    Parameters
    ----------
    n : int
        Number of samples.
    test_fraction : float in [0, 1)
        Share of the samples held out.
    seed : int, Generator or None
        The same seed gives the same split.
    stratify : numpy.ndarray or None
        Labels to stratify on.

    Examples
    --------
    >>> train, test = train_test_split(10, 0.2, seed=0, stratify=np.repeat([0, 1], 5))
    >>> len(train), len(test)
    (8, 2)
    """
    test_fraction = check_number("test_fraction", test_fraction, low=0.0, high=1.0,
                                 high_inclusive=False)
    rng = make_rng(seed)
    n_test = int(round(test_fraction * n))
    if stratify is None:
        groups = [np.arange(n)]
        quotas = np.array([n_test])
    else:
        groups = [np.flatnonzero(stratify == c) for c in np.unique(stratify)]
        exact = test_fraction * np.array([len(g) for g in groups])
        quotas = np.floor(exact).astype(int)
        extra = np.argsort(-(exact - quotas), kind="stable")[:n_test - quotas.sum()]
        quotas[extra] += 1
    is_test = np.zeros(n, dtype=bool)
    for members, k in zip(groups, quotas, strict=True):
        is_test[rng.permutation(members)[:k]] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def epoch_order(n: int, shuffle: bool, rng: np.random.Generator) -> np.ndarray:
    """The order in which one epoch visits the ``n`` samples: ``rng.permutation(n)`` or ``0..n-1``.

    >>> epoch_order(4, False, np.random.default_rng(0)).tolist()
    [0, 1, 2, 3]
    """
    return rng.permutation(n) if shuffle else np.arange(n)


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
    order = epoch_order(n, shuffle, make_rng(rng))
    for start in range(0, n, max(batch_size, 1)):
        yield order[start:start + batch_size]


class BatchGatherer:
    """Gather rows ``X[idx]`` into one preallocated buffer, without a new array per step.

    ``gather(idx)`` is ``np.take(X, idx, axis=0, out=buffer[:len(idx)])``. The returned array
    is a view of the buffer: it is overwritten by the next call, so use it before then (the
    training loop does) or copy it.

    Parameters
    ----------
    X : array, shape (n_samples, ...)
        The data; any dtype, kept as is; an array of ``backend``.
    max_batch_size : int
        Largest batch that will be gathered.
    backend : Backend
        Where ``X`` lives (NumPy by default); on another backend the indices are that
        backend's arrays and the rows are gathered there (``xp.take(..., out=)``).

    Notes
    -----
    ``np.take`` with ``out=`` and the default ``mode="raise"`` first gathers into a temporary
    copy to stay safe if an index is bad; ``mode="clip"`` writes straight into ``out``. The
    indices are therefore checked here against ``[0, n_samples)`` (one maximum of the indices
    viewed as unsigned, so a negative one counts as huge) and the copy uses ``mode="clip"``.

    Examples
    --------
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> gather = BatchGatherer(X, 2)
    >>> gather(np.array([4, 0])).tolist()
    [[8.0, 9.0], [0.0, 1.0]]
    """

    def __init__(self, X: Any, max_batch_size: int, backend: Backend = NUMPY) -> None:
        self.backend = backend
        if backend is NUMPY and (not isinstance(X, np.ndarray) or X.ndim < 1):
            raise ShapeError(f"BatchGatherer expects an array with a sample axis, got {X!r:.60}")
        max_batch_size = check_int("max_batch_size", max_batch_size, low=1)
        self.X = X
        n = X.shape[0]
        self._buffer = backend.empty((min(max_batch_size, max(n, 1)),) + tuple(X.shape[1:]), X.dtype)

    def __call__(self, idx: Any) -> Any:
        size = idx.shape[0]
        if size > self._buffer.shape[0]:
            raise ShapeError(f"BatchGatherer holds at most {self._buffer.shape[0]} rows, got a batch "
                             f"of {size} indices")
        if self.backend is not NUMPY:    # indices made by the engine on the device: checked when drawn
            return self.backend.xp.take(self.X, idx, axis=0, out=self._buffer[:size, ...])
        n = len(self.X)
        if len(idx) and not _below(idx, n) and (idx.min() < 0 or idx.max() >= n):
            raise ShapeError(f"batch indices must lie in [0, {n}), got values in "
                             f"[{idx.min()}, {idx.max()}]")
        return np.take(self.X, idx, axis=0, out=self._buffer[:len(idx)], mode="clip")


def _below(idx: np.ndarray, n: int) -> bool:
    """Whether ``intp`` indices all lie in [0, n), with one reduction: viewed as unsigned, a
    negative index becomes huge. False for other dtypes (the caller then checks min and max)."""
    return idx.dtype == np.intp and int(idx.view(np.uintp).max()) < n
