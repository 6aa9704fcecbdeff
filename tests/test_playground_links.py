"""Setting one weight of a 2-D playground network (a link edited on the page), through the HTTP API."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")


pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def test_set_one_weight_and_see_it_in_the_frame_and_the_model(client):
    sid = client.post("/api/sessions", json={"hidden": [3], "features": ["x1", "x2"]}).json()["id"]
    state = client.post(f"/api/sessions/{sid}/weight", json={"layer": 0, "to": 2, "from": 1, "value": -4.0}).json()
    w = state["frame"]["weights"][0]
    q = np.frombuffer(base64.b64decode(w["data"]), dtype=np.int8).reshape(w["out"], w["in"])
    assert w["scale"] == 4.0 and q[2, 1] == -127
    session = client.app.state.sessions.get(sid)
    assert session.model.layers[0].weight.value[2, 1] == -4.0
    before = session.model.layers[2].weight.value.copy()
    client.post(f"/api/sessions/{sid}/weight", json={"layer": 1, "to": 1, "from": 0, "value": 0.5})
    after = session.model.layers[2].weight.value
    assert after[1, 0] == 0.5 and np.array_equal(np.delete(after.ravel(), 3), np.delete(before.ravel(), 3))


@pytest.mark.parametrize("body, message", [
    ({"layer": 2, "to": 0, "from": 0, "value": 1.0}, "layer must be an integer in [0, 1]"),
    ({"layer": 0, "to": 3, "from": 0, "value": 1.0}, "to must be an integer in [0, 2]"),
    ({"layer": 0, "to": 0, "from": -1, "value": 1.0}, "from must be an integer in [0, 1]"),
    ({"layer": 0, "to": 0, "from": 0, "value": "big"}, "finite number"),
    ({"layer": 0, "to": 0, "from": 0, "value": 1e9}, "[-1000, 1000]"),
    ({"layer": True, "to": 0, "from": 0, "value": 1.0}, "layer must be an integer"),
    ([1, 2], "weight expects"),
])
def test_bad_weight_requests_are_refused(client, body, message):
    sid = client.post("/api/sessions", json={"hidden": [3], "features": ["x1", "x2"]}).json()["id"]
    r = client.post(f"/api/sessions/{sid}/weight", json=body)
    assert r.status_code == 400 and message in r.json()["error"], r.text
