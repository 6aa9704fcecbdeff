"""Hypothesis against every playground endpoint: whatever the request, never a 5xx.

Requests are built from the app's real routes (the digits page's too) with random methods,
session ids (a live one, a closed one, garbage), query strings, headers (Host, Origin,
Content-Type) and bodies (random JSON of any nesting, settings with wrong types, CSV, raw
bytes). Every answer must be below 500; refusals are JSON ``{"error": ...}``.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ffnn.playground import create_app  # noqa: E402
from ffnn.playground.params import DEFAULTS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def app_client():
    from starlette.testclient import TestClient
    with TestClient(create_app(max_sessions=6, idle_timeout=60), base_url=LOCAL,
                    raise_server_exceptions=False) as client:
        yield client


def _paths(app):
    """Every route's path, with ``{sid}`` left to fill in."""
    paths = []
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is not None and "{path" not in path:
            paths.append(path)
    return sorted(set(paths)) + ["/static/app.js", "/static/../../etc/passwd", "/nope"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30)

setting_values = st.fixed_dictionaries({}, optional={
    key: st.one_of(st.just(value), json_values, st.sampled_from([-1, 0, 1e9, "x", [], {}, None, True, 2.5]))
    for key, value in DEFAULTS.items()})

bodies = st.one_of(
    st.none(),
    setting_values.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"x": json_values}).map(lambda d: json.dumps(d).encode()),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.binary(max_size=200),
    st.sampled_from([b"x1,x2,label\n0,0,0\n1,1,1\n", b"x1,x2,label\n", b"a,b\n1\n", b"\xff\xfe", b"{", b"null"]),
)

headers = st.fixed_dictionaries({}, optional={
    "Content-Type": st.sampled_from(["application/json", "text/csv", "application/octet-stream", "text/plain",
                                     "multipart/form-data", "", "application/json; charset=utf-8"]),
    "Origin": st.sampled_from([LOCAL, "http://evil.example", "null", ""]),
    "Host": st.sampled_from(["127.0.0.1", "localhost:8765", "evil.example", "", "[::1]"]),
})

queries = st.dictionaries(st.sampled_from(["max_frames", "filename", "n", "x"]),
                          st.sampled_from(["0", "1", "2", "-1", "abc", "", "100001", "9" * 30, "../x.csv"]),
                          max_size=2)


@settings(max_examples=2000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_request_gets_a_server_error(app_client, data):
    app = app_client.app
    live = app_client.post("/api/sessions", json={"n": 40}) if len(app.state.sessions) < 2 else None
    path = data.draw(st.sampled_from(_paths(app)))
    if "{sid}" in path:
        sid = data.draw(st.sampled_from(["LIVE", "no-such-session", "", "%00", "a" * 300]))
        if sid == "LIVE":                         # a session that exists now (which one is not drawn)
            sid = next(iter(app.state.sessions._sessions), "none")
        path = path.replace("{sid}", sid)
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    body = data.draw(bodies)
    request_headers = data.draw(headers)
    query = data.draw(queries)
    if path.endswith("/stream") and method == "GET":
        query["max_frames"] = "1"                 # a stream must end; a running session or none sends one
        app_client.post(path.replace("/stream", "/step"))
    response = app_client.request(method, path, content=body, headers=request_headers, params=query)
    assert response.status_code < 500, (method, path, request_headers, body[:200] if body else body,
                                        response.status_code, response.text[:300])
    if (method != "HEAD" and response.status_code >= 400
            and response.headers.get("content-type", "").startswith("application/json")):
        assert "error" in response.json() or response.status_code in (404, 405)
    if live is not None and live.status_code == 201:
        app_client.post(f"/api/sessions/{live.json()['id']}/pause")
    for session in list(app.state.sessions._sessions.values()):
        session.pause()
