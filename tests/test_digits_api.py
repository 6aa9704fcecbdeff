"""The digits page's session and HTTP API (ffnn.playground.digits), through Starlette's TestClient."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from ffnn.data.digits import TEST_OFFSETS  # noqa: E402
from ffnn.playground import digits  # noqa: E402
from ffnn.playground.layer_defs import DEFAULT  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def new_session(client, **config):
    r = client.post("/api/digits/sessions", json=config)
    assert r.status_code == 201, r.text
    return r.json()


def test_page_options_and_a_new_session(client):
    assert "digits.js" in client.get("/digits").text
    opts = client.get("/api/digits/options").json()
    assert "mnist-5k" in opts["datasets"] and "adadelta" in opts["optimizers"]
    state = new_session(client)
    assert state["config"]["network"] == DEFAULT and state["input_side"] == 24
    assert state["num_parameters"] == 576 * 32 + 32 + 32 * 10 + 10
    assert "--optimizer adadelta" in state["command"] and "--hidden 32" in state["command"]
    assert "24x24 crops have no ffnn train option" in state["command"] and "--shift 2" in state["command"]
    assert state["class_names"] == [str(k) for k in range(10)]


def test_step_trains_one_epoch_and_publishes_every_view(client):
    sid = new_session(client)["id"]
    state = client.post(f"/api/sessions/{sid}/step").json()
    stats, views = state["frame"]["stats"], state["frame"]["views"]
    assert stats["epoch"] == 1 and stats["examples_seen"] == 4000
    assert stats["val_acc"] > 0.5 and stats["train_acc"] > 0.5 and stats["loss"] > 0
    assert stats["l2_loss"] > 0 and stats["forward_ms"] > 0 and stats["backward_ms"] > 0
    assert [layer["name"] for layer in views["layers"]] == ["input", "Linear", "ReLU", "Linear", "softmax"]
    assert views["layers"][0]["side"] == 24 and views["layers"][1]["grad_min"] is not None
    assert len(base64.b64decode(views["weights"]["data"])) == 32 * 576
    assert len(views["grid"]["labels"]) == 40 and len(views["grid"]["top3"][0]) == 3
    assert np.sum(views["confusion"]) == 1000 and np.trace(views["confusion"]) > 500
    assert "--epochs 1" in state["command"]


def test_live_settings_keep_the_network_and_definitions_rebuild_it(client):
    sid = new_session(client)["id"]
    client.post(f"/api/sessions/{sid}/step")
    state = client.post(f"/api/sessions/{sid}/config", json={"batch_size": 50, "l2_decay": 0.0}).json()
    assert state["frame"]["stats"]["epoch"] == 1                  # the weights and epochs carry on
    assert "--batch-size 50" in state["command"] and "--weight-decay" not in state["command"]
    r = client.post(f"/api/sessions/{sid}/config", json={"network": DEFAULT.replace("'fc'", "'conv'")})
    assert r.status_code == 400 and "ffnn is fully connected: replace it with fc" in r.json()["error"]
    two = DEFAULT.replace("num_neurons:32, activation:'relu'}", "num_neurons:16, activation:'tanh'});\n"
                          "layer_defs.push({type:'fc', num_neurons:16, activation:'tanh'}")
    state = client.post(f"/api/sessions/{sid}/config", json={"network": two}).json()
    assert "--hidden 16,16" in state["command"] and state["frame"]["stats"]["epoch"] == 0
    assert "--batch-size 20" in state["command"]                  # the definition's trainer line applies
    for bad, message in [({"lr": -1}, "lr"), ({"augment": "yes"}, "augment"), ({"dataset": "x"}, "dataset"),
                         ({"colour": 1}, "unknown setting"), ({"optimizer": "nesterov", "momentum": 0}, "momentum")]:
        r = client.post(f"/api/sessions/{sid}/config", json=bad)
        assert r.status_code == 400 and message in r.json()["error"], bad


def test_classify_a_drawing(client):
    sid = new_session(client)["id"]
    for _ in range(3):
        client.post(f"/api/sessions/{sid}/step")
    drawing = np.full((112, 112), 255)
    drawing[10:100, 60:68] = 0                                     # a "1", black on white
    out = client.post(f"/api/digits/sessions/{sid}/classify", json={"image": drawing.tolist()}).json()
    assert out["prediction"] == 1 and abs(sum(out["probabilities"]) - 1) < 1e-3
    assert len(base64.b64decode(out["image"])) == 784
    for body in ({"image": [[1, 2], [3]]}, {"image": np.zeros((600, 10)).tolist()}, {"x": 1}, {"image": "a"}):
        r = client.post(f"/api/digits/sessions/{sid}/classify", json=body)
        assert r.status_code == 400, body
    two_d = client.post("/api/sessions", json={}).json()["id"]
    r = client.post(f"/api/digits/sessions/{two_d}/classify", json={"image": drawing.tolist()})
    assert r.status_code == 400 and "2-D page" in r.json()["error"]
    r = client.post(f"/api/sessions/{sid}/predict", json={"x": [[0.0, 0.0]]})      # the 2-D page's route
    assert r.status_code == 400 and "classifies drawings" in r.json()["error"]
    r = client.post(f"/api/sessions/{sid}/upload", content=b"1,2,0\n")
    assert r.status_code == 400 and "no CSV upload" in r.json()["error"]


def test_save_and_load_the_network(client):
    sid = new_session(client, batch_size=40)["id"]
    client.post(f"/api/sessions/{sid}/step")
    saved = client.get(f"/api/sessions/{sid}/export").content
    other = new_session(client, network=DEFAULT.replace("num_neurons:32", "num_neurons:8"))["id"]
    state = client.post(f"/api/digits/sessions/{other}/load", content=saved).json()
    assert state["config"]["batch_size"] == 40 and "--hidden 32" in state["command"]
    drawing = np.zeros((50, 50))
    drawing[5:45, 20:30] = 1.0
    a = client.post(f"/api/digits/sessions/{sid}/classify", json={"image": drawing.tolist()}).json()
    b = client.post(f"/api/digits/sessions/{other}/classify", json={"image": drawing.tolist()}).json()
    assert a["probabilities"] == b["probabilities"]
    two_d = client.get(f"/api/sessions/{client.post('/api/sessions', json={}).json()['id']}/export").content
    r = client.post(f"/api/digits/sessions/{other}/load", content=two_d)
    assert r.status_code == 400 and "not saved by the digits page" in r.json()["error"]
    r = client.post(f"/api/digits/sessions/{other}/load", content=b"not a model")
    assert r.status_code == 400 and r.json()["error"].startswith("model file:")


def test_random_crops_each_epoch_and_test_time_average():
    session = digits.DigitsSession("s")
    first = session.F_train
    session.step()
    assert session.F_train is not first and not np.array_equal(session.F_train, first)
    assert session.F_train.shape == (4000, 576)
    X = session.images.X_test[:5]
    averaged = session._outputs(X)
    expected = sum(digits._softmax(session.model.predict(session.images.X_test[:5].reshape(5, 28, 28)[
        :, r:r + 24, c:c + 24].reshape(5, -1))) for r, c in TEST_OFFSETS) / 4
    np.testing.assert_allclose(averaged, expected, rtol=1e-6)
    session.update_config({"test_crops": False, "augment": False})
    centre = session.images.X_train.reshape(-1, 28, 28)[:, 2:26, 2:26].reshape(4000, -1)
    np.testing.assert_array_equal(session.F_train, centre)
    assert not np.allclose(session._outputs(X), averaged)
    session.close()


def test_the_definitions_trainer_line_sets_what_the_request_leaves_out():
    c = digits.validate({"optimizer": "momentum", "lr": 0.01, "batch_size": 7})
    assert (c["optimizer"], c["lr"], c["batch_size"]) == ("momentum", 0.01, 7)   # no network: untouched
    c = digits.validate({"network": DEFAULT}, c)
    assert (c["optimizer"], c["lr"], c["batch_size"], c["l2_decay"]) == ("adadelta", None, 20, 0.001)
    c = digits.validate({"network": DEFAULT, "batch_size": 64}, c)
    assert c["batch_size"] == 64                                                   # the request wins
    sgd = DEFAULT.replace("{method:'adadelta', batch_size:20, l2_decay:0.001}",
                          "{learning_rate:0.05, momentum:0.0, batch_size:8}")
    c = digits.validate({"network": sgd}, c)
    assert (c["optimizer"], c["lr"], c["momentum"], c["batch_size"]) == ("sgd", 0.05, 0.0, 8)
