"""The user's CSV and NPZ files."""

import gzip
import zipfile

import numpy as np
import pytest

import ffnn
from conftest import peak_bytes
from ffnn import data
from ffnn.data.tabular import infer_task, input_rows, load_csv, load_npz, read_table
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
    ({"X": np.array([["a", "b"]]), "y": np.zeros(1)}, "numeric"),
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


# ----------------------------------------------------------------------------- CSV dialects and text labels
def _rows_text(sep, n=24, header=True, labels=("cat", "dog")):
    rng = np.random.default_rng(1)
    lines = [sep.join(["w", "h", "kind"])] if header else []
    lines += [sep.join([f"{rng.normal():.4f}", f"{i % 5}", labels[i % len(labels)]]) for i in range(n)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("sep, name", [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("  ", "whitespace"),
                                       ("|", "pipe")])
@pytest.mark.parametrize("header", [True, False])
def test_delimiter_is_sniffed(tmp_path, sep, name, header):
    path = _write(tmp_path / "d.csv", _rows_text(sep, header=header))
    table = read_table(path)
    assert table.delimiter == name and table.width == 3 and len(table.rows) == 24
    assert (table.header == ["w", "h", "kind"]) == header
    ds = load_csv(path)
    assert ds.class_names == ("cat", "dog") and ds.n_features == 2
    assert len(ds.X_train) + len(ds.X_test) == 24


def test_explicit_delimiter_and_its_hint(tmp_path):
    path = _write(tmp_path / "d.csv", "1;2;0\n3;4;1\n5;6;0\n7;8;1\n")
    assert load_csv(path, delimiter=";", test_fraction=0.5).n_features == 2
    assert load_csv(path, delimiter="semicolon", test_fraction=0.5).n_features == 2
    with pytest.raises(DataError, match="1 column with delimiter 'comma'.*semicolon"):
        load_csv(path, delimiter=",")
    with pytest.raises(ConfigError, match="delimiter"):
        load_csv(path, delimiter="ab")


def test_decimal_comma_gets_a_hint(tmp_path):
    path = _write(tmp_path / "d.csv", "x;y;label\n1,5;2;0\n2,5;3;1\n")
    with pytest.raises(DataError, match="line 2, column 1.*'1,5'.*decimal comma"):
        load_csv(path)


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("gz", [False, True])
def test_utf8_bom_keeps_the_first_row(tmp_path, header, gz):
    """A byte-order mark made the first cell non-numeric: the first data row was taken for a header."""
    text = ("a,b,label\n" if header else "") + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(10))
    raw = "\ufeff".encode() + text.encode()
    path = tmp_path / ("d.csv.gz" if gz else "d.csv")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    table = read_table(path)
    assert len(table.rows) == 10 and table.rows[0] == ["0", "0", "0"]
    assert table.header == (["a", "b", "label"] if header else None)


def test_text_labels_without_header_are_not_a_header(tmp_path):
    path = _write(tmp_path / "d.csv", "1.5,2,cat\n0.5,1,dog\n2.5,0,cat\n1,1,dog\n")
    table = read_table(path)
    assert table.header is None and len(table.rows) == 4
    ds = load_csv(path, test_fraction=0.5)
    assert ds.class_names == ("cat", "dog") and ds.n_classes == 2 and ds.task == "classification"


def test_text_labels_are_numbered_in_sorted_order(tmp_path):
    path = _write(tmp_path / "d.csv", "x,label\n" + "".join(f"{i},{('zebra', 'ant', 'mole')[i % 3]}\n"
                                                            for i in range(30)))
    ds = load_csv(path, test_fraction=0.0)
    assert ds.class_names == ("ant", "mole", "zebra")
    np.testing.assert_array_equal(ds.y_train[:3], [2, 0, 1])
    with pytest.raises(DataError, match="regression needs numbers"):
        load_csv(path, task="regression")


def test_text_labels_in_npz(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.arange(20.0).reshape(10, 2), y=np.array(["b", "a"] * 5))
    ds = load_npz(tmp_path / "d.npz", test_fraction=0.2)
    assert ds.class_names == ("a", "b") and ds.n_classes == 2


def test_one_class_is_a_clear_error_when_training(tmp_path):
    from ffnn.errors import LabelError
    from ffnn.recipe import Recipe
    path = _write(tmp_path / "d.csv", "".join(f"{i},{i * 0.5},7\n" for i in range(20)))
    ds = load_csv(path)                      # loading (e.g. to evaluate) is fine
    assert ds.n_classes == 1
    with pytest.raises(LabelError, match="needs at least 2 classes, found 1: 7"):
        Recipe(data=str(path), hidden="4", epochs=1).prepare()


@pytest.mark.parametrize("damage", ["truncated", "invalid-deflate", "not-gzip"])
def test_damaged_csv_gz_names_the_file(tmp_path, damage):
    good = gzip.compress("".join(f"{i},{i % 2}\n" for i in range(3000)).encode())
    bad = {"truncated": good[:len(good) // 2], "invalid-deflate": good[:10] + b"\xff" * 8 + good[18:],
           "not-gzip": b"\x1f\x8b\x08garbage"}[damage]
    path = tmp_path / "d.csv.gz"
    path.write_bytes(bad)
    with pytest.raises(DataError, match="d.csv.gz"):
        load_csv(path)


def test_not_utf8_and_huge_field(tmp_path):
    with pytest.raises(DataError, match="UTF-8"):
        load_csv(_write_bytes(tmp_path / "d.csv", b"1,2\n\xff\xfe,3\n"))
    with pytest.raises(DataError, match="e.csv.*field larger"):
        load_csv(_write_bytes(tmp_path / "e.csv", b'1,"' + b"x" * 200_000 + b'"\n'))


def _write_bytes(path, raw):
    path.write_bytes(raw)
    return path


# ----------------------------------------------------------------------------- hostile NPZ files
def _npz_bytes(**arrays):
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _good_npz():
    return _npz_bytes(X=np.random.default_rng(0).random((20, 3)), y=np.arange(20) % 2)


def _crc_flip(raw):
    raw = bytearray(raw)
    raw[raw.find(b"NUMPY") + 200] ^= 0xFF
    return bytes(raw)


def _npy_bytes():
    import io
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 3)))
    return buf.getvalue()


HOSTILE_NPZ = {
    "empty": lambda: b"",
    "truncated": lambda: _good_npz()[:len(_good_npz()) // 2],
    "truncated-tail": lambda: _good_npz()[:-30],
    "npy-named-npz": _npy_bytes,
    "crc-flip": lambda: _crc_flip(_good_npz()),
    "zero-d": lambda: _npz_bytes(X=np.array(1.0), y=np.array(1)),
    "empty-arrays": lambda: _npz_bytes(X=np.zeros((0, 3)), y=np.zeros(0)),
    "no-features": lambda: _npz_bytes(X=np.zeros((5, 0)), y=np.zeros(5)),
    "y-zero-d": lambda: _npz_bytes(X=np.zeros((5, 3)), y=np.array(3)),
    "X-test-width": lambda: _npz_bytes(X=np.zeros((5, 3)), y=np.arange(5) % 2, X_test=np.zeros((2, 4)),
                                       y_test=np.zeros(2)),
    "X-test-rows": lambda: _npz_bytes(X=np.zeros((5, 3)), y=np.arange(5) % 2, X_test=np.zeros((2, 3)),
                                      y_test=np.zeros(3)),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_NPZ))
def test_hostile_npz_data_is_a_data_error_naming_the_file(tmp_path, case):
    path = tmp_path / "d.npz"
    path.write_bytes(HOSTILE_NPZ[case]())
    with pytest.raises(DataError, match="d.npz"):
        load_npz(path)
    with pytest.raises(DataError, match="d.npz"):
        data.load(path)


@pytest.mark.parametrize("case", ["empty", "truncated", "truncated-tail", "npy-named-npz", "crc-flip", "zero-d",
                                  "empty-arrays"])
def test_hostile_npz_predict_input_is_a_data_error(tmp_path, case):
    path = tmp_path / "inputs.npz"
    path.write_bytes(HOSTILE_NPZ[case]())
    with pytest.raises(DataError, match="inputs.npz"):
        input_rows(path, 3)



def _huge_npz(path, shape, payload=b"\0" * 64, compression=zipfile.ZIP_STORED):
    import io

    from numpy.lib import format as npy
    head = io.BytesIO()
    npy.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("X.npy", head.getvalue() + payload)
        z.writestr("y.npy", _npy_bytes())
    return path


def test_npz_declaring_a_trillion_elements_fails_in_bounded_memory(tmp_path):
    path = _huge_npz(tmp_path / "d.npz", (10**6, 10**6))
    for read in (lambda: load_npz(path), lambda: input_rows(path, 3)):
        def run(read=read):
            with pytest.raises(DataError, match="d.npz.*'X'"):
                read()
        assert peak_bytes(run) < 64 * 2**20


def test_npz_over_the_size_cap_is_refused_before_reading(tmp_path):
    from ffnn._npzread import NpzReader
    X = np.zeros((3000, 3000))                       # 72 MB, deflated to ~70 kB
    np.savez_compressed(tmp_path / "d.npz", X=X, y=np.zeros(3000))
    del X

    def run():
        with NpzReader(tmp_path / "d.npz", max_bytes=64 * 2**20) as archive, \
                pytest.raises(DataError, match="max_bytes"):
            archive.check_total()
            archive.read("X")
    assert peak_bytes(run) < 1 * 2**20


# ----------------------------------------------------------------------------- the CLI with text labels
def test_cli_trains_evaluates_and_predicts_with_text_labels(tmp_path, capsys):
    from ffnn import cli
    train = _write(tmp_path / "animals.csv", "\ufeff" + _rows_text(";", n=60, labels=("cat", "dog", "emu")))
    assert cli.main(["train", "--data", str(train), "--hidden", "4", "--epochs", "2", "--no-plots",
                     "--no-progress", "--out", str(tmp_path / "run")]) == 0
    model = ffnn.load(tmp_path / "run" / "model.ffnn")
    assert model.metadata["class_names"] == ["cat", "dog", "emu"]
    assert model.metadata["data_options"].get("delimiter") is None      # sniffed, not recorded
    capsys.readouterr()
    # a file with only two of the classes, in another order and delimiter: matched by name
    other = _write(tmp_path / "other.csv", "w,h,kind\n0.5,1,emu\n1.5,2,dog\n0.1,3,emu\n2.0,4,dog\n")
    assert cli.main(["evaluate", str(tmp_path / "run" / "model.ffnn"), "--data", str(other), "--split", "train"]) == 0
    report = capsys.readouterr().out
    assert "emu" in report and "cat" in report
    inputs = _write(tmp_path / "in.tsv.csv", "w\th\n0.1\t0.2\n2.0\t0.1\n")
    assert cli.main(["predict", str(tmp_path / "run" / "model.ffnn"), str(inputs), "--delimiter", "tab"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "row,prediction,probability" and len(lines) == 3
    assert all(line.split(",")[1] in ("cat", "dog", "emu") for line in lines[1:])


def test_cli_delimiter_goes_into_the_recipe(tmp_path):
    from ffnn.recipe import Recipe
    recipe = Recipe(data="d.csv", delimiter=";")
    assert recipe.delimiter == "semicolon" and "--delimiter semicolon" in recipe.to_command()
    assert Recipe.from_toml(recipe.to_toml()) == recipe
    assert recipe.data_options()["delimiter"] == "semicolon"
    with pytest.raises(ConfigError, match="option delimiter"):
        Recipe(delimiter="ab")


def test_cli_hostile_inputs_exit_2(tmp_path, capsys):
    from ffnn import cli
    train = _write(tmp_path / "d.csv", _rows_text(",", n=30))
    assert cli.main(["train", "--data", str(train), "--hidden", "3", "--epochs", "1", "--no-plots", "--no-progress",
                     "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    model = str(tmp_path / "run" / "model.ffnn")
    for case in ("empty", "crc-flip", "npy-named-npz", "zero-d"):
        (tmp_path / "in.npz").write_bytes(HOSTILE_NPZ[case]())
        assert cli.main(["predict", model, str(tmp_path / "in.npz")]) == 2, case
        err = capsys.readouterr().err
        assert err.startswith("ffnn: error:") and "in.npz" in err and "Traceback" not in err
    one = _write(tmp_path / "one.csv", "".join(f"{i},{i},5\n" for i in range(10)))
    assert cli.main(["train", "--data", str(one), "--epochs", "1", "--no-plots", "--no-progress",
                     "--out", str(tmp_path / "run1")]) == 2
    assert "at least 2 classes, found 1: 5" in capsys.readouterr().err
