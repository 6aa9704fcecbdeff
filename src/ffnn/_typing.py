"""Type aliases for the public type hints."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.floating]
"""A floating-point NumPy array (float32 or float64)."""

Seed: TypeAlias = "int | np.random.Generator | None"
"""Anything :func:`numpy.random.default_rng` accepts: None, an int, or a Generator."""

