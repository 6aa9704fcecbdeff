"""Griffe extension (loaded by mkdocstrings-python, ``extensions`` in ``mkdocs.yml``): the
reStructuredText that ffnn's numpydoc docstrings use, rendered as Markdown.

The docstrings follow numpydoc, whose home is Sphinx: cross-references are Sphinx roles
(``:class:`~ffnn.History```, ``:func:`fit```, ``:meth:`Trainer.resume```), formulas are
``.. math::`` directives and literal blocks end their introducing line with ``::``. The
numpydoc *sections* are parsed by mkdocstrings-python itself (``docstring_style: numpy``);
these three constructs are not, and would show as raw text. Before rendering, this extension
rewrites each docstring of the package:

- a role becomes an optional cross-reference (``<autoref identifier=... optional>``) to the
  object it names, resolved the way Sphinx resolves it (the object's class, its module, then
  the absolute path; aliases such as ``ffnn.Sequential`` followed to the object's canonical
  path ``ffnn.model.Sequential``, and names the package exports lazily, such as
  ``ffnn.Trainer``, to the one object of that name): a link where the reference documents the object, plain
  code where it does not (a private helper, NumPy), never a warning. ``~`` shows the last
  name only, as in Sphinx;
- ``.. math::`` becomes a ``$$...$$`` display formula, which ``pymdownx.arithmatex`` keeps
  away from Markdown and ``mathml.py`` converts to MathML at build time. As Sphinx does, a
  block with line breaks ``\\\\`` or alignment points ``&`` is wrapped in an alignment
  environment (``aligned``: the lines aligned at their ``&``);
- ``text::`` before a literal block becomes ``text:``;
- the type of a numpydoc entry (``w : ndarray, shape of ``w````), which is shown as code,
  loses its inner double backticks.

The source files are not changed.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Alias, AliasResolutionError, CyclicAliasError, Extension, Object

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|mod|attr|exc|obj|const):`([^`]+)`")
MATH = re.compile(r"^([ \t]*)\.\. math::[ \t]*\n((?:[ \t]*\n)*)((?:\1[ \t]+\S.*\n|[ \t]*\n)+)", re.M)
LITERAL = re.compile(r"(\S)::[ \t]*\n(?=[ \t]*\n)")
# a numpydoc entry "name : type" (Parameters, Returns, Attributes, ...): its type is shown as code
ENTRY = re.compile(r"^([\w*][\w*, ]*) : (.*``.*)$", re.M)


def _lookup(collection: Any, path: str) -> Any:
    try:
        return collection.get_member(path)
    except (KeyError, ValueError, AttributeError, AliasResolutionError, CyclicAliasError):
        return None         # no such object, or a path through a module that was not loaded (gzip)


def resolve(obj: Object, target: str) -> str:
    """The canonical path of the object ``target`` names in the docstring of ``obj``, or
    ``target`` itself when it names nothing that was loaded."""
    collection = obj.modules_collection
    scopes: list[Object] = []
    scope: Object | None = obj
    while scope is not None:
        if scope.is_class or scope.is_module:
            scopes.append(scope)
        scope = scope.parent
    for candidate in [*(f"{s.path}.{target}" for s in scopes), target]:
        found = _lookup(collection, candidate)
        if found is None:
            continue
        if isinstance(found, Alias):
            try:
                return str(found.final_target.path)
            except (AliasResolutionError, CyclicAliasError):   # an alias to what was not loaded (NumPy)
                return candidate
        return str(found.path)
    return _lazy_export(obj.package, target) or target


def _lazy_export(package: Any, target: str) -> str | None:
    """``ffnn.Trainer``: a name the package exports lazily (a module ``__getattr__``, which
    Griffe cannot follow), found as the one module-level object of that name in the package."""
    parts = target.split(".")
    if len(parts) < 2 or parts[0] != package.name:
        return None
    hits = []
    stack = [package]
    while stack:
        module = stack.pop()
        stack.extend(m for m in module.modules.values() if not isinstance(m, Alias))
        member = module.members.get(parts[1])
        if member is not None and not isinstance(member, Alias) and not member.is_module:
            hits.append(member)
    if len(hits) != 1:
        return None
    found = _lookup(package.modules_collection, ".".join([hits[0].path, *parts[2:]]))
    return None if found is None else str(found.path)


def _role(obj: Object, match: re.Match[str]) -> str:
    text = match.group(1).strip()
    explicit = re.fullmatch(r"(.+?)\s*<([^<>]+)>", text)
    if explicit:
        title, target = explicit.group(1), explicit.group(2)
    else:
        target = text.lstrip("~")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    identifier = resolve(obj, target)
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'


def _math(match: re.Match[str]) -> str:
    indent, body = match.group(1), match.group(3).rstrip("\n")
    lines = body.split("\n")
    depth = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    tex = "\n".join(f"{indent}{line[depth:]}" if line.strip() else "" for line in lines)
    if ("\\\\" in tex or re.search(r"(?<!\\)&", tex)) and "\\begin{" not in tex:
        tex = f"{indent}\\begin{{aligned}}\n{tex}\n{indent}\\end{{aligned}}"
    return f"{indent}$$\n{tex}\n{indent}$$\n\n"


def convert(obj: Object, text: str) -> str:
    """The docstring ``text`` of ``obj`` with its roles, math directives and ``::`` rewritten."""
    text = MATH.sub(_math, text if text.endswith("\n") else text + "\n").rstrip("\n")
    text = LITERAL.sub(r"\1:\n", text)
    text = ENTRY.sub(lambda m: f"{m.group(1)} : {m.group(2).replace('``', '')}", text)
    return ROLE.sub(lambda m: _role(obj, m), text)


class RestructuredTextToMarkdown(Extension):
    """Rewrites the docstrings of a package once it is loaded (see the module docstring)."""

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[Any] = [pkg]
        while stack:
            obj = stack.pop()
            if isinstance(obj, Alias) or id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj, obj.docstring.value)
            stack.extend(obj.members.values())
