"""The user's CSV and NPZ files."""

import gzip

import numpy as np
import pytest

from ffnn import data
from ffnn.data.tabular import infer_task, load_csv, load_npz
from ffnn.errors import ConfigError, DataError


def _write(path, text):
    path.write_text(text)
    return path


def _rows(n=20, k=3):
    rng = np.random.default_rng(0)
    return [(i, float(rng.normal()), i % k) for i in range(n)]


def test_csv_without_header(tmp_path):
    path = _write(tmp_path / "d.csv", "".join(f"{a},{b},{c}\n" for a, b, c in _rows()))
    ds = load_csv(path)
    assert ds.task == "classification" and ds.n_classes == 3 and ds.class_names is None
    assert ds.n_features == 2 and len(ds.X_train) + len(ds.X_test) == 20
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    # the split is stratified and reproducible
    assert len(ds.X_test) == 4 and len(np.unique(ds.y_test)) == 3
    np.testing.assert_array_equal(load_csv(path).X_train, ds.X_train)
    assert not np.array_equal(load_csv(path, seed=1).X_test, ds.X_test)


def test_csv_header_and_target_by_name(tmp_path):
    body = "".join(f"{c},{a},{b}\n" for a, b, c in _rows())
    path = _write(tmp_path / "d.csv", "label,x1,x2\n\n" + body + "\n")
    ds = load_csv(path, target="label")
    assert ds.n_classes == 3 and ds.n_features == 2
    X = np.vstack([ds.X_train, ds.X_test])
    assert sorted(X[:, 0].tolist()) == list(range(20))  # the label column was removed
    assert load_csv(path, target=0).n_classes == 3
    with pytest.raises(DataError, match="no column named 'y'.*label"):
        load_csv(path, target="y")


def test_csv_regression_and_task_override(tmp_path):
    path = _write(tmp_path / "d.csv", "".join(f"{a},{c},{b}\n" for a, b, c in _rows()))
    ds = load_csv(path)
    assert ds.task == "regression" and ds.n_classes is None and ds.y_train.dtype == np.float32
    forced = load_csv(_write(tmp_path / "e.csv", "".join(f"{a},{c}\n" for a, b, c in _rows())),
                      task="regression")
    assert forced.task == "regression"
    with pytest.raises(ConfigError, match="task"):
        load_csv(path, task="clustering")


def test_csv_labels_remapped_with_class_names(tmp_path):
    path = _write(tmp_path / "d.csv", "".join(f"{i},{(-1, 1, 5)[i % 3]}\n" for i in range(30)))
    ds = load_csv(path, test_fraction=0.0)
    assert ds.class_names == ("-1", "1", "5") and ds.n_classes == 3
    np.testing.assert_array_equal(ds.y_train[:3], [0, 1, 2])
    assert len(ds.X_test) == 0


def test_csv_bad_cell_names_line_and_column(tmp_path):
    path = _write(tmp_path / "d.csv", "a,b,label\n1,2,0\n3,4,1\n5,oops,0\n")
    with pytest.raises(DataError, match=r"d.csv, line 4, column 2 \('b'\): got 'oops'"):
        load_csv(path)
    path = _write(tmp_path / "e.csv", "1,2,0\n\n3,,1\n")
    with pytest.raises(DataError, match="line 3, column 2: got ''"):
        load_csv(path)
    path = _write(tmp_path / "f.csv", "1,2,0\n3,nan,1\n")
    with pytest.raises(DataError, match="line 2, column 2.*finite"):
        load_csv(path)


def test_csv_ragged_row(tmp_path):
    path = _write(tmp_path / "d.csv", "x,y\n1,0\n2,1\n3,1,7\n")
    with pytest.raises(DataError, match="line 4: ragged row with 3 columns; expected 2 as on line 1"):
        load_csv(path)


def test_csv_empty_and_missing(tmp_path):
    with pytest.raises(DataError, match="no data rows"):
        load_csv(_write(tmp_path / "d.csv", "a,b\n"))
    with pytest.raises(DataError, match="cannot read"):
        load_csv(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="has no header"):
        load_csv(_write(tmp_path / "e.csv", "1,0\n2,1\n"), target="label")


def test_csv_gz(tmp_path):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(b"a,label\n1,0\n2,1\n3,0\n4,1\n"))
    assert data.load(path, test_fraction=0.5).n_classes == 2


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.repeat([0, 1], 20)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    ds = data.load(tmp_path / "d.npz", test_fraction=0.25)
    assert ds.X_train.shape == (30, 3) and ds.n_classes == 2
    np.testing.assert_array_equal(np.bincount(ds.y_test), [5, 5])
    got = sorted(map(tuple, np.vstack([ds.X_train, ds.X_test]).tolist()))
    assert got == sorted(map(tuple, X.astype(np.float32).tolist()))


def test_npz_with_test_part_images_and_names(tmp_path):
    X, X_test = np.zeros((6, 4, 5), np.uint8), np.ones((2, 4, 5), np.uint8)
    np.savez(tmp_path / "d.npz", X=X, y=[0, 1, 2, 0, 1, 2], X_test=X_test, y_test=[2, 2],
             class_names=np.array(["a", "b", "c"]))
    ds = load_npz(tmp_path / "d.npz")
    assert ds.X_train.shape == (6, 20) and ds.X_test.shape == (2, 20)
    assert ds.image_shape == (4, 5) and ds.class_names == ("a", "b", "c")
    np.testing.assert_array_equal(ds.y_test, [2, 2])


def test_npz_regression_multi_output(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((10, 2)), y=np.linspace(0, 1, 20).reshape(10, 2))
    ds = load_npz(tmp_path / "d.npz")
    assert ds.task == "regression" and ds.y_train.shape == (8, 2)


def test_npz_object_array_rejected(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.array([[1, "a"]], dtype=object), y=np.array([0]))
    with pytest.raises(DataError, match="[Oo]bject arrays"):
        data.load(tmp_path / "d.npz")


@pytest.mark.parametrize("arrays, message", [
    ({"X": np.zeros((3, 2))}, "expected X and y"),
    ({"X": np.zeros((3, 2)), "y": np.zeros(3), "x_test": np.zeros(1)}, "expected X and y"),
    ({"X": np.zeros((3, 2)), "y": np.zeros(3), "X_test": np.zeros((1, 2))}, "together"),
    ({"X": np.zeros((3, 2)), "y": np.zeros(4)}, "3 rows but y has 4"),
    ({"X": np.array([[np.inf, 0.0]]), "y": np.zeros(1)}, "non-finite"),
    ({"X": np.array(["a", "b"]), "y": np.zeros(2)}, "numeric"),
])
def test_npz_bad_contents(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_npz(tmp_path / "d.npz")


def test_infer_task():
    assert infer_task(np.array([0.0, 1.0, 2.0])) == "classification"
    assert infer_task(np.array([0.5, 1.0])) == "regression"
    assert infer_task(np.arange(101)) == "regression"
    assert infer_task(np.zeros((4, 2))) == "regression"
