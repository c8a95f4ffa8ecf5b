"""One model for Markdown and HTML: a document is a list of blocks of translatable text.

A parsed :class:`Document` gives
- ``text``: the translatable text of its blocks joined by blank lines, the article text the
  pipeline segments and translates exactly as plain text (paragraphs, coverage, bullets);
- ``holds``: the inline markup inside that text as zero-width ``open``/``close`` holds (and
  ``keep`` holds over code spans), carried across translation as placeholders;
- :meth:`Document.render`: the translated sentences, with where each markup hold landed, in;
  the translated document out.

The format modules (:mod:`.markdown`, :mod:`.html`) find the blocks and write them back;
this module builds the text, the holds and each block's translated inline content.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.articles import Hold

__all__ = ["Block", "Document", "Mark", "RenderedSentence", "TextBuilder", "block_output"]

BLOCK_SEPARATOR = "\n\n"


@dataclass(eq=False)  # marks are compared by identity: a block may hold thousands
class Mark:
    """An inline element inside a block, carried as a pair of zero-width holds.

    ``start``/``end`` are offsets in the block text; an atom (``<br>``, an image, inline
    HTML) has ``atom`` set and one ``open`` hold. ``keep`` marks a code span: the text
    between open and close must come back verbatim. ``node`` is the format's handle, used
    to write the markup back (an lxml element, a slice of Markdown source).
    """

    id: str
    start: int
    end: int
    label: str
    node: Any = None
    href: str | None = None
    atom: bool = False
    keep: bool = False

    @property
    def open_id(self) -> str:
        return self.id

    @property
    def close_id(self) -> str:
        return "/" + self.id


@dataclass
class Block:
    """A unit of translatable text: a paragraph's inline content, a heading, a cell, or an
    ``alt``/``title`` attribute (``kind == "attr"``, never holding marks)."""

    text: str
    marks: list[Mark] = field(default_factory=list)
    kind: str = "run"
    ref: Any = None
    start: int = 0  # offset in the document text
    render_empty: bool = False  # written back even with no text (it holds an image's alt)


@dataclass(frozen=True)
class RenderedSentence:
    """One translated sentence as the renderer needs it: its source span in the document
    text, its translation, and where each markup hold landed in it (hold target id ->
    offset in ``translation``; a hold absent from ``positions`` is put on the whole
    sentence: the fallback when the model broke the placeholders)."""

    start: int
    end: int
    translation: str
    positions: dict[str, int] = field(default_factory=dict)


class TextBuilder:
    """Block text from pieces of source text: whitespace runs collapsed to one space, edges
    trimmed, with marks opened and closed at the current position."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.marks: list[Mark] = []

    def add(self, text: str) -> None:
        for ch in text:
            if ch.isspace():
                if self.chars and self.chars[-1] != " ":
                    self.chars.append(" ")
            else:
                self.chars.append(ch)

    def open(self, mark_id: str, label: str, node: Any = None, **kw: Any) -> Mark:
        mark = Mark(mark_id, len(self.chars), len(self.chars), label, node, **kw)
        self.marks.append(mark)
        return mark

    def close(self, mark: Mark) -> None:
        mark.end = len(self.chars)

    def build(self) -> tuple[str, list[Mark]]:
        """The block text and its marks, moved out of edge and inter-word whitespace."""
        text = "".join(self.chars)
        lead = len(text) - len(text.lstrip(" "))
        text = text.strip(" ")
        for m in self.marks:
            m.start = min(max(m.start - lead, 0), len(text))
            m.end = min(max(m.end - lead, 0), len(text))
            if m.atom:
                m.end = m.start
                continue
            # "<em> mot </em>": the mark holds the word, not the spaces around it.
            while m.start < m.end and text[m.start] == " ":
                m.start += 1
            while m.end > m.start and text[m.end - 1] == " ":
                m.end -= 1
        return text, self.marks


def _events(
    marks: Sequence[Mark], where: Callable[[Mark, bool], int]
) -> list[tuple[int, Mark, bool]] | None:
    """Open and close events in output order, or None when the marks cross."""
    order = {m.id: k for k, m in enumerate(marks)}
    by_pos: dict[int, list[tuple[Mark, bool]]] = {}
    for m in marks:
        by_pos.setdefault(where(m, True), []).append((m, True))
        if not m.atom:
            by_pos.setdefault(where(m, False), []).append((m, False))
    out: list[tuple[int, Mark, bool]] = []
    stack: list[Mark] = []
    for pos in sorted(by_pos):
        group = by_pos[pos]
        closes = {m.id for m, is_open in group if not is_open}
        while stack and stack[-1].id in closes:
            m = stack.pop()
            closes.discard(m.id)
            out.append((pos, m, False))
        opens = sorted((m for m, is_open in group if is_open), key=lambda m: order[m.id])
        for m in opens:
            out.append((pos, m, True))
            if not m.atom:
                stack.append(m)
        while stack and stack[-1].id in closes:
            m = stack.pop()
            closes.discard(m.id)
            out.append((pos, m, False))
        if closes:
            return None
    return out if not stack else None


def block_output(
    block: Block,
    sentences: Sequence[RenderedSentence],
    escape: Callable[[str, bool], str],
    markup: Callable[[Mark], tuple[str, str]],
) -> tuple[str, list[Mark]]:
    """The translated inline content of ``block``: its sentences' translations joined by a
    space, text escaped for the format (``escape(text, verbatim)``, verbatim inside a code
    span), each mark's markup written where its holds landed.

    A hold missing from its sentence's ``positions`` goes on the whole sentence (open at
    its start, close at its end). Marks that cross once placed are all put around the whole
    block. Returns the content and the marks moved (for the ``inline_markup_moved`` flag).
    """
    pieces: list[str] = []
    spans: list[tuple[int, int, RenderedSentence]] = []  # output span of each sentence
    at = 0
    for s in sentences:
        if pieces:
            pieces.append(" ")
            at += 1
        pieces.append(s.translation)
        spans.append((at, at + len(s.translation), s))
        at += len(s.translation)
    text = "".join(pieces)
    moved: dict[int, Mark] = {}  # by id(): in order, each once
    starts = [s.start for _, _, s in spans]
    ends = [s.end for _, _, s in spans]

    def where(m: Mark, is_open: bool) -> int:
        hold_id = m.open_id if is_open else m.close_id
        point = block.start + (m.start if is_open else m.end)
        kind = "open" if is_open else "close"
        # Only the last sentences starting at or before the point can hold it (sentences
        # are in order and do not overlap): linear in marks, not marks times sentences.
        last = bisect_right(starts, point)
        for a, b, s in spans[max(0, last - 3) : last]:
            if not _takes(kind, point, s.start, s.end):
                continue
            if hold_id in s.positions:
                return a + min(max(s.positions[hold_id], 0), len(s.translation))
            if m.keep:  # a code span: its text came back verbatim (a keep hold); wrap it
                kept = block.text[m.start : m.end]
                found = s.translation.find(kept) if kept else -1
                if found >= 0:
                    return a + found + (0 if is_open else len(kept))
            moved.setdefault(id(m), m)
            return a if is_open and not m.atom else b
        # Between two sentences (or at the block's end): after the sentence before it.
        before = bisect_right(ends, point)
        return spans[before - 1][1] if before else 0

    events = _events(block.marks, where)
    if events is None:
        moved = {id(m): m for m in block.marks}
        events = [(0, m, True) for m in block.marks]
        events += [(len(text), m, False) for m in reversed(block.marks) if not m.atom]
    out: list[str] = []
    cursor = 0
    keeping: set[str] = set()
    for pos, m, is_open in events:
        out.append(escape(text[cursor:pos], bool(keeping)))
        cursor = pos
        opening, closing = markup(m)
        if is_open:
            out.append(opening)
            if m.keep:
                keeping.add(m.id)
        else:
            keeping.discard(m.id)
            out.append(closing)
    out.append(escape(text[cursor:], False))
    return "".join(out), list(moved.values())


def _takes(kind: str, point: int, start: int, end: int) -> bool:
    """Whether the sentence ``[start, end)`` masks a boundary at ``point``: the rule of
    :func:`service.text.placeholders.mask` (an open goes to the text after it, a close to
    the text before it)."""
    if kind == "close":
        return start < point <= end
    return start <= point < end or point == end == start


class Document:
    """A parsed document: blocks, the article text built from them and the markup holds.

    Subclasses (one per format) fill ``blocks`` and implement :meth:`write`,
    :meth:`escape`, :meth:`markup` and :meth:`tree`.
    """

    format = "text"

    def __init__(self, source: str, blocks: list[Block]) -> None:
        self.source = source
        self.blocks = [b for b in blocks if b.text or b.render_empty]
        parts: list[str] = []
        at = 0
        for block in self.blocks:
            if not block.text:
                block.start = at
                continue
            if parts:
                parts.append(BLOCK_SEPARATOR)
                at += len(BLOCK_SEPARATOR)
            block.start = at
            parts.append(block.text)
            at += len(block.text)
        self.text = "".join(parts)

    @property
    def holds(self) -> tuple[Hold, ...]:
        holds: list[Hold] = []
        for block in self.blocks:
            for m in block.marks:
                a, b = block.start + m.start, block.start + m.end
                holds.append(Hold(a, a, "open", m.open_id, m.label))
                if m.keep:
                    holds.append(Hold(a, b, "keep", self.text[a:b], m.label))
                if not m.atom:
                    holds.append(Hold(b, b, "close", m.close_id, m.label))
        return tuple(sorted(holds, key=lambda h: (h.start, h.end)))

    def marks(self) -> dict[str, Mark]:
        return {m.id: m for b in self.blocks for m in b.marks}

    def render(self, sentences: Sequence[RenderedSentence]) -> tuple[str, list[str]]:
        """The translated document, and a line per mark moved onto its whole sentence."""
        per_block: list[list[RenderedSentence]] = [[] for _ in self.blocks]
        with_text = [k for k, b in enumerate(self.blocks) if b.text]
        starts = [self.blocks[k].start for k in with_text]
        for s in sentences:
            at = bisect_right(starts, s.start)
            per_block[with_text[at - 1] if at else 0].append(s)
        for block, mine in zip(self.blocks, per_block, strict=True):
            if block.kind == "attr":  # first: markup written later may hold the attribute
                self.set_attr(block, " ".join(s.translation for s in mine))
        outputs: dict[int, str] = {}
        notes: list[str] = []
        for k, (block, mine) in enumerate(zip(self.blocks, per_block, strict=True)):
            if block.kind == "attr":
                continue
            outputs[k], moved = block_output(block, mine, self.escape, self.markup)
            notes.extend(f"{m.label} put around the whole sentence" for m in moved)
        return self.write(outputs), notes

    # -- per format -----------------------------------------------------------

    def escape(self, text: str, verbatim: bool = False) -> str:
        """``text`` written in the format; ``verbatim`` inside a code span."""
        return text

    def markup(self, mark: Mark) -> tuple[str, str]:
        raise NotImplementedError

    def set_attr(self, block: Block, translation: str) -> None:
        """Record the translation of an attribute block (``alt``, ``title``)."""
        raise NotImplementedError

    def write(self, outputs: dict[int, str]) -> str:
        """The document with each run block's content replaced by ``outputs[index]``."""
        raise NotImplementedError

    def tree(self, source: str) -> tuple[list[Any], list[str]]:
        """The block tree and the link targets of ``source`` in this format."""
        raise NotImplementedError

    def check_tree(self, translated: str) -> list[str]:
        """What differs between this document and ``translated``: block tree, link targets.
        Empty when the translation kept both."""
        before, links_before = self.tree(self.source)
        after, links_after = self.tree(translated)
        problems: list[str] = []
        if before != after:
            for k, (x, y) in enumerate(zip(before, after, strict=False)):
                if x != y:
                    problems.append(f"block {k} differs: {x!r} became {y!r}")
                    break
            else:
                problems.append(f"{len(before)} blocks became {len(after)}")
        lost = sorted(set(links_before) - set(links_after))
        if lost:
            problems.append("link targets lost: " + ", ".join(lost))
        return problems
