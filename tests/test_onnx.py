"""ONNX export (``ffnn.export_onnx``, ``ffnn export``): onnxruntime computes what ffnn computes.

Every layer type, in float32 (to 1e-5) and float64, at batch sizes 1 and 37 from one file
(the batch dimension is dynamic); the stored scaler and plane features; a model trained by
``ffnn train`` on the embedded MNIST and exported by ``ffnn export``; the estimators; the
converter protocol for user layers; the errors.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import ffnn  # noqa: E402
from ffnn import cli, layers  # noqa: E402
from ffnn.onnx_export import CONVERTERS, OPSET, to_onnx  # noqa: E402
from interop_cases import CASES, covered_layer_types, inputs, network  # noqa: E402

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(path, x, output="output"):
    return session(path).run([output], {"input": x})[0]


def test_every_built_in_layer_has_a_converter_and_a_case():
    built_in = set(layers.__all__) - {"Layer"}
    assert set(CONVERTERS) == built_in
    assert covered_layer_types() == built_in


@pytest.mark.parametrize("case", list(CASES))
def test_onnxruntime_equals_ffnn_for_every_layer(case, dtype, tmp_path):
    net = network(case, dtype)
    path = ffnn.export_onnx(net, tmp_path / "net.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    sess = session(path)
    for n in (1, 37):                       # one file, two batch sizes: the batch dimension is dynamic
        x = inputs(n, dtype)
        got = sess.run(["output"], {"input": x})[0]
        assert got.dtype == dtype and got.shape == (n, net.out_features)
        np.testing.assert_allclose(got, net.predict(x), rtol=0, atol=TOLERANCE[dtype])


def test_the_graph_has_a_dynamic_batch_and_the_declared_opset(tmp_path):
    proto = to_onnx(network("ReLU", np.float32))
    [inp], [out] = proto.graph.input, proto.graph.output
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 5]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 6]
    assert proto.opset_import[0].version == OPSET and proto.producer_name == "ffnn"
    assert [node.op_type for node in proto.graph.node] == ["Gemm", "Relu"]


def test_training_mode_layers_export_their_evaluation_mode(tmp_path):
    net = ffnn.Sequential([layers.Linear(5, 6, rng=0), layers.RReLU(rng=0), layers.Dropout(0.5, rng=0)])
    net.train()
    path = ffnn.export_onnx(net, tmp_path / "net.onnx")
    x = inputs(37, np.float32)
    assert net.training                      # exporting does not change the model's mode
    np.testing.assert_allclose(run(path, x), net.predict(x), rtol=0, atol=1e-6)


def test_a_float32_model_exports_as_float64_on_request(tmp_path):
    net = network("ELU", np.float32)
    path = ffnn.export_onnx(net, tmp_path / "net.onnx", dtype="float64")
    x = inputs(37, np.float64)
    got = run(path, x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, net.astype(np.float64).predict(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["standard", "minmax"])
def test_the_stored_scaler_is_applied_first(kind, tmp_path):
    from ffnn.data import MinMaxScaler, StandardScaler
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[0, 5, -3, 100, 0.01], scale=[1, 2, 0.5, 30, 0.001], size=(200, 5))
    scaler = (StandardScaler() if kind == "standard" else MinMaxScaler()).fit(X)
    net = network("Tanh", np.float32)
    net.metadata["preprocessing"] = scaler.to_dict()
    path = ffnn.export_onnx(net, tmp_path / "net.onnx")
    x = X[:37].astype(np.float32)
    np.testing.assert_allclose(run(path, x), cli.model_predict(net, x), rtol=0, atol=1e-5)
    assert [n.op_type for n in onnx.load(str(path)).graph.node][:4] == ["Cast", "Sub", "Div", "Cast"]


@pytest.mark.parametrize("scaled", [True, False], ids=["scaled", "unscaled"])
def test_stored_plane_features_are_computed_from_the_raw_points(scaled, dtype, tmp_path):
    net = ffnn.mlp([7, 4, 2], "tanh", dtype=dtype, seed=0)
    net.metadata["features"] = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
    if scaled:
        net.metadata["preprocessing"] = {"kind": "standard", "mean": [0.1] * 7, "std": [2.0] * 7}
    path = ffnn.export_onnx(net, tmp_path / "net.onnx")
    points = np.random.default_rng(0).uniform(-4, 4, (37, 2)).astype(dtype)
    got = run(path, points)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, cli.model_predict(net, points), rtol=0, atol=1e-6)


def test_a_network_without_nodes_still_has_an_output(tmp_path):
    net = ffnn.Sequential([layers.Identity(), layers.Dropout(0.2)])
    x = inputs(3, np.float32)
    np.testing.assert_array_equal(run(ffnn.export_onnx(net, tmp_path / "net.onnx"), x), x)


# --- the command line, on a model trained on the embedded MNIST ------------------------

def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def mnist_model(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("mnist") / "run"
    code, _, err = run_cli(["train", "--epochs", "1", "--hidden", "32", "--preprocess", "standard", "--no-plots",
                            "--no-progress", "--out", str(run_dir)])
    assert code == 0, err
    return run_dir / "model.ffnn"


def test_cli_exports_a_trained_mnist_model_with_its_scaler(mnist_model, tmp_path):
    out = tmp_path / "mnist.onnx"
    code, stdout, err = run_cli(["export", str(mnist_model), "--onnx", str(out)])
    assert code == 0, err
    assert str(out) in stdout
    model = ffnn.load(mnist_model)
    assert model.metadata["preprocessing"]["kind"] == "standard"
    X = ffnn.data.load("mnist-5k").X_test
    got, expected = run(out, X), cli.model_predict(model, X)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    props = {prop.key: json.loads(prop.value) for prop in onnx.load(str(out)).metadata_props}
    assert props == {"ffnn.task": "classification", "ffnn.n_classes": 10, "ffnn.output": "logits",
                     "ffnn.class_names": model.metadata["class_names"], "ffnn.image_shape": [28, 28]}


def test_cli_exports_in_the_dtype_asked_for(tmp_path):
    model_path, out = tmp_path / "net.ffnn", tmp_path / "net.onnx"
    net = network("Softsign", np.float32)
    ffnn.save(net, model_path)
    code, stdout, err = run_cli(["export", str(model_path), "--onnx", str(out), "--dtype", "float64"])
    assert code == 0, err
    assert "float64" in stdout
    x = inputs(37, np.float64)
    np.testing.assert_allclose(run(out, x), net.astype(np.float64).predict(x), rtol=0, atol=1e-12)


def assert_one_line_error(code, err, needle):
    assert code == 2 and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("ffnn: error:") and needle in line, line


def test_cli_rejects_a_bad_model_file(tmp_path):
    bad = tmp_path / "bad.ffnn"
    bad.write_bytes(b"not a model")
    assert_one_line_error(*run_cli(["export", str(bad), "--onnx", str(tmp_path / "out.onnx")])[::2], "bad.ffnn")
    assert not (tmp_path / "out.onnx").exists()


@pytest.mark.parametrize("where", ["missing-directory", "a-directory"])
def test_cli_rejects_an_unwritable_output(where, tmp_path):
    model_path = tmp_path / "net.ffnn"
    ffnn.save(network("ReLU", np.float32), model_path)
    target = tmp_path / "no" / "such" / "out.onnx" if where == "missing-directory" else tmp_path
    code, _, err = run_cli(["export", str(model_path), "--onnx", str(target)])
    assert_one_line_error(code, err, str(target))


# --- estimators ----------------------------------------------------------------------

unconverged = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")     # a few epochs are enough here

@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0, 0], [3, 3, 0, 0], [0, 3, 3, 0]])
    y = rng.integers(0, 3, 90)
    return (centers[y] + rng.normal(size=(90, 4))).astype(np.float32), y


@unconverged
@pytest.mark.parametrize("classes", [np.array([3, 7, 11]), np.array(["ant", "bee", "cat"])], ids=["ints", "strings"])
def test_a_classifier_exports_probabilities_and_labels(classes, blobs, tmp_path):
    from ffnn.estimators import MLPClassifier
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, classes[y])
    path = ffnn.export_onnx(clf, tmp_path / "clf.onnx", labels=True)
    proba, label = session(path).run(["probabilities", "label"], {"input": X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(label, clf.predict(X))


@unconverged
def test_a_binary_classifier_exports_two_probability_columns(blobs, tmp_path):
    from ffnn.estimators import MLPClassifier
    X, y = blobs
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y == 1)
    proba = run(ffnn.export_onnx(clf, tmp_path / "clf.onnx"), X, "probabilities")
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-6)


@unconverged
def test_a_multilabel_classifier_exports_one_probability_and_one_indicator_per_label(blobs, tmp_path):
    from ffnn.estimators import MLPClassifier
    X, y = blobs
    Y = np.column_stack([y == 0, y != 1, X[:, 0] > 1]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, Y)
    proba, label = session(ffnn.export_onnx(clf, tmp_path / "clf.onnx", labels=True)).run(None, {"input": X})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(label, clf.predict(X))


@unconverged
def test_a_regressor_exports_its_output(blobs, tmp_path):
    from ffnn.estimators import MLPRegressor
    X, y = blobs
    reg = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=30, random_state=0).fit(X, y * 0.5)
    got = run(ffnn.export_onnx(reg, tmp_path / "reg.onnx"), X)
    np.testing.assert_allclose(got[:, 0], reg.predict(X), rtol=0, atol=1e-5)
    with pytest.raises(ffnn.ConfigError, match="classifiers"):
        to_onnx(reg, labels=True)


def test_an_unfitted_estimator_is_refused():
    from ffnn.estimators import MLPClassifier
    with pytest.raises(ffnn.ConfigError, match="no fitted network model_"):
        to_onnx(MLPClassifier())


# --- the converter protocol ------------------------------------------------------------

class Cube(layers.Layer):
    """y = x^3, with its own ONNX converter."""

    def forward(self, x):
        self._x = x
        return x ** 3

    def backward(self, grad_out, input_grad=True):
        return 3 * self._x ** 2 * grad_out

    def to_onnx(self, graph, x):
        return graph.node("Mul", [graph.node("Mul", [x, x]), x])


class Square(layers.Layer):
    """y = x^2, without a converter."""

    def forward(self, x):
        return x * x

    def backward(self, grad_out, input_grad=True):
        raise NotImplementedError


class ReLU(layers.ReLU):
    """A subclass with a built-in's name is not taken for the built-in."""

    def forward(self, x):
        return super().forward(x) * 2


def test_a_user_layer_exports_through_its_to_onnx_hook(tmp_path):
    net = ffnn.Sequential([layers.Linear(5, 3, rng=0), Cube()])
    x = inputs(37, np.float32)
    np.testing.assert_allclose(run(ffnn.export_onnx(net, tmp_path / "net.onnx"), x), net.predict(x),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer", [Square(), ReLU()], ids=["no-converter", "built-in-name"])
def test_a_layer_without_a_converter_is_named_in_the_error(layer, tmp_path):
    net = ffnn.Sequential([layers.Linear(5, 3, rng=0), layer])
    with pytest.raises(ffnn.ConfigError, match=rf"layer 1 \({type(layer).__name__}\).*Linear.*Softmax.*to_onnx"):
        ffnn.export_onnx(net, tmp_path / "net.onnx")
    assert not (tmp_path / "net.onnx").exists()


def test_export_refuses_other_objects():
    with pytest.raises(ffnn.ConfigError, match="Sequential"):
        to_onnx([layers.ReLU()])


def test_import_ffnn_loads_neither_onnx_nor_torch():
    code = ("import sys, ffnn; ffnn.export_onnx, ffnn.to_torch, ffnn.from_torch; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_without_onnx_the_error_says_what_to_install():
    code = ("import sys; sys.modules['onnx'] = None\n"
            "import ffnn\n"
            "try:\n"
            "    ffnn.export_onnx(ffnn.mlp([2, 1]), 'x.onnx')\n"
            "except ffnn.ConfigError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'ffnn[onnx]'" in out
