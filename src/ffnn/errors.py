"""Errors a user can cause.

Every error raised for bad input derives from :class:`FfnnError` *and* from the
matching built-in exception, so ``except ValueError`` keeps working for code
that does not know ffnn. Each message names the value received and what was
expected, e.g. ``"Linear(5, 2) expects 5 input features, got 6"``.
"""

from __future__ import annotations

__all__ = [
    "FfnnError",
    "ShapeError",
    "LabelError",
    "DataError",
    "ModelFileError",
    "ConfigError",
    "TrainingDivergedError",
]


class FfnnError(Exception):
    """Base class of every error that ffnn raises for bad input or a failed run."""


class ShapeError(FfnnError, ValueError):
    """An array has the wrong shape, size or number of dimensions."""


class LabelError(FfnnError, ValueError):
    """Targets are out of range, not integers, or not what the loss expects."""


class DataError(FfnnError, ValueError):
    """A data file or data set is missing, corrupt, truncated or malformed."""


class ModelFileError(FfnnError, ValueError):
    """A model file is not a valid ffnn model (corrupt, tampered, unknown layer, bad version)."""


class ConfigError(FfnnError, ValueError, TypeError):
    """An option or hyper-parameter has a bad value or type."""


class TrainingDivergedError(FfnnError, FloatingPointError):
    """Training produced a non-finite loss, output or gradient.

    Attributes
    ----------
    epoch, batch : int
        Where it happened (epochs count from 1, batches from 0).
    layer : str or None
        The first layer whose output or gradient became non-finite, if found.
    """

    def __init__(self, message: str, *, epoch: int | None = None, batch: int | None = None,
                 layer: str | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.layer = layer
