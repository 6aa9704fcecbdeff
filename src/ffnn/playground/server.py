"""The playground's HTTP server: a Starlette app over :mod:`ffnn.playground.session`.

Routes (every error is ``{"error": "..."}`` with status 400 or 404)::

    GET    /                                  the page
    GET    /static/{file}                     its script and style sheet
    GET    /api/options                       choices, bounds and defaults
    POST   /api/sessions                      create a session (JSON settings) -> 201 state
    GET    /api/sessions/{id}                 state: settings, points, history, last frame
    DELETE /api/sessions/{id}                 end the session (POST .../close for sendBeacon)
    POST   /api/sessions/{id}/config          change settings (JSON, partial) -> state
    POST   /api/sessions/{id}/upload          CSV body "x1,x2,label" (<= 1 MB, 5000 points)
    POST   /api/sessions/{id}/play|pause|step|reset          -> state
    GET    /api/sessions/{id}/frame           the latest frame
    GET    /api/sessions/{id}/stream          Server-Sent Events, one frame per event
    POST   /api/sessions/{id}/predict         {"x": [[x1, x2], ...]} -> {"y": outputs}
    GET    /api/sessions/{id}/export          the trained model as model.ffnn
    POST   /api/sessions/{id}/weight          {"layer": k, "to": i, "from": j, "value": w}: set one weight
    GET    /api/sessions/{id}/command         {"command": "ffnn train ..."}
    GET    /digits, /api/digits/...           the digits page (:func:`ffnn.playground.digits.routes`)

Starlette and uvicorn are imported inside the functions, so ``import ffnn.playground``
works without them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

from ..errors import FfnnError
from . import digits
from .guard import RequestGuard, allowed_hosts, check_bind, header_timeout_protocol
from .params import LIMITS, ParamError, options
from .session import FRAME_INTERVAL, SessionLimitReached, SessionManager, SessionNotFound

__all__ = ["create_app", "serve", "WebExtraMissing", "WEB_EXTRA_MESSAGE"]

STATIC = Path(__file__).parent / "static"
WEB_EXTRA_MESSAGE = "ffnn playground needs the web extra: pip install 'ffnn[web]'"
MAX_JSON_BYTES = 1_000_000
MAX_JSON_DEPTH = 8
MAX_PREDICT_POINTS = 10_000
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class WebExtraMissing(FfnnError, ImportError):
    """Starlette or uvicorn is not installed."""


def _require_web() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise WebExtraMissing(f"{WEB_EXTRA_MESSAGE} ({exc})") from None


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Any, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge(f"request body is {int(declared)} bytes; at most {limit} bytes are accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(f"request body exceeds {limit} bytes; at most {limit} bytes are accepted")
        chunks.append(chunk)
    return b"".join(chunks)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a number is depth 0)."""
    deepest, level = 0, [(value, 0)]
    while level:
        item, d = level.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, d + 1)
            level.extend((v, d + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


async def _read_json(request: Any) -> Any:
    body = await _read_body(request, MAX_JSON_BYTES)
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParamError(f"request body must be JSON: {exc}") from None
    except RecursionError:
        value = None
    if value is None and body.strip() != b"null" or _depth(value) > MAX_JSON_DEPTH:
        raise ParamError(f"request body nests lists or objects more than {MAX_JSON_DEPTH} deep")
    return value


def create_app(max_sessions: int = 16, idle_timeout: float = 900.0, hosts: Any = None, any_ip: bool = False):
    """The Starlette application; ``app.state.sessions`` is its :class:`SessionManager`.

    Every request passes :class:`~ffnn.playground.guard.RequestGuard`: ``hosts`` are the Host
    names it answers to (default: localhost and the loopback addresses), ``any_ip`` also
    allows IP-address hosts (a server bound to every interface).
    """
    _require_web()
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    manager = SessionManager(max_sessions=max_sessions, idle_timeout=idle_timeout)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def api(handler):
        async def endpoint(request):
            try:
                return await handler(request)
            except SessionLimitReached as exc:
                return error(429, str(exc))
            except SessionNotFound as exc:
                return error(404, f"no playground session {exc.args[0]!r} (it expired or was "
                                  "closed); reload the page to start a new one")
            except _BodyTooLarge as exc:
                return error(400, str(exc))
            except FfnnError as exc:
                return error(400, str(exc))
        return endpoint

    def session_of(request):
        return manager.get(request.path_params["sid"])

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    thumbnails: dict[str, Any] = {}

    def thumbs() -> dict[str, Any]:
        if not thumbnails:
            from .. import data
            from .params import CLASSIFICATION_SETS, REGRESSION_SETS
            for name in CLASSIFICATION_SETS + REGRESSION_SETS:
                ds = data.load(name, n=160, noise=0.0, test_fraction=0.1, seed=0)
                y = ds.y_train.reshape(len(ds.y_train), -1)[:, 0]
                v = 2.0 * y - 1.0 if ds.task == "classification" else y
                thumbnails[name] = {"x": ds.X_train.round(2).tolist(), "v": v.round(3).tolist()}
        return thumbnails

    async def get_options(request):
        return JSONResponse({**options(), "thumbnails": await run_in_threadpool(thumbs)})

    async def create(request):
        config = await _read_json(request)
        session = await run_in_threadpool(manager.create, config)
        return JSONResponse(await run_in_threadpool(session.state), status_code=201)

    async def get_state(request):
        return JSONResponse(await run_in_threadpool(session_of(request).state))

    async def delete(request):
        manager.delete(request.path_params["sid"])
        return JSONResponse({"deleted": request.path_params["sid"]})

    async def config(request):
        session = session_of(request)
        update = await _read_json(request)
        await run_in_threadpool(session.update_config, update)
        return JSONResponse(await run_in_threadpool(session.state))

    async def upload(request):
        session = session_of(request)
        body = await _read_body(request, LIMITS["upload_bytes"])
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ParamError("the CSV must be UTF-8 text of x1,x2,label rows") from None
        await run_in_threadpool(session.set_upload, text, request.query_params.get("filename"))
        return JSONResponse(await run_in_threadpool(session.state))

    def action(name: str):
        async def run(request):
            session = session_of(request)
            await run_in_threadpool(getattr(session, name))
            return JSONResponse(await run_in_threadpool(session.state))
        return run

    async def frame(request):
        return Response(session_of(request).frame_json, media_type="application/json")

    async def command(request):
        return JSONResponse({"command": session_of(request).command()})

    async def predict(request):
        import numpy as np
        session = session_of(request)
        body = await _read_json(request)
        x = body.get("x") if isinstance(body, dict) else None
        try:
            X = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParamError("predict expects {\"x\": [[x1, x2], ...]} with numbers") from None
        if X.ndim != 2 or X.shape[1] != 2 or not 1 <= len(X) <= MAX_PREDICT_POINTS:
            raise ParamError(f"predict expects x as 1 to {MAX_PREDICT_POINTS} points [x1, x2], "
                             f"got an array of shape {X.shape}")
        if not np.isfinite(X).all():
            raise ParamError("predict: x must contain finite numbers")
        y = await run_in_threadpool(session.predict, X)
        return JSONResponse({"y": y.tolist()})

    async def set_weight(request):
        session = session_of(request)
        body = await _read_json(request)
        if not isinstance(body, dict):
            raise ParamError('weight expects {"layer": k, "to": i, "from": j, "value": w}')
        await run_in_threadpool(session.set_weight, body.get("layer"), body.get("to"), body.get("from"),
                                body.get("value"))
        return JSONResponse(await run_in_threadpool(session.state))

    async def export(request):
        session = session_of(request)
        data = await run_in_threadpool(session.export_bytes)
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="model.ffnn"'})

    async def stream(request):
        session = session_of(request)
        raw = request.query_params.get("max_frames", "0")
        if not raw.isdigit() or int(raw) > 100_000:
            raise ParamError(f"max_frames must be an integer between 0 and 100000, got {raw!r}")
        max_frames = int(raw)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        if request.method == "HEAD":          # the headers only: a stream that never ends has no length
            return Response(media_type="text/event-stream", headers=headers)

        async def events():
            session.streams += 1
            last_seq, sent = -1, 0
            last_write = last_check = time.monotonic()
            try:
                yield "retry: 1000\n\n"
                while not session.closed:
                    now = time.monotonic()
                    if session.seq != last_seq:
                        last_seq = session.seq
                        yield f"event: frame\ndata: {session.frame_json}\n\n"
                        sent += 1
                        last_write = now
                        if max_frames and sent >= max_frames:
                            return
                    elif now - last_write > 5.0:
                        yield ": ping\n\n"
                        last_write = now
                    if now - last_check > 0.5:
                        last_check = now
                        session.touch()
                        if await request.is_disconnected():
                            return
                    await asyncio.sleep(FRAME_INTERVAL)
                yield "event: closed\ndata: {}\n\n"
            finally:
                session.streams -= 1
                session.touch()

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def expire_loop():
        while True:
            await asyncio.sleep(30)
            manager.expire()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(expire_loop())
        try:
            yield
        finally:
            task.cancel()
            manager.close_all()

    sid = "/api/sessions/{sid}"
    routes = [
        Route("/", index),
        Route("/api/options", get_options),
        Route("/api/sessions", api(create), methods=["POST"]),
        Route(sid, api(get_state), methods=["GET"]),
        Route(sid, api(delete), methods=["DELETE"]),
        Route(sid + "/close", api(delete), methods=["POST"]),
        Route(sid + "/config", api(config), methods=["POST"]),
        Route(sid + "/upload", api(upload), methods=["POST"]),
        *[Route(f"{sid}/{name}", api(action(name)), methods=["POST"])
          for name in ("play", "pause", "step", "reset")],
        Route(sid + "/frame", api(frame)),
        Route(sid + "/command", api(command)),
        Route(sid + "/predict", api(predict), methods=["POST"]),
        Route(sid + "/export", api(export)),
        Route(sid + "/weight", api(set_weight), methods=["POST"]),
        Route(sid + "/stream", api(stream)),
        *digits.routes(manager, api, _read_json, _read_body, STATIC),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    from starlette.middleware import Middleware
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(RequestGuard, hosts=hosts or allowed_hosts(), any_ip=any_ip)])
    app.state.sessions = manager
    return app


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True) -> None:
    """Run the playground at ``http://host:port/`` until interrupted; open a browser tab."""
    _require_web()
    import uvicorn

    check_bind(host, port)                # a port in use fails here, before anything is announced
    if host not in LOCAL_HOSTS:
        print(f"warning: the playground is binding to {host}, not 127.0.0.1: anyone who can "
              "reach this address can use it and make it compute. It has no authentication.",
              file=sys.stderr)
    wildcard = host in ("0.0.0.0", "::", "")
    app = create_app(hosts=allowed_hosts(host), any_ip=wildcard)
    url_host = host if not wildcard else "127.0.0.1"
    url = f"http://{'[' + url_host + ']' if ':' in url_host else url_host}:{port}/"
    print(f"ffnn playground: {url}  (Ctrl+C to stop)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning", http=header_timeout_protocol(), timeout_keep_alive=5)
