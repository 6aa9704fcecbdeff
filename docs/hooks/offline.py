"""MkDocs hook: the built site fetches nothing from other hosts.

The theme is configured for it (``font: false``: no Google Fonts; no ``repo_url``, no
analytics). The notebook pages of mkdocs-jupyter carry two loaders from nbconvert's template
that point at a CDN: MathJax (with an empty URL here, so nothing loads; ``mathml.py`` converts
the notebooks' formulas to MathML at build time instead) and Mermaid (imported from cdnjs only
when a notebook has a Mermaid diagram). This hook removes both blocks from the notebook pages,
then checks every page: a ``<script>``, ``<img>``, ``<iframe>``, ``<source>``, a ``<link>``
that loads something (a style sheet, an icon, a preload; not ``rel="canonical"``) or a
JavaScript ``import(...)`` whose address is on another host than the site's own is a warning,
which fails ``mkdocs build --strict``. Plain links (``<a href="https://...">``) are allowed:
they are not fetched.

Only the standard library is imported (pytest may import this file).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("mkdocs.hooks.offline")

# nbconvert's base/mathjax.html.j2 and lab/mermaidjs.html.j2, as rendered into each notebook page
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MERMAID = re.compile(r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", async \(\) => \{'
                      r'\s*const diagrams = document\.querySelectorAll\("\.jp-Mermaid.*?'
                      r"<!-- End of mermaid configuration -->", re.S)
_TAG = re.compile(r"<(script|link|img|iframe|source|audio|video|embed)\b([^>]*)>", re.I)
_ATTR = re.compile(r"""\b(src|href|rel)\s*=\s*["']([^"']*)["']""", re.I)
_IMPORT = re.compile(r"""\bimport\(\s*["']((?:https?:)?//[^"']+)""")
# <link rel=...> that make the browser fetch or connect (not canonical, alternate, prev, next)
_FETCHING_RELS = {"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload", "modulepreload", "prefetch",
                  "preconnect", "dns-prefetch", "manifest"}


def strip_notebook_loaders(html: str) -> str:
    """The page without nbconvert's MathJax and Mermaid loader blocks."""
    return _MERMAID.sub("", _MATHJAX.sub("", html))


def fetched_addresses(html: str, own_host: str | None = None) -> list[str]:
    """The addresses on other hosts than ``own_host`` that the page would fetch when opened."""
    found = []
    for tag, attrs in _TAG.findall(html):
        values = {k.lower(): v for k, v in _ATTR.findall(attrs)}
        if tag.lower() == "link" and not _FETCHING_RELS & set(values.get("rel", "").lower().split()):
            continue
        address = values.get("src") or values.get("href") or ""
        if re.match(r"(?:https?:)?//", address, re.I):
            found.append(address)
    found += _IMPORT.findall(html)
    return [a for a in found if urlsplit(a).netloc != own_host]


def on_post_page(output: str, page: Any, config: Any) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        output = strip_notebook_loaders(output)
    own_host = urlsplit(config.get("site_url") or "").netloc or None    # mkdocs serve: http://127.0.0.1:8000/
    for found in fetched_addresses(output, own_host):
        log.warning("%s would fetch from another host when opened: %s", page.file.src_uri, found[:160])
    return output
