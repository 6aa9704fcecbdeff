"""Shared pytest fixtures and markers for the whole ffnn test suite.

Generic on purpose: module-specific fixtures live in their own test modules.

- ``rng``: a fresh ``np.random.default_rng(0)`` per test (explicit, seeded randomness).
- ``dtype``: parametrizes a test over float32 and float64 (ids ``float32``/``float64``).
- ``requires_torch``: skip a test cleanly when PyTorch is not installed. Use either
  ``@pytest.mark.requires_torch`` (registered below, no import needed) or
  ``from conftest import requires_torch`` (a ``pytest.mark.skipif``).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None

requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
"""Skip marker for tests that compare against PyTorch (a test-only dependency)."""

FLOAT_DTYPES = (np.float32, np.float64)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires_torch: needs PyTorch; skipped when it is not installed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAS_TORCH:
        return
    skip = pytest.mark.skip(reason="PyTorch not installed")
    for item in items:
        if item.get_closest_marker("requires_torch") is not None:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded Generator, fresh for every test."""
    return np.random.default_rng(0)


@pytest.fixture(params=FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request: pytest.FixtureRequest) -> type:
    """float32 and float64: every layer, loss and optimizer must work in both."""
    return request.param
