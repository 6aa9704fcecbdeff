"""The digits page: ConvNetJS's MNIST demo with its convolutions replaced by fc layers, on ffnn.

A :class:`DigitsSession` is a playground :class:`~ffnn.playground.session.Session` (same
controls, training thread, time slices, streaming and registry) whose data are 28x28 digit
images and whose network comes from a ConvNetJS definition (:mod:`.layer_defs`). Its run is a
:class:`~ffnn.recipe.Recipe` prepared by the shared pipeline and trained by the engine.

Crops: with a 24x24 input layer the network sees ``24 x 24`` windows of the images. Training
draws a new random window per image each epoch (``augment``; off: the centre window), and
evaluation averages the softmax outputs of the four windows of
:data:`~ffnn.data.digits.TEST_OFFSETS` (``test_crops``; off: the centre window). Those windows
are cut here, between epochs, and handed to the engine as the epoch's training matrix (the
engine's per-batch ``augment`` hook, :mod:`ffnn.augment`, keeps a batch's shape, and a crop
changes it from 784 to 576 features). ``ffnn train`` has no crop option, so the exported
command trains the same layers on whole images, with ``--shift 2`` for random windows (its
comment says so).

A frame has the training statistics (forward and backward time per example, the
classification loss over the last batches, the L2 weight-decay loss ``lambda/2 sum w^2``,
training and validation accuracy, examples seen), a curve point, and, about once a second, the
views: each layer's activations and gradients for one training example, the first layer's
weights as images, test images with their top-3 classes, and the confusion matrix over the
validation images (the data set's test split).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import tempfile
import time
from collections import deque
from functools import cache
from typing import Any

import numpy as np

from .. import catalog
from ..callbacks import Callback
from ..data.digits import SIZE, TEST_OFFSETS, crops, mnist_style
from ..errors import FfnnError
from ..recipe import Recipe
from ..train import Trainer
from . import layer_defs
from .params import ParamError
from .session import HISTORY_CAP, Session, _archive_bytes

__all__ = ["DigitsSession", "DEFAULTS", "datasets", "options", "validate"]

DEFAULTS: dict[str, Any] = {
    "dataset": "mnist-5k", "network": layer_defs.DEFAULT, "optimizer": "adadelta", "lr": None,
    "momentum": 0.9, "batch_size": 20, "l2_decay": 0.001, "augment": True, "test_crops": True, "seed": 0,
}
LIVE = ("optimizer", "lr", "momentum", "batch_size", "l2_decay", "augment", "test_crops")
"""Settings applied to the running network; the others rebuild it."""
VIEW_INTERVAL = 1.0        # seconds between the heavy views (accuracies, layers, grid, confusion)
TEST_GRID = 40             # test images shown with their top-3 classes
TRAIN_SAMPLE = 1000        # training images whose accuracy is reported
LOSS_WINDOW = 100          # batches the reported loss is averaged over
MAX_DRAWING = 512          # the largest canvas side accepted by classify
SHIFT = (SIZE - 24) // 2   # the random shift of the exported command equivalent to random 24x24 crops
MAX_MODEL_BYTES = 20_000_000


@cache
def datasets() -> tuple[str, ...]:
    """The image sets the page offers: mnist-5k (shipped), and MNIST / Fashion-MNIST when their
    files are already present (Debian's package, or ``ffnn data download``); nothing is fetched."""
    from ..data import mnist
    return ("mnist-5k", *[name for name in ("mnist", "fashion-mnist") if all(mnist.locate(name)[0])])


@cache
def _load(name: str) -> Any:
    from .. import data
    return data.load(name, seed=0)


def options() -> dict[str, Any]:
    """Choices and defaults for the page."""
    return {"datasets": list(datasets()), "optimizers": list(catalog.OPTIMIZERS.names()),
            "labels": {e.name: e.extra.get("label", e.name) for e in catalog.OPTIMIZERS.entries()},
            "default_lr": {e.name: e.default_lr for e in catalog.OPTIMIZERS.entries()},
            "defaults": DEFAULTS, "supported_layers": list(layer_defs.SUPPORTED)}


def _number(key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ParamError(f"{key}: expected a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def validate(update: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """``current`` (default :data:`DEFAULTS`) with the keys of ``update`` checked and applied; a
    ``network`` definition's trainer line applies to the trainer keys ``update`` leaves out."""
    if not isinstance(update, dict):
        raise ParamError(f"settings: expected a JSON object, got {type(update).__name__}")
    unknown = sorted(set(update) - set(DEFAULTS))
    if unknown:
        raise ParamError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    c = dict(current or DEFAULTS)
    if isinstance(update.get("network"), str):
        # the definition's trainer line sets what the update itself does not (a method without a
        # learning rate gets its default one)
        given = layer_defs.parse(update["network"]).trainer_options()
        if "optimizer" in given:
            given.setdefault("lr", None)
        update = {**{k: v for k, v in given.items() if k not in update}, **update}
    for key, value in update.items():
        if key == "dataset" and value not in datasets():
            raise ParamError(f"dataset: expected one of {', '.join(datasets())}, got {value!r}")
        if key == "network":
            layer_defs.parse(value)
        if key == "optimizer" and value not in catalog.OPTIMIZERS.names():
            raise ParamError(f"optimizer: expected one of {', '.join(catalog.OPTIMIZERS.names())}, got {value!r}")
        if key == "lr" and value is not None:
            value = _number(key, value, 1e-6, 100.0)
        if key == "momentum":
            value = _number(key, value, 0.0, 0.99)
        if key == "l2_decay":
            value = _number(key, value, 0.0, 1.0)
        if key in ("batch_size", "seed"):
            low, high = (1, 1000) if key == "batch_size" else (0, 2**31 - 1)
            value = int(_number(key, value, low, high))
        if key in ("augment", "test_crops") and not isinstance(value, bool):
            raise ParamError(f"{key}: expected true or false, got {value!r}")
        c[key] = value
    if catalog.OPTIMIZERS.entry(c["optimizer"]).extra.get("momentum") and c["momentum"] <= 0:
        raise ParamError(f"optimizer {c['optimizer']!r} needs momentum > 0, got {c['momentum']:g}")
    return c


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _bytes01(v: np.ndarray) -> str:
    """Values in [0, 1] as base64 bytes 0..255."""
    return _b64(np.round(np.clip(np.nan_to_num(v), 0.0, 1.0) * 255).astype(np.uint8))


def _signed(v: np.ndarray) -> tuple[str, float]:
    """Values as int8 ``round(127 v / max|v|)`` (base64) and that scale."""
    v = np.nan_to_num(np.asarray(v, dtype=np.float64))
    scale = float(np.abs(v).max()) or 1.0
    return _b64(np.round(v / scale * 127).astype(np.int8)), scale


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _Crops(Callback):
    """New training windows when an epoch ends, and the last batches' losses."""

    def __init__(self, session: DigitsSession) -> None:
        self.session = session

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.session.losses.append(logs["loss"])

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.session._new_windows()


class DigitsSession(Session):
    """A digits-page session: image data, a network from a ConvNetJS definition, the views."""

    train_budget = 0.25
    frame_interval = 0.3

    # ------------------------------------------------------------------ building
    def _initial_config(self, config: dict[str, Any] | None) -> dict[str, Any]:
        return validate(config or {})

    @property
    def task(self) -> str:
        return "classification"

    def recipe(self) -> Recipe:
        """The run recipe of the settings (``epochs``: the epochs trained so far, at least 1)."""
        c, spec = self.config, self.spec
        return Recipe(data=c["dataset"], preprocess="none", hidden=",".join(map(str, spec.hidden)) or "0",
                      activation=",".join(spec.activations) if spec.hidden else "relu", dropout=spec.dropout,
                      loss="ce", optimizer=c["optimizer"], lr=c["lr"], momentum=c["momentum"],
                      weight_decay=c["l2_decay"], batch_size=c["batch_size"], val_fraction=0.0, seed=c["seed"],
                      epochs=max(self.epoch, 1))

    def _build(self) -> None:
        """(Re)build the network and engine from the settings; epoch 0."""
        c = self.config
        self.spec = layer_defs.parse(c["network"])
        self.epoch = 0
        images = _load(c["dataset"])
        if self.spec.n_classes != images.n_classes:
            raise ParamError(f"network definition: softmax num_classes is {self.spec.n_classes}, but "
                             f"{c['dataset']} has {images.n_classes} classes")
        self.images = images
        side = self.spec.input_side
        centre = np.array([(SIZE - side) // 2] * 2)
        # the recipe's data set: what the network sees (the centre window when cropping)
        shown = images if not self.spec.crop else dataclasses.replace(
            images, X_train=crops(images.X_train, side, centre), X_test=crops(images.X_test, side, centre),
            image_shape=(side, side))
        self.run = self.recipe().prepare(shown, source="ffnn playground digits")
        self.model, self.loss = self.run.model, self.run.loss
        self.rng = np.random.default_rng(c["seed"])
        self.y_train, self.y_test = images.y_train, images.y_test
        self.T_train = self.run.y_train
        self.F_test = images.X_test
        self.sample = self.rng.choice(len(images.X_train), min(TRAIN_SAMPLE, len(images.X_train)), replace=False)
        self.losses: deque[float] = deque(maxlen=LOSS_WINDOW)
        self._new_windows()
        self.trainer = self._trainer()
        self.history: list[list[float | None]] = []
        self.status = "paused" if not self.running else "running"
        self.error: str | None = None
        self.views: dict[str, Any] = {}
        self.accuracy: tuple[float | None, float | None] = (None, None)
        self._views_at = -math.inf
        self._publish()

    def _trainer(self) -> Trainer:
        return self.run.trainer(callbacks=[_Crops(self)])

    def _new_windows(self) -> None:
        """The next epoch's training matrix: a random window per image (``augment``), the centre
        window, or the whole images."""
        X = self.images.X_train
        side = self.spec.input_side
        if not self.spec.crop:
            self.F_train = X
        elif self.config["augment"]:
            self.F_train = crops(X, side, self.rng.integers(0, SIZE - side + 1, size=(len(X), 2)))
        else:
            self.F_train = crops(X, side, np.array([(SIZE - side) // 2] * 2))

    # ------------------------------------------------------------------ controls
    def update_config(self, update: dict[str, Any]) -> bool:
        """Apply settings: live ones to the running network, the others rebuild it."""
        with self.lock:
            new = validate(update, self.config)
            changed = self._apply_config(new, set(new) - set(LIVE))
            if changed is None:
                return True
            if changed & {"optimizer", "lr", "momentum", "batch_size", "l2_decay"}:
                self._build_optimizer()
            if "augment" in changed:
                self._new_windows()
            if changed:
                self._views_at = -math.inf
                self._publish()
            return False

    def set_upload(self, text: str, filename: str | None = None) -> None:
        raise ParamError("the digits page takes no CSV upload; load a model file instead")

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise ParamError("a digits session classifies drawings: POST /api/digits/sessions/{id}/classify")

    # ------------------------------------------------------------------ evaluation
    def _outputs(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (evaluation mode) of 28x28 images ``X`` (n, 784): the average of the
        test windows' softmax outputs (``test_crops``), the centre window's, or the whole image's."""
        side = self.spec.input_side
        if not self.spec.crop:
            return _softmax(self.model.predict(X))
        offsets = TEST_OFFSETS if self.config["test_crops"] else (((SIZE - side) // 2,) * 2,)
        return np.mean([_softmax(self.model.predict(crops(X, side, np.array(o)))) for o in offsets], axis=0)

    def _l2_loss(self) -> float:
        lam = self.config["l2_decay"]
        return float(sum(0.5 * lam * np.sum(p.value.astype(np.float64) ** 2)
                         for p in self.model.parameters() if p.decay))

    def _timings(self) -> tuple[float, float]:
        """Seconds per example of a forward and a backward pass over one batch of the settings' size."""
        bs = min(self.config["batch_size"], len(self.F_train))
        idx = self.rng.choice(len(self.F_train), bs, replace=False)
        x, t = self.F_train[idx], self.T_train[idx]
        t0 = time.perf_counter()
        out = self.model.forward(x)
        self.loss.forward(out, t)
        t1 = time.perf_counter()
        self.model.backward(self.loss.backward(), input_grad=False)
        t2 = time.perf_counter()
        return (t1 - t0) / bs, (t2 - t1) / bs

    def _layer_views(self) -> list[dict[str, Any]]:
        """Each layer's activations and gradients (dE/d output) for one training example."""
        i = int(self.rng.integers(len(self.F_train)))
        x, t = self.F_train[i:i + 1], self.T_train[i:i + 1]
        side = self.spec.input_side
        acts = [x]
        for layer in self.model.layers:
            acts.append(layer.forward(acts[-1]))
        self.loss.forward(acts[-1], t)
        grads: list[Any] = [self.loss.backward()]
        for layer in reversed(self.model.layers):
            grads.append(layer.backward(grads[-1]))
        grads.reverse()
        probs = _softmax(acts[-1])[0]
        sizes = [0, *(sum(int(p.value.size) for p in layer.parameters()) for layer in self.model.layers), 0]
        names = ["input"] + [type(layer).__name__ for layer in self.model.layers] + ["softmax"]
        views = []
        for k, name in enumerate(names):
            a = probs if name == "softmax" else acts[k][0]
            g = grads[k][0] if k < len(grads) else None
            data, scale = _signed(a)
            views.append({"name": name, "n": int(a.size), "side": side if k == 0 else None, "params": sizes[k],
                          "data": data, "scale": scale, "min": float(a.min()), "max": float(a.max()),
                          "grad_min": None if g is None else float(g.min()),
                          "grad_max": None if g is None else float(g.max())})
        views[0]["label"] = int(self.y_train[i])
        return views

    def _weights_view(self) -> dict[str, Any]:
        """The first layer's weights, one image per neuron (the first 64), each scaled by its max |w|."""
        layer = next(layer for layer in self.model.layers if hasattr(layer, "weight"))
        W = np.asarray(layer.weight.value[:64], dtype=np.float64)
        W = W / np.maximum(np.abs(W).max(axis=1, keepdims=True), 1e-12)
        return {"side": self.spec.input_side, "n": int(len(W)), "total": int(layer.weight.value.shape[0]),
                "data": _b64(np.round(W * 127).astype(np.int8))}

    def _heavy_views(self) -> None:
        """Accuracies, layers, weights, test grid and confusion matrix (about once a second)."""
        P_val = self._outputs(self.F_test)
        pred_val = P_val.argmax(axis=1)
        val_acc = float(np.mean(pred_val == self.y_test))
        P_tr = self._outputs(self.images.X_train[self.sample])
        train_acc = float(np.mean(P_tr.argmax(axis=1) == self.y_train[self.sample]))
        k = self.images.n_classes
        confusion = np.bincount(self.y_test * k + pred_val, minlength=k * k).reshape(k, k)
        grid = self.rng.choice(len(self.F_test), min(TEST_GRID, len(self.F_test)), replace=False)
        top3 = np.argsort(-P_val[grid], axis=1)[:, :3]
        fwd, bwd = self._timings()
        self.accuracy = (train_acc, val_acc)
        self.views = {
            "layers": self._layer_views(), "weights": self._weights_view(),
            "grid": {"images": _bytes01(self.F_test[grid]), "labels": self.y_test[grid].tolist(),
                     "top3": top3.tolist(), "probs": np.round(np.take_along_axis(P_val[grid], top3, 1), 3).tolist()},
            "confusion": confusion.tolist(), "forward_s": fwd, "backward_s": bwd,
        }

    def _publish(self) -> None:
        """The latest frame: statistics every time, the views when a second has passed."""
        now = time.monotonic()
        with np.errstate(all="ignore"):
            if now - self._views_at >= VIEW_INTERVAL or not self.running:
                self._views_at = now
                self.model.eval()
                try:
                    self._heavy_views()
                finally:
                    self.model.train()
        n = len(self.F_train)
        seen = self.trainer.epoch * n + self._pos
        loss = float(np.mean(self.losses)) if self.losses else None
        train_acc, val_acc = self.accuracy
        point = [seen, loss, train_acc, val_acc]
        if not self.history or self.history[-1][0] != seen:
            self.history.append(point)
            if len(self.history) > HISTORY_CAP:
                self.history = self.history[::2]
        seq = self.seq + 1
        stats = {"examples_seen": seen, "epoch": self.epoch, "loss": loss, "l2_loss": self._l2_loss(),
                 "train_acc": train_acc, "val_acc": val_acc,
                 "forward_ms": 1000 * self.views.get("forward_s", 0.0),
                 "backward_ms": 1000 * self.views.get("backward_s", 0.0)}
        self.frame = {"type": "digits", "seq": seq, "status": self.status, "error": self.error, "stats": stats,
                      "point": point, "views": self.views}
        self.frame_json = json.dumps(self.frame, separators=(",", ":"))
        self.seq = seq

    # ------------------------------------------------------------------ views
    def state(self) -> dict[str, Any]:
        """Everything the page needs to (re)draw."""
        with self.lock:
            return {"id": self.id, "config": self.config, "status": self.status, "error": self.error,
                    "history": self.history, "frame": self.frame, "command": self.command(),
                    "num_parameters": self.model.num_parameters(), "input_side": self.spec.input_side,
                    "class_names": list(self.images.class_names or range(self.images.n_classes)),
                    "notes": self.spec.notes, "options": options()}

    def classify(self, drawing: Any) -> dict[str, Any]:
        """Class probabilities of a drawing (a grey image, any size up to :data:`MAX_DRAWING`),
        normalised as MNIST's digits were (:func:`ffnn.data.digits.mnist_style`)."""
        try:
            image = np.asarray(drawing, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParamError("classify expects {\"image\": [[grey, ...], ...]} with numbers") from None
        if image.ndim != 2 or min(image.shape) < 1 or max(image.shape) > MAX_DRAWING or not np.isfinite(image).all():
            raise ParamError(f"classify expects a 2-D image of finite grey levels, at most {MAX_DRAWING} "
                             f"pixels a side, got shape {image.shape}")
        x = mnist_style(image)
        with self.lock, np.errstate(all="ignore"):
            p = self._outputs(x.reshape(1, -1).astype(np.float32))[0]
        return {"probabilities": np.round(p, 4).tolist(), "prediction": int(p.argmax()),
                "image": _bytes01(x), "class_names": list(self.images.class_names or range(len(p)))}

    # ------------------------------------------------------------------ export
    def command(self) -> str:
        """The nearest ``ffnn train`` command: ``ffnn train`` cuts no crops, so with a 24x24 input it
        trains the same layers on whole 28x28 images, with random shifts of up to 2 pixels
        (``--shift 2``: a random 24x24 window is the centre one of an image shifted by -2..2)
        when the page trains on random windows."""
        if not self.spec.crop:
            return self.recipe().to_command()
        shift = SHIFT if self.config["augment"] else 0
        return (self.recipe().replace(shift=shift).to_command()
                + "  # the page's 24x24 crops have no ffnn train option: this trains the same layers on whole "
                + "28x28 images" + (f", shifted by up to {SHIFT} pixels" if shift else ""))

    def export_bytes(self) -> bytes:
        """The network as an ffnn model file with the run's metadata and its definition."""
        from ..recipe import run_metadata
        from ..serialize import describe_model
        with self.lock:
            model = self.model.copy()
            extra: dict[str, Any] = {"epoch": self.epoch, "command": self.command(), "network": self.config["network"],
                                     "config": self.config}
            if self.spec.crop:
                extra["crop"] = {"size": self.spec.input_side, "of": [SIZE, SIZE],
                                 "test_offsets": [list(o) for o in TEST_OFFSETS]}
            model.metadata = run_metadata(self.recipe(), self.run.dataset, self.loss, None,
                                          source="ffnn playground digits", extra=extra)
        header, arrays = describe_model(model)
        return _archive_bytes(header, arrays)

    def load_model(self, data: bytes) -> None:
        """Continue from a model file saved by this page: its definition, settings and weights."""
        from ..serialize import load
        if len(data) > MAX_MODEL_BYTES:
            raise ParamError(f"model file: at most {MAX_MODEL_BYTES} bytes, got {len(data)}")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.ffnn")
            with open(path, "wb") as f:
                f.write(data)
            try:
                model = load(path)
            except FfnnError as exc:
                raise ParamError(f"model file: {exc}") from None
        config = model.metadata.get("config")
        if not isinstance(config, dict) or "network" not in config:
            raise ParamError("model file: not saved by the digits page (its metadata has no network "
                             "definition); save one with the page's Save button")
        with self.lock:
            old = self.config
            self.config = validate({k: v for k, v in config.items() if k in DEFAULTS}, DEFAULTS)
            try:
                self._build()
                self.model.load_state(model.state())
            except FfnnError as exc:
                self.config = old
                self._build()
                raise ParamError(f"model file: {exc}") from None
            self._views_at = -math.inf
            self._publish()


def routes(manager: Any, api: Any, read_json: Any, read_body: Any, static: Any) -> list[Any]:
    """The digits page's routes (the session actions, frames, stream, export and command are the
    playground's own ``/api/sessions/{id}/...`` routes)::

        GET  /digits                                 the page
        GET  /api/digits/options                     data sets, optimizers, defaults
        POST /api/digits/sessions                    create a digits session (JSON settings) -> 201 state
        POST /api/digits/sessions/{id}/classify      {"image": [[grey, ...], ...]} -> probabilities
        POST /api/digits/sessions/{id}/load          a model file saved by the page -> state
    """
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Route

    def session_of(request: Any) -> DigitsSession:
        session = manager.get(request.path_params["sid"])
        if not isinstance(session, DigitsSession):
            raise ParamError("this session belongs to the 2-D page; the digits page makes its own")
        return session

    async def page(request: Any) -> Any:
        return FileResponse(static / "digits.html", headers={"Cache-Control": "no-cache"})

    async def get_options(request: Any) -> Any:
        return JSONResponse(await run_in_threadpool(options))

    async def create(request: Any) -> Any:
        config = await read_json(request)
        session = await run_in_threadpool(manager.create, config, DigitsSession)
        return JSONResponse(await run_in_threadpool(session.state), status_code=201)

    async def classify(request: Any) -> Any:
        session = session_of(request)
        body = await read_json(request)
        if not isinstance(body, dict) or "image" not in body:
            raise ParamError("classify expects {\"image\": [[grey, ...], ...]}")
        return JSONResponse(await run_in_threadpool(session.classify, body["image"]))

    async def load_model(request: Any) -> Any:
        session = session_of(request)
        data = await read_body(request, MAX_MODEL_BYTES)
        await run_in_threadpool(session.load_model, data)
        return JSONResponse(await run_in_threadpool(session.state))

    sid = "/api/digits/sessions/{sid}"
    return [Route("/digits", page), Route("/api/digits/options", api(get_options)),
            Route("/api/digits/sessions", api(create), methods=["POST"]),
            Route(sid + "/classify", api(classify), methods=["POST"]),
            Route(sid + "/load", api(load_model), methods=["POST"])]
