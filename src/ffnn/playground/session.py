"""Training sessions: data, network, one training epoch, frames and the session registry.

A :class:`Session` owns one data set, one :class:`ffnn.Sequential` network, its loss and
optimizer, and a background thread that trains while the session is playing. Everything
numeric is ffnn: the page only displays what a session publishes.

A session's settings become a run :class:`~ffnn.recipe.Recipe` (its "export" is that
recipe's ``ffnn train`` command), built by the same pipeline as ``ffnn train`` and trained by
the same engine (:class:`ffnn.Trainer`), in time slices: ``run_epoch(..., deadline=...)``
pauses mid-epoch when a frame is due and continues the epoch at the next call. L1
regularization is the engine's :class:`~ffnn.callbacks.L1Penalty` callback; L2 is the
optimizer's weight decay. The same settings and seed give the same weights as the exported
command, bit for bit.

A *frame* is what the page draws: losses and accuracies, the output over a 100 x 100 grid
of the input square, each hidden neuron's activation over a coarser sub-grid, and the
weights. The grid goes through the network in one batched forward pass per frame. Grid
values in [-1, 1] are quantized to bytes ``q = round((v + 1) * 127.5)`` and weights to
int8 ``round(127 w / max|w|)``, both base64-encoded, so frames stay small.
"""

from __future__ import annotations

import base64
import json
import math
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from .. import catalog
from .._math import sigmoid
from ..callbacks import L1Penalty
from ..data.features import plane_features
from ..errors import FfnnError, TrainingDivergedError
from ..recipe import Recipe
from ..train import Trainer, evaluate
from .params import RESET_KEYS, ParamError, parse_csv, task_of, validate_config

__all__ = ["Session", "SessionManager", "SessionNotFound", "GRID"]

GRID = 100                # output heatmap resolution (GRID x GRID)
NEURON_BUDGET = 40_000    # most neuron-heatmap cells per frame (all neurons together)
FRAME_INTERVAL = 0.05     # seconds: at most 20 frames/s
TRAIN_BUDGET = 0.04       # seconds of training per frame, then a frame is published
MAX_EPOCHS_PER_FRAME = 25
HISTORY_CAP = 1000        # curve points kept; older ones are thinned out by half
ABANDON_AFTER = 30.0      # seconds without a stream or request before a running session pauses
TOY_DOMAIN = (-6.0, 6.0)  # the playground's input square


class SessionNotFound(KeyError):
    """No session with that id (never created, deleted or expired)."""


class SessionLimitReached(ParamError):
    """Every session slot is in use (the server answers 429)."""




def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _quantize(v: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] (clipped; NaN -> 0) to uint8 0..255."""
    v = np.nan_to_num(np.clip(v, -1.0, 1.0), nan=0.0)
    return np.round((v + 1.0) * 127.5).astype(np.uint8)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


class Session:
    """One playground session: configuration, data, network, training thread, frames."""

    train_budget = TRAIN_BUDGET       # seconds of training per frame (a subclass may train longer)
    frame_interval = FRAME_INTERVAL

    def __init__(self, sid: str, config: dict[str, Any] | None = None) -> None:
        self.id = sid
        self.lock = threading.RLock()
        self.upload: dict[str, Any] | None = None
        self.config = self._initial_config(config)
        self.created = self.last_seen = time.monotonic()
        self.streams = 0
        self.running = False
        self.closed = False
        self._thread: threading.Thread | None = None
        self.seq = 0
        self.frame_json = "{}"
        self._build()

    # ------------------------------------------------------------------ building
    def _initial_config(self, config: dict[str, Any] | None) -> dict[str, Any]:
        """The checked settings of a new session (a subclass, the digits page's, has its own)."""
        checked = validate_config(config)
        if checked["dataset"] == "upload":
            raise ParamError("dataset 'upload' needs an uploaded CSV; create the session with "
                             "another data set, then POST the CSV to /api/sessions/{id}/upload")
        return checked

    @property
    def task(self) -> str:
        return task_of(self.config["dataset"], self.upload["task"] if self.upload else None)

    def recipe(self) -> Recipe:
        """The run recipe of the current settings (``epochs``: the epochs trained so far, at least 1)."""
        c = self.config
        upload = c["dataset"] == "upload"
        data = (self.upload["name"] if self.upload else "data.csv") if upload else c["dataset"]
        features = ",".join(c["features"])
        return Recipe(data=data, n=None if upload else c["n"], noise=None if upload or not c["noise"] else c["noise"],
                      test_fraction=c["test_fraction"], features=features, preprocess="none",
                      hidden=",".join(map(str, c["hidden"])) or "0", activation=c["activation"],
                      dropout=c["dropout"], init="xavier", loss=c["loss"], optimizer=c["optimizer"], lr=c["lr"],
                      momentum=c["momentum"], weight_decay=c["reg_rate"] if c["regularization"] == "l2" else 0.0,
                      batch_size=c["batch_size"], val_fraction=0.0, seed=c["seed"], epochs=max(self.epoch, 1))

    def _upload_dataset(self) -> Any:
        """The uploaded points as a data set, split as ``ffnn train`` splits a CSV file."""
        from ..data import Dataset
        from ..sampling import train_test_split
        c, up = self.config, self.upload
        assert up is not None  # checked by the callers
        stratify = up["y"] if up["task"] == "classification" else None
        train, test = train_test_split(len(up["X"]), c["test_fraction"], seed=c["seed"], stratify=stratify)
        if len(train) == 0 or len(test) == 0:
            raise ParamError(f"the uploaded {len(up['X'])} points cannot be split into a "
                             f"non-empty train and test part with test_fraction {c['test_fraction']}")
        classes = 2 if up["task"] == "classification" else None
        return Dataset(up["name"], up["X"][train], up["y"][train], up["X"][test], up["y"][test], up["task"], classes,
                       class_names=up["class_names"])

    def _build(self) -> None:
        """(Re)build data, network, loss, optimizer and engine from the settings; epoch 0."""
        c = self.config
        self.epoch = 0
        run = self.recipe().prepare(self._upload_dataset() if c["dataset"] == "upload" else None,
                                    source="ffnn playground")
        ds = run.dataset
        if c["dataset"] == "upload":
            up = self.upload
            assert up is not None
            lo = np.minimum(up["X"].min(axis=0), 0.0)
            hi = np.maximum(up["X"].max(axis=0), 0.0)
            half = float(max(np.max(hi - lo) / 2, 1e-3)) * 1.1
            cx, cy = (lo + hi) / 2
            self.domain = [float(cx - half), float(cx + half), float(cy - half), float(cy + half)]
        else:
            self.domain = [TOY_DOMAIN[0], TOY_DOMAIN[1], TOY_DOMAIN[0], TOY_DOMAIN[1]]
        # the points drawn on the page, and what the network sees of them (their features)
        self.X_train = run.raw_X_train if run.raw_X_train is not None else ds.X_train
        self.X_test = run.raw_X_test if run.raw_X_test is not None else ds.X_test
        self.y_train, self.y_test = ds.y_train, ds.y_test
        self.F_train, self.F_test = run.X_train, run.X_test
        self.T_train, self.T_test = run.y_train, run.targets(ds.y_test)
        if self.task == "regression":
            both = np.concatenate([ds.y_train.ravel(), ds.y_test.ravel()])
            self.y_scale = float(max(1.0, np.abs(both).max()))
        else:
            self.y_scale = 1.0
        self.run, self.model, self.loss = run, run.model, run.loss
        # the neuron maps: the input of each fully connected layer but the first (a hidden activation)
        self.act_index = [i - 1 for i, layer in enumerate(self.model) if i > 0 and layer.in_features is not None]
        self.trainer = self._trainer()
        self.history: list[list[float | None]] = []
        self.status = "paused" if not self.running else "running"
        self.error: str | None = None
        self._grid_cache: tuple[np.ndarray, np.ndarray, int, np.ndarray] | None = None
        self._publish()

    def _trainer(self) -> Trainer:
        c = self.config
        l1 = c["reg_rate"] if c["regularization"] == "l1" and c["reg_rate"] > 0 else 0.0
        return self.run.trainer(callbacks=[L1Penalty(l1)] if l1 else [])

    def _build_optimizer(self) -> None:
        """A new optimizer and engine for changed optimizer settings; the weights, the epoch count
        and the random stream continue (the epoch in progress starts over with a new order)."""
        c = self.config
        old = self.trainer
        self.run.optimizer = catalog.optimizer(c["optimizer"], self.model.parameters(), c["lr"], c["momentum"],
                                               self.recipe().weight_decay)
        self.run.recipe = self.recipe()
        self.trainer = self._trainer()
        self.trainer.epoch, self.trainer.rng = old.epoch, old.rng

    @property
    def _pos(self) -> int:
        """How many training points the current epoch has been through."""
        return min(self.trainer.batch * self.config["batch_size"], len(self.F_train))

    # ------------------------------------------------------------------ controls
    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def update_config(self, update: dict[str, Any]) -> bool:
        """Apply a partial configuration; returns True when the network was rebuilt."""
        with self.lock:
            upload_task = self.upload["task"] if self.upload else None
            new = validate_config(update, self.config, upload_task=upload_task)
            if new["dataset"] == "upload" and self.upload is None:
                raise ParamError("dataset 'upload': upload a CSV file of x1,x2,label rows first")
            changed = self._apply_config(new, RESET_KEYS)
            if changed is None:
                return True
            if changed:
                self._build_optimizer()
                self._publish()
            return False

    def _apply_config(self, new: dict[str, Any], rebuild_keys: AbstractSet[str]) -> set[str] | None:
        """Make ``new`` the configuration. When a key in ``rebuild_keys`` changed, rebuild the
        network (a build that fails restores the old configuration and network, then re-raises)
        and return None; otherwise return the changed keys, for the caller to apply live."""
        changed = {k for k in new if new[k] != self.config[k]}
        old = self.config
        self.config = new
        if not changed & rebuild_keys:
            return changed
        try:
            self._build()
        except FfnnError:
            self.config = old
            self._build()
            raise
        return None

    def set_upload(self, text: str, filename: str | None = None) -> None:
        """Use an uploaded CSV (x1,x2,label) as the data set; rebuilds the network."""
        X, y, task, class_names = parse_csv(text)
        with self.lock:
            old_upload, old_config = self.upload, self.config
            self.upload = {"X": X, "y": y, "task": task, "class_names": class_names,
                           "name": _safe_name(filename)}
            try:
                update = {"dataset": "upload"}
                if task == "regression" and catalog.LOSSES[self.config["loss"]].target_kind != "values":
                    update["loss"] = "mse"
                self.config = validate_config(update, self.config, upload_task=task)
                self._build()
            except FfnnError:
                self.upload, self.config = old_upload, old_config
                self._build()
                raise

    def play(self) -> None:
        with self.lock:
            if self.status == "diverged":
                raise ParamError("training diverged; press reset (or change a setting) first")
            self.running = True
            self.status = "running"
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"ffnn-playground-{self.id}",
                                                daemon=True)
                self._thread.start()
            self._publish()

    def pause(self) -> None:
        with self.lock:
            self.running = False
            if self.status == "running":
                self.status = "paused"
            self._publish()

    def reset(self) -> None:
        with self.lock:
            self.running = False
            self._build()

    def step(self) -> None:
        """Pause and train exactly one epoch."""
        with self.lock:
            self.running = False
            if self.status == "diverged":
                raise ParamError("training diverged; press reset (or change a setting) first")
            self.status = "paused"
            self._train_epoch()
            self._publish()

    def close(self) -> None:
        with self.lock:
            self.running = False
            self.closed = True

    # ------------------------------------------------------------------ training
    def _run(self) -> None:
        while True:
            with self.lock:
                idle = time.monotonic() - self.last_seen > ABANDON_AFTER and self.streams == 0
                if not self.running or self.closed or idle:
                    self.running = False
                    if self.status == "running":
                        self.status = "paused"
                        self._publish()
                    self._thread = None
                    return
                t0 = time.monotonic()
                self._train(self.train_budget, MAX_EPOCHS_PER_FRAME)
                if self.status == "diverged":
                    self.running = False
                self._publish()
            time.sleep(max(0.005, self.frame_interval - (time.monotonic() - t0)))

    def _diverged(self, exc: TrainingDivergedError) -> None:
        self.status = "diverged"
        self.running = False
        self.error = (f"{exc} Lower the learning rate and reset.")

    def _train_epoch(self) -> None:
        """Train until the current epoch is complete (the caller holds the lock)."""
        self._train(budget=math.inf, max_epochs=1)

    def _train(self, budget: float, max_epochs: int) -> None:
        """Train until ``max_epochs`` epochs end or ``budget`` seconds pass, through the engine.

        An epoch may span several calls (the engine keeps its order and position), so the
        lock is never held for long even with batch size 1 on a large network. The caller
        holds the lock.
        """
        deadline = None if math.isinf(budget) else time.perf_counter() + budget
        for _ in range(max_epochs):
            try:
                record = self.trainer.run_epoch(self.F_train, self.T_train, deadline=deadline)
            except TrainingDivergedError as exc:
                self._diverged(exc)
                return
            if record is None:               # the time slice ended inside the epoch
                return
            self.epoch = self.trainer.epoch
            if deadline is not None and time.perf_counter() >= deadline:
                return

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, F: np.ndarray, T: np.ndarray) -> tuple[float | None, float | None]:
        result = evaluate(self.model, self.loss, F, T)
        return _finite(result["loss"]), result.get("accuracy")

    def _grid(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Grid features (GRID*GRID, d), sub-grid indices for neuron maps, neuron resolution."""
        if self._grid_cache is None:
            x0, x1, y0, y1 = self.domain
            step_x, step_y = (x1 - x0) / GRID, (y1 - y0) / GRID
            xs = x0 + step_x * (np.arange(GRID) + 0.5)
            ys = y1 - step_y * (np.arange(GRID) + 0.5)     # row 0 at the top
            P = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
            n_neurons = max(1, sum(self.config["hidden"]))
            res = next((r for r in (25, 20, 10, 5) if n_neurons * r * r <= NEURON_BUDGET), 5)
            k = GRID // res
            sub = np.arange(res) * k + k // 2
            idx = (sub[:, None] * GRID + sub[None, :]).ravel()
            self._grid_cache = (plane_features(P, self.config["features"]), idx, res, P)
        F, idx, res, _ = self._grid_cache
        return F, idx, res

    def _output_value(self, out: np.ndarray) -> np.ndarray:
        """The network output as one value in [-1, 1] per point (the heatmap colour).

        Classification: ``2 p_1 - 1`` with ``p = softmax(z)`` for cross-entropy on two logits,
        ``p_1 = sigmoid(z)`` for binary cross-entropy on one, the score difference ``y_1 - y_0``
        for squared error (targets one-hot). Regression: the output divided by ``max(1, max|t|)``.
        """
        if self.task == "regression":
            return out[:, 0] / self.y_scale
        if self.loss.target_kind == "values":
            return out[:, 1] - out[:, 0]
        if out.shape[1] == 1:
            return 2.0 * sigmoid(out[:, 0]) - 1.0
        z = out - out.max(axis=1, keepdims=True)
        e = np.exp(z)
        return 2.0 * e[:, 1] / e.sum(axis=1) - 1.0

    def _publish(self) -> None:
        """Compute a frame from the current network and make it the latest one."""
        model = self.model
        with np.errstate(all="ignore"):
            model.eval()
            try:
                train_loss, train_acc = self._evaluate(self.F_train, self.T_train)
                test_loss, test_acc = self._evaluate(self.F_test, self.T_test)
                F, idx, res = self._grid()
                x = F
                neurons = []
                for i, layer in enumerate(model.layers):
                    x = layer.forward(x)
                    if i in self.act_index:
                        sub = x[idx]
                        neurons.append([_b64(_quantize(sub[:, j])) for j in range(sub.shape[1])])
                output = _b64(_quantize(self._output_value(x)))
                weights = []
                for layer in model.layers:
                    if layer.in_features is not None and hasattr(layer, "weight"):
                        w = np.nan_to_num(layer.weight.value, nan=0.0, posinf=0.0, neginf=0.0)
                        scale = float(np.abs(w).max()) or 1.0
                        q = np.round(w / scale * 127).astype(np.int8)
                        weights.append({"out": int(w.shape[0]), "in": int(w.shape[1]),
                                        "scale": scale, "data": _b64(q)})
            finally:
                model.train()
        point = [self.epoch, train_loss, test_loss, train_acc, test_acc]
        if not self.history or self.history[-1][0] != self.epoch:
            self.history.append(point)
            if len(self.history) > HISTORY_CAP:
                self.history = self.history[::2] + ([point] if len(self.history) % 2 == 0 else [])
        else:
            self.history[-1] = point
        seq = self.seq + 1
        frame = {"type": "frame", "seq": seq, "epoch": self.epoch, "status": self.status,
                 "error": self.error, "train_loss": train_loss, "test_loss": test_loss,
                 "train_acc": train_acc, "test_acc": test_acc, "point": point,
                 "output": {"res": GRID, "data": output},
                 "neurons": {"res": res, "layers": neurons}, "weights": weights}
        self.frame = frame
        self.frame_json = json.dumps(frame, separators=(",", ":"))
        self.seq = seq  # last: a stream that sees the new seq reads the new frame

    # ------------------------------------------------------------------ views
    def feature_maps(self) -> dict[str, Any]:
        """Each input feature over the neuron sub-grid, scaled by its max |value|."""
        F, idx, res = self._grid()
        maps = {}
        for j, name in enumerate(self.config["features"]):
            col = F[idx, j]
            maps[name] = _b64(_quantize(col / (np.abs(col).max() or 1.0)))
        return {"res": res, "maps": maps}

    def state(self) -> dict[str, Any]:
        """Everything the page needs to (re)draw: configuration, data, history, frame."""
        with self.lock:
            up = self.upload
            return {
                "id": self.id, "config": self.config, "task": self.task, "epoch": self.epoch,
                "status": self.status, "error": self.error, "domain": self.domain,
                "y_scale": self.y_scale,
                "train": {"x": np.round(self.X_train, 4).tolist(), "y": self._point_values(self.y_train)},
                "test": {"x": np.round(self.X_test, 4).tolist(), "y": self._point_values(self.y_test)},
                "upload": None if up is None else {"name": up["name"], "task": up["task"],
                                                   "n": len(up["X"]), "class_names": up["class_names"]},
                "history": self.history, "features": self.feature_maps(),
                "command": self.command(), "frame": self.frame,
                "num_parameters": self.model.num_parameters(),
            }

    def _point_values(self, y: np.ndarray) -> list[float]:
        """Point colours in [-1, 1]: class 0 -> -1, class 1 -> +1; targets / y_scale."""
        if self.task == "classification":
            return (2 * y.astype(np.int64) - 1).tolist()
        return np.round(y[:, 0] / self.y_scale, 4).tolist()

    def set_weight(self, layer: Any, to: Any, source: Any, value: Any) -> float:
        """Set one weight, ``W[to, source]`` of the ``layer``-th weight matrix (0 = the first, as in a
        frame's ``weights``), the way a link is edited on the page; returns the value set."""
        def index(name: str, i: Any, count: int) -> int:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < count:
                raise ParamError(f"weight: {name} must be an integer in [0, {count - 1}], got {i!r}")
            return i

        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or abs(value) > 1000:
            raise ParamError(f"weight: value must be a finite number in [-1000, 1000], got {value!r}")
        with self.lock:
            weighted = [m for m in self.model.layers if m.in_features is not None and hasattr(m, "weight")]
            W = weighted[index("layer", layer, len(weighted))].weight.value
            row, col = index("to", to, W.shape[0]), index("from", source, W.shape[1])
            W[row, col] = value
            self._publish()
            return float(W[row, col])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The network output (evaluation mode) for 2-D points ``X`` (n, 2)."""
        with self.lock, np.errstate(all="ignore"):
            return self.model.predict(plane_features(np.asarray(X, dtype=np.float32), self.config["features"]))

    # ------------------------------------------------------------------ export
    def command(self) -> str:
        """The equivalent ``ffnn train`` command line: the session's recipe, for the epochs trained."""
        c = self.config
        line = self.recipe().to_command()
        if c["regularization"] == "l1" and c["reg_rate"] > 0:
            line += f"  # plus L1 regularization {c['reg_rate']:g} (no ffnn train option)"
        return line

    def export_bytes(self) -> bytes:
        """The trained network as an ffnn model file (``ffnn.save`` format) with the run's metadata."""
        from ..recipe import run_metadata
        from ..serialize import describe_model
        with self.lock:
            model = self.model.copy()
            up = self.upload if self.config["dataset"] == "upload" else None
            classes = (up["class_names"] if up else ["0", "1"]) if self.task == "classification" else None
            model.metadata = run_metadata(self.recipe(), self.run.dataset, self.loss, None, source="ffnn playground",
                                          extra={"class_names": classes, "epoch": self.epoch, "config": self.config,
                                                 "command": self.command(), "input": "2-D points (x1, x2); the "
                                                 "network input is the listed features of them"})
        header, arrays = describe_model(model)
        return _archive_bytes(header, arrays)


def _archive_bytes(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """A model file's bytes (the download of "export"), written and read back through a temporary file."""
    from ..serialize import write_archive
    with tempfile.TemporaryDirectory() as tmp:
        path = write_archive(os.path.join(tmp, "model.ffnn"), header, arrays)
        return path.read_bytes()


def _safe_name(filename: str | None) -> str:
    name = os.path.basename(filename or "") or "data.csv"
    name = "".join(ch for ch in name if ch.isalnum() or ch in "._-")[:80] or "data.csv"
    return name if name.lower().endswith(".csv") else name + ".csv"


class SessionManager:
    """The live sessions: at most ``max_sessions``, each expiring after ``idle_timeout`` s.

    When full, expired sessions go first, then the least recently used one that is abandoned
    (not training, no open stream, no request for ``ABANDON_AFTER`` seconds); a session in
    use is never evicted: creating another is refused with :class:`SessionLimitReached`.
    """

    def __init__(self, max_sessions: int = 16, idle_timeout: float = 900.0) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            for sid, s in list(self._sessions.items()):
                if s.streams == 0 and now - s.last_seen > self.idle_timeout:
                    s.close()
                    del self._sessions[sid]

    def create(self, config: dict[str, Any] | None = None, kind: type[Session] | None = None) -> Session:
        """A new session of ``kind`` (default :class:`Session`; the digits page's is a subclass)."""
        self.expire()
        session = (kind or Session)(secrets.token_urlsafe(12), config)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                now = time.monotonic()
                idle = [s for s in self._sessions.values()
                        if s.streams == 0 and not s.running and now - s.last_seen > ABANDON_AFTER]
                if not idle:
                    session.close()
                    raise SessionLimitReached(f"too many playground sessions in use (at most "
                                              f"{self.max_sessions}); close a tab and try again")
                victim = min(idle, key=lambda s: s.last_seen)
                victim.close()
                del self._sessions[victim.id]
            self._sessions[session.id] = session
        return session

    def get(self, sid: str) -> Session:
        session = self._sessions.get(sid)
        if session is None or session.closed:
            raise SessionNotFound(sid)
        session.touch()
        return session

    def delete(self, sid: str) -> None:
        with self._lock:
            session = self._sessions.pop(sid, None)
        if session is None:
            raise SessionNotFound(sid)
        session.close()

    def close_all(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()
