"""Shared pytest fixtures and markers for the whole ffnn test suite.

Generic on purpose: module-specific fixtures live in their own test modules.

- ``rng``: a fresh ``np.random.default_rng(0)`` per test (explicit, seeded randomness).
- ``dtype``: parametrizes a test over float32 and float64 (ids ``float32``/``float64``).
- ``server_url`` and ``browser`` (module scope): a real uvicorn playground server on a free
  port of 127.0.0.1, and Debian's headless Chromium driven by Playwright (skipped when
  uvicorn, Playwright or /usr/bin/chromium is missing), for the browser tests.
- ``client``: Starlette's TestClient of a fresh playground app, addressed as 127.0.0.1 (the
  playground refuses other Host headers).
- ``peak_bytes(fn)``: the peak memory traced while ``fn()`` runs (``from conftest import
  peak_bytes``), for the tests of bounded memory.
- ``requires_torch``: skip a test cleanly when PyTorch is not installed. Use either
  ``@pytest.mark.requires_torch`` (registered below, no import needed) or
  ``from conftest import requires_torch`` (a ``pytest.mark.skipif``).
- ``FFNN_BACKEND_MATRIX=required`` (set by ``.ci/run``): the three-backend matrix (NumPy,
  PyTorch CPU tensors, array-api-strict on its second device) must run, so a missing
  ``torch``, ``array_api_compat`` or ``array_api_strict`` stops the session instead of
  skipping those tests.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None

requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch not installed")
"""Skip marker for tests that compare against PyTorch (a test-only dependency)."""

FLOAT_DTYPES = (np.float32, np.float64)


def peak_bytes(fn: Any) -> int:
    """Peak traced memory (tracemalloc, which sees NumPy's allocations) while ``fn()`` runs."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


BACKEND_MATRIX = ("torch", "array_api_compat", "array_api_strict")
"""What the backend tests need beyond NumPy (the test extra installs them)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires_torch: needs PyTorch; skipped when it is not installed")
    if os.environ.get("FFNN_BACKEND_MATRIX") == "required":
        missing = [name for name in BACKEND_MATRIX if importlib.util.find_spec(name) is None]
        if missing:
            raise pytest.UsageError(f"FFNN_BACKEND_MATRIX=required but {', '.join(missing)} is not installed: "
                                    "the backend tests would be skipped")


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


@pytest.fixture
def client() -> Iterator[Any]:
    """A TestClient of a fresh playground app; its lifespan runs inside the ``with``."""
    pytest.importorskip("httpx", reason="starlette's TestClient needs httpx")
    testclient = pytest.importorskip("starlette.testclient", reason="the playground needs starlette (ffnn[web])")
    from ffnn.playground import create_app

    with testclient.TestClient(create_app(), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The playground app served by a real uvicorn on a free port of 127.0.0.1 (its base URL)."""
    uvicorn = pytest.importorskip("uvicorn", reason="the playground needs uvicorn (ffnn[web])")
    pytest.importorskip("starlette", reason="the playground needs starlette (ffnn[web])")
    from ffnn.playground import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the playground server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright (never ``playwright install``)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
