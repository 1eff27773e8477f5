"""WordPress's paragraphs: a classic-editor post's blank lines as ``<p>``, its line breaks as ``<br />``.

WordPress stores a post written in the classic editor as text with bare newlines and makes its
paragraphs only when it shows the post (``wpautop``, a filter of ``the_content``). An imported
post kept as stored would run its paragraphs together in every feed reader (issue 18). A post
of the block editor (Gutenberg) carries ``<!-- wp:… -->`` comments and its own ``<p>``s, and
WordPress leaves it alone; so does this module (``needs_paragraphs``).

This is written for feedsvc after wpautop's documented behaviour and WordPress's own unit tests
(tests/phpunit/tests/formatting/Autop.php), not translated from its PHP: the text is cut into
HTML tokens, and each run of text and inline elements between block-level tags is split at
blank lines into paragraphs. The rules kept:

- a blank line (or two ``<br>`` in a row) ends a paragraph; any other line break becomes
  ``<br />``, unless a ``<br>`` already ends the line;
- block-level elements (``div``, ``ul``, ``table``, ``h2``, ``hr`` …) are never wrapped in
  ``<p>``, and text before or after one on the same line is a paragraph of its own;
- inside ``blockquote`` the text is wrapped in ``<p>``; inside ``div``, ``li``, ``td`` and the
  like only when a blank line divides it (one line of text in a ``<li>`` stays as it is);
  inside ``p``, the headings and the other elements that cannot hold a paragraph, never;
- ``<pre>``, ``<script>``, ``<style>``, ``<svg>``, comments and CDATA are left exactly as
  they are, and a line break inside a tag (``<a\\nhref=…>``) stays a line break;
- line breaks around ``<option>``, ``<param>``, ``<embed>``, ``<source>``, ``<track>``, inside
  ``<object>``, ``<audio>`` and ``<video>``, and around ``<figcaption>`` are dropped, so
  those elements get no ``<br />``.

Where wpautop's text substitutions give broken nesting (text and a blank line inside a
``<div>``: ``<div>foo</p><p>bar</p></div>``), this gives the paragraphs it meant
(``<div><p>foo</p><p>bar</p></div>``). Whitespace between block-level tags may differ; the
elements and their text do not.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

# HTML's block-level elements as wpautop lists them.
BLOCKS = frozenset(
    "table thead tfoot caption col colgroup tbody tr td th div dl dd dt ul ol li pre form map "
    "area blockquote address math style p h1 h2 h3 h4 h5 h6 hr fieldset legend section article "
    "aside hgroup header footer nav figure figcaption details menu summary".split())
_VOID_BLOCKS = frozenset({"hr", "col", "area"})
# Containers whose text is wrapped only when a blank line divides it into several paragraphs.
_FLOW = frozenset("div li dd td th section article aside header footer nav figure details form "
                  "fieldset map menu".split())
# Elements kept whole, their line breaks untouched; the first two are blocks themselves.
_RAW_BLOCKS = frozenset({"pre", "style"})
_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)"  # a comment (unclosed: to the end, as a browser reads it)
    r"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    r"|<(pre|script|style|svg)\b[^>]*>"  # kept whole with its end tag (_RAW_END), if it has one
    r"|<[^>]*>?",  # any other tag; an unclosed "<…" to the end
    re.DOTALL | re.IGNORECASE)
_RAW_END = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("pre", "script", "style", "svg")}
_NAME = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n[ \t\f\v\r]*\n\s*")
_BREAK = "\x00"  # a line break in text, while the paragraph is put together (no post holds NUL)
_LINE_END = re.compile(rf"(?<!<br />)[ \t]*{_BREAK}")  # one not after a <br />
# Tags the line breaks around which are dropped: (tag name, which sides), "<" before, ">" after.
_COLLAPSE_OPEN = {"option": "<", "param": "<>", "embed": "<>", "source": "<>", "track": "<>",
                  "object": ">", "audio": ">", "video": ">", "figcaption": "<"}
_COLLAPSE_CLOSE = {"option": ">", "param": "<>", "embed": "<>", "object": "<", "audio": "<",
                   "video": "<", "figcaption": ">"}


def needs_paragraphs(content: str) -> bool:
    """Whether WordPress would run ``content`` through wpautop: a post without the block
    editor's ``<!-- wp:`` comments (has_blocks(), which the_content checks)."""
    return "<!-- wp:" not in content


@dataclass
class _Token:
    text: str
    kind: str  # "text", "inline", "open", "close", "void" (a block without content)
    name: str = ""


def autop(text: str) -> str:
    """``text`` with WordPress's paragraphs and line breaks as HTML (see the module)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace(_BREAK, "")
    if not text.strip():
        return ""
    out: list[tuple[str, str]] = []  # (kind, html): "open", "close", "void", "p", "inline"
    stack: list[str] = []  # the open blocks, innermost last
    opened: Counter[str] = Counter()  # how many of each the stack holds: a look-up, not a scan
    run: list[_Token] = []
    for token in _tokens(text):
        if token.kind in ("text", "inline"):
            run.append(token)
            continue
        _flush(run, stack, out)
        run = []
        out.append((token.kind, token.text))
        if token.kind == "open":
            stack.append(token.name)
            opened[token.name] += 1
        elif token.kind == "close" and opened[token.name]:
            # closes the innermost one of its name and any left open inside it; a closing tag
            # with none open is passed over without a search (20,000 unclosed <pre>s and as
            # many </p>s took 5 s scanning the stack for each)
            while (inner := stack.pop()) != token.name:
                opened[inner] -= 1
            opened[inner] -= 1
    _flush(run, stack, out)
    return _layout(out)


def _tokens(text: str) -> list[_Token]:
    """The text cut into tags and text. A ``<pre>`` (``<script>``, …) runs to its end tag,
    looked for once: where one has none, the ones after it have none either, so a body of
    unclosed ``<pre>``s costs a search of the rest of the text, not one for each of them
    (which took 85 s for 220 KB)."""
    tokens: list[_Token] = []
    at = 0
    unclosed: dict[str, int] = {}  # raw element -> where a search for its end tag found none
    while (match := _TOKEN.search(text, at)) is not None:
        if match.start() > at:
            tokens.append(_Token(text[at:match.start()], "text"))
        at = match.end()
        tag = match.group()
        raw = (match.group(1) or "").lower()
        if raw:
            end = None if at >= unclosed.get(raw, len(text) + 1) else _RAW_END[raw].search(text, at)
            if end is None:
                unclosed[raw] = min(at, unclosed.get(raw, at))
                raw = ""  # an ordinary tag, as a browser reads an unclosed one
            else:
                at = end.end()
                tag = text[match.start():at]
        name = _NAME.match(tag)
        lower = name.group(2).lower() if name else ""
        if raw:
            tokens.append(_Token(tag, "void" if raw in _RAW_BLOCKS else "inline", raw))
        elif name and lower in BLOCKS:
            kind = ("close" if name.group(1) else
                    "void" if lower in _VOID_BLOCKS or tag.endswith("/>") else "open")
            tokens.append(_Token(tag, kind, lower))
        else:
            tokens.append(_Token(tag, "inline", lower if name and not name.group(1) else
                                 f"/{lower}" if name else ""))
    if at < len(text):
        tokens.append(_Token(text[at:], "text"))
    return tokens


def _flush(run: list[_Token], stack: list[str], out: list[tuple[str, str]]) -> None:
    """The text and inline elements between two block-level tags, as paragraphs."""
    if all(token.kind == "text" and token.text.isspace() for token in run):
        return  # only the layout between two blocks: the common case, and nothing to write
    around = [*run]
    for i, token in enumerate(run):  # tags whose surrounding line breaks are dropped
        closing = token.name.startswith("/")
        sides = (_COLLAPSE_CLOSE if closing else _COLLAPSE_OPEN).get(token.name.lstrip("/"), "")
        if token.kind != "inline" or not sides:
            continue
        if "<" in sides and i > 0 and around[i - 1].kind == "text":
            around[i - 1] = _Token(around[i - 1].text.rstrip(), "text")
        if ">" in sides and i + 1 < len(around) and around[i + 1].kind == "text":
            around[i + 1] = _Token(around[i + 1].text.lstrip(), "text")
    # Each paragraph as its pieces, joined once: adding to one string copied all of it for each
    # piece (4 s for a 600 KB paragraph of 100,000 lines ending in <br>).
    paragraphs: list[list[str]] = [[]]
    for token in around:
        if token.kind == "text":
            parts = _BLANK_LINE.split(token.text)
            paragraphs[-1].append(parts[0].replace("\n", _BREAK))
            paragraphs += [[part.replace("\n", _BREAK)] for part in parts[1:]]
        elif not _BR.fullmatch(token.text):
            paragraphs[-1].append(token.text)
        elif _ends_in_br(paragraphs[-1]):
            # a second <br> with nothing but blank space since the first: a paragraph break
            paragraphs.append([])
        else:
            paragraphs[-1].append("<br />")
    kept = [_lines("".join(p)) for p in paragraphs]
    kept = [p for p in kept if p.strip()]
    if not kept:
        return
    inside = stack[-1] if stack else None
    if inside is None or inside == "blockquote" or (inside in _FLOW and len(kept) > 1):
        out.extend(("p", p) for p in kept)
    elif inside == "p":
        out.append(("inline", "</p>\n<p>".join(kept)))
    else:
        out.append(("inline", "<br />\n<br />\n".join(kept)))


def _ends_in_br(pieces: list[str]) -> bool:
    """Whether the paragraph's pieces end in a ``<br />`` and blank space; if so, those are
    taken off."""
    blank = " \t" + _BREAK
    last = len(pieces) - 1
    while last >= 0 and not pieces[last].strip(blank):
        last -= 1
    if last < 0 or not pieces[last].rstrip(blank).endswith("<br />"):
        return False
    del pieces[last + 1:]
    pieces[last] = pieces[last].rstrip(blank).removesuffix("<br />")
    return True


def _lines(paragraph: str) -> str:
    """A paragraph's line breaks as ``<br />``, but where a ``<br />`` ends the line already."""
    paragraph = paragraph.strip(_BREAK + " \t").strip(_BREAK)
    if _BREAK not in paragraph:
        return paragraph
    return _LINE_END.sub("<br />\n", paragraph).replace(_BREAK, "\n")


def _layout(out: list[tuple[str, str]]) -> str:
    """The pieces as wpautop lays them out: each paragraph and each block-level closing tag
    ends its line, an opening one starts a line."""
    html: list[str] = []
    for i, (kind, piece) in enumerate(out):
        following = out[i + 1][0] if i + 1 < len(out) else None
        if kind in ("open", "void") and html and not html[-1].endswith("\n"):
            html.append("\n")
        if kind == "p":
            html.append(f"<p>{piece}</p>" + ("" if following == "close" else "\n"))
        elif kind == "open":
            html.append(piece + ("\n" if following in ("open", "void") else ""))
        elif kind in ("close", "void"):
            html.append(piece + "\n")
        else:
            html.append(piece)
    return "".join(html).rstrip("\n") + "\n"
