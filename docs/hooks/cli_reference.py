"""MkDocs hook: the command-line reference, generated from ``ffnn.cli.build_parser()``.

``docs/reference/cli.md`` holds a marker line; at build time it is replaced by ``ffnn --help``
and ``ffnn COMMAND --help`` of every subcommand, so the page can never drift from the parser.

Only the standard library and ffnn are imported at module level (pytest may import this file).
"""

from __future__ import annotations

import argparse
from typing import Any

MARKER = "<!-- ffnn-cli-reference -->"
PAGE = "reference/cli.md"
WIDTH = 80             # fixed help width (the content column): the page does not depend on the terminal


def _fixed_width(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand, in the parser's order."""
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                rows.append((name, helps.get(name, ""), sub))
    return rows


def render() -> str:
    """The Markdown of the reference: a table of the commands, then each command's help."""
    from ffnn.cli import build_parser

    parser = build_parser()
    _fixed_width(parser)
    commands = _subcommands(parser)
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| [`ffnn {name}`](#ffnn-{name}) | {text} |" for name, text, _ in commands]
    sections = [("ffnn", "ffnn", parser)] + [(f"ffnn-{name}", f"ffnn {name}", sub) for name, _, sub in commands]
    for anchor, title, p in sections:
        _fixed_width(p)
        lines += ["", f"## `{title}` {{#{anchor}}}", "", "```text", p.format_help().rstrip(), "```"]
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError
        raise PluginError(f"{PAGE} has lost its marker line {MARKER!r}; the CLI reference goes there")
    return markdown.replace(MARKER, render())
