"""A local web playground that trains real ffnn networks on 2-D toy data.

``ffnn playground`` runs :func:`serve`: a Starlette + uvicorn server on 127.0.0.1 whose page
(plain HTML, CSS and JavaScript, served locally) is only a view. Every training step, loss,
accuracy and heatmap is computed by ffnn in Python and streamed to the page as Server-Sent
Events. Needs the ``web`` extra (``pip install 'ffnn[web]'``); this package imports without
it and raises :class:`WebExtraMissing` only when the server is asked for.
"""

from __future__ import annotations

from typing import Any

from .server import WEB_EXTRA_MESSAGE, WebExtraMissing

__all__ = ["serve", "create_app", "WebExtraMissing", "WEB_EXTRA_MESSAGE"]


def create_app(**options: Any) -> Any:
    """The playground's Starlette application (for tests and ASGI servers).

    Options: ``max_sessions`` (default 16), ``idle_timeout`` seconds (default 900).
    """
    from .server import create_app as _create_app
    return _create_app(**options)


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True) -> None:
    """Serve the playground at ``http://host:port/`` until interrupted.

    Binding anywhere but 127.0.0.1 prints a warning; ``open_browser`` opens the page.
    """
    from .server import serve as _serve
    _serve(host, port, open_browser)
