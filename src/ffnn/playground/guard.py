"""What keeps the playground safe to leave open: checks applied to every request and connection.

The playground has no accounts; it is meant for the browser on the same machine. Three ways
another party could still drive it are closed here:

- **DNS rebinding** (a page on ``evil.example`` whose name later resolves to 127.0.0.1): every
  request must carry a ``Host`` the server answers to (:func:`allowed_hosts`: the bound address,
  ``localhost``, ``127.0.0.1``, ``[::1]``); any other is refused with 421.
- **Cross-site requests** (any web page can POST to 127.0.0.1): a request that changes state
  (every method but GET, HEAD, OPTIONS) is refused with 403 when its ``Origin`` is not the
  server's own, or when its body has a type a page can send without asking first
  (``text/plain``, form encodings): bodies must be ``application/json``, ``text/csv`` or
  ``application/octet-stream``, which a browser only sends cross-origin after a CORS preflight
  that this server never grants.
- **Slow clients** holding connections open: :func:`header_timeout_protocol` closes a
  connection whose request head has not arrived ``seconds`` after it opened (or after the
  previous response), which uvicorn does not do by itself.

:class:`RequestGuard` is ASGI middleware, so it covers every route, including routes added
later (the digits page). :func:`check_bind` tries the address before the server announces it.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["RequestGuard", "allowed_hosts", "header_timeout_protocol", "check_bind", "HEADER_TIMEOUT",
           "BODY_TYPES"]

HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a complete request head."""

BODY_TYPES = ("application/json", "text/csv", "application/octet-stream")
"""Content types a state-changing request may carry (none of them is a CORS "simple" type)."""

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
WILDCARDS = ("0.0.0.0", "::", "")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _bare(host: str) -> str:
    """A Host header's or an address's host part, lower case, without brackets or port."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        return host.split(":")[0]
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def allowed_hosts(bound: str | None = None) -> frozenset[str]:
    """Host names (without port or brackets) the server answers to: ``localhost``, the loopback
    addresses, and the address it is bound to (when that is not a wildcard)."""
    hosts = {"localhost", "127.0.0.1", "::1"}
    if bound and bound not in WILDCARDS:
        hosts.add(_bare(bound) if not _is_ip(bound) else bound.lower())
    return frozenset(hosts)


class RequestGuard:
    """ASGI middleware: the Host allow-list and the Origin and body-type checks (see the module).

    ``hosts`` are the allowed host names; with ``any_ip`` (a server bound to every interface)
    a Host that is an IP address literal is allowed too (a rebinding attack needs a name).
    """

    def __init__(self, app: Callable[..., Awaitable[None]], hosts: Iterable[str] = (), any_ip: bool = False) -> None:
        self.app = app
        self.hosts = frozenset(_bare(h) for h in hosts) or allowed_hosts()
        self.any_ip = any_ip

    def host_allowed(self, host: str) -> bool:
        name = _bare(host)
        return name in self.hosts or (self.any_ip and _is_ip(name))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        problem = None
        if not self.host_allowed(host):
            problem = (421, f"this playground does not answer to the host {host!r}; open it as "
                            "http://127.0.0.1:PORT/ or http://localhost:PORT/")
        elif scope["type"] == "http" and scope.get("method", "GET") not in SAFE_METHODS:
            problem = self._check_write(headers, host)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message = problem
        body = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    def _check_write(self, headers: dict[str, str], host: str) -> tuple[int, str] | None:
        origin = headers.get("origin")
        if origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.strip().lower():
                return 403, f"cross-origin request refused (Origin {origin!r}); the playground takes requests " \
                            "from its own page only"
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and kind not in BODY_TYPES:
            return 403, f"request body of type {kind!r} refused; send {BODY_TYPES[0]}"
        return None


def header_timeout_protocol(seconds: float = HEADER_TIMEOUT) -> type:
    """uvicorn's h11 protocol, closing a connection whose request head is not complete
    ``seconds`` after the connection opened or the previous response ended."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11Protocol(H11Protocol):
        _armed = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def _arm(self) -> None:
            self._armed += 1
            self.loop.call_later(seconds, self._expire, self._armed)

        def _expire(self, armed: int) -> None:
            waiting = self.conn.their_state is h11.IDLE      # no complete request head yet
            if armed == self._armed and waiting and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutH11Protocol


def check_bind(host: str, port: int) -> None:
    """Raise :class:`~ffnn.ConfigError` (one line) when ``host:port`` cannot be listened on
    (the port is in use, the address is not this machine's)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        raise ConfigError(f"cannot serve the playground on {host}:{port}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            hint = "; is another playground running? choose another --port" if exc.errno == errno.EADDRINUSE else ""
            raise ConfigError(f"cannot serve the playground on {host}:{port}: {exc.strerror or exc}{hint}") from None
