"""Tests of ffnn.plots: each figure function writes one non-empty PNG and no temporary files."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from ffnn import plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_only_png(directory, name):
    assert sorted(os.listdir(directory)) == [name], "temporary files were left behind"
    data = (directory / name).read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000


def records(with_val=True, with_acc=True):
    out = []
    for e in range(1, 5):
        r = {"epoch": e, "loss": 1.0 / e}
        if with_acc:
            r["accuracy"] = 1 - 0.5 / e
        if with_val:
            r["val_loss"] = 1.2 / e
            if with_acc:
                r["val_accuracy"] = 1 - 0.6 / e
        out.append(r)
    return out


def test_available():
    assert plots.available() is True


@pytest.mark.parametrize("with_val, with_acc", [(True, True), (False, False), (True, False)])
def test_history_figure(tmp_path, with_val, with_acc):
    path = plots.history_figure(records(with_val, with_acc), tmp_path / "curves.png")
    assert path == tmp_path / "curves.png"
    assert_only_png(tmp_path, "curves.png")


def test_confusion_figure(tmp_path):
    cm = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 4]])
    path = plots.confusion_figure(cm, tmp_path / "confusion.png", class_names=["cat", "dog", "bird"])
    assert path == tmp_path / "confusion.png"
    assert_only_png(tmp_path, "confusion.png")


def test_decision_boundary_figure(tmp_path, rng):
    X = rng.normal(size=(50, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    calls = []

    def predict(grid):
        calls.append(grid.shape)
        return 1 / (1 + np.exp(-grid[:, 0] * grid[:, 1]))

    path = plots.decision_boundary_figure(predict, X, y, tmp_path / "db.png", title="xor", resolution=40)
    assert path == tmp_path / "db.png"
    assert calls == [(40 * 40, 2)]
    assert_only_png(tmp_path, "db.png")


def test_first_layer_figure(tmp_path, rng):
    weight = rng.normal(size=(70, 28 * 28))
    path = plots.first_layer_figure(weight, (28, 28), tmp_path / "w.png", max_units=9)
    assert path == tmp_path / "w.png"
    assert_only_png(tmp_path, "w.png")


def test_overwrites_an_existing_file(tmp_path):
    target = tmp_path / "curves.png"
    target.write_bytes(b"old")
    plots.history_figure(records(), target)
    assert_only_png(tmp_path, "curves.png")


def test_failed_save_leaves_no_temporary_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import matplotlib.figure

    def broken(self, fname, *args, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise RuntimeError("disk full")

    target = tmp_path / "curves.png"
    target.write_bytes(b"previous")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.history_figure(records(), target)
    assert sorted(os.listdir(tmp_path)) == ["curves.png"]
    assert target.read_bytes() == b"previous"


def test_figures_are_closed(tmp_path):
    import matplotlib.pyplot as plt
    before = len(plt.get_fignums())
    plots.history_figure(records(), tmp_path / "a.png")
    plots.confusion_figure(np.eye(2, dtype=int), tmp_path / "b.png")
    assert len(plt.get_fignums()) == before
