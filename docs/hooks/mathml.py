"""MkDocs hook: LaTeX math as MathML, converted at build time (no JavaScript, nothing fetched).

The site loads no math renderer (see ``offline.py``); browsers render MathML themselves
(Chromium since 109, Firefox, Safari). This hook turns the pages' TeX into ``<math>``
elements with ``latex2mathml`` (the ``docs`` extra) in ``on_page_content``:

- the tutorial notebooks: nbconvert renders a Markdown cell's math as the TeX between ``$...$``
  (inline) or ``$$...$$`` (display; ``\\[...\\]`` and ``\\(...\\)`` come out as these too) with
  ``&``, ``<`` and ``>`` escaped, and a bare ``\\begin{env}...\\end{env}`` as itself. These
  spans are converted in the text of the Markdown cells only, never in code (``<code>``,
  ``<pre>``), in code cells or in their outputs;
- the Markdown pages and the API reference: ``pymdownx.arithmatex`` (generic mode, in
  ``mkdocs.yml``) keeps ``$...$`` / ``$$...$$`` away from Markdown and wraps the TeX in
  ``<span class="arithmatex">\\(...\\)</span>`` or ``<div class="arithmatex">\\[...\\]</div>``;
  the docstrings' ``.. math::`` blocks reach it as ``$$...$$`` (``griffe_rst.py``).

latex2mathml writes MathML 3; its output is adjusted for MathML Core, what Chromium implements,
and for TeX's spacing: ``aligned`` (which latex2mathml does not know) is converted as ``align*``,
whose table has the same right/left column pairs; ``\\mathbf x``-style variants become the
Unicode mathematical letters (Chromium ignores ``mathvariant`` other than ``normal``); function
names (``\\ln``, ``\\max``, ``\\operatorname``), signs, ``/``, ``|`` and primes are spaced as
TeX spaces them (``_tex_spacing``); ``\\sim``, ``\\pm``, ``\\infty`` are the right kind of
element; named spaces get lengths; ``\\_`` in ``\\text{}`` is ``_``. The TeX is kept as the
``alttext`` of each ``<math>``. A style sheet, ``assets/ffnn-math.css``, picks a math font
installed on the reader's system (none is downloaded), aligns the table columns and lets a wide
display formula scroll instead of widening the page.

A formula latex2mathml cannot convert is shown as its TeX in ``<code>``. When the TeX itself
is wrong (unbalanced braces or environments, a missing argument, ``&`` or ``\\\\`` outside an
alignment environment, a command latex2mathml does not know, which is a typo or needs a
rewrite here), that is a warning, which fails ``mkdocs build --strict``; a limitation of
latex2mathml on valid TeX is reported as information only. The build log ends with the number
of formulas converted and shown as TeX.

Only the standard library is imported at module level (pytest may import this file);
``latex2mathml`` is imported when a formula is converted.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from typing import Any
from xml.etree.ElementTree import Element, tostring

log = logging.getLogger("mkdocs.hooks.mathml")

CSS_PATH = "assets/ffnn-math.css"
CSS = """\
/* MathML converted at build time by docs/hooks/mathml.py */
/* a font with an OpenType MATH table, of those commonly installed (none is downloaded):
   the script positions, fraction rules and large operators come from it */
.md-typeset math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", "DejaVu Math TeX Gyre",
                                "Libertinus Math", "Noto Sans Math", math; }
.md-typeset math[display="block"] { margin: 0.8em 0; }
/* a display formula wider than the page scrolls by itself */
.md-typeset .math-block { display: block; overflow-x: auto; overflow-y: hidden; }
/* align*, split, aligned: right/left column pairs, no gap inside a pair, 2em between pairs */
.md-typeset mtd { padding: 0.25em 0; }
/* (Chromium lays a cell's content out as a block: text-align: -webkit-right moves it) */
.md-typeset mtd[columnalign="right"] { text-align: right; text-align: -webkit-right; padding-left: 2em; }
.md-typeset mtd[columnalign="left"] { text-align: left; text-align: -webkit-left; }
.md-typeset mtd[columnalign="right"]:first-child { padding-left: 0; }
.md-typeset mtable:not([columnspacing]) > mtr > mtd:not([columnalign]) { padding: 0.25em 0.4em; }
.md-typeset code.math-tex { white-space: pre-wrap; }
"""

# --- one formula --------------------------------------------------------------------------------


class MathError(ValueError):
    """A formula that latex2mathml cannot convert; ``broken``: the TeX itself is wrong."""

    def __init__(self, message: str, broken: bool) -> None:
        super().__init__(message)
        self.broken = broken


# valid TeX that latex2mathml does not know, rewritten into what it knows
_REWRITES = [
    (re.compile(r"\\(begin|end)\{aligned\}"), r"\\\1{align*}"),
    (re.compile(r"\\(begin|end)\{(?:gathered|gather\*?)\}"), r"\\\1{matrix}"),
    (re.compile(r"\\operatorname\*"), r"\\operatorname"),
    (re.compile(r"\\label\{[^{}]*\}"), ""),
    (re.compile(r"\\arg(?![A-Za-z])"), r"\\operatorname{arg}"),
    (re.compile(r"(?<!\\)((?:\\\\)*)\\\n"), r"\1\\ "),     # a backslash ending a line: TeX's control space
]
# lengths for the named spaces that MathML Core dropped
_SPACES = {"negativethinmathspace": "-0.1667em", "negativemediummathspace": "-0.2222em",
           "negativethickmathspace": "-0.2778em", "thinmathspace": "0.1667em",
           "mediummathspace": "0.2222em", "thickmathspace": "0.2778em"}
_VARIANTS = {"bold": "BOLD", "italic": "ITALIC", "bold-italic": "BOLD ITALIC", "script": "SCRIPT",
             "bold-script": "BOLD SCRIPT", "fraktur": "FRAKTUR", "bold-fraktur": "BOLD FRAKTUR",
             "double-struck": "DOUBLE-STRUCK", "sans-serif": "SANS-SERIF", "bold-sans-serif": "SANS-SERIF BOLD",
             "sans-serif-italic": "SANS-SERIF ITALIC", "sans-serif-bold-italic": "SANS-SERIF BOLD ITALIC",
             "monospace": "MONOSPACE"}
# the letters of the Unicode mathematical alphabets that live in the Letterlike Symbols block
_HOLES = {("SCRIPT", "CAPITAL B"): "\u212c", ("SCRIPT", "CAPITAL E"): "\u2130", ("SCRIPT", "CAPITAL F"): "\u2131",
          ("SCRIPT", "CAPITAL H"): "\u210b", ("SCRIPT", "CAPITAL I"): "\u2110", ("SCRIPT", "CAPITAL L"): "\u2112",
          ("SCRIPT", "CAPITAL M"): "\u2133", ("SCRIPT", "CAPITAL R"): "\u211b", ("SCRIPT", "SMALL E"): "\u212f",
          ("SCRIPT", "SMALL G"): "\u210a", ("SCRIPT", "SMALL O"): "\u2134", ("FRAKTUR", "CAPITAL C"): "\u212d",
          ("FRAKTUR", "CAPITAL H"): "\u210c", ("FRAKTUR", "CAPITAL I"): "\u2111", ("FRAKTUR", "CAPITAL R"): "\u211c",
          ("FRAKTUR", "CAPITAL Z"): "\u2128", ("DOUBLE-STRUCK", "CAPITAL C"): "\u2102",
          ("DOUBLE-STRUCK", "CAPITAL H"): "\u210d", ("DOUBLE-STRUCK", "CAPITAL N"): "\u2115",
          ("DOUBLE-STRUCK", "CAPITAL P"): "\u2119", ("DOUBLE-STRUCK", "CAPITAL Q"): "\u211a",
          ("DOUBLE-STRUCK", "CAPITAL R"): "\u211d", ("DOUBLE-STRUCK", "CAPITAL Z"): "\u2124",
          ("ITALIC", "SMALL H"): "\u210e"}
# symbols of the wrong kind in latex2mathml's output (\sim is even an ASCII tilde)
_AS_OPERATOR = {"~": "\u223c", "\u00b1": "\u00b1", "\u27c2": "\u27c2"}
_AS_IDENTIFIER = {"\u221e", "\u2207", "\u2202"}
_ENTITY = re.compile(r"&#x([0-9A-Fa-f]+);")
_TEXT_ESCAPE = re.compile(r"\\([_%&#${} ])")


def _math_letter(char: str, variant: str) -> str | None:
    """``char`` in the Unicode mathematical alphabet ``variant`` (``"BOLD"``), if there is one."""
    name = unicodedata.name(char, "")
    m = re.fullmatch(r"(?:LATIN|GREEK) (CAPITAL|SMALL) LETTER (\w+)|DIGIT (\w+)", name)
    if not m:
        return None
    rest = f"{m.group(1)} {m.group(2)}" if m.group(1) else f"DIGIT {m.group(3)}"
    if (variant, rest) in _HOLES:
        return _HOLES[(variant, rest)]
    try:
        return unicodedata.lookup(f"MATHEMATICAL {variant} {rest}")
    except KeyError:
        return None


def check_tex(tex: str) -> str | None:
    """Why ``tex`` is not well-formed TeX (braces, environments, ``\\left``/``\\right``), or None."""
    depth = 0
    for m in re.finditer(r"\\[{}]|\\.|[{}]", tex):
        token = m.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                return "a '}' closes no '{'"
    if depth:
        return f"{depth} unclosed '{{'"
    stack: list[str] = []
    for m in re.finditer(r"\\(begin|end)\s*\{([^{}]*)\}", tex):
        if m.group(1) == "begin":
            stack.append(m.group(2))
        elif not stack or stack.pop() != m.group(2):
            return f"\\end{{{m.group(2)}}} without its \\begin"
    if stack:
        return f"\\begin{{{stack[-1]}}} without its \\end"
    lefts, rights = len(re.findall(r"\\left(?![A-Za-z])", tex)), len(re.findall(r"\\right(?![A-Za-z])", tex))
    if lefts != rights:
        return f"{lefts} \\left against {rights} \\right"
    return None


def _tidy(math: Element) -> None:
    """latex2mathml's tree made valid, self-contained MathML Core (see the module docstring);
    raises MathError for what shows that the TeX was not understood."""
    unknown = []
    for el in math.iter():
        tag = el.tag
        if el.text:
            el.text = _ENTITY.sub(lambda m: chr(int(m.group(1), 16)), el.text)
            if tag == "mtext":
                el.text = _TEXT_ESCAPE.sub(r"\1", el.text)
            elif el.text == "&":
                raise MathError("'&' outside an alignment environment (wrap the lines in \\begin{aligned})", True)
            elif el.text.startswith("\\"):
                unknown.append(el.text)
        if el.tail:
            el.tail = _ENTITY.sub(lambda m: chr(int(m.group(1), 16)), el.tail)
        if tag == "mi" and el.text in _AS_OPERATOR:           # \sim, \pm, \perp: operators in TeX
            el.tag, el.text = "mo", _AS_OPERATOR[el.text]
        elif tag == "mo" and el.text in _AS_IDENTIFIER and not el.attrib:    # \infty, \nabla, \partial
            el.tag = "mi"
            if el.text != "\u2202":
                el.set("mathvariant", "normal")     # upright; \partial stays italic, as in TeX
        if tag == "mspace":
            if el.get("linebreak") == "newline":
                raise MathError("'\\\\' outside an alignment environment (wrap the lines in \\begin{aligned})", True)
            if el.get("width") in _SPACES:
                el.set("width", _SPACES[el.get("width", "")])
        variant = _VARIANTS.get(el.get("mathvariant", ""))
        if variant and el.text and len(el) == 0:
            letters = [_math_letter(c, variant) for c in el.text]
            if all(letters):
                el.text = "".join(letters)      # type: ignore[arg-type]
                del el.attrib["mathvariant"]
    if unknown:
        raise MathError(f"unknown command {', '.join(sorted(set(unknown)))} (a typo? if it is valid TeX that "
                        "latex2mathml lacks, add a rewrite to docs/hooks/mathml.py)", True)
    _tex_spacing(math)


# TeX's spacing where MathML Core's operator dictionary differs (latex2mathml writes for MathML 3)
_OPENING = set("([{\u27e8\u230a\u2308")
_CLOSING = set(")]}\u27e9\u230b\u2309")
_ORDINARY_FENCES = {"|", "\u2016"}         # | and \| are ordinary symbols in TeX: no space around them
_PRIMES = set("\u2032\u2033\u2034\u2057")
_SIGNS = {"\u2212", "+", "\u00b1", "\u2213"}
_ROWS = {"math", "mrow", "mtd", "mstyle", "msqrt", "mpadded", "mphantom", "menclose"}
_SCRIPTED = {"msub", "msup", "msubsup", "munder", "mover", "munderover"}


def _thin_space() -> Element:
    return Element("mspace", {"width": "0.1667em"})


def _is_function(el: Element) -> bool:
    """\\ln, \\tanh (latex2mathml: <mi>), \\max, \\operatorname{softmax} (<mo>), with scripts or not."""
    if el.tag in _SCRIPTED and len(el):
        return _is_function(el[0])
    return el.tag in ("mi", "mo") and len(el) == 0 and len(el.text or "") > 1 and (el.text or "").isalpha()


def _is_opening(el: Element) -> bool:
    if el.tag == "mrow" and len(el):
        return _is_opening(el[0])
    return el.tag == "mo" and (el.text in _OPENING or el.text in _ORDINARY_FENCES)


def _tex_spacing(math: Element) -> None:
    """A function name (an operator atom in TeX) gets a thin space from an ordinary neighbour, none
    before an opening parenthesis (MathML Core would put a thick space around \\max and
    \\operatorname, none around \\ln); ``/``, ``|`` and ``\\|`` get no space (Core: an infix
    operator); a nonstretchy ``|`` stays so; a sign after an operator or an opening parenthesis
    is unary (no space); a prime is written as itself, not a superscript (the font draws it
    raised); mpadded's relative widths (``+0.8em``, not in Core) become spaces."""
    matrix_fences = {id(f) for parent in math.iter() for i, f in enumerate(parent)
                     if any(n.tag == "mtable" for n in parent[max(i - 1, 0):i + 2])}     # vmatrix's bars
    for el in list(math.iter()):
        if el.tag == "mo" and el.text in ("/", *_ORDINARY_FENCES):
            el.set("lspace", "0")
            el.set("rspace", "0")
            if el.text != "/" and not {"stretchy", "minsize"} & set(el.attrib) and id(el) not in matrix_fences:
                el.set("stretchy", "false")
        elif el.tag == "msup" and len(el) == 2 and el[1].text and set(el[1].text) <= _PRIMES and len(el[1]) == 0:
            el.tag = "mrow"
            el[1].tag = "mi"
        elif el.tag == "mpadded" and el.get("width", "").startswith("+"):
            grow = float(re.sub(r"[^\d.]", "", el.get("width", "")) or 0)
            left = float(re.sub(r"[^\d.]", "", el.get("lspace", "")) or 0)
            el.attrib.clear()
            el.tag = "mrow"
            el.insert(0, Element("mspace", {"width": f"{left:g}em"}))
            el.append(Element("mspace", {"width": f"{max(grow - left, 0):g}em"}))
    for row in list(math.iter()):
        if row.tag not in _ROWS:
            continue
        kids = list(row)
        out: list[Element] = []
        for i, el in enumerate(kids):
            prev = kids[i - 1] if i else None
            if el.tag == "mo" and el.text in _SIGNS and (
                    prev is None or (prev.tag == "mo" and prev.text not in _CLOSING | _ORDINARY_FENCES)):
                el.set("lspace", "0")               # a sign, not a binary operator: -x, (-c), = -1
                el.set("rspace", "0")
            if _is_function(el):
                base = el
                while base.tag in _SCRIPTED:
                    base = base[0]
                base.tag = "mi"                     # no operator-dictionary spacing
                unary = prev is not None and prev.text in _SIGNS and prev.get("rspace") == "0"
                if prev is not None and not _is_function(prev) and (
                        (prev.tag == "mo" and (prev.text in _CLOSING or unary))
                        or (prev.tag not in ("mo", "mspace") and (prev.text or len(prev)))):
                    out.append(_thin_space())
                out.append(el)
                nxt = kids[i + 1] if i + 1 < len(kids) else None
                if nxt is not None and not _is_opening(nxt) and (nxt.tag != "mo" or _is_function(nxt)) \
                        and nxt.tag != "mspace" and not set(nxt.text or "-") <= _PRIMES:
                    out.append(_thin_space())
                continue
            out.append(el)
        if len(out) != len(kids):
            for child in kids:
                row.remove(child)
            row.extend(out)


def _environments() -> set[str]:
    from latex2mathml import commands

    return {name.lstrip("\\") for name in commands.MATRICES}


def to_mathml(tex: str, display: bool = False) -> str:
    """The ``<math>`` element of the TeX ``tex``; raises MathError when it cannot be converted."""
    from latex2mathml.converter import convert_to_element

    problem = check_tex(tex)
    if problem:
        raise MathError(problem, True)
    source = tex
    for pattern, replacement in _REWRITES:
        source = pattern.sub(replacement, source)
    unknown = sorted({env for env in re.findall(r"\\begin\s*\{([^{}]*)\}", source) if env not in _environments()})
    if unknown:
        raise MathError(f"latex2mathml has no environment {', '.join(unknown)}", False)
    try:
        math = convert_to_element(source, display="block" if display else "inline")
    except Exception as exc:       # latex2mathml's own errors, and its crashes (StopIteration, IndexError)
        name = type(exc).__name__
        broken = name.endswith("Error") and type(exc).__module__.startswith("latex2mathml")
        raise MathError(f"latex2mathml: {name} {exc}".strip(), broken) from exc
    math.attrib.pop("xmlns", None)       # HTML puts <math> in the MathML namespace by itself
    _tidy(math)
    # the TeX as the formula's text alternative (an attribute: not in the search index's text)
    math.set("alttext", " ".join(tex.split()))
    return tostring(math, encoding="unicode", short_empty_elements=False)


# --- pages --------------------------------------------------------------------------------------


class Tally:
    """The formulas of the build: converted, shown as TeX, and the broken ones."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.converted = 0
        self.as_tex: list[str] = []
        self.broken: list[str] = []
        self.pages: dict[str, int] = {}

    def render(self, tex: str, display: bool, where: str) -> str:
        try:
            out = to_mathml(tex, display)
            self.converted += 1
            self.pages[where] = self.pages.get(where, 0) + 1
            return f'<span class="math-block">{out}</span>' if display else out
        except MathError as exc:
            text = f"{where}: math shown as TeX, {exc}: {tex.strip()[:200]!r}"
            if exc.broken:
                self.broken.append(text)
                log.warning(text)
            else:
                self.as_tex.append(text)
                log.info(text)
            code = f'<code class="math-tex">{html.escape(tex.strip(), quote=False)}</code>'
            return f'<span class="math-block">{code}</span>' if display else code


# nbconvert's math in the text of a Markdown cell (nbconvert.filters.markdown_mistune: the rules of
# MathInlineParser, in its order; the TeX is escaped with html.escape(quote=False))
_NB_MATH = re.compile(r"\$\$(?P<display>.+?)\$\$"
                      r"|(?<![$\\])\$(?P<inline>.+?)(?<![$\\])\$"
                      r"|(?P<env>\\begin\{(?P<name>[a-z]*\*?)\}.*?\\end\{(?P=name)\})", re.S)
_TOKEN = re.compile(r"<!--.*?-->|<(/?)([A-Za-z][\w-]*)[^>]*>", re.S)
_SKIP = {"code", "pre", "script", "style", "math", "textarea", "kbd", "samp"}
_CELL = re.compile(r'<div class="jp-Cell (?P<kind>jp-\w+Cell)\b[^"]*"')


def _convert_text(text: str, tally: Tally, where: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("display") is not None:
            return tally.render(html.unescape(m.group("display")), True, where)
        if m.group("inline") is not None:
            return tally.render(html.unescape(m.group("inline")), False, where)
        return tally.render(html.unescape(m.group("env")), True, where)

    return _NB_MATH.sub(sub, text)


def _convert_outside_code(fragment: str, tally: Tally, where: str) -> str:
    """The math of ``fragment``'s text, not of its code, pre, script, style elements."""
    out: list[str] = []
    pos, skip = 0, list[str]()
    for m in _TOKEN.finditer(fragment):
        text = fragment[pos:m.start()]
        out.append(text if skip else _convert_text(text, tally, where))
        out.append(m.group())
        pos = m.end()
        closing, tag = m.group(1), (m.group(2) or "").lower()
        if tag in _SKIP and not m.group().endswith("/>"):
            if closing:
                if tag in skip:
                    del skip[len(skip) - 1 - skip[::-1].index(tag):]
            else:
                skip.append(tag)
    text = fragment[pos:]
    out.append(text if skip else _convert_text(text, tally, where))
    return "".join(out)


def convert_notebook(page_html: str, tally: Tally, where: str = "notebook") -> str:
    """The notebook page with the math of its Markdown cells as MathML."""
    starts = list(_CELL.finditer(page_html))
    out = [page_html[:starts[0].start()] if starts else page_html]
    for i, m in enumerate(starts):     # a cell runs to the next one (the last: to the page's end)
        end = starts[i + 1].start() if i + 1 < len(starts) else len(page_html)
        cell = page_html[m.start():end]
        out.append(_convert_outside_code(cell, tally, where) if m.group("kind") == "jp-MarkdownCell" else cell)
    return "".join(out)


# pymdownx.arithmatex, generic mode
_ARITHMATEX = re.compile(r'<(?P<tag>span|div) class="arithmatex">\s*'
                         r"(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\])\s*</(?P=tag)>", re.S)


def convert_arithmatex(page_html: str, tally: Tally, where: str = "page") -> str:
    """The page with the formulas that pymdownx.arithmatex wrapped as MathML."""
    def sub(m: re.Match[str]) -> str:
        display = m.group("display") is not None
        return tally.render(html.unescape(m.group("display") if display else m.group("inline")), display, where)

    return _ARITHMATEX.sub(sub, page_html)


def notebook_formulas(markdown: str) -> list[tuple[str, bool]]:
    """(TeX, display) of the formulas of one Markdown cell, as nbconvert finds them (for the
    tests: the math rules of nbconvert's MathInlineParser, code spans and fenced code left out)."""
    text = re.sub(r"^(```|~~~).*?^\1[ \t]*$", "", markdown, flags=re.M | re.S)
    found: list[tuple[str, bool]] = []
    pos = 0
    code = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
    while pos < len(text):
        math, span = _NB_MATH.search(text, pos), code.search(text, pos)
        if math is None:
            break
        if span is not None and span.start() < math.start():
            pos = span.end()
            continue
        if math.group("display") is not None:
            found.append((math.group("display"), True))
        elif math.group("inline") is not None:
            found.append((math.group("inline"), False))
        else:
            found.append((math.group("env"), True))
        pos = math.end()
    return found


# --- the hook -----------------------------------------------------------------------------------

_tally = Tally()


def on_config(config: Any) -> Any:
    _tally.reset()                      # mkdocs serve: a new count for each build
    if CSS_PATH not in config["extra_css"]:
        config["extra_css"].append(CSS_PATH)
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, CSS_PATH, content=CSS))
    return files


def on_page_content(page_html: str, page: Any, config: Any, files: Any) -> str:
    where = page.file.src_uri
    if where.endswith(".ipynb"):
        return convert_notebook(page_html, _tally, where)
    if 'class="arithmatex"' in page_html:
        return convert_arithmatex(page_html, _tally, where)
    return page_html


def on_post_build(config: Any) -> None:
    t = _tally
    log.info("math: %d formulas as MathML on %d pages, %d shown as TeX (%d of them broken TeX)",
             t.converted, len(t.pages), len(t.as_tex) + len(t.broken), len(t.broken))
