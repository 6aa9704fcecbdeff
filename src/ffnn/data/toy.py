"""Generated toy data sets.

Two-dimensional sets as the TensorFlow Playground (``dataset.ts``) draws them, with its
``noise`` in [0, 0.5] (the page's 0-50 %) and its labels +1/-1 mapped to 1/0; the four
one-dimensional functions of Bishop, *Pattern Recognition and Machine Learning*, fig. 5.3;
the noisy ``sin(2 pi x)`` of Bishop ch. 1; and the XOR truth table.

Every generator takes ``rng`` (a seed or a :class:`numpy.random.Generator`) and returns
``(X, y)``: ``X`` float32 of shape (n, d); ``y`` int64 labels of shape (n,) for
classification, float32 targets of shape (n, 1) for regression.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._typing import Array, Seed
from .._validation import check_int, check_number, make_rng

__all__ = ["circle", "xor", "gauss", "spiral", "reg_plane", "reg_gauss", "xor_table",
           "bishop", "BISHOP_FUNCTIONS", "poly"]

RADIUS = 5.0
"""Radius of the playground's circle set; the xor and spiral sets also span about +-5."""


def _check(n: int, noise: float) -> tuple[int, float]:
    return check_int("n", n, low=1), check_number("noise", noise, low=0.0, high=0.5)


def _pack(x: np.ndarray, y: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.column_stack([x, y]).astype(np.float32), label.astype(np.int64)


def circle(n: int = 500, noise: float = 0.0, rng: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Playground ``classifyCircleData``: a disc of class 1 inside a ring of class 0.

    Half the points have radius ``r ~ U(0, R/2)``, half ``r ~ U(0.7 R, R)`` with ``R = 5``,
    at angle ``a ~ U(0, 2 pi)``; the point is ``(r sin a, r cos a)``. The label is 1 when the
    *noisy* point ``p + noise * U(-R, R)^2`` lies within ``R/2`` of the origin, else 0, so
    noise flips labels near the boundary while the points themselves stay where they are.
    """
    n, noise = _check(n, noise)
    rng = make_rng(rng)
    n_in = n // 2
    r = np.concatenate([rng.uniform(0, RADIUS * 0.5, n_in), rng.uniform(RADIUS * 0.7, RADIUS, n - n_in)])
    angle = rng.uniform(0, 2 * np.pi, n)
    x, y = r * np.sin(angle), r * np.cos(angle)
    nx, ny = rng.uniform(-RADIUS, RADIUS, (2, n)) * noise
    return _pack(x, y, np.hypot(x + nx, y + ny) < RADIUS * 0.5)


def xor(n: int = 500, noise: float = 0.0, rng: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Playground ``classifyXORData``: label 1 when ``x * y >= 0`` (quadrants I and III).

    ``x, y ~ U(-5, 5)``, each pushed 0.3 away from its axis (the playground's padding); the
    label is taken at the noisy point ``(x, y) + noise * U(-5, 5)^2``.
    """
    n, noise = _check(n, noise)
    rng = make_rng(rng)
    x, y = rng.uniform(-5, 5, (2, n))
    x, y = x + np.where(x > 0, 0.3, -0.3), y + np.where(y > 0, 0.3, -0.3)
    nx, ny = rng.uniform(-5, 5, (2, n)) * noise
    return _pack(x, y, (x + nx) * (y + ny) >= 0)


def gauss(n: int = 500, noise: float = 0.0, rng: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Playground ``classifyTwoGaussData``: class 1 around (2, 2), class 0 around (-2, -2).

    Isotropic Gaussians whose variance grows linearly with noise, from 0.5 at noise 0 to 4 at
    noise 0.5: ``var = 0.5 + 7 * noise``.
    """
    n, noise = _check(n, noise)
    rng = make_rng(rng)
    std = np.sqrt(0.5 + 7.0 * noise)
    n_pos = n // 2
    centre = np.where(np.arange(n) < n_pos, 2.0, -2.0)
    x, y = centre + rng.normal(0.0, std, (2, n))
    return _pack(x, y, centre > 0)


def spiral(n: int = 500, noise: float = 0.0, rng: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Playground ``classifySpiralData``: two interleaved spirals.

    For ``i = 0..m-1`` a spiral has ``r = 5 i / m`` and ``t = 1.75 * 2 pi i / m + delta``
    (``delta = 0`` for class 1, ``pi`` for class 0); the point is
    ``(r sin t, r cos t) + noise * U(-1, 1)^2``.
    """
    n, noise = _check(n, noise)
    rng = make_rng(rng)
    parts = []
    for m, delta in ((n // 2, 0.0), (n - n // 2, np.pi)):
        i = np.arange(m) / m
        r, t = 5 * i, 1.75 * i * 2 * np.pi + delta
        parts.append((r * np.sin(t), r * np.cos(t)))
    x = np.concatenate([parts[0][0], parts[1][0]]) + rng.uniform(-1, 1, n) * noise
    y = np.concatenate([parts[0][1], parts[1][1]]) + rng.uniform(-1, 1, n) * noise
    return _pack(x, y, np.arange(n) < n // 2)


def reg_plane(n: int = 500, noise: float = 0.0, rng: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Playground ``regressPlane``: target ``(x + y) / 10`` at the noisy point.

    ``x, y ~ U(-6, 6)``; the target is evaluated at ``(x, y) + noise * U(-6, 6)^2``.
    """
    n, noise = _check(n, noise)
    rng = make_rng(rng)
    x, y = rng.uniform(-6, 6, (2, n))
    nx, ny = rng.uniform(-6, 6, (2, n)) * noise
    return np.column_stack([x, y]).astype(np.float32), ((x + nx + y + ny) / 10).astype(np.float32)[:, None]


_GAUSSIANS = ((-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1))


def reg_gauss(n: int = 500, noise: float = 0.0, rng: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Playground ``regressGaussian``: six signed bumps on a 3 x 2 grid.

    Bump ``k`` at centre ``c_k`` with sign ``s_k`` contributes ``s_k * max(0, 1 - d_k / 2)``
    (``d_k`` the distance to ``c_k``); the target is the contribution of largest absolute
    value, evaluated at the noisy point as in :func:`reg_plane`.
    """
    n, noise = _check(n, noise)
    rng = make_rng(rng)
    x, y = rng.uniform(-6, 6, (2, n))
    px, py = np.stack([x, y]) + rng.uniform(-6, 6, (2, n)) * noise
    bumps = np.stack([s * np.clip(1 - np.hypot(px - cx, py - cy) / 2, 0, 1) for cx, cy, s in _GAUSSIANS])
    target = bumps[np.abs(bumps).argmax(axis=0), np.arange(n)]
    return np.column_stack([x, y]).astype(np.float32), target.astype(np.float32)[:, None]


def xor_table() -> tuple[np.ndarray, np.ndarray]:
    """The XOR truth table: inputs (0,0), (0,1), (1,0), (1,1) with labels 0, 1, 1, 0."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    return X, np.array([0, 1, 1, 0], dtype=np.int64)


BISHOP_FUNCTIONS: dict[str, Callable[[Array], Array]] = {
    "square": np.square,
    "sin": lambda x: np.sin(np.pi * x),
    "abs": np.abs,
    "step": lambda x: np.heaviside(x, 1.0),
}
"""Bishop fig. 5.3: ``x^2``, ``sin(pi x)``, ``|x|`` and the Heaviside step ``H(x)`` (H(0) = 1)."""


def bishop(function: str, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """``n`` evenly spaced points on [-1, 1] and ``f(x)`` for one of :data:`BISHOP_FUNCTIONS`.

    Returns ``X`` of shape (n, 1) and targets of shape (n, 1), both float32, noise-free as in
    the figure.
    """
    n = check_int("n", n, low=2)
    f = BISHOP_FUNCTIONS[function]
    x = np.linspace(-1.0, 1.0, n)
    return x.astype(np.float32)[:, None], f(x).astype(np.float32)[:, None]


def poly(n: int = 10, noise: float = 0.3, rng: Seed = None) -> tuple[np.ndarray, np.ndarray]:
    """Bishop ch. 1 curve fitting: ``t = sin(2 pi x) + eps``, ``eps ~ N(0, noise^2)``.

    ``x`` is ``n`` evenly spaced points on [0, 1]; shapes (n, 1) float32.
    """
    n = check_int("n", n, low=1)
    noise = check_number("noise", noise, low=0.0)
    rng = make_rng(rng)
    x = np.linspace(0.0, 1.0, n)
    t = np.sin(2 * np.pi * x) + rng.normal(0.0, noise, n)
    return x.astype(np.float32)[:, None], t.astype(np.float32)[:, None]
