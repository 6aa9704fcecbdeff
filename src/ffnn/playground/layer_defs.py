"""ConvNetJS network definitions (``layer_defs``) read into what ffnn builds.

The digits page takes the text ConvNetJS's MNIST demo shows in its definition box::

    layer_defs = [];
    layer_defs.push({type:'input', out_sx:24, out_sy:24, out_depth:1});
    layer_defs.push({type:'fc', num_neurons:32, activation:'relu'});
    layer_defs.push({type:'softmax', num_classes:10});
    trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:20, l2_decay:0.001});

Each ``{...}`` object literal with a ``type`` is a layer; the object passed to ``SGDTrainer`` (if
any) sets the trainer. The text is never executed: object literals are read with a small
parser (keys bare or quoted; values numbers, quoted strings, true/false).

What ffnn has: ``input`` (24x24x1, the demo's random crops, or 28x28x1, whole images), ``fc``
(``num_neurons``, optional ``activation`` relu/sigmoid/tanh and ``drop_prob``), separate
``relu``/``sigmoid``/``tanh`` layers (the activation of the ``fc`` before them), ``dropout``
(``drop_prob``), and ``softmax`` (``num_classes``; like ConvNetJS, it brings its own fully
connected layer). ``conv``/``pool`` are refused with "ffnn is fully connected: replace it with
fc"; ``svm``/``regression`` and anything else are refused naming what is supported.

ffnn's recipe has one dropout rate, applied after every hidden layer: a definition whose
dropout differs between hidden layers is refused with that explanation.

>>> spec = parse(DEFAULT)
>>> spec.input_side, spec.hidden, spec.activations, spec.optimizer, spec.batch_size
(24, [32], ['relu'], 'adadelta', 20)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .params import ParamError

__all__ = ["DEFAULT", "NetworkSpec", "parse", "SUPPORTED", "MAX_HIDDEN_LAYERS", "MAX_NEURONS"]

DEFAULT = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:24, out_sy:24, out_depth:1});
layer_defs.push({type:'fc', num_neurons:32, activation:'relu'});
layer_defs.push({type:'softmax', num_classes:10});

net = new convnetjs.Net();
net.makeLayers(layer_defs);

trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:20, l2_decay:0.001});
"""
"""The lecture's network: the demo's with its convolutions replaced by one fc layer of 32 ReLUs."""

SUPPORTED = ("input", "fc", "relu", "sigmoid", "tanh", "dropout", "softmax")
ACTIVATIONS = ("relu", "sigmoid", "tanh")
INPUT_SIDES = (24, 28)
MAX_HIDDEN_LAYERS = 4
MAX_NEURONS = 1024
MAX_TEXT = 10_000
# ConvNetJS trainer methods and their ffnn optimizer ('sgd' becomes 'momentum' with momentum > 0)
METHODS = {"sgd": "sgd", "adadelta": "adadelta", "adagrad": "adagrad", "nesterov": "nesterov", "adam": "adam"}

_OBJECT = re.compile(r"\{[^{}]*\}")
_KEY = r"""\s*(?:(\w+)|'([^']*)'|"([^"]*)")\s*:\s*"""                                  # bare or quoted
_VALUE = r"""('[^']*'|"[^"]*"|[-+]?[\d.]+(?:[eE][-+]?\d+)?|true|false)\s*"""                # string, number, bool
_PAIR = re.compile(_KEY + _VALUE)


@dataclass
class NetworkSpec:
    """A definition as ffnn builds it: input side, hidden sizes and activations, one dropout
    rate, the number of classes, and the trainer options the text set (None: not given)."""

    input_side: int
    hidden: list[int]
    activations: list[str]
    dropout: float
    n_classes: int
    optimizer: str | None = None
    lr: float | None = None
    momentum: float | None = None
    batch_size: int | None = None
    weight_decay: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def crop(self) -> bool:
        """Whether the input is a 24x24 crop of the 28x28 images."""
        return self.input_side == 24

    def trainer_options(self) -> dict[str, Any]:
        """The trainer options the definition gave, as playground settings."""
        given = {"optimizer": self.optimizer, "lr": self.lr, "momentum": self.momentum,
                 "batch_size": self.batch_size, "l2_decay": self.weight_decay}
        return {k: v for k, v in given.items() if v is not None}


def _value(token: str) -> Any:
    if token[0] in "'\"":
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"
    try:
        return float(token) if any(ch in token for ch in ".eE") else int(token)
    except ValueError:
        raise ParamError(f"network definition: {token!r} is not a number") from None


def _object(text: str) -> dict[str, Any]:
    """The keys and values of one object literal ``{a:1, b:'x'}``."""
    body = text.strip()[1:-1].strip().rstrip(",")
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in body.split(","))) if body else ():
        m = _PAIR.fullmatch(part)
        if m is None:
            raise ParamError(f"network definition: cannot read {part!r} in {text.strip()}; expected "
                             "key:value with a number, a quoted string, true or false")
        key = m.group(1) or m.group(2) or m.group(3) or ""
        out[key] = _value(m.group(4))
    return out


def _int(layer: dict[str, Any], key: str, low: int, high: int) -> int:
    value = layer.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParamError(f"network definition: {layer.get('type')} layer needs {key} an integer in "
                         f"[{low}, {high}], got {value!r}")
    return value


def _prob(layer: dict[str, Any]) -> float:
    value = layer.get("drop_prob", 0.5 if layer.get("type") == "dropout" else 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ParamError(f"network definition: drop_prob must be a number in [0, 1), got {value!r}")
    return float(value)


def _check_type(kind: Any) -> str:
    if kind in ("conv", "pool"):
        raise ParamError(f"network definition: layer type '{kind}': ffnn is fully connected: replace it with fc")
    if kind not in SUPPORTED:
        raise ParamError(f"network definition: layer type {kind!r} is not supported; ffnn supports "
                         f"{', '.join(SUPPORTED)} (the output layer is softmax)")
    return str(kind)


def _trainer(options: dict[str, Any], spec: NetworkSpec) -> None:
    method = options.get("method", "sgd")
    if method not in METHODS:
        raise ParamError(f"network definition: trainer method {method!r} is not supported; use one of "
                         f"{', '.join(METHODS)}")
    momentum = options.get("momentum")
    for key in ("learning_rate", "momentum", "l2_decay"):
        v = options.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise ParamError(f"network definition: trainer {key} must be a number >= 0, got {v!r}")
    optimizer = METHODS[method]
    if optimizer == "sgd" and (momentum is None or momentum > 0):
        optimizer = "momentum"     # ConvNetJS's sgd has momentum 0.9 unless told otherwise
    spec.optimizer = optimizer
    spec.lr = None if options.get("learning_rate") is None else float(options["learning_rate"])
    spec.momentum = None if momentum is None else float(momentum)
    if "batch_size" in options:
        spec.batch_size = _int({"type": "trainer", **options}, "batch_size", 1, 1000)
    spec.weight_decay = None if options.get("l2_decay") is None else float(options["l2_decay"])


def parse(text: str) -> NetworkSpec:
    """Read a ConvNetJS definition; raises :class:`ParamError` naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ParamError("network definition: expected the layer_defs text, got nothing")
    if len(text) > MAX_TEXT:
        raise ParamError(f"network definition: at most {MAX_TEXT} characters, got {len(text)}")
    layers, trainer = [], None
    for m in _OBJECT.finditer(text):
        obj = _object(m.group(0))
        if "type" in obj:
            layers.append(obj)
        elif "SGDTrainer" in text[max(0, m.start() - 80):m.start()]:
            trainer = obj
    if not layers:
        raise ParamError("network definition: no layers found; expected layer_defs.push({type:'input', ...}) "
                         "lines as in the example")
    kinds = [_check_type(layer["type"]) for layer in layers]
    if kinds[0] != "input":
        raise ParamError(f"network definition: the first layer must be input, got {kinds[0]}")
    if kinds[-1] != "softmax" or kinds.count("softmax") != 1 or kinds.count("input") != 1:
        raise ParamError("network definition: expected one input layer first and one softmax layer last")
    first = layers[0]
    side = first.get("out_sx")
    if side not in INPUT_SIDES or first.get("out_sy", side) != side or first.get("out_depth", 1) != 1:
        raise ParamError(f"network definition: the input must be 24x24x1 (random crops of the 28x28 images) or "
                         f"28x28x1, got {first.get('out_sx')}x{first.get('out_sy')}x{first.get('out_depth')}")
    hidden: list[int] = []
    acts: list[str | None] = []
    drops: list[float] = []
    for layer, kind in zip(layers[1:-1], kinds[1:-1], strict=True):
        if kind == "fc":
            hidden.append(_int(layer, "num_neurons", 1, MAX_NEURONS))
            act = layer.get("activation")
            if act is not None and act not in ACTIVATIONS:
                raise ParamError(f"network definition: fc activation {act!r} is not supported; use one of "
                                 f"{', '.join(ACTIVATIONS)}")
            acts.append(act)
            drops.append(_prob(layer))
        elif not hidden:
            raise ParamError(f"network definition: a {kind} layer must follow an fc layer")
        elif kind == "dropout":
            drops[-1] = _prob(layer)
        else:
            if acts[-1] is not None:
                raise ParamError(f"network definition: the fc layer before the {kind} layer already has "
                                 f"activation {acts[-1]!r}; give one activation per fc layer")
            acts[-1] = kind
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise ParamError(f"network definition: at most {MAX_HIDDEN_LAYERS} fc layers, got {len(hidden)}")
    if len(set(drops)) > 1:
        raise ParamError("network definition: ffnn applies one dropout rate after every hidden layer; give "
                         f"every fc layer the same drop_prob (got {', '.join(f'{d:g}' for d in drops)})")
    n_classes = _int(layers[-1], "num_classes", 2, 10)
    spec = NetworkSpec(int(side), hidden, [a or "identity" for a in acts], drops[0] if drops else 0.0, n_classes)
    if any(a is None for a in acts):
        spec.notes.append("an fc layer without activation is linear (identity)")
    if trainer is not None:
        _trainer(trainer, spec)
    return spec
