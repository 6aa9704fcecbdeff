"""Minibatches (kept under this name for compatibility): see :mod:`ffnn.sampling`."""

from ..sampling import BatchGatherer, minibatch_indices

__all__ = ["minibatch_indices", "BatchGatherer"]
