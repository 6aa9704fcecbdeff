"""The documentation cannot rot: its shell examples run, its links to the API reference resolve.

- Every fenced ```bash block of ``docs/how-to/*.md`` is run, page by page, in a temporary
  directory: each ``ffnn ...`` line through ``ffnn.cli.main()`` (exit status 0 expected),
  each ``python FILE.py`` line with this interpreter. The files the page shows in a fenced
  block with a title (```text title="exams.csv") are written there first. A line whose comment
  says "Ctrl-C" is interrupted in its second epoch by a real SIGINT (exit status 130
  expected); ``ffnn playground`` (a server) is only parsed. The ``data:`` and ``model:`` lines
  of the output block after a command block must be what the commands print.
- The Python examples of the pages are doctests, run by pytest itself (``docs`` is in
  ``testpaths``, ``--doctest-glob=*.md``); a page whose examples write files starts with a
  hidden (HTML comment) example that moves them into a temporary directory.
- The tutorials' links into the API reference (``../../reference/<module>/#<dotted.name>``)
  point at a reference page that documents that module and at an object that exists.
- The MkDocs hooks render: the command-line reference has every subcommand, the tutorials
  list has every notebook, the offline check finds what a page would fetch, and (with the
  docs extra) the Griffe extension turns the docstrings' Sphinx roles into links.
- The math of the tutorials: every formula of the notebooks' Markdown cells (``$...$``,
  ``$$...$$``, found as nbconvert finds them) converts to MathML with latex2mathml (the docs
  extra), as ``docs/hooks/mathml.py`` converts it at build time, without building the site.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HOW_TO = sorted((DOCS / "how-to").glob("*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

FENCE = re.compile(r"^```([\w-]*)([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
REFERENCE_LINK = re.compile(r"\]\((?:\.\./)+reference/([\w]+)/#([\w.]+)\)")


def fenced_blocks(text: str) -> list[tuple[str, str | None, str]]:
    """(language, title or None, body) of each top-level fenced block, in page order."""
    found = []
    for m in FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', m.group(2))
        found.append((m.group(1), title.group(1) if title else None, m.group(3)))
    return found


def shell_lines(body: str) -> list[tuple[list[str], str]]:
    """(argv, comment) of each command of a bash block (continuation lines joined)."""
    lines, pending = [], ""
    for raw in body.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = shlex.split(line)
        cut = tokens.index("#") if "#" in tokens else len(tokens)
        assert not any(t.startswith("#") for t in tokens[:cut]), f"write comments as '  # ...': {line!r}"
        lines.append((tokens[:cut], " ".join(tokens[cut + 1:])))
    return lines


def _interrupt_in_second_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Press Ctrl-C once, for real (SIGINT to this process), after the first batch of epoch 2."""
    from ffnn.checkpoint import Checkpointer

    original = Checkpointer.on_batch_end
    sent = []

    def on_batch_end(self, batch, logs):
        original(self, batch, logs)
        if self.trainer.epoch >= 1 and not sent:
            sent.append(batch)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Checkpointer, "on_batch_end", on_batch_end)


def run_command(argv: list[str], comment: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run one command of a page; return what it printed."""
    from ffnn.cli import build_parser, main

    if argv[:1] == ["python"] and len(argv) == 2 and argv[1].endswith(".py"):
        done = subprocess.run([sys.executable, argv[1]], cwd=cwd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{done.stdout}{done.stderr}"
        return done.stdout
    assert argv[:1] == ["ffnn"], f"a how-to page runs only 'ffnn ...' and 'python FILE.py', got: {shlex.join(argv)}"
    if argv[1:2] == ["playground"]:            # a server that runs until stopped: check the options only
        build_parser().parse_args(argv[1:])
        return ""
    expected = 0
    with monkeypatch.context() as patch:
        if "ctrl-c" in comment.lower():
            _interrupt_in_second_epoch(patch)
            expected = 130
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv[1:])
    assert code == expected, f"{shlex.join(argv)} exited {code}, expected {expected}:\n{out.getvalue()}{err.getvalue()}"
    return out.getvalue()


@pytest.mark.parametrize("page", HOW_TO, ids=lambda p: p.name)
def test_how_to_commands_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = fenced_blocks(page.read_text(encoding="utf-8"))
    for _, title, body in blocks:
        if title:
            (tmp_path / title).write_text(body, encoding="utf-8")
    ran = 0
    for i, (lang, _, body) in enumerate(blocks):
        if lang not in ("bash", "sh", "shell"):
            continue
        printed = "".join(run_command(argv, comment, tmp_path, monkeypatch) for argv, comment in shell_lines(body))
        ran += 1
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if following and following[0] == "text" and following[1] is None:
            for line in following[2].splitlines():
                if line.startswith(("data: ", "model: ")):
                    assert line in printed.splitlines(), \
                        f"{page.name}: the page shows {line!r}; the command printed:\n{printed}"
    assert ran, f"{page.name} has no bash block"


def test_shell_line_parsing():
    body = "ffnn train --data x.csv \\\n  --epochs 1   # press Ctrl-C\n\n# a comment line\npython make.py\n"
    assert shell_lines(body) == [(["ffnn", "train", "--data", "x.csv", "--epochs", "1"], "press Ctrl-C"),
                                 (["python", "make.py"], "")]
    text = '```text title="a.csv"\nx,y\n```\n\n```bash\nffnn data list\n```\n'
    assert fenced_blocks(text) == [("text", "a.csv", "x,y\n"), ("bash", None, "ffnn data list\n")]


# --- links from the tutorials into the API reference ---------------------------------------

def _reference_links(notebook: Path) -> list[tuple[str, str]]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    links = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            links += REFERENCE_LINK.findall("".join(source) if isinstance(source, list) else source)
    return links


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in notebooks/ yet")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_tutorial_links_to_the_reference_resolve(notebook):
    links = _reference_links(notebook)
    for module, anchor in links:
        page = DOCS / "reference" / f"{module}.md"
        assert page.is_file(), f"{notebook.name} links to reference/{module}/, which has no page {page}"
        assert f"::: ffnn.{module}" in page.read_text(encoding="utf-8"), f"{page} does not document ffnn.{module}"
        assert anchor.startswith(f"ffnn.{module}."), \
            f"{notebook.name}: anchor #{anchor} is not on the page of ffnn.{module} (anchors are full dotted paths)"
        _resolve(anchor)


# --- the MkDocs hooks -------------------------------------------------------------------------

def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_has_every_command():
    from ffnn.cli import build_parser

    page = _hook("cli_reference").render()
    assert "usage: ffnn [-h]" in page
    commands = build_parser()._subparsers._group_actions[0].choices   # type: ignore[union-attr]
    for name, sub in commands.items():
        assert f"## `ffnn {name}` {{#ffnn-{name}}}" in page
        assert f"usage: ffnn {name}" in page
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in page, f"ffnn {name} {flag} is missing from the CLI reference"
    marker = _hook("cli_reference").MARKER
    assert marker in (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")


def test_tutorials_hook_lists_the_notebooks(monkeypatch):
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)     # on_config sets it; put it back after
    hook = _hook("tutorials")
    found = hook.find_tutorials(DOCS)
    assert [path for _, path in found] == [f"tutorials/{p.name}" for p in NOTEBOOKS]
    config = {"docs_dir": str(DOCS), "nav": [{"Home": "index.md"}, {"Tutorials": []}, {"More": "x.md"}]}
    nav = hook.on_config(config)["nav"]
    if NOTEBOOKS:
        assert nav[1] == {"Tutorials": [{hook.numbered(title, path, short=True): path} for title, path in found]}
    else:
        assert nav == [{"Home": "index.md"}, {"More": "x.md"}]
    assert hook.MARKER in (DOCS / "index.md").read_text(encoding="utf-8")
    assert hook.numbered("03 \u2014 The MLP: lecture", "tutorials/03_mlp.ipynb", short=True) == "3. The MLP"
    assert hook.numbered("2024 results", "tutorials/x.ipynb") == "2024 results"


def test_offline_hook_finds_what_a_page_would_fetch():
    hook = _hook("offline")
    page = ('<a href="https://example.org/book">a link</a><script src="../assets/bundle.js"></script>'
            '<link rel="canonical" href="http://127.0.0.1:8000/how-to/">'
            '<script src="https://cdn.example.org/x.js"></script><link rel="stylesheet" href="//fonts.example.org/css">'
            '<script type="module">const m = await import("https://cdnjs.example.org/mermaid.mjs");</script>'
            '<img src="http://127.0.0.1:8000/logo.png">')
    assert hook.fetched_addresses(page) == ["https://cdn.example.org/x.js", "//fonts.example.org/css",
                                            "http://127.0.0.1:8000/logo.png", "https://cdnjs.example.org/mermaid.mjs"]
    assert "http://127.0.0.1:8000/logo.png" not in hook.fetched_addresses(page, own_host="127.0.0.1:8000")
    notebook = ('<p>text</p><!-- Load mathjax -->\n<script src=""> </script>\n<!-- End of mathjax configuration -->'
                '<script type="module">\n  document.addEventListener("DOMContentLoaded", async () => {\n'
                '    const diagrams = document.querySelectorAll(".jp-Mermaid > pre.mermaid");\n'
                '    const mermaid = (await import("https://cdnjs.example.org/m.mjs")).default;\n</script>\n'
                '<style>.x {}</style>\n<!-- End of mermaid configuration --><div class="jupyter-wrapper">')
    assert hook.strip_notebook_loaders(notebook) == '<p>text</p><div class="jupyter-wrapper">'


def test_griffe_extension_turns_the_docstrings_rst_into_markdown():
    griffe = pytest.importorskip("griffe")          # installed with the docs extra
    extension = griffe.load_extensions(str(DOCS / "hooks" / "griffe_rst.py"))
    ffnn_api = griffe.load("ffnn", search_paths=[str(ROOT / "src")], extensions=extension)
    train = ffnn_api["train"].docstring.value
    assert '<autoref identifier="ffnn.train.Trainer" optional><code>Trainer</code></autoref>' in train
    # :class:`~ffnn.History`: a lazy export of the package, shown by its last name
    assert '<autoref identifier="ffnn.history.History" optional><code>History</code></autoref>' in train
    assert "gradient descent:\n" in train                               # "descent::" before a literal block
    sgd = ffnn_api["optim.sgd_update"].docstring.value
    assert "$$\n\\begin{aligned}\ng &\\leftarrow g + d\\,w \\\\\n" in sgd and ".. math::" not in sgd
    left = []
    stack = [ffnn_api]
    while stack:
        obj = stack.pop()
        if obj.is_alias:
            continue
        if obj.docstring is not None and re.search(r":(class|func|meth|data|mod|attr|exc):`", obj.docstring.value):
            left.append(obj.path)
        stack.extend(obj.members.values())
    assert not left, f"Sphinx roles left in {left}"


# --- the math of the tutorials --------------------------------------------------------------

def _markdown_cells(notebook: Path) -> list[str]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb.get("cells", []) if c.get("cell_type") == "markdown"]


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in notebooks/ yet")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_tutorial_formulas_convert_to_mathml(notebook):
    pytest.importorskip("latex2mathml")             # installed with the docs extra
    hook = _hook("mathml")
    converted, failed = 0, []
    for i, source in enumerate(_markdown_cells(notebook)):
        for tex, display in hook.notebook_formulas(source):
            try:
                mathml = hook.to_mathml(tex, display)
            except hook.MathError as exc:
                failed.append(f"Markdown cell {i}: {exc}: {tex.strip()!r}")
                continue
            assert mathml.startswith(f'<math display="{"block" if display else "inline"}"'), mathml[:80]
            assert not re.search(r"\\[A-Za-z]", re.sub(r'alttext="[^"]*"', "", mathml)), mathml  # no TeX left
            converted += 1
    assert not failed, f"{notebook.name}: {len(failed)} formulas latex2mathml cannot convert:\n" + "\n".join(failed)
    assert converted or not any("$" in source for source in _markdown_cells(notebook))


def test_mathml_hook_converts_only_the_math():
    pytest.importorskip("latex2mathml")
    hook = _hook("mathml")
    # nbconvert's HTML: the TeX between dollars, escaped; code spans, code cells and outputs untouched
    page = ('<div class="jp-Cell jp-MarkdownCell jp-Notebook-cell"><p>With $a &lt; b_1$ and <code>$HOME</code>:</p>'
            '<p>$$\\frac{\\partial E}{\\partial w} = \\sum_n x_n$$</p>'
            '<p>\\begin{aligned} a &amp;= b \\\\ c &amp;= d \\end{aligned}</p></div>'
            '<div class="jp-Cell jp-CodeCell jp-Notebook-cell"><pre>cost = "$x$"</pre>'
            '<div class="jp-OutputArea-output" data-mime-type="text/markdown"><p>$y$</p></div></div>')
    tally = hook.Tally()
    out = hook.convert_notebook(page, tally)
    assert tally.converted == 3 and not tally.as_tex and not tally.broken
    assert '<math display="inline" alttext="a &lt; b_1">' in out
    assert "<mfrac>" in out and out.count('<math display="block"') == 2 and "<mtable" in out
    assert "<code>$HOME</code>" in out and '<pre>cost = "$x$"</pre>' in out and "<p>$y$</p>" in out
    # pymdownx.arithmatex (the Markdown pages, the docstrings' math)
    out = hook.convert_arithmatex('<p><span class="arithmatex">\\(\\mathbf x\\)</span></p>', tally)
    assert "\U0001d431" in out                     # MATHEMATICAL BOLD SMALL X: Chromium ignores mathvariant
    # a broken formula is shown as its TeX, and counted
    out = hook.convert_arithmatex('<div class="arithmatex">\\[\\frac{1}{\\]</div>', tally)
    assert out == '<span class="math-block"><code class="math-tex">\\frac{1}{</code></span>' and len(tally.broken) == 1
