"""MkDocs hook: the tutorials are the notebooks of ``notebooks/``, found at build time.

``docs/tutorials`` is a symbolic link to ``../notebooks``; MkDocs follows it and mkdocs-jupyter
executes and renders each ``.ipynb`` at ``tutorials/<name>/``. This hook

- fills the empty ``Tutorials`` section of the ``nav`` in ``mkdocs.yml`` with the notebooks
  that exist (sorted by file name, titled by each notebook's first ``# heading``), and leaves
  the section out while there are none, so a notebook that is not written yet never breaks
  the strict build;
- replaces the marker line of ``index.md`` by the same list, as links.

Only the standard library is imported (pytest may import this file).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

SECTION = "Tutorials"
MARKER = "<!-- ffnn-tutorials -->"
FOLDER = "tutorials"

_found: list[tuple[str, str]] = []      # (title, path relative to docs_dir) of the last config


def notebook_title(path: Path) -> str:
    """The first level-1 Markdown heading of the notebook, else a title made of its file name."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "markdown":
                continue
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else source
            for line in text.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    except (OSError, ValueError):
        pass
    return path.stem.replace("_", " ").strip().capitalize()


def find_tutorials(docs_dir: str | Path) -> list[tuple[str, str]]:
    """(title, docs-relative path) of every notebook in ``docs_dir/tutorials``, by file name."""
    folder = Path(docs_dir) / FOLDER
    if not folder.is_dir():
        return []
    return [(notebook_title(p), f"{FOLDER}/{p.name}") for p in sorted(folder.glob("*.ipynb"))]


def numbered(title: str, path: str, short: bool = False) -> str:
    """``"3. Title"`` with the number of the file name (``03_...``), whatever numbering the
    heading itself has; ``short`` keeps the part before the first colon (for the nav)."""
    title = re.sub(r"^\s*\d+\s*[.:)\-\u2013\u2014]\s*", "", title) or title
    if short and ":" in title:
        title = title.split(":", 1)[0].strip()
    number = re.match(r"(\d+)", Path(path).name)
    return f"{int(number.group(1))}. {title}" if number else title


def _jupyter_config() -> None:
    """Let the notebook runner read ``hooks/jupyter/jupyter_nbconvert_config.json``: the kernel
    that executes the notebooks talks to the build over CurveZMQ-encrypted sockets (without it,
    ipykernel warns on every notebook that it runs over TCP without encryption). Skipped where
    pyzmq has no CurveZMQ (the setting would refuse to start the kernel there)."""
    try:
        import zmq
        if not zmq.has("curve"):
            return
    except ImportError:                 # no notebook runner installed: nothing to configure
        return
    here = str(Path(__file__).resolve().parent / "jupyter")
    paths = [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([here, *paths])


def on_config(config: Any) -> Any:
    _jupyter_config()
    _found[:] = find_tutorials(config["docs_dir"])
    nav = config.get("nav")
    if not nav:
        return config
    new_nav = []
    for item in nav:
        if isinstance(item, dict) and list(item) == [SECTION] and not item[SECTION]:
            if _found:
                new_nav.append({SECTION: [{numbered(title, path, short=True): path} for title, path in _found]})
            continue
        new_nav.append(item)
    config["nav"] = new_nav
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    if not _found:
        listing = "*(The tutorial notebooks are being written; they appear here once `notebooks/` has them.)*"
    else:
        depth = page.file.src_uri.count("/")
        prefix = "../" * depth
        listing = "\n".join(f"- [{numbered(title, path)}]({prefix}{path})" for title, path in _found)
    return markdown.replace(MARKER, listing)
