"""The playground's HTTP API, through Starlette's TestClient (no browser, no network)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import ffnn  # noqa: E402
from ffnn.data.features import plane_features as features  # noqa: E402
from ffnn.playground import create_app  # noqa: E402
from ffnn.playground.params import DEFAULTS, LIMITS  # noqa: E402
from ffnn.playground.session import GRID  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

SPIRAL_NET = {"dataset": "spiral", "hidden": [8, 8], "optimizer": "adam", "lr": 0.03,
              "features": ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]}


LOCAL = "http://127.0.0.1"       # the Host the playground answers to (TestClient's default is refused)


def local_client(app):
    from starlette.testclient import TestClient
    return TestClient(app, base_url=LOCAL)


@pytest.fixture
def client():
    with local_client(create_app()) as c:
        yield c


def new_session(client, **config):
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    return r.json()


def post(client, sid, path, **kwargs):
    return client.post(f"/api/sessions/{sid}/{path}", **kwargs)


def wait_until(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------- page and options
def test_page_and_static_files_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"heatmap\"" in page.text
    for name in ("app.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and len(r.text) > 1000
    # everything is local: no CDN, no external URL in the page, script or style
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text and "https://" not in text


def test_options_list_choices_and_bounds(client):
    opts = client.get("/api/options").json()
    assert set(opts["activations"]) == {"relu", "tanh", "sigmoid", "leaky_relu", "prelu", "rrelu",
                                        "elu", "softplus", "softsign", "identity"}
    assert set(opts["activations"]) <= set(ffnn.layers.ACTIVATIONS)
    # every optimizer of the catalogue (the four the playground had hard-coded among them)
    assert opts["optimizers"] == list(ffnn.catalog.OPTIMIZERS.names())
    assert opts["optimizers"][:4] == ["sgd", "momentum", "nesterov", "adam"]
    assert opts["limits"]["max_layers"] == 8 and opts["limits"]["max_neurons"] == 64
    assert set(opts["thumbnails"]) == {"circle", "xor", "gauss", "spiral", "reg-plane", "reg-gauss"}


# ------------------------------------------------------------------------- sessions
def test_create_session_with_defaults(client):
    state = new_session(client)
    assert state["config"] == DEFAULTS
    assert state["epoch"] == 0 and state["status"] == "paused" and state["task"] == "classification"
    assert len(state["train"]["x"]) + len(state["test"]["x"]) == DEFAULTS["n"]
    frame = state["frame"]
    assert frame["output"]["res"] == GRID
    assert len(base64.b64decode(frame["output"]["data"])) == GRID * GRID
    res = frame["neurons"]["res"]
    assert [len(layer) for layer in frame["neurons"]["layers"]] == DEFAULTS["hidden"]
    assert len(base64.b64decode(frame["neurons"]["layers"][0][0])) == res * res
    assert [(w["out"], w["in"]) for w in frame["weights"]] == [(4, 2), (2, 4), (2, 2)]
    assert client.get(f"/api/sessions/{state['id']}").json()["id"] == state["id"]


def test_string_values_from_the_url_hash_are_accepted(client):
    state = new_session(client, dataset="xor", hidden="8,8", lr="0.1", batch_size="20",
                        features="x1,x2,x1*x2", noise="0.1")
    c = state["config"]
    assert c["hidden"] == [8, 8] and c["lr"] == 0.1 and c["batch_size"] == 20
    assert c["features"] == ["x1", "x2", "x1*x2"] and c["noise"] == 0.1
    assert new_session(client, hidden="")["config"]["hidden"] == []


@pytest.mark.parametrize("config, message", [
    ({"hidden": [4] * 9}, "at most 8 hidden layers"),
    ({"hidden": [65]}, "between 1 and 64, got 65"),
    ({"hidden": [0]}, "between 1 and 64, got 0"),
    ({"hidden": "a,b"}, "must be an integer"),
    ({"lr": -1}, "learning rate"),
    ({"lr": 1e7}, "between 1e-06 and 1e+06"),
    ({"lr": "fast"}, "must be a number"),
    ({"lr": None}, "must be a number"),
    ({"batch_size": 0}, "batch_size must be between 1 and 1000"),
    ({"batch_size": 2.5}, "batch_size must be an integer"),
    ({"n": 10_000}, "between 20 and 2000"),
    ({"noise": 0.6}, "noise must be between 0 and 0.5"),
    ({"test_fraction": 0.99}, "test_fraction"),
    ({"dropout": 1.0}, "dropout must be between 0 and 0.9"),
    ({"dataset": "moons"}, "dataset must be one of"),
    ({"activation": "swish"}, "activation must be one of"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of"),
    ({"regularization": "l3"}, "regularization must be one of"),
    ({"features": []}, "at least one input feature"),
    ({"features": ["x3"]}, "unknown feature 'x3'"),
    ({"seed": -1}, "seed must be between"),
    ({"colour": "red"}, "unknown setting 'colour'"),
    ({"dataset": "reg-plane", "loss": "ce"}, "needs a classification data set"),
    ({"optimizer": "nesterov", "momentum": 0}, "needs momentum > 0"),
    ({"dataset": "upload"}, "upload"),
])
def test_bad_parameters_give_400_with_the_reason(client, config, message):
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    sid = new_session(client)["id"]
    r = post(client, sid, "config", json=config)
    assert r.status_code == 400 and message in r.json()["error"]
    # the session is untouched and keeps working
    assert client.get(f"/api/sessions/{sid}").json()["config"] == DEFAULTS
    assert post(client, sid, "step").json()["epoch"] == 1


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_rejected(client, body):
    r = client.post("/api/sessions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]


def test_oversized_body_is_rejected(client):
    r = client.post("/api/sessions", content=b" " * 1_000_001)
    assert r.status_code == 400 and "at most" in r.json()["error"]


def test_unknown_session_is_a_404_json_error(client):
    for method, path in (("get", ""), ("post", "/step"), ("get", "/export"), ("get", "/stream"),
                         ("post", "/config"), ("delete", "")):
        r = getattr(client, method)(f"/api/sessions/nope{path}")
        assert r.status_code == 404 and "no playground session 'nope'" in r.json()["error"]


def test_sessions_are_isolated(client):
    a = new_session(client)["id"]
    b = new_session(client)["id"]
    assert a != b
    for _ in range(3):
        post(client, a, "step")
    post(client, a, "config", json={"activation": "relu", "hidden": [3]})
    sa, sb = client.get(f"/api/sessions/{a}").json(), client.get(f"/api/sessions/{b}").json()
    assert sa["epoch"] == 0 and sa["config"]["hidden"] == [3]  # a network change restarts
    assert sb["epoch"] == 0 and sb["config"] == DEFAULTS
    post(client, a, "step")
    assert client.get(f"/api/sessions/{a}").json()["epoch"] == 1
    assert client.get(f"/api/sessions/{b}").json()["epoch"] == 0


def test_step_advances_the_epoch_and_training_lowers_the_loss(client):
    state = new_session(client, **SPIRAL_NET)
    sid, first = state["id"], state["frame"]
    for k in range(1, 31):
        state = post(client, sid, "step").json()
        assert state["epoch"] == k
    assert state["frame"]["train_loss"] < 0.5 * first["train_loss"]
    assert state["frame"]["test_acc"] > 0.8
    assert [p[0] for p in state["history"]] == list(range(31))


def test_optimizer_settings_keep_the_weights_network_settings_reset(client):
    sid = new_session(client)["id"]
    for _ in range(3):
        post(client, sid, "step")
    r = post(client, sid, "config", json={"optimizer": "momentum", "momentum": 0})
    assert r.status_code == 400 and client.get(f"/api/sessions/{sid}").json()["epoch"] == 3
    for update in ({"lr": 0.1}, {"optimizer": "momentum"}, {"optimizer": "nesterov", "momentum": 0.5},
                   {"optimizer": "adam"}, {"regularization": "l1", "reg_rate": 0.01},
                   {"regularization": "l2"}, {"batch_size": 30}):
        state = post(client, sid, "config", json=update).json()
        assert state["epoch"] == 3, update
    for update in ({"seed": 7}, {"noise": 0.2}, {"dropout": 0.2}, {"loss": "mse"}):
        post(client, sid, "step")
        state = post(client, sid, "config", json=update).json()
        assert state["epoch"] == 0, update


def test_reset_restores_the_same_initial_network(client):
    state = new_session(client, dataset="xor")
    sid, start = state["id"], state["frame"]["output"]["data"]
    for _ in range(5):
        post(client, sid, "step")
    state = post(client, sid, "reset").json()
    assert state["epoch"] == 0 and state["history"] == [state["history"][0]]
    assert state["frame"]["output"]["data"] == start


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "prelu", "rrelu",
                                        "elu", "softplus", "softsign", "identity"])
def test_every_activation_trains(client, activation):
    sid = new_session(client, activation=activation, dropout=0.1, regularization="l1",
                      reg_rate=0.001)["id"]
    state = post(client, sid, "step").json()
    assert state["epoch"] == 1 and state["status"] == "paused"
    assert np.isfinite(state["frame"]["train_loss"])


def test_regression_sets_with_squared_error(client):
    state = new_session(client, dataset="reg-gauss", loss="mse", hidden=[8, 8], optimizer="adam")
    assert state["task"] == "regression" and state["frame"]["train_acc"] is None
    assert [(w["out"], w["in"]) for w in state["frame"]["weights"]][-1] == (1, 8)
    state = post(client, state["id"], "step").json()
    assert state["epoch"] == 1 and state["frame"]["test_acc"] is None


def test_play_trains_in_the_background_and_pause_stops(client):
    sid = new_session(client)["id"]
    assert post(client, sid, "play").json()["status"] == "running"
    assert wait_until(lambda: client.get(f"/api/sessions/{sid}").json()["epoch"] >= 3)
    state = post(client, sid, "pause").json()
    assert state["status"] == "paused"
    time.sleep(0.3)
    epoch = client.get(f"/api/sessions/{sid}").json()["epoch"]
    time.sleep(0.3)
    assert client.get(f"/api/sessions/{sid}").json()["epoch"] == epoch


def test_pause_is_prompt_even_when_an_epoch_is_slow(client):
    # batch size 1 over 1800 points through 8 x 64 units: an epoch takes a long while,
    # but training yields the session every frame, mid-epoch
    sid = new_session(client, n=2000, test_fraction=0.1, batch_size=1, hidden=[64] * 8)["id"]
    post(client, sid, "play")
    session = client.app.state.sessions.get(sid)
    assert wait_until(lambda: session._pos > 0)
    t0 = time.monotonic()
    state = post(client, sid, "pause").json()
    assert time.monotonic() - t0 < 2.0
    assert state["status"] == "paused"


# ------------------------------------------------------------------------- divergence
def test_a_diverging_run_stops_and_says_so(client):
    sid = new_session(client, loss="mse", lr=1e6)["id"]
    post(client, sid, "play")
    assert wait_until(lambda: client.get(f"/api/sessions/{sid}").json()["status"] == "diverged")
    state = client.get(f"/api/sessions/{sid}").json()
    assert "diverged" in state["error"] and "learning rate" in state["error"]
    assert state["frame"]["status"] == "diverged" and state["frame"]["error"] == state["error"]
    for action in ("play", "step"):
        r = post(client, sid, action)
        assert r.status_code == 400 and "diverged" in r.json()["error"]
    # lowering the learning rate does not clear it, a reset does
    state = post(client, sid, "reset").json()
    assert state["status"] == "paused" and state["error"] is None
    assert post(client, sid, "config", json={"lr": 0.01}).status_code == 200
    assert post(client, sid, "step").json()["status"] == "paused"


# ------------------------------------------------------------------------- export
def test_export_gives_a_model_file_that_predicts_like_the_session(client, tmp_path):
    sid = new_session(client, **SPIRAL_NET, dropout=0.1)["id"]
    for _ in range(5):
        post(client, sid, "step")
    r = client.get(f"/api/sessions/{sid}/export")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="model.ffnn"'
    path = tmp_path / "model.ffnn"
    path.write_bytes(r.content)
    model = ffnn.load(path)
    meta = model.metadata
    assert meta["features"] == SPIRAL_NET["features"] and meta["task"] == "classification"
    assert meta["output"] == "logits" and meta["epoch"] == 5 and meta["n_classes"] == 2
    assert meta["command"].startswith("ffnn train --data spiral")
    X = np.random.default_rng(0).uniform(-6, 6, (200, 2)).astype(np.float32)
    served = np.asarray(client.post(f"/api/sessions/{sid}/predict", json={"x": X.tolist()}).json()["y"])
    mine = model.predict(features(X, meta["features"]))
    np.testing.assert_allclose(mine, served, rtol=1e-6, atol=1e-6)
    state = client.get(f"/api/sessions/{sid}").json()
    assert state["frame"]["test_acc"] == pytest.approx(
        np.mean(model.predict(features(np.asarray(state["test"]["x"], np.float32), meta["features"])).argmax(1)
                == (np.asarray(state["test"]["y"]) > 0)), abs=0.01)


def test_export_of_a_regression_network(client, tmp_path):
    sid = new_session(client, dataset="reg-plane", loss="mse", features=["x1", "sin(x2)"])["id"]
    post(client, sid, "step")
    path = tmp_path / "m.ffnn"
    path.write_bytes(client.get(f"/api/sessions/{sid}/export").content)
    model = ffnn.load(path)
    assert model.metadata["task"] == "regression" and model.metadata["output"] == "value"
    assert model.in_features == 2 and model.out_features == 1


def test_predict_validates_its_input(client):
    sid = new_session(client)["id"]
    for body in ({"x": [[1, 2, 3]]}, {"x": "abc"}, {"x": []}, {}, {"x": [[float("nan"), 1]]}):
        r = client.post(f"/api/sessions/{sid}/predict", content=json.dumps(body))
        assert r.status_code == 400, body


def test_command_line_matches_the_settings(client):
    sid = new_session(client, dataset="spiral", hidden=[8, 8], activation="relu", loss="ce",
                      optimizer="adam", lr=0.03, batch_size=10, regularization="l2",
                      reg_rate=0.001, dropout=0.1, seed=1)["id"]
    for _ in range(2):
        post(client, sid, "step")
    command = client.get(f"/api/sessions/{sid}/command").json()["command"]
    assert command.startswith("ffnn train --data spiral ")
    for part in ("--hidden 8,8", "--activation relu", "--loss ce", "--optimizer adam", "--lr 0.03",
                 "--batch-size 10", "--weight-decay 0.001", "--dropout 0.1", "--seed 1",
                 "--epochs 2"):
        assert part in command
    post(client, sid, "config", json={"optimizer": "nesterov", "regularization": "none",
                                      "features": ["x1", "x2", "sin(x1)"]})
    command = client.get(f"/api/sessions/{sid}/command").json()["command"]
    assert "--optimizer nesterov --lr 0.03 --momentum 0.9" in command
    assert "--features 'x1,x2,sin(x1)'" in command and "--weight-decay" not in command
    post(client, sid, "config", json={"hidden": [], "regularization": "l1", "reg_rate": 0.01})
    command = client.get(f"/api/sessions/{sid}/command").json()["command"]
    assert "--hidden 0 " in command and command.endswith("# plus L1 regularization 0.01 (no ffnn train option)")


def test_the_command_runs_with_the_ffnn_cli(client, tmp_path):
    cli = pytest.importorskip("ffnn.cli")
    import shlex
    sid = new_session(client, dataset="xor", hidden=[4], activation="prelu", optimizer="momentum",
                      lr=0.05, regularization="l2", reg_rate=0.001, dropout=0.1, noise=0.1,
                      n=200, features=["x1", "x2", "x1*x2"])["id"]
    post(client, sid, "step")
    argv = shlex.split(client.get(f"/api/sessions/{sid}/command").json()["command"])
    assert argv[:2] == ["ffnn", "train"]
    argv += ["--out", str(tmp_path / "run"), "--no-plots", "--no-progress"]
    assert cli.main(argv[1:]) in (0, None)


@pytest.mark.parametrize("settings", [
    {**SPIRAL_NET, "dropout": 0.1, "batch_size": 7},
    {"dataset": "xor", "hidden": [5], "activation": "rrelu", "optimizer": "nesterov", "lr": 0.05, "noise": 0.2,
     "regularization": "l2", "reg_rate": 0.001, "n": 300},
    {"dataset": "reg-gauss", "loss": "mse", "hidden": [6, 3], "optimizer": "rmsprop", "lr": 0.01},
], ids=["spiral-adam-dropout", "xor-rrelu-nesterov-l2", "regression-rmsprop"])
def test_the_exported_command_reproduces_the_sessions_weights_bit_for_bit(client, tmp_path, settings):
    # the playground and ffnn train share one recipe, one pipeline and one engine: same seed,
    # same batches, same dropout masks, same weights
    import shlex

    from ffnn.cli import main
    sid = new_session(client, **settings)["id"]
    for _ in range(3):
        post(client, sid, "step")
    exported = tmp_path / "session.ffnn"
    exported.write_bytes(client.get(f"/api/sessions/{sid}/export").content)
    argv = shlex.split(client.get(f"/api/sessions/{sid}/command").json()["command"])
    assert main(argv[1:] + ["--out", str(tmp_path / "run"), "--no-plots", "--no-progress"]) == 0
    session_model, cli_model = ffnn.load(exported), ffnn.load(tmp_path / "run" / "model.ffnn")
    for p, q in zip(session_model.parameters(), cli_model.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value)
    assert session_model.metadata["recipe"] == cli_model.metadata["recipe"]


# ------------------------------------------------------------------------- upload
def _csv(rows, header=True):
    lines = ["x1,x2,label"] if header else []
    lines += [",".join(f"{v:g}" for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def test_csv_upload_classification(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    rows = [(a, b, 1 if a * b > 0 else -1) for a, b in X]
    sid = new_session(client)["id"]
    r = client.post(f"/api/sessions/{sid}/upload?filename=my%20points.csv", content=_csv(rows),
                    headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    state = r.json()
    assert state["config"]["dataset"] == "upload" and state["task"] == "classification"
    assert state["upload"] == {"name": "mypoints.csv", "task": "classification", "n": 120,
                               "class_names": ["-1", "1"]}
    assert len(state["train"]["x"]) + len(state["test"]["x"]) == 120
    assert set(state["train"]["y"]) == {-1, 1}
    state = post(client, sid, "step").json()
    assert state["epoch"] == 1
    assert "--data mypoints.csv" in state["command"]
    # settings that rebuild keep the uploaded data
    state = post(client, sid, "config", json={"test_fraction": 0.3, "hidden": [5]}).json()
    assert state["config"]["dataset"] == "upload" and len(state["test"]["x"]) == 36


def test_csv_upload_regression_switches_to_squared_error(client):
    rng = np.random.default_rng(1)
    rows = [(a, b, 0.3 * a - b) for a, b in rng.uniform(-3, 3, (60, 2))]
    sid = new_session(client)["id"]
    state = client.post(f"/api/sessions/{sid}/upload", content=_csv(rows, header=False)).json()
    assert state["task"] == "regression" and state["config"]["loss"] == "mse"
    assert post(client, sid, "config", json={"loss": "ce"}).status_code == 400
    assert post(client, sid, "step").json()["epoch"] == 1


@pytest.mark.parametrize("text, message", [
    ("x1,x2,label\n1,2,0\n", "at least 4"),
    ("1,2\n3,4\n5,6\n7,8\n", "expected 3 values"),
    ("1,2,0\n3,a,1\n5,6,0\n7,8,1\n", "line 2: values must be numbers"),
    ("1,2,0\n3,nan,1\n5,6,0\n7,8,1\n", "line 2: values must be finite"),
    ("1,2,0\n3,4,1\n5,6,2\n7,8,1\n", "two classes, got 3"),
    ("1,2,1\n3,4,1\n5,6,1\n7,8,1\n", "two classes, got 1"),
    ("".join(f"{i},{i},{i % 2}\n" for i in range(5001)), "more than 5000 points"),
    ("1," * 600_000, "at most 1000000 bytes"),
    (b"\xff\xfe\x00", "UTF-8"),
])
def test_bad_csv_uploads_give_400(client, text, message):
    sid = new_session(client)["id"]
    r = client.post(f"/api/sessions/{sid}/upload", content=text)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert client.get(f"/api/sessions/{sid}").json()["config"]["dataset"] == "circle"


# ------------------------------------------------------------------------- streaming
def _frames(body: str) -> list[dict]:
    return [json.loads(block.split("data: ", 1)[1]) for block in body.split("\n\n")
            if block.startswith("event: frame")]


def test_sse_stream_yields_frames(client):
    sid = new_session(client, **SPIRAL_NET)["id"]
    post(client, sid, "play")
    with client.stream("GET", f"/api/sessions/{sid}/stream?max_frames=4") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    frames = _frames(body)
    assert len(frames) == 4
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert frames[-1]["epoch"] > 0 and frames[-1]["status"] == "running"
    for f in frames:
        assert len(base64.b64decode(f["output"]["data"])) == GRID * GRID
    post(client, sid, "pause")
    session = client.app.state.sessions.get(sid)
    assert session.streams == 0  # the finished stream was released


def test_stream_rejects_a_bad_max_frames(client):
    sid = new_session(client)["id"]
    assert client.get(f"/api/sessions/{sid}/stream?max_frames=-1").status_code == 400


def test_head_on_a_stream_answers_the_headers_at_once(client):
    sid = new_session(client)["id"]
    r = client.head(f"/api/sessions/{sid}/stream")          # without max_frames a GET would never end
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.content == b"" and client.app.state.sessions.get(sid).streams == 0


def test_frame_rate_is_bounded(client):
    sid = new_session(client, n=100)["id"]
    post(client, sid, "play")
    session = client.app.state.sessions.get(sid)
    time.sleep(0.2)
    seq0, t0 = session.seq, time.monotonic()
    time.sleep(1.0)
    rate = (session.seq - seq0) / (time.monotonic() - t0)
    post(client, sid, "pause")
    assert 0 < rate <= 21


# ------------------------------------------------------------------------- limits and lifecycle
def test_the_session_cap_refuses_new_sessions_instead_of_evicting_ones_in_use():
    with local_client(create_app(max_sessions=2)) as c:
        ids = [new_session(c)["id"] for _ in range(2)]
        r = c.post("/api/sessions", json={})
        assert r.status_code == 429 and "too many" in r.json()["error"]
        assert len(c.app.state.sessions) == 2
        assert all(c.get(f"/api/sessions/{i}").status_code == 200 for i in ids)   # nobody lost theirs


def test_an_abandoned_session_makes_room_for_a_new_one(monkeypatch):
    from ffnn.playground import session as session_module
    monkeypatch.setattr(session_module, "ABANDON_AFTER", 0.1)
    with local_client(create_app(max_sessions=2)) as c:
        old, kept = new_session(c)["id"], new_session(c)["id"]
        post(c, kept, "play")                       # training: never evicted
        time.sleep(0.3)
        new_session(c)
        assert c.get(f"/api/sessions/{old}").status_code == 404      # idle, paused, no stream: it went
        assert c.get(f"/api/sessions/{kept}").status_code == 200
        post(c, kept, "pause")


def test_many_clients_each_keep_their_own_session():
    """40 clients against 16 slots: each gets its session (201) or a 429, never someone else's
    session evicted under them."""
    from concurrent.futures import ThreadPoolExecutor
    with local_client(create_app(max_sessions=16)) as c:
        def client_run(_):
            r = c.post("/api/sessions", json={"n": 50})
            if r.status_code != 201:
                return r.status_code
            return c.get(f"/api/sessions/{r.json()['id']}").status_code
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(client_run, range(40)))
    assert codes.count(200) == 16 and codes.count(429) == 24, codes


def test_idle_sessions_expire():
    with local_client(create_app(idle_timeout=0.1)) as c:
        old = new_session(c)["id"]
        time.sleep(0.2)
        new_session(c)
        assert c.get(f"/api/sessions/{old}").status_code == 404


def test_delete_and_close(client):
    a, b = new_session(client)["id"], new_session(client)["id"]
    assert client.delete(f"/api/sessions/{a}").status_code == 200
    assert client.post(f"/api/sessions/{b}/close").status_code == 200
    assert client.get(f"/api/sessions/{a}").status_code == 404
    assert client.get(f"/api/sessions/{b}").status_code == 404


def test_limits_cover_the_issue():
    assert LIMITS["upload_bytes"] == 1_000_000 and LIMITS["upload_points"] == 5000


# ------------------------------------------------------------------------- packaging
def test_ffnn_and_the_playground_import_without_the_web_extra():
    code = (
        "import sys\n"
        "sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
        "import ffnn, ffnn.playground\n"
        "try:\n"
        "    ffnn.playground.create_app()\n"
        "except ImportError as exc:\n"
        "    assert isinstance(exc, ffnn.FfnnError)\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ffnn playground needs the web extra: pip install 'ffnn[web]'" in out.stdout
    code = "import sys, ffnn; ffnn.Sequential; print('starlette' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_serve_binds_localhost_and_warns_otherwise(monkeypatch, capsys):
    import uvicorn

    from ffnn import playground
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    playground.serve("127.0.0.1", 8765, False)
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["port"] == 8765
    assert "warning" not in capsys.readouterr().err
    playground.serve("0.0.0.0", 9000, False)
    assert calls[-1]["host"] == "0.0.0.0"
    assert "warning" in capsys.readouterr().err


# ------------------------------------------------------------------------- safe to leave open
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", ""])
def test_a_foreign_host_header_is_refused_on_every_route(client, host):
    """DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 gets nothing."""
    sid = new_session(client)["id"]
    for method, path in [("GET", "/"), ("GET", "/api/options"), ("POST", "/api/sessions"),
                         ("GET", f"/api/sessions/{sid}"), ("POST", f"/api/sessions/{sid}/play"),
                         ("GET", "/static/app.js"), ("GET", "/no/such/route")]:
        r = client.request(method, path, headers={"Host": host})
        assert r.status_code == 421, (method, path, r.status_code)
        assert "host" in r.json()["error"]
    assert client.app.state.sessions.get(sid).running is False


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "LOCALHOST"])
def test_the_local_host_names_are_served(client, host):
    assert client.get("/api/options", headers={"Host": host}).status_code == 200


def test_the_bound_address_is_allowed_and_any_ip_only_when_bound_everywhere():
    from ffnn.playground.guard import allowed_hosts
    with local_client(create_app(hosts=allowed_hosts("192.168.1.5"))) as c:
        assert c.get("/api/options", headers={"Host": "192.168.1.5:8765"}).status_code == 200
        assert c.get("/api/options", headers={"Host": "10.0.0.7:8765"}).status_code == 421
    with local_client(create_app(hosts=allowed_hosts("0.0.0.0"), any_ip=True)) as c:
        assert c.get("/api/options", headers={"Host": "10.0.0.7:8765"}).status_code == 200
        assert c.get("/api/options", headers={"Host": "evil.example"}).status_code == 421


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1.evil.example"])
def test_a_cross_origin_request_cannot_change_anything(client, origin):
    sid = new_session(client)["id"]
    n = len(client.app.state.sessions)
    for path, body in [("/api/sessions", {}), (f"/api/sessions/{sid}/play", None),
                       (f"/api/sessions/{sid}/config", {"lr": 0.5}), (f"/api/sessions/{sid}/close", None)]:
        r = client.post(path, json=body, headers={"Origin": origin})
        assert r.status_code == 403, (path, r.status_code)
        assert "cross-origin" in r.json()["error"]
    assert client.delete(f"/api/sessions/{sid}", headers={"Origin": origin}).status_code == 403
    assert len(client.app.state.sessions) == n
    assert client.app.state.sessions.get(sid).running is False
    assert client.get(f"/api/sessions/{sid}", headers={"Origin": origin}).status_code == 200   # reading is harmless


def test_the_pages_own_origin_may_change_state(client):
    r = client.post("/api/sessions", json={}, headers={"Origin": LOCAL})
    assert r.status_code == 201


@pytest.mark.parametrize("kind", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                  "multipart/form-data; boundary=x"])
def test_a_simple_cross_site_body_type_is_refused(client, kind):
    """The body types a page may send without a CORS preflight (a form, or fetch no-cors)."""
    r = client.post("/api/sessions", content=b"{}", headers={"Content-Type": kind})
    assert r.status_code == 403 and "type" in r.json()["error"]
    assert len(client.app.state.sessions) == 0


@pytest.mark.parametrize("body", [b"[" * 100_000, b"{\"a\":" * 50_000, b"[" * 30 + b"]" * 30,
                                  b"{\"hidden\": [[[[[[[[[[1]]]]]]]]]]}"],
                         ids=["100k-brackets", "50k-objects", "depth-30", "deep-value"])
def test_deeply_nested_json_is_a_400(client, body):
    r = client.post("/api/sessions", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    sid = new_session(client)["id"]
    r = client.post(f"/api/sessions/{sid}/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text


def test_max_frames_2_streams_two_frames(client):
    sid = new_session(client)["id"]
    post(client, sid, "play")
    with client.stream("GET", f"/api/sessions/{sid}/stream?max_frames=2") as r:
        assert r.status_code == 200
        assert len(_frames(r.read().decode())) == 2
    post(client, sid, "pause")


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_in_use_fails_with_one_line_before_the_url(capsys):
    import socket

    from ffnn.cli import main
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["playground", "--port", str(port), "--no-browser"])
    captured = capsys.readouterr()
    assert code == 2
    assert "http://" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ffnn: error:") and str(port) in lines[0], captured.err


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_a_bad_port_is_one_line_and_exit_2(capsys, port):
    from ffnn.cli import main
    with pytest.raises(SystemExit) as info:
        main(["playground", "--port", port, "--no-browser"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ffnn: error:") and "port" in err[0]


@pytest.fixture
def real_server():
    """The playground under uvicorn with serve()'s protocol, but a 0.5 s header timeout."""
    import threading

    import uvicorn

    from ffnn.playground.guard import header_timeout_protocol
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning",
                                           http=header_timeout_protocol(0.5), timeout_keep_alive=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, 20)
    yield port
    server.should_exit = True
    thread.join(10)


def test_a_slow_client_is_disconnected_after_the_header_timeout(real_server):
    import socket
    with socket.create_connection(("127.0.0.1", real_server), timeout=10) as slow:
        slow.sendall(b"GET /api/options HTTP/1.1\r\nHost: 127.0.0.1\r\n")     # never finishes its head
        t0 = time.monotonic()
        assert slow.recv(1024) == b""                                          # closed by the server
        assert time.monotonic() - t0 < 3
    with socket.create_connection(("127.0.0.1", real_server), timeout=10) as quick:   # others are served
        quick.sendall(b"GET /api/options HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert quick.recv(64).startswith(b"HTTP/1.1 200")


def test_a_real_server_refuses_a_rebinding_host(real_server):
    import socket
    with socket.create_connection(("127.0.0.1", real_server), timeout=10) as s:
        s.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\n"
                  b"Content-Type: application/json\r\nConnection: close\r\n\r\n{}")
        assert s.recv(64).startswith(b"HTTP/1.1 421")
