"""Tests of MNIST-style digit preprocessing (ffnn.data.digits), the ConvNetJS definition reader
(ffnn.playground.layer_defs) and ``ffnn predict digit.png`` on hand-made drawings."""

from __future__ import annotations

import numpy as np
import pytest

from ffnn.data.digits import BOX, TEST_OFFSETS, as_ink, crops, mnist_style
from ffnn.errors import ConfigError, ShapeError
from ffnn.playground import layer_defs

# ---------------------------------------------------------------------------
# MNIST-style normalisation
# ---------------------------------------------------------------------------


def _centre_of_mass(x):
    r, c = np.indices(x.shape)
    return (r * x).sum() / x.sum(), (c * x).sum() / x.sum()


@pytest.mark.parametrize("shape, box", [((300, 200), (20, 280, 150, 190)), ((50, 80), (2, 12, 3, 70)),
                                        ((28, 28), (5, 9, 4, 6)), ((500, 500), (400, 480, 10, 60))])
def test_mnist_style_fits_20x20_keeps_aspect_and_centres_mass(shape, box):
    img = np.zeros(shape)
    r0, r1, c0, c1 = box
    img[r0:r1, c0:c1] = 1.0
    x = mnist_style(img)
    assert x.shape == (28, 28) and x.max() == pytest.approx(1.0) and x.min() >= 0.0
    rows, cols = np.nonzero(x > 0.01)
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert max(h, w) in (BOX, BOX + 1)                     # the larger side is 20 (+1 for a partial pixel)
    ratio = (r1 - r0) / (c1 - c0)
    assert h / w == pytest.approx(ratio, rel=0.3) or min(h, w) <= 2
    cy, cx = _centre_of_mass(x)
    assert abs(cy - 14.0) <= 0.501 and abs(cx - 14.0) <= 0.501   # where MNIST has it (integer shift)


def test_mnist_style_is_anti_aliased_and_inverts_light_backgrounds():
    img = np.full((90, 90), 255.0)                          # black ink on white, 0..255
    img[10:80, 40:47] = 0.0                                 # a plus sign: strokes 7 and 5 pixels wide
    img[40:45, 10:80] = 0.0
    x = mnist_style(img)
    grey = x[(x > 0.05) & (x < 0.95)]
    assert grey.size >= 10                                  # scaled by 20/70, the strokes cover partial pixels
    assert x[0, 0] == 0.0 and x.max() == pytest.approx(1.0)
    np.testing.assert_allclose(as_ink(img)[0, 0], 0.0)


def test_mnist_style_leaves_a_real_mnist_digit_nearly_unchanged():
    from ffnn import data
    ds = data.load("mnist-5k")
    for i in range(5):
        digit = ds.X_test[i].reshape(28, 28).astype(np.float64)
        again = mnist_style(digit)
        assert np.abs(again - digit).mean() < 0.08, i


def test_mnist_style_of_an_empty_image_is_zero_and_bad_input_is_refused():
    np.testing.assert_array_equal(mnist_style(np.zeros((40, 30))), np.zeros((28, 28)))
    with pytest.raises(ShapeError):
        mnist_style(np.zeros(10))


def test_crops_cut_the_windows_at_their_offsets():
    X = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 784)
    out = crops(X, 24, np.array([[0, 0], [4, 3]]))
    assert out.shape == (2, 576) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0].reshape(24, 24), X[0].reshape(28, 28)[:24, :24])
    np.testing.assert_array_equal(out[1].reshape(24, 24), X[1].reshape(28, 28)[4:28, 3:27])
    assert all(0 <= r <= 4 and 0 <= c <= 4 for r, c in TEST_OFFSETS)
    with pytest.raises(ShapeError, match="offsets"):
        crops(X, 24, np.array([5, 0]))
    with pytest.raises(ShapeError, match="square"):
        crops(X[:, :700], 24, np.array([0, 0]))


# ---------------------------------------------------------------------------
# ConvNetJS definitions
# ---------------------------------------------------------------------------

def _defs(*layers: str, trainer: str = "") -> str:
    return "layer_defs = [];\n" + "".join(f"layer_defs.push({{{layer}}});\n" for layer in layers) + trainer


INPUT24 = "type:'input', out_sx:24, out_sy:24, out_depth:1"
SOFTMAX = "type:'softmax', num_classes:10"


def test_default_is_the_lecture_network():
    spec = layer_defs.parse(layer_defs.DEFAULT)
    assert (spec.input_side, spec.hidden, spec.activations, spec.dropout) == (24, [32], ["relu"], 0.0)
    assert spec.n_classes == 10
    assert spec.crop
    assert spec.trainer_options() == {"optimizer": "adadelta", "batch_size": 20, "l2_decay": 0.001}


def test_separate_activation_and_dropout_layers_and_quoted_keys():
    spec = layer_defs.parse(_defs('"type":"input", "out_sx":28, "out_sy":28, "out_depth":1',
                                  "type:'fc', num_neurons:100", "type:'tanh'", "type:'dropout', drop_prob:0.2",
                                  "type:'fc', num_neurons:50, activation:'sigmoid', drop_prob:0.2", SOFTMAX,
                                  trainer="trainer = new convnetjs.SGDTrainer(net, {learning_rate:0.01, "
                                          "momentum:0.9, batch_size:10});"))
    assert (spec.input_side, spec.hidden, spec.activations, spec.dropout) == (28, [100, 50], ["tanh", "sigmoid"], 0.2)
    assert not spec.crop
    assert spec.trainer_options() == {"optimizer": "momentum", "lr": 0.01, "momentum": 0.9, "batch_size": 10}


def test_fc_without_activation_is_linear_with_a_note():
    spec = layer_defs.parse(_defs(INPUT24, "type:'fc', num_neurons:16", SOFTMAX))
    assert spec.activations == ["identity"] and spec.notes


@pytest.mark.parametrize("layers, match", [
    ((INPUT24, "type:'conv', sx:5, filters:8", SOFTMAX), "ffnn is fully connected: replace it with fc"),
    ((INPUT24, "type:'pool', sx:2", SOFTMAX), "ffnn is fully connected: replace it with fc"),
    ((INPUT24, "type:'fc', num_neurons:8", "type:'svm', num_classes:10"),
     "'svm' is not supported; ffnn supports input, fc, relu, sigmoid, tanh, dropout, softmax"),
    ((INPUT24, "type:'regression', num_neurons:1"), "'regression' is not supported"),
    ((INPUT24, "type:'maxout', group_size:2", SOFTMAX), "'maxout' is not supported"),
    (("type:'input', out_sx:32, out_sy:32, out_depth:3", SOFTMAX), "24x24x1 .* or 28x28x1"),
    (("type:'fc', num_neurons:8", SOFTMAX), "first layer must be input"),
    ((INPUT24, "type:'fc', num_neurons:8"), "one softmax layer last"),
    ((INPUT24, "type:'fc', num_neurons:0", SOFTMAX), "num_neurons an integer"),
    ((INPUT24, "type:'fc', num_neurons:8, activation:'elu'", SOFTMAX), "activation 'elu'"),
    ((INPUT24, "type:'relu'", SOFTMAX), "must follow an fc layer"),
    ((INPUT24, "type:'fc', num_neurons:8, activation:'relu'", "type:'tanh'", SOFTMAX), "already has activation"),
    ((INPUT24, "type:'fc', num_neurons:8, drop_prob:0.5", "type:'fc', num_neurons:8", SOFTMAX),
     "one dropout rate after every hidden layer"),
    ((INPUT24, "type:'fc', num_neurons:8, drop_prob:1.5", SOFTMAX), "drop_prob"),
    ((INPUT24, "type:'fc', num_neurons:eight", SOFTMAX), "cannot read"),
])
def test_unsupported_or_malformed_definitions_are_refused_clearly(layers, match):
    with pytest.raises(ConfigError, match=match):
        layer_defs.parse(_defs(*layers))


@pytest.mark.parametrize("text, match", [("", "got nothing"), ("net = 1;", "no layers found"),
                                         (_defs(INPUT24, SOFTMAX, trainer="new convnetjs.SGDTrainer(net, "
                                                "{method:'windowgrad'})"), "windowgrad"),
                                         ("x" * 20_000, "at most")])
def test_bad_texts_and_trainers(text, match):
    with pytest.raises(ConfigError, match=match):
        layer_defs.parse(text)


def test_too_many_layers_refused():
    fcs = ["type:'fc', num_neurons:8, activation:'relu'"] * (layer_defs.MAX_HIDDEN_LAYERS + 1)
    with pytest.raises(ConfigError, match="at most"):
        layer_defs.parse(_defs(INPUT24, *fcs, SOFTMAX))


# ---------------------------------------------------------------------------
# ffnn predict digit.png
# ---------------------------------------------------------------------------

def _png(path, strokes, size=200, width=16):
    """Black strokes (lists of points in pixels) on white, as a hand drawing saved from a paint program."""
    Image = pytest.importorskip("PIL.Image")
    ImageDraw = pytest.importorskip("PIL.ImageDraw")
    img = Image.new("L", (size, size), 255)
    pen = ImageDraw.Draw(img)
    for points in strokes:
        pen.line(points, fill=0, width=width, joint="curve")
    img.save(path)
    return path


@pytest.fixture(scope="module")
def digit_model(tmp_path_factory):
    from ffnn import save
    from ffnn.recipe import Recipe
    run = Recipe(data="mnist-5k", hidden="128", optimizer="adam", epochs=5, batch_size=32, seed=0,
                 val_fraction=0.0).prepare()
    run.fit(run.trainer())
    path = tmp_path_factory.mktemp("digits") / "model.ffnn"
    save(run.model, path)
    return path


def _predict(model_path, png, capsys):
    from ffnn.cli import main
    assert main(["predict", str(model_path), str(png)]) == 0
    row = capsys.readouterr().out.strip().splitlines()[1].split(",")
    return row[1], float(row[2])


def _raw(model_path, png):
    """What the network says about the picture only resized to 28x28 (no MNIST normalisation)."""
    from PIL import Image

    from ffnn import load
    model = load(model_path)
    x = 1.0 - np.asarray(Image.open(png).convert("L").resize((28, 28), Image.Resampling.LANCZOS)) / 255.0
    z = model.predict(x.reshape(1, -1).astype(np.float32))[0]
    p = np.exp(z - z.max())
    return p / p.sum()


@pytest.mark.parametrize("digit, strokes", [
    ("7", [[(95, 8), (195, 8), (135, 190)]]),                       # large, pushed to the right edge
    ("1", [[(150, 10), (165, 190)]]),                               # tall, off to the right
    ("0", [[(60, 10), (20, 60), (15, 120), (45, 185), (95, 190), (125, 120), (120, 50), (90, 10), (60, 10)]]),
])
def test_predict_png_normalises_the_drawing_as_mnist(digit_model, tmp_path, capsys, digit, strokes):
    png = _png(tmp_path / f"{digit}.png", strokes)
    label, prob = _predict(digit_model, png, capsys)
    assert label == digit, f"a drawn {digit} read as {label} ({prob:.2f})"
    raw = _raw(digit_model, png)
    assert prob > raw[int(digit)], f"the normalised drawing should be read more surely than the raw one ({raw})"


def test_predict_png_with_a_model_saved_by_the_digits_page(tmp_path, capsys):
    from ffnn import load
    from ffnn.playground.digits import DigitsSession
    session = DigitsSession("png")
    for _ in range(4):
        session.step()
    path = tmp_path / "digits.ffnn"
    path.write_bytes(session.export_bytes())
    session.close()
    model = load(path)
    assert model.in_features == 576 and model.metadata["image_shape"] == [24, 24]
    assert model.metadata["crop"]["size"] == 24
    png = _png(tmp_path / "1.png", [[(150, 10), (165, 190)]])
    assert _predict(path, png, capsys)[0] == "1"
