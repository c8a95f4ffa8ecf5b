"""Markdown documents: parsed with ``markdown-it-py`` (CommonMark plus tables), translated by
replacing each block's inline content in the source, so everything else stays byte-identical.

Translated: paragraphs, headings, list items and block quotes (their paragraphs), table
cells, image alt text. Kept: code spans (verbatim, carried inside the sentence), fenced and
indented code, HTML blocks and inline HTML, autolinks, link and image targets, reference
definitions, and front matter (``---`` YAML at the top).

markdown-it gives block tokens line maps but inline tokens no positions. The positions are
recovered exactly: a block's inline content is found line by line in the source, and the
inline tokens are walked over that content with the two joining rules (``text_join``,
``fragments_join``) off, so every text token is a literal slice; links, images, code spans
and autolinks record their own spans while they are parsed. A block whose positions cannot
be proved (a table cell with an escaped ``|``, an ATX heading with a tab) is kept as it is
and named in :attr:`MarkdownDocument.kept`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.helpers import parseLinkLabel
from markdown_it.token import Token

from service.documents.model import Block, Document, Mark, TextBuilder
from service.errors import DocumentTooDeep

__all__ = ["MarkdownDocument", "split_front_matter"]

_RECORDED = ("link", "image", "autolink", "backticks")
_BREAK = re.compile(r"[ \t]*\\?\n[ \t]*")
_SPECIAL = re.compile(r"[\\`*_\[\]<>|]|&(?=[A-Za-z#])")
_LEADING_MARKER = re.compile(r"[#>+\-=]|\d+(?=[.)])")
_EMPHASIS = {"em": "emphasis", "strong": "strong emphasis", "s": "strikethrough"}
# Line ends as markdown-it reads them (CommonMark): not str.splitlines, which also breaks
# at form feeds, U+2028 and others that Markdown keeps inside a line.
_NEWLINE = re.compile(r"\r\n?|\n")


def _recording(name: str, rule: Callable[..., bool]) -> Callable[..., bool]:
    """``rule`` that also notes, on the tokens it pushes, the source span it consumed."""

    def recorded(state: Any, silent: bool) -> bool:
        start, count = state.pos, len(state.tokens)
        pending = bool(state.pending)
        label_end = -1
        if not silent and name == "link" and state.src[start] == "[":
            label_end = parseLinkLabel(state, start, True)
        elif not silent and name == "image" and state.src.startswith("![", start):
            label_end = parseLinkLabel(state, start + 1, False)
        ok = rule(state, silent)
        if ok and not silent:
            new = state.tokens[count:]
            if pending and new and new[0].type == "text":
                new = new[1:]  # the text pending before this rule, not part of it
            if new:
                new[0].meta["span"] = (start, state.pos)
                new[0].meta["label_end"] = label_end
                new[-1].meta["span"] = (start, state.pos)
                new[-1].meta["label_end"] = label_end
        return ok

    return recorded


class _TooDeep(Exception):
    """markdown-it reached ``maxNesting`` with lines left: it would skip them."""

    def __init__(self, line: int, limit: int) -> None:
        super().__init__(line, limit)
        self.line, self.limit = line, limit


def _guard_depth(md: MarkdownIt) -> None:
    """Make block parsing raise :class:`_TooDeep` where markdown-it would silently skip the
    rest of a block nested ``maxNesting`` deep (block quotes, lists): that text would be
    left out of the translation without a word."""
    tokenize = md.block.tokenize
    limit = md.options.maxNesting

    def guarded(state: Any, start_line: int, end_line: int) -> None:
        if state.level >= limit:
            line = state.skipEmptyLines(start_line)
            if line < end_line and state.sCount[line] >= state.blkIndent:
                raise _TooDeep(line, limit)
        tokenize(state, start_line, end_line)

    md.block.tokenize = guarded  # type: ignore[method-assign,assignment]


def _parser(recording: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark").enable("table")
    _guard_depth(md)
    if recording:
        md.disable(["text_join", "fragments_join"])
        for rule in md.inline.ruler.__rules__:
            if rule.name in _RECORDED:
                md.inline.ruler.at(rule.name, _recording(rule.name, rule.fn))
    return md


def _lines(text: str) -> list[str]:
    """The lines of ``text`` with their line ends, as markdown-it splits them."""
    lines: list[str] = []
    at = 0
    for m in _NEWLINE.finditer(text):
        lines.append(text[at : m.end()])
        at = m.end()
    if at < len(text):
        lines.append(text[at:])
    return lines


def _parse(md: MarkdownIt, body: str, first_line: int) -> list[Token]:
    """``md.parse(body)``; :class:`DocumentTooDeep` where blocks nest past the limit
    (``first_line``: the body's first line in the document, for the message)."""
    try:
        return md.parse(body)
    except _TooDeep as exc:
        line = exc.line + first_line + 1
        raise DocumentTooDeep(
            f"the markdown document nests block quotes and lists deeper than {exc.limit} "
            f"levels (line {line}); the parser reads no further: flatten it",
            limit=exc.limit,
            line=line,
        ) from None


def split_front_matter(source: str) -> tuple[str, str]:
    """``(front matter, body)``: YAML between a first line ``---`` and the next line
    ``---`` or ``...``, kept byte for byte; empty when the source has none."""
    lines = _lines(source)
    if not lines or lines[0].rstrip("\r\n") != "---":
        return "", source
    for k in range(1, len(lines)):
        if lines[k].rstrip("\r\n") in ("---", "..."):
            cut = sum(len(line) for line in lines[: k + 1])
            return source[:cut], source[cut:]
    return "", source


class _Unlocatable(Exception):
    """A block whose inline positions could not be proved: it is kept untranslated."""


class MarkdownDocument(Document):
    format = "markdown"

    def __init__(self, source: str) -> None:
        self.front, self.body = split_front_matter(source)
        self.kept: list[str] = []
        self._ids = 0
        self._alts: dict[int, str] = {}
        # As markdown-it sees the body: its line ends, NUL read as U+FFFD (one character
        # for one: offsets in these lines are offsets in the body).
        starts = [0]
        self._lines: list[str] = []
        for line in _lines(self.body.replace("\0", "\ufffd")):
            starts.append(starts[-1] + len(line))
            self._lines.append(_NEWLINE.sub("", line))
        self._line_starts = starts
        tokens = _parse(_parser(True), self.body, len(_lines(self.front)))
        super().__init__(source, list(self._blocks(tokens)))

    # -- parsing ---------------------------------------------------------------

    def _blocks(self, tokens: list[Token]) -> Iterator[Block]:
        row_cursor: dict[int, int] = {}
        for k, token in enumerate(tokens):
            if token.type != "inline" or not token.map or not token.content.strip():
                continue
            parent = tokens[k - 1].type if k else ""
            try:
                if parent in ("th_open", "td_open"):
                    line = token.map[0]
                    to_body = self._locate_cell(token.content, line, row_cursor)
                else:
                    to_body = self._locate(token.content, token.map[0])
                builder = TextBuilder()
                alts = self._inline(token, builder, to_body)
            except _Unlocatable:
                self.kept.append(f"line {token.map[0] + 1}: {token.content[:40]!r} kept as is")
                continue
            text, marks = builder.build()
            span = (to_body(0), to_body(len(token.content)))
            # A cell that is only an image is written back too: its alt text is translated.
            yield Block(text, marks, "run", span, render_empty=bool(alts))
            yield from alts

    def _locate(self, content: str, first: int) -> Callable[[int], int]:
        """Content offset -> body offset, for inline content starting on line ``first``."""
        bases: list[tuple[int, int]] = []  # (content offset of the line, body offset)
        at = 0
        for k, piece in enumerate(content.split("\n")):
            if first + k >= len(self._lines):
                raise _Unlocatable
            line = self._lines[first + k]
            if line.endswith(piece):
                pos = len(line) - len(piece)
            elif line.rstrip().endswith(piece):
                pos = len(line.rstrip()) - len(piece)
            else:
                pos = line.find(piece)
                if pos < 0 or k:
                    raise _Unlocatable
            bases.append((at, self._line_starts[first + k] + pos))
            at += len(piece) + 1
        return _mapper(bases)

    def _locate_cell(
        self, content: str, line_no: int, cursors: dict[int, int]
    ) -> Callable[[int], int]:
        line = self._lines[line_no] if line_no < len(self._lines) else ""
        pos = line.find(content, cursors.get(line_no, 0))
        if pos < 0 or "\n" in content:
            raise _Unlocatable
        cursors[line_no] = pos + len(content)
        return _mapper([(0, self._line_starts[line_no] + pos)])

    def _next_id(self) -> str:
        self._ids += 1
        return f"m{self._ids}"

    def _inline(self, token: Token, b: TextBuilder, to_body: Callable[[int], int]) -> list[Block]:
        """Walk the inline tokens over ``token.content``, filling ``b``; returns image alt
        blocks."""
        src = token.content
        at = 0
        open_marks: list[Mark] = []
        alts: list[Block] = []
        children = token.children or []
        skip_to_close = False
        for tok in children:
            kind = tok.type
            if skip_to_close:
                skip_to_close = kind != "link_close"
                continue
            if kind == "text":
                if not src.startswith(tok.content, at):
                    raise _Unlocatable
                b.add(tok.content)
                at += len(tok.content)
            elif kind == "text_special":
                if not src.startswith(tok.markup, at):
                    raise _Unlocatable
                b.add(tok.content)
                at += len(tok.markup)
            elif kind in ("softbreak", "hardbreak"):
                m = _BREAK.match(src, at)
                if m is None:
                    raise _Unlocatable
                b.add(" ")
                if kind == "hardbreak":  # its source slice carries the next line's prefix
                    markup = (self.body[to_body(at) : to_body(m.end())], "")
                    b.open(self._next_id(), "line break", markup, atom=True)
                at = m.end()
            elif kind.endswith("_open") and kind[:-5] in _EMPHASIS:
                if not src.startswith(tok.markup, at):
                    raise _Unlocatable
                label = _EMPHASIS[kind[:-5]]
                open_marks.append(b.open(self._next_id(), label, (tok.markup, tok.markup)))
                at += len(tok.markup)
            elif kind.endswith("_close") and kind[:-6] in _EMPHASIS:
                if not open_marks or not src.startswith(tok.markup, at):
                    raise _Unlocatable
                b.close(open_marks.pop())
                at += len(tok.markup)
            elif kind == "link_open" and tok.info == "auto":
                start, end = self._span(tok, at)
                b.open(
                    self._next_id(),
                    f"link to {tok.attrs['href']}",
                    (src[start:end], ""),
                    atom=True,
                    href=str(tok.attrs["href"]),
                )
                at = end
                skip_to_close = True
            elif kind == "link_open":
                start, end = self._span(tok, at)
                label_end = tok.meta.get("label_end", -1)
                if label_end < 0:
                    raise _Unlocatable
                href = str(tok.attrs.get("href", ""))
                markup = (src[start : start + 1], src[label_end:end])
                open_marks.append(b.open(self._next_id(), f"link to {href}", markup, href=href))
                at = start + 1
            elif kind == "link_close":
                start, end = self._span(tok, at)
                if not open_marks or at != tok.meta.get("label_end"):
                    raise _Unlocatable
                b.close(open_marks.pop())
                at = end
            elif kind == "image":
                start, end = self._span(tok, at)
                label_end = tok.meta.get("label_end", -1)
                if label_end < 0:
                    raise _Unlocatable
                src_attr = str(tok.attrs.get("src", ""))
                alt = Block(" ".join(_plain(tok.children or []).split()), kind="attr")
                node = ("image", src[start : start + 2], src[label_end:end], alt)
                b.open(self._next_id(), f"image {src_attr}", node, atom=True)
                if alt.text:
                    alts.append(alt)
                at = end
            elif kind == "code_inline":
                start, end = self._span(tok, at)
                inner = src[start + len(tok.markup) : end - len(tok.markup)]
                pad = " " if inner != tok.content and inner.strip() == tok.content.strip() else ""
                markup = (tok.markup + pad, pad + tok.markup)
                mark = b.open(self._next_id(), "code", markup, keep=True)
                b.add(tok.content)
                b.close(mark)
                at = end
            elif kind == "html_inline":
                if not src.startswith(tok.content, at):
                    raise _Unlocatable
                b.open(self._next_id(), "inline HTML", (tok.content, ""), atom=True)
                at += len(tok.content)
            else:
                raise _Unlocatable
        if at != len(src) or open_marks:
            raise _Unlocatable
        return alts

    @staticmethod
    def _span(tok: Token, at: int) -> tuple[int, int]:
        span = tok.meta.get("span")
        if not span or span[0] != at and tok.type != "link_close":
            raise _Unlocatable
        return span

    # -- writing ---------------------------------------------------------------

    def escape(self, text: str, verbatim: bool = False) -> str:
        return text if verbatim else _SPECIAL.sub(lambda m: "\\" + m.group(0), text)

    def markup(self, mark: Mark) -> tuple[str, str]:
        node = mark.node
        if node[0] == "image":
            _, before, after, alt = node
            return before + self.escape(self._alts.get(id(alt), alt.text)) + after, ""
        return node[0], node[1]

    def set_attr(self, block: Block, translation: str) -> None:
        self._alts[id(block)] = " ".join(translation.split())

    def write(self, outputs: dict[int, str]) -> str:
        pieces: list[str] = [self.front]
        cursor = 0
        for k in sorted(outputs, key=lambda k: self.blocks[k].ref[0]):
            start, end = self.blocks[k].ref
            content = outputs[k]
            m = _LEADING_MARKER.match(content)
            if m:  # "- ", "# ", "1." at a line start would open another block
                content = (
                    content[: m.end()] + "\\" + content[m.end() :]
                    if m.group(0)[0].isdigit()
                    else "\\" + content
                )
            pieces += [self.body[cursor:start], content]
            cursor = end
        pieces.append(self.body[cursor:])
        return "".join(pieces)

    def tree(self, source: str) -> tuple[list[Any], list[str]]:
        front, body = split_front_matter(source)
        tree: list[Any] = [("front_matter", front)]
        links: list[str] = []
        for tok in _parse(_parser(False), body, len(_lines(front))):
            if tok.type == "inline":
                links.extend(_links(tok.children or []))
                continue
            kept = tok.content if tok.type in ("fence", "code_block", "html_block") else None
            tree.append((tok.type, tok.tag, tok.info, kept))
        return tree, links


def _links(children: list[Token]) -> Iterator[str]:
    for tok in children:
        for name in ("href", "src"):
            value = tok.attrs.get(name)
            if value:
                yield str(value)
        if tok.children:
            yield from _links(tok.children)


def _plain(children: list[Token]) -> str:
    """The text of inline tokens, markup left out (an image's alt text)."""
    return "".join(
        t.content
        if t.type in ("text", "text_special", "code_inline")
        else " "
        if t.type in ("softbreak", "hardbreak")
        else _plain(t.children or [])
        for t in children
    )


def _mapper(bases: list[tuple[int, int]]) -> Callable[[int], int]:
    offsets = [c for c, _ in bases]

    def to_body(offset: int) -> int:
        line_at, body_at = bases[max(bisect_right(offsets, offset) - 1, 0)]
        return body_at + offset - line_at

    return to_body
