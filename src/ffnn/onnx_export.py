"""Export a network, or a fitted estimator, to an ONNX file that any ONNX runtime can run.

The graph is written with ``onnx.helper`` (no PyTorch needed) at opset :data:`OPSET`, checked
with ``onnx.checker.check_model(full_check=True)`` and published atomically. It computes
what ffnn computes in evaluation mode:

1. the derived plane features stored in the model's metadata (``"features"``: x1, x1^2,
   sin(x2), ...), if any, from the raw 2-D points;
2. the input scaler stored in the metadata (``"preprocessing"``): ``(x - offset) / scale``
   (mean and std for "standard", min and range for "minmax") as one ``Sub`` and one ``Div``
   in float64, as ffnn computes it, rounded to the graph's dtype;
3. every layer, in order, through its converter.

The batch dimension is dynamic (``"batch"``); the graph computes in the model's dtype
(float32 or float64, or the ``dtype`` asked for).

Converters
----------
A converter is ``convert(layer, graph, x) -> y``: it appends the nodes that compute the
layer's evaluation-mode output from the tensor named ``x`` to ``graph`` (an
:class:`OnnxGraph`) and returns the name of the output tensor. The built-in layers' converters
are in :data:`CONVERTERS`, keyed by the class name they are registered under in
:data:`ffnn.catalog.LAYERS`; they are used only for that very class.

A layer of your own exports when it has a method ``to_onnx(graph, x) -> str`` with the same
meaning (it takes precedence over the table)::

    class Cube(layers.Layer):
        ...
        def to_onnx(self, graph, x):
            return graph.node("Mul", [graph.node("Mul", [x, x]), x])

``graph.constant(array)`` adds a weight (converted to the graph's dtype) and returns its name;
``graph.node(op_type, inputs, **attributes)`` adds a node of the default ONNX domain and
returns the name of its (single) output; ``graph.dtype`` is the NumPy dtype the graph computes
in. A layer with neither a hook nor a converter raises :class:`~ffnn.ConfigError` naming it.

Examples
--------
>>> import os, tempfile, numpy as np, ffnn
>>> onnxruntime = __import__("pytest").importorskip("onnxruntime")
>>> net = ffnn.mlp([3, 8, 2], "tanh", seed=0)
>>> path = ffnn.export_onnx(net, os.path.join(tempfile.mkdtemp(), "net.onnx"))
>>> session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
>>> x = np.ones((5, 3), dtype=np.float32)
>>> bool(np.allclose(session.run(["output"], {"input": x})[0], net.predict(x), atol=1e-6))
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_dtype
from .errors import ConfigError
from .model import Sequential

if TYPE_CHECKING:
    import onnx

__all__ = ["export_onnx", "to_onnx", "OnnxGraph", "CONVERTERS", "OPSET", "export_command"]

OPSET = 17
"""The ONNX opset the graphs use (17: the first with ``LayerNormalization``); IR version 8."""

_IR_VERSION = 8

_DESCRIBED = ("task", "n_classes", "class_names", "output", "image_shape")
"""Metadata keys copied into the ONNX model's ``metadata_props`` (as ``ffnn.<key>``, JSON):
what a consumer needs to read the output."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install 'ffnn[onnx]'") from None
    return onnx


class OnnxGraph:
    """An ONNX graph under construction: what a converter (or a layer's ``to_onnx``) adds to.

    Attributes
    ----------
    dtype : numpy.dtype
        float32 or float64: the type every tensor of the network has in the graph.
    opset : int
        The opset of the default domain (:data:`OPSET`).
    scope : str
        The prefix of the names added next (the exporter sets it to ``"<index>_<class>/"``
        before each layer, so that every tensor is named after the layer that made it).
    """

    def __init__(self, dtype: np.dtype) -> None:
        self._onnx = _onnx()
        self.dtype = dtype
        self.opset = OPSET
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = {"input"}
        self.scope = ""

    @property
    def elem_type(self) -> int:
        """The ONNX element type of :attr:`dtype` (``TensorProto.FLOAT`` or ``DOUBLE``)."""
        return self.elem_type_of(self.dtype)

    def elem_type_of(self, dtype: Any) -> int:
        """The ONNX element type of a NumPy dtype (object: strings)."""
        dtype = np.dtype(dtype)
        if dtype.kind == "O":
            return int(self._onnx.TensorProto.STRING)
        return int(self._onnx.helper.np_dtype_to_tensor_dtype(dtype))

    def _name(self, hint: str) -> str:
        base = f"{self.scope}{hint}"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def constant(self, value: Any, name: str = "const", dtype: Any = None) -> str:
        """Add an initializer holding ``value`` (in the graph's dtype unless ``dtype`` is given)
        and return its name."""
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        tensor = self._onnx.numpy_helper.from_array(array, self._name(name))
        self.initializers.append(tensor)
        return str(tensor.name)

    def node(self, op_type: str, inputs: Sequence[str], name: str | None = None, **attributes: Any) -> str:
        """Add a node of the default ONNX domain and return the name of its output.

        An empty string in ``inputs`` skips an optional input.
        """
        output = self._name(name or op_type.lower())
        self.nodes.append(self._onnx.helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output

    def rename_output(self, tensor: str, name: str) -> str:
        """Give the tensor ``tensor`` the name ``name``: the last node's output is renamed,
        anything else (the input, a weight) is passed through an ``Identity`` node."""
        if self.nodes and list(self.nodes[-1].output) == [tensor]:
            self.nodes[-1].output[0] = name
            self._names.add(name)
            return name
        self._names.add(name)
        self.nodes.append(self._onnx.helper.make_node("Identity", [tensor], [name], name=name))
        return name


Converter = Callable[[Any, OnnxGraph, str], str]


# --- the built-in layers' converters -----------------------------------------------

def _linear(layer: Any, graph: OnnxGraph, x: str) -> str:
    """``y = x W^T + b`` as one Gemm (``transB=1``: W is stored (out, in)); no C without bias."""
    inputs = [x, graph.constant(layer.weight.value, "weight")]
    if layer.bias is not None:
        inputs.append(graph.constant(layer.bias.value, "bias"))
    return graph.node("Gemm", inputs, transB=1)


def _unary(op_type: str) -> Converter:
    def convert(layer: Any, graph: OnnxGraph, x: str) -> str:
        return graph.node(op_type, [x])
    convert.__doc__ = f"One {op_type} node."
    return convert


def _identity(layer: Any, graph: OnnxGraph, x: str) -> str:
    """No node: the layer passes its input through (Identity; Dropout in evaluation mode)."""
    return x


def _leaky(graph: OnnxGraph, x: str, slope: float) -> str:
    """``x if x > 0 else slope x``: LeakyRelu, whose ``alpha`` attribute is a float32; in
    float64 graphs a PRelu with the slope as a float64 constant, so that it is exact."""
    if graph.dtype == np.float32:
        return graph.node("LeakyRelu", [x], alpha=float(slope))
    return graph.node("PRelu", [x, graph.constant([slope], "slope")], name="leakyrelu")


def _leaky_relu(layer: Any, graph: OnnxGraph, x: str) -> str:
    return _leaky(graph, x, layer.negative_slope)


def _rrelu(layer: Any, graph: OnnxGraph, x: str) -> str:
    """Evaluation mode: a leaky ReLU with the mean slope ``(lower + upper) / 2``."""
    return _leaky(graph, x, (layer.lower + layer.upper) / 2)


def _prelu(layer: Any, graph: OnnxGraph, x: str) -> str:
    """PRelu with the slope(s) as a weight: shape (1,) or (units,), broadcast over the batch."""
    return graph.node("PRelu", [x, graph.constant(layer.slope.value, "slope")])


def _softmax(layer: Any, graph: OnnxGraph, x: str) -> str:
    return graph.node("Softmax", [x], axis=-1)


# ONNX Runtime implements Elu, Softplus and Softsign for float32 only: in float64 graphs they
# are written out in elementary operators, the same formulas ffnn computes.

def _elu(layer: Any, graph: OnnxGraph, x: str) -> str:
    """``x if x > 0 else alpha (exp(x) - 1)``."""
    if graph.dtype == np.float32:
        return graph.node("Elu", [x], alpha=float(layer.alpha))
    zero, one = graph.constant(0.0, "zero"), graph.constant(1.0, "one")
    negative = graph.node("Mul", [graph.constant(layer.alpha, "alpha"),
                                  graph.node("Sub", [graph.node("Exp", [graph.node("Min", [x, zero])]), one])])
    return graph.node("Where", [graph.node("Greater", [x, zero]), x, negative], name="elu")


def _softplus(layer: Any, graph: OnnxGraph, x: str) -> str:
    """``log(1 + exp(x))``, in float64 as ``max(x, 0) + log(1 + exp(-|x|))``."""
    if graph.dtype == np.float32:
        return graph.node("Softplus", [x])
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x])])])
    log = graph.node("Log", [graph.node("Add", [graph.constant(1.0, "one"), tail])])
    return graph.node("Add", [graph.node("Relu", [x]), log], name="softplus")


def _softsign(layer: Any, graph: OnnxGraph, x: str) -> str:
    """``x / (1 + |x|)``."""
    if graph.dtype == np.float32:
        return graph.node("Softsign", [x])
    return graph.node("Div", [x, graph.node("Add", [graph.constant(1.0, "one"), graph.node("Abs", [x])])],
                      name="softsign")


def _affine_constants(layer: Any, graph: OnnxGraph) -> tuple[str, str]:
    """The normalization's gamma and beta (1 and 0 without ``affine``)."""
    n = layer.num_features
    gamma = layer.weight.value if layer.weight is not None else np.ones(n)
    beta = layer.bias.value if layer.bias is not None else np.zeros(n)
    return graph.constant(gamma, "weight"), graph.constant(beta, "bias")


def _batch_norm(layer: Any, graph: OnnxGraph, x: str) -> str:
    """Evaluation mode: BatchNormalization with the running mean and variance."""
    gamma, beta = _affine_constants(layer, graph)
    return graph.node("BatchNormalization", [x, gamma, beta, graph.constant(layer.running_mean, "running_mean"),
                                             graph.constant(layer.running_var, "running_var")],
                      epsilon=float(layer.eps))


def _layer_norm(layer: Any, graph: OnnxGraph, x: str) -> str:
    """LayerNormalization over the features (the last axis)."""
    gamma, beta = _affine_constants(layer, graph)
    return graph.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=float(layer.eps))


CONVERTERS: dict[str, Converter] = {
    "Linear": _linear, "Sigmoid": _unary("Sigmoid"), "Tanh": _unary("Tanh"), "ReLU": _unary("Relu"),
    "LeakyReLU": _leaky_relu, "PReLU": _prelu, "RReLU": _rrelu, "ELU": _elu, "Softplus": _softplus,
    "Softsign": _softsign, "Identity": _identity, "Softmax": _softmax, "Dropout": _identity,
    "BatchNorm": _batch_norm, "LayerNorm": _layer_norm,
}
"""Converters of the built-in layers, by the name their class is registered under in
:data:`ffnn.catalog.LAYERS`."""


def _converter(layer: Any, index: int) -> Converter:
    """The layer's own ``to_onnx`` hook, else the table's converter for its registered class."""
    hook = getattr(layer, "to_onnx", None)
    if callable(hook):
        return lambda _, graph, x: str(hook(graph, x))
    from .catalog import LAYERS
    name = type(layer).__name__
    if LAYERS.get(name) is type(layer) and name in CONVERTERS:
        return CONVERTERS[name]
    raise ConfigError(f"layer {index} ({type(layer).__name__}) cannot be exported to ONNX: ffnn converts "
                      f"{', '.join(sorted(CONVERTERS))}; give your layer a to_onnx(graph, x) method "
                      "(see ffnn.onnx_export)")


# --- what comes before the network: derived features and the input scaler ---------------

_PLANE_FEATURES: dict[str, Callable[[OnnxGraph, str, str], str]] = {
    "x1": lambda g, a, b: a,
    "x2": lambda g, a, b: b,
    "x1^2": lambda g, a, b: g.node("Mul", [a, a]),
    "x2^2": lambda g, a, b: g.node("Mul", [b, b]),
    "x1*x2": lambda g, a, b: g.node("Mul", [a, b]),
    "sin(x1)": lambda g, a, b: g.node("Sin", [a]),
    "sin(x2)": lambda g, a, b: g.node("Sin", [b]),
}
"""The ONNX form of each of :data:`ffnn.data.features.PLANE_FEATURES` (same names), from the
columns ``a`` = x1 and ``b`` = x2, each of shape (batch, 1)."""


def _cast(graph: OnnxGraph, x: str, source: Any, target: Any, name: str) -> str:
    """``x`` (of dtype ``source``) in dtype ``target``: a Cast node, or ``x`` itself."""
    if np.dtype(source) == np.dtype(target):
        return x
    return graph.node("Cast", [x], name, to=graph.elem_type_of(target))


def _features(graph: OnnxGraph, x: str, names: Sequence[str]) -> str:
    """The derived plane features of the raw points ``x`` (batch, 2), in float32 as
    :func:`ffnn.data.features.plane_features` computes them."""
    from .data.features import check_feature_names
    names = check_feature_names(names)
    graph.scope = "features/"
    x = _cast(graph, x, graph.dtype, np.float32, "points_float32")
    a, b = (graph.node("Gather", [x, graph.constant([i], f"x{i + 1}_index", np.int64)], f"x{i + 1}", axis=1)
            for i in range(2))
    columns = [_PLANE_FEATURES[name](graph, a, b) for name in names]
    return columns[0] if len(columns) == 1 else graph.node("Concat", columns, "features", axis=1)


def _scaler(graph: OnnxGraph, x: str, dtype: Any, scaler: Any) -> str:
    """``(x - offset) / scale`` of a fitted scaler of :mod:`ffnn.data`, exactly as its
    ``transform`` computes it: in float64, then rounded to the dtype of ``x`` (Cast, Sub, Div,
    Cast for float32: the same IEEE operations, so the same bits)."""
    graph.scope = f"{scaler.kind}_scaler/"
    wide = _cast(graph, x, dtype, np.float64, "input_float64")
    centred = graph.node("Sub", [wide, graph.constant(scaler.offset_, "offset", np.float64)], "centred")
    scaled = graph.node("Div", [centred, graph.constant(scaler.scale_, "scale", np.float64)], "scaled")
    return _cast(graph, scaled, np.float64, dtype, "scaled_rounded")


Output = tuple[str, int, list[Any]]
"""A graph output: its name, ONNX element type and shape."""


def _classifier_head(graph: OnnxGraph, logits: str, estimator: Any, n_outputs: int | None,
                     labels: bool) -> list[Output]:
    """Probabilities (and labels) from a classifier's network output, as its ``predict_proba``
    (and ``predict``): the softmax of the logits, the logistic ``[1 - p, p]`` of one output
    unit, or one logistic probability per label (multilabel; the labels are then the 0/1
    indicator ``p > 0.5``)."""
    graph.scope = "classifier/"
    kind = getattr(estimator, "out_activation_", None) or ("logistic" if n_outputs == 1 else "softmax")
    if kind not in ("softmax", "logistic") or n_outputs is None:
        raise ConfigError(f"cannot export a classifier whose output activation is {kind!r} with {n_outputs} "
                          "outputs; expected softmax or logistic")
    multilabel = kind == "logistic" and n_outputs > 1
    if kind == "softmax":
        proba = graph.node("Softmax", [logits], "probabilities", axis=-1)
    elif multilabel:
        proba = graph.node("Sigmoid", [logits], "probabilities")
    else:
        p = graph.node("Sigmoid", [logits])
        proba = graph.node("Concat", [graph.node("Sub", [graph.constant([[1.0]], "one"), p]), p],
                           "probabilities", axis=1)
    outputs: list[Output] = [(graph.rename_output(proba, "probabilities"), graph.elem_type,
                              ["batch", max(n_outputs, 2)])]
    if not labels:
        return outputs
    if multilabel:
        above = graph.node("Greater", ["probabilities", graph.constant(0.5, "half")], "above")
        label = graph.node("Cast", [above], "label", to=graph.elem_type_of(np.int64))
        outputs.append((graph.rename_output(label, "label"), graph.elem_type_of(np.int64), ["batch", n_outputs]))
        return outputs
    classes = np.asarray(estimator.classes_)
    classes = classes.astype(np.int64) if classes.dtype.kind in "iu" else classes.astype(str).astype(object)
    index = graph.node("ArgMax", ["probabilities"], "index", axis=1, keepdims=0)
    label = graph.node("Gather", [graph.constant(classes, "classes", classes.dtype), index], "label", axis=0)
    outputs.append((graph.rename_output(label, "label"), graph.elem_type_of(classes.dtype), ["batch"]))
    return outputs


# --- the export ----------------------------------------------------------------------------

def _network(obj: Any) -> tuple[Sequential, Any]:
    """The network to export and the estimator it belongs to (None for a bare network)."""
    if isinstance(obj, Sequential):
        return obj, None
    if hasattr(obj, "get_params") and hasattr(type(obj), "fit"):
        model = getattr(obj, "model_", None)
        if not isinstance(model, Sequential):
            raise ConfigError(f"this {type(obj).__name__} has no fitted network model_: export_onnx takes an "
                              "ffnn.Sequential or an estimator with one (MLPClassifier, MLPRegressor) after fit")
        return model, obj
    raise ConfigError(f"export_onnx expects an ffnn.Sequential or a fitted ffnn estimator, got {type(obj).__name__}")


def to_onnx(model: Any, *, dtype: Any = None, labels: bool = False) -> onnx.ModelProto:
    """The checked ONNX model of a network or fitted estimator, not written; see :func:`export_onnx`."""
    onnx = _onnx()
    network, estimator = _network(model)
    if network.backend.name != "numpy":      # the graph's constants are host arrays
        network = network.copy().to("numpy")
    dt = check_dtype(dtype if dtype is not None else (network.dtype or np.float32))
    if network.dtype not in (None, dt):
        network = network.astype(dt)
    graph = OnnxGraph(dt)
    meta = network.metadata
    x, x_dtype = "input", dt                # as ffnn.cli.model_predict: features, scaler, the model's dtype
    n_in: int | None = network.in_features
    if meta.get("features"):
        x, x_dtype, n_in = _features(graph, x, meta["features"]), np.dtype(np.float32), 2
    if meta.get("preprocessing"):
        from .data import scaler_from_dict
        scaler = scaler_from_dict(meta["preprocessing"])
        assert scaler.offset_ is not None                    # from_dict returns a fitted scaler
        x = _scaler(graph, x, x_dtype, scaler)
        n_in = n_in or len(scaler.offset_)
    x = _cast(graph, x, x_dtype, dt, "network_input")
    converters = [_converter(layer, i) for i, layer in enumerate(network.layers)]
    for i, (layer, convert) in enumerate(zip(network.layers, converters, strict=True)):
        graph.scope = f"{i}_{type(layer).__name__}/"
        x = convert(layer, graph, x)
    n_out = network.out_features
    classifier = estimator is not None and hasattr(estimator, "classes_")
    if labels and not classifier:
        raise ConfigError(f"labels=True is for classifiers; {type(model).__name__} outputs values")
    if classifier:
        outputs = _classifier_head(graph, x, estimator, n_out, labels)
        doc = "probabilities (batch, n_classes): predict_proba" + ("; label (batch,): predict" if labels else "")
    else:
        outputs = [(graph.rename_output(x, "output"), graph.elem_type, ["batch", n_out or "outputs"])]
        doc = "output (batch, n_outputs): the network's output in evaluation mode"
    helper = onnx.helper
    graph_proto = helper.make_graph(
        graph.nodes, "ffnn", [helper.make_tensor_value_info("input", graph.elem_type, ["batch", n_in or "features"])],
        [helper.make_tensor_value_info(name, elem, shape) for name, elem, shape in outputs], graph.initializers)
    from . import __version__
    proto = helper.make_model(graph_proto, producer_name="ffnn", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)], ir_version=_IR_VERSION,
                              doc_string=f"input (batch, n_features) {dt.name}: the raw features; {doc}")
    helper.set_model_props(proto, {f"ffnn.{key}": json.dumps(meta[key]) for key in _DESCRIBED if meta.get(key)})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, path: str | os.PathLike[str], *, dtype: Any = None, labels: bool = False) -> Path:
    """Write ``model`` (an :class:`ffnn.Sequential` or a fitted estimator) as an ONNX file at ``path``.

    Parameters
    ----------
    model : Sequential or fitted estimator
        A network, or an estimator of :mod:`ffnn.estimators` (its network ``model_``).
    path : str or PathLike
        Where to write; exactly this path, atomically.
    dtype : float32, float64 or None
        The type the graph computes in (None: the model's own).
    labels : bool
        Classifiers only: also output the predicted ``label``.

    Returns
    -------
    Path
        The path written.

    Notes
    -----
    The graph has one input, ``input`` of shape (batch, n_features) in ``dtype``: the *raw*
    features (before the stored feature map and scaler, which the graph applies). The model's
    ``metadata_props`` carry ``ffnn.task``, ``ffnn.n_classes``, ``ffnn.class_names``,
    ``ffnn.output`` and ``ffnn.image_shape`` (JSON) when the metadata has them. Outputs:

    - a network, a regressor: ``output`` (batch, n_outputs), the network's output in
      evaluation mode (for a network trained with cross-entropy, the logits);
    - a classifier: ``probabilities`` (batch, n_classes), its ``predict_proba``, and with
      ``labels=True`` also ``label`` (batch,), its ``predict`` (int64 for integer classes,
      strings otherwise); for multilabel targets ``probabilities`` (batch, n_labels) and
      ``label`` the int64 indicator matrix (batch, n_labels).
    """
    from ._atomic import write_atomic
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {str(target)!r}: the directory {str(target.parent)!r} does not exist")
    data = to_onnx(model, dtype=dtype, labels=labels).SerializeToString()
    try:
        return write_atomic(target, data)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None


def export_command(model_path: str, onnx_path: str, dtype: str | None = None) -> str:
    """``ffnn export MODEL --onnx OUT [--dtype]``: load a model file and export it; returns the
    message to print."""
    from .serialize import load
    model = load(model_path)
    written = export_onnx(model, onnx_path, dtype=dtype)
    return (f"wrote {written} (ONNX opset {OPSET}; input 'input': the raw features in "
            f"{dtype or model.dtype or 'float32'}, any batch size; output 'output')")
