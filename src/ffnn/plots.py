"""Figures of a training run, drawn with matplotlib (an optional extra, imported lazily).

Every function writes one PNG atomically and returns its path. Matplotlib runs with the
non-interactive Agg backend, so no display is needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_path

__all__ = ["available", "history_figure", "confusion_figure", "decision_boundary_figure",
           "first_layer_figure", "save_figure"]


def available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    """``matplotlib.pyplot`` with the Agg backend (typed as Any: used as a module of drawing functions)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically (:func:`ffnn._atomic.atomic_path`); close it."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    return path


def history_figure(records: Sequence[dict[str, float]], path: str | os.PathLike) -> Path:
    """Loss (and accuracy, if recorded) per epoch, training and held-out.

    A partial epoch (cut short by Ctrl-C, ``partial`` set) is not joined to the curves: it is
    drawn as a hollow marker labelled "partial epoch", since its figures cover only the
    batches it ran.
    """
    from .history import is_partial
    plt = _pyplot()
    has_acc = any("accuracy" in r for r in records)
    fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(10 if has_acc else 5.5, 4), squeeze=False)
    whole = [r for r in records if not is_partial(r)]
    partial = [r for r in records if is_partial(r)]
    epochs = [r["epoch"] for r in whole]
    panels = [("loss", "loss")] + ([("accuracy", "accuracy")] if has_acc else [])
    for ax, (key, label) in zip(axes[0], panels, strict=True):  # one column per panel
        ax.plot(epochs, [r.get(key, np.nan) for r in whole], "o-", label=f"training {label}")
        if any(f"val_{key}" in r for r in records):
            ax.plot(epochs, [r.get(f"val_{key}", np.nan) for r in whole], "s-", label=f"held-out {label}")
        if partial:
            ax.plot([r["epoch"] for r in partial], [r.get(key, np.nan) for r in partial], "o", color="grey",
                    markerfacecolor="none", label=f"partial epoch (interrupted), training {label}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)


def confusion_figure(cm: np.ndarray, path: str | os.PathLike, class_names: Sequence[str] | None = None) -> Path:
    """The confusion matrix as an annotated image (rows: true class, columns: predicted)."""
    plt = _pyplot()
    k = len(cm)
    names = [str(c) for c in (class_names or range(k))]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = cm.max(initial=0)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > top / 2 else "black")
    return save_figure(fig, path)


def decision_boundary_figure(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray,
                             path: str | os.PathLike, title: str = "", resolution: int = 200) -> Path:
    """Heat map of ``predict`` (class-1 probability or value) over the data's 2-D box, with the points."""
    plt = _pyplot()
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0) + 1e-9)
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    z = np.asarray(predict(grid)).reshape(g1.shape)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    mesh = ax.contourf(g1, g2, z, levels=20, cmap="RdBu_r", alpha=0.75)
    fig.colorbar(mesh, ax=ax)
    ax.scatter(X[:, 0], X[:, 1], c=np.asarray(y).reshape(len(X), -1)[:, 0], cmap="RdBu_r",
               edgecolors="k", linewidths=0.4, s=14)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    return save_figure(fig, path)


def first_layer_figure(weight: np.ndarray, image_shape: tuple[int, int], path: str | os.PathLike,
                       max_units: int = 64) -> Path:
    """Each first-layer unit's incoming weights drawn as an image (red positive, blue negative)."""
    plt = _pyplot()
    units = weight[:max_units]
    cols = int(np.ceil(np.sqrt(len(units))))
    rows = int(np.ceil(len(units) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, w in zip(axes.ravel(), units, strict=False):  # the grid may have more cells than units
        lim = np.abs(w).max() or 1.0
        ax.imshow(w.reshape(image_shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.suptitle(f"first-layer weights ({len(units)} of {len(weight)} units)")
    return save_figure(fig, path)
