"""Figure helpers for the experiments: matplotlib is imported lazily with the Agg backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["pyplot", "save", "decision_boundary"]


def pyplot(out_dir: Path | None, print_fn: Callable[..., None] = print) -> Any:
    """``matplotlib.pyplot`` (Agg backend), or None when there is nowhere to save or no matplotlib."""
    if out_dir is None:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print_fn("note: matplotlib is not installed; figures skipped (claims are still checked)")
        return None
    return plt


def save(fig: Any, out_dir: Path | None, filename: str) -> Path | None:
    if out_dir is None or fig is None:
        return None
    import matplotlib.pyplot as plt
    path = Path(out_dir) / filename
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def decision_boundary(ax: Any, predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, y: np.ndarray,
                      title: str = "", resolution: int = 120) -> None:
    """Shade ``predict``'s probability of class 1 over the data's bounding box and scatter the data."""
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    p = predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.6)
    ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", edgecolors="k", s=12, linewidths=0.4)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
