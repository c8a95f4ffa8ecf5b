"""Placeholders: spans the translation must carry through the model untouched.

A :class:`Hold` marks a span of the article text (a glossary term, a do-not-translate
term) or an insertion point (an inline-markup boundary). :func:`mask` replaces the holds
inside a sentence with numbered tokens before the sentence goes to the model;
:func:`unmask` puts the terms back into the model's output, removes the markup tokens
(noting where they landed) and lists every hold whose token did not come back exactly once.

The token is ``{N}``, a brace-wrapped number, because that is what Marian models copy:
OPUS-MT is trained on OPUS, whose software-localisation corpora (KDE, GNOME, Ubuntu, PHP)
carry format placeholders such as ``{0}`` and ``{1}`` verbatim from source to target, and
every character of it is in the SentencePiece vocabulary. A token from outside the
vocabulary (``⟦1⟧``) becomes ``<unk>`` and is lost in decoding. A text that already holds
brace-wrapped numbers gets tokens numbered above the largest of them, so a token never
matches text the article had. The model may space a token out (``{ 1 }``): unmasking
accepts that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from service.articles import Hold

__all__ = ["MARKUP_KINDS", "TERM_KINDS", "Hold", "Unmasked", "close_id", "mask", "unmask"]

TERM_KINDS = frozenset({"term", "keep"})
MARKUP_KINDS = frozenset({"open", "close"})

_TOKEN = re.compile(r"\{\s*(\d+)\s*\}")


def close_id(open_id: str) -> str:
    """The ``target`` of the close hold paired with an open hold of target ``open_id``."""
    return "/" + open_id


@dataclass
class Unmasked:
    """A model output with its placeholders resolved.

    ``text``: term/keep tokens replaced by their target, markup tokens removed.
    ``positions``: markup hold target id -> offset in ``text`` where its token landed.
    ``missing``: holds whose token is absent or duplicated, and markup holds whose close
    landed before its open.
    """

    text: str
    positions: dict[str, int] = field(default_factory=dict)
    missing: list[Hold] = field(default_factory=list)


def _inside(hold: Hold, start: int, end: int) -> bool:
    """Whether ``hold`` belongs to the text ``[start, end)``. A boundary shared by two
    texts goes to the text it touches: an open to the one after it, a close to the one
    before it."""
    if hold.start != hold.end:
        return start <= hold.start and hold.end <= end
    if hold.kind == "close":
        return start < hold.start <= end
    return start <= hold.start < end or (hold.start == end == start)


def _order(hold: Hold) -> tuple[int, int]:
    # At one offset: closes first (they end what came before), then opens, then terms.
    rank = {"close": 0, "open": 1}.get(hold.kind, 2)
    return hold.start, rank


def mask(
    text: str, offset: int, holds: Sequence[Hold], *, first: int = 1
) -> tuple[str, list[tuple[str, Hold]]]:
    """``text`` (whose first character is at article offset ``offset``) with each hold inside
    it replaced by a numbered token (an insertion point gets a token inserted), and the
    ``(token, hold)`` pairs in text order. Numbers start at ``first`` (texts whose outputs
    are joined before :func:`unmask` need numbers of their own), or above any brace-wrapped
    number the text already holds.

    Term holds must not overlap (they are skipped if they do: the first in text order wins).
    A markup boundary that falls strictly inside a term moves to the term's edge: an open to
    its start, a close to its end, so the term stays one token.
    """
    end = offset + len(text)
    mine = sorted((h for h in holds if _inside(h, offset, end)), key=_order)
    terms = [h for h in mine if h.kind not in MARKUP_KINDS]
    kept_terms: list[Hold] = []
    for h in terms:
        if not kept_terms or h.start >= kept_terms[-1].end:
            kept_terms.append(h)

    def place(h: Hold) -> tuple[int, int, int]:
        """Where a hold's token goes: (start, rank, end) in article offsets."""
        if h.kind in MARKUP_KINDS:
            for t in kept_terms:
                if t.start < h.start < t.end:
                    at = t.start if h.kind == "open" else t.end
                    return at, (1 if h.kind == "open" else 0), at
            return h.start, _order(h)[1], h.start
        return h.start, 2, h.end

    placed = sorted(
        ((place(h), h) for h in mine if h.kind in MARKUP_KINDS or h in kept_terms),
        key=lambda ph: ph[0][:2],
    )
    used = [int(m.group(1)) for m in _TOKEN.finditer(text)]
    number = max(first, max(used, default=0) + 1)
    out: list[str] = []
    tokens: list[tuple[str, Hold]] = []
    at = offset
    for (start, _, stop), h in placed:
        out.append(text[at - offset : start - offset])
        token = f"{{{number}}}"
        number += 1
        out.append(token)
        tokens.append((token, h))
        at = max(at, stop)
    out.append(text[at - offset :])
    return "".join(out), tokens


def unmask(output: str, tokens: list[tuple[str, Hold]]) -> Unmasked:
    """Resolve the placeholders of ``output`` (what the model made of a :func:`mask`-ed text).

    A term/keep token becomes its hold's target (each occurrence; a hold whose token is not
    there exactly once is ``missing``). A markup token is removed, its place noted in
    ``positions`` (the first occurrence); one space is dropped with it where it stood
    between two spaces (after an open, before a close), so no double space is left.
    """
    by_number = {int(token.strip("{}")): hold for token, hold in tokens}
    counts: dict[int, int] = {}
    pieces: list[str] = []
    size = 0
    positions: dict[str, int] = {}
    at = 0
    last = ""  # the last character of the text so far (joining it each time is quadratic)
    for m in _TOKEN.finditer(output):
        number = int(m.group(1))
        hold = by_number.get(number)
        if hold is None:  # a number the model made up, or text the article had
            continue
        counts[number] = counts.get(number, 0) + 1
        before = output[at : m.start()]
        if hold.kind in MARKUP_KINDS:
            after = output[m.end() : m.end() + 1]
            end = before[-1:] or last
            spaced_before = not end or end.isspace()
            spaced_after = after == "" or after.isspace()
            if hold.kind == "close" and before[-1:] == " " and spaced_after:
                before = before[:-1]
            pieces.append(before)
            size += len(before)
            last = before[-1:] or last
            positions.setdefault(hold.target, size)
            at = m.end()
            if hold.kind == "open" and spaced_before and after == " ":
                at += 1
            continue
        pieces.append(before)
        pieces.append(hold.target)
        size += len(before) + len(hold.target)
        last = hold.target[-1:] or before[-1:] or last
        at = m.end()
    pieces.append(output[at:])
    text = "".join(pieces)

    missing = [h for n, h in by_number.items() if counts.get(n, 0) != 1]
    lost = {id(h) for h in missing}
    for h in by_number.values():
        if h.kind != "close" or id(h) in lost:
            continue
        opener = h.target[1:] if h.target.startswith("/") else None
        if opener in positions and positions[h.target] < positions[opener]:
            missing.append(h)
    return Unmasked(text, positions, missing)
