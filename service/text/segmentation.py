"""Split articles into paragraphs and sentences, and sentences into pieces that fit a budget.

Pure functions over strings: every result carries offsets into the text it came from, and
no character is ever added, dropped or altered. No model is imported here; the token
counter for `fit_to_budget` is passed in.

Sentence rules (all languages): a sentence ends at `.`, `!`, `?`, `…` or `...`, with any
closing quotes or brackets that follow, when the next word starts with a capital (or a
digit, after `.`, `!` or `?`). A period does not end a sentence after a known abbreviation
("M.", "janv.", "c.-à-d."), after an initial or dotted acronym ("J. K. Rowling",
"J.-L. Mélenchon", "U.S.A.") unless a pronoun or conjunction follows, nor inside a URL,
e-mail address or domain name. Sentences glued by scraping ("fin.Début", "vraiment?Oui",
`dit."Je`) are cut too, as are list items flattened into a line ("transport- La SNCF",
"4h • Droit") and, in French, intertitles glued to their paragraph ("en CorseDe
violents"). Sentences inside a quotation are sentences too, whatever the quote's length:
sentence-level translation models are known to drop sentences when given several at
once (Helsinki-NLP/Opus-MT#60). A quote mark stays with the sentence it touches, and an
attribution after the closing mark ("…rapidement », a souligné M. X.") stays with the
quote's last sentence.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import regex

from service.text.sentence_rules import (
    END_PUNCTUATION,
    LIST_ITEM,
    LanguageRules,
    glued_heading_starts,
    inline_item_starts,
    is_sentence_end,
    may_end_sentence,
    protected_spans,
    quoted_spans,
    rules_for,
)

__all__ = [
    "Paragraph",
    "Piece",
    "Sentence",
    "fit_to_budget",
    "possible_sentence_ends",
    "segment_article",
    "split_paragraphs",
    "split_sentences",
]


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of an article; `text == article[start:end]`, without edge whitespace."""

    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article; `text == article[start:end]`, without edge whitespace."""

    paragraph: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Piece:
    """Part of a sentence small enough for the token budget.

    `cut` is None when the piece is the whole sentence. Otherwise it names the cut that
    ended the piece ("clause": at clause punctuation, "hard": at a space or, failing that,
    inside a word); the last piece carries the kind of the cut just before it.
    """

    text: str
    cut: Literal["clause", "hard"] | None


_QUOTE_CHARS = frozenset('"«»“”„‹›')


def _merged(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Union of half-open spans as sorted (starts, ends), for `_inside` to bisect."""
    starts: list[int] = []
    ends: list[int] = []
    for a, b in sorted(spans):
        if ends and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return starts, ends


def _inside(position: int, merged: tuple[list[int], list[int]]) -> bool:
    starts, ends = merged
    i = bisect_right(starts, position) - 1
    return i >= 0 and position < ends[i]


def _cut_positions(text: str, rules: LanguageRules) -> list[int]:
    """Offsets in `text` where one sentence ends and the next may begin."""
    protected = _merged(protected_spans(text))
    cuts = [
        m.end()
        for m in END_PUNCTUATION.finditer(text)
        if not _inside(m.start(), protected) and is_sentence_end(text, m, rules)
    ]
    cuts += [
        p
        for p in inline_item_starts(text) + glued_heading_starts(text, rules.lang)
        if not _inside(p, protected)
    ]
    if cuts and not _QUOTE_CHARS.isdisjoint(text):
        pairs = quoted_spans(text)
        # `job."S'il`: a straight quote that closes an open quote belongs to the sentence
        # before it, although it touches the next word.
        closing = {b for _, b in pairs if text[b] == '"'}
        cuts = [c + 1 if c in closing else c for c in cuts]
        # `ans. " Je`: a straight quote with a space on each side may face either way. When
        # the straight quotes of the text balance, one after an even number of them opens
        # the next sentence; when they do not, parity proves nothing and it closes.
        straight = [i for i, ch in enumerate(text) if ch == '"']
        if len(straight) % 2 == 0:
            cuts = [c - 1 if _opens_spaced(text, c - 1, straight) else c for c in cuts]
    return sorted(set(cuts))


def possible_sentence_ends(text: str, lang: str = "fr") -> list[int]:
    """Offsets after every punctuation mark that may end a sentence inside `text`.

    Looser than the splitter (see `may_end_sentence`): used to check that a translation
    holds as many sentences as its source, and to cut a source that lost one.
    """
    rules = rules_for(lang)
    protected = _merged(protected_spans(text)) if "." in text else ([], [])
    return [
        m.end()
        for m in END_PUNCTUATION.finditer(text)
        if not _inside(m.start(), protected) and may_end_sentence(text, m, rules)
    ]


def _opens_spaced(text: str, i: int, straight: list[int]) -> bool:
    """`text[i]` is a spaced straight quote after an even number of them (`straight`: the
    offsets of every straight quote, so the count is a bisection, not a scan)."""
    return (
        0 < i < len(text) - 1
        and text[i] == '"'
        and text[i - 1].isspace()
        and text[i + 1].isspace()
        and bisect_left(straight, i) % 2 == 0
    )


def _spans_between(text: str, cuts: list[int]) -> Iterator[tuple[int, int]]:
    """Non-empty whitespace-trimmed spans of `text` between consecutive cuts."""
    prev = 0
    for cut in [*cuts, len(text)]:
        piece = text[prev:cut]
        stripped = piece.strip()
        if stripped:
            start = prev + len(piece) - len(piece.lstrip())
            yield start, start + len(stripped)
        prev = cut


_CLOSING_QUOTE_END = regex.compile(r"[»”\"]$")
_HEADING_MAX_CHARS = 80


def split_paragraphs(text: str, lang: str = "fr") -> list[Paragraph]:
    """Split an article into paragraphs.

    Blank lines always separate paragraphs. Inside a block of non-blank lines, a line
    starts a new paragraph when
    - it is a list item (`-`, `•`, `*`, `1.`, `2)`, `a)` …), or
    - the previous line ends a sentence (by the sentence rules, so "M." or "janv." at a
      line end does not count), ends with `:`, or ends with a closing quote before a
      capitalised line, or
    - the previous line is a heading: the first line of its paragraph, short (at most 80
      characters and 60 % of the block's longest line), starting with a capital or digit,
      not ending in punctuation, and followed by a line that starts with a capital, or
    - the paragraph so far is a list item and the line starts with a capital.
    Otherwise the line continues the paragraph (hard-wrapped text); a line that starts
    with a lower-case letter always continues it. `lang` picks the sentence rules.
    """
    rules = rules_for(lang)
    paragraphs: list[Paragraph] = []
    lines: list[tuple[int, int]] = []  # (start, end) of each non-blank line, trimmed

    def flush_block() -> None:
        if lines:
            for start, end in _paragraphs_in_block(text, lines, rules):
                paragraphs.append(Paragraph(len(paragraphs), text[start:end], start, end))
            lines.clear()

    pos = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            start = pos + len(raw) - len(raw.lstrip())
            lines.append((start, start + len(stripped)))
        else:
            flush_block()
        pos += len(raw)
    flush_block()
    return paragraphs


def _paragraphs_in_block(
    text: str, lines: list[tuple[int, int]], rules: LanguageRules
) -> Iterator[tuple[int, int]]:
    """Group the trimmed lines of one block into (start, end) paragraph spans."""
    if len(lines) == 1:
        yield lines[0]
        return
    block_start = lines[0][0]
    block = text[block_start : lines[-1][1]]
    cuts = {block_start + c for c in _cut_positions(block, rules)}
    longest = max(end - start for start, end in lines)
    par_start = lines[0][0]
    for (prev_start, prev_end), (start, end) in zip(lines, lines[1:], strict=False):
        line, prev = text[start:end], text[prev_start:prev_end]
        first = line[0]
        capital = first.isupper() or first.isdigit() or first in "«\"“(['"
        if LIST_ITEM.match(line + " "):
            new = True
        elif first.islower():
            new = False
        else:
            heading = (
                prev_start == par_start
                and len(prev) <= min(_HEADING_MAX_CHARS, 0.6 * longest)
                and (prev[0].isupper() or prev[0].isdigit())
                and prev[-1] not in ".,;-–—"
                and capital
            )
            new = (
                prev_end in cuts
                or (capital and LIST_ITEM.match(text[par_start:prev_end] + " ") is not None)
                or prev.endswith(":")
                or heading
                or (capital and _CLOSING_QUOTE_END.search(prev) is not None)
            )
        if new:
            yield par_start, prev_end
            par_start = start
    yield par_start, lines[-1][1]


def _sentences(text: str, lang: str) -> Iterator[tuple[Paragraph, int, int]]:
    rules = rules_for(lang)
    for par in split_paragraphs(text, lang):
        for start, end in _spans_between(par.text, _cut_positions(par.text, rules)):
            yield par, par.start + start, par.start + end


def split_sentences(text: str, lang: str = "fr") -> list[tuple[int, int]]:
    """Return (start, end) spans of the sentences of `text`, paragraph breaks included.

    `lang` is an ISO 639-1 code; French has the fullest rules, languages with a
    `sentence_splitter` prefix list use it, others get generic rules.
    """
    return [(start, end) for _, start, end in _sentences(text, lang)]


def segment_article(text: str, lang: str = "fr") -> list[Sentence]:
    """Split an article into sentences, each tagged with the index of its paragraph."""
    return [
        Sentence(par.index, text[start:end], start, end)
        for par, start, end in _sentences(text, lang)
    ]


# Clause cuts: after `,` `;` `:` or a closing bracket or quote, or before a spaced dash
# or an opening parenthesis. Sentence ends are added per call (a sentence over budget
# may still hold several when no rule could cut it safely).
_CLAUSE_AFTER = regex.compile(r"[,;:)\]»”](?=\s)")
_CLAUSE_BEFORE = regex.compile(r"\s+(?=[–—(]|-\s)")
_SPACE_RUN = regex.compile(r"\s+")
_GRAPHEME = regex.compile(r"\X")


def fit_to_budget(
    sentence: str, count_tokens: Callable[[str], int], budget: int, *, lang: str = "fr"
) -> list[Piece]:
    """Cut `sentence` into whitespace-trimmed pieces of at most `budget` tokens each.

    A sentence that fits comes back as one piece with `cut=None`. Otherwise pieces are
    taken greedily, each as long as the budget allows: first at clause punctuation (or at
    a sentence end inside a quote), then at a space, then inside a word. A clause cut
    that would leave a piece under half the budget is taken only if the rest then fits,
    so one early comma does not force an extra piece. Token counts grow with the length
    of the text, so each cut is found by a search seeded with the chars-per-token ratio:
    a handful of `count_tokens` calls per piece. A single character over the budget
    still becomes a piece of its own, so the function always ends.
    """
    if budget < 1:
        raise ValueError(f"budget must be a positive number of tokens, got {budget}")
    text = sentence.strip()
    if not text:
        return []
    counts: dict[tuple[int, int], int] = {}

    def count(a: int, b: int) -> int:
        piece = text[a:b]
        a, b = a + len(piece) - len(piece.lstrip()), a + len(piece.rstrip())
        if (a, b) not in counts:
            counts[a, b] = count_tokens(text[a:b])
        return counts[a, b]

    n = len(text)
    if count(0, n) <= budget:
        return [Piece(text, None)]
    clause = sorted(
        {m.end() for m in _CLAUSE_AFTER.finditer(text)}
        | {m.start() for m in _CLAUSE_BEFORE.finditer(text)}
        | set(_cut_positions(text, rules_for(lang)))
    )
    spaces = [m.start() for m in _SPACE_RUN.finditer(text)]
    spans: list[tuple[int, int, Literal["clause", "hard"]]] = []
    chars_per_token = n / count(0, n)

    def rest_fits(start: int) -> bool:
        # Only a rest that may fit is counted: counting every remainder of a long text
        # would make the loop quadratic in calls and in tokenizer work.
        return n - start <= 3 * chars_per_token * budget and count(start, n) <= budget

    start = 0
    while start < n and not rest_fits(start):
        guess = start + int(chars_per_token * budget)

        def fits(p: int, start: int = start) -> bool:
            return count(start, p) <= budget

        cut: int | None = _farthest(clause, start, n, fits, guess)
        kind: Literal["clause", "hard"] = "clause"
        if cut is not None and 2 * count(start, cut) < budget and not rest_fits(cut):
            cut = None
        if cut is None:
            kind = "hard"
            cut = _farthest(spaces, start, n, fits, guess)
        if cut is None:  # the first word alone is over budget: cut inside it
            following = bisect_right(spaces, start)
            word_end = spaces[following] if following < len(spaces) else n
            # Scan a few budgets' worth of the word, not all of it: a long unbroken
            # string (a URL, a token dump) must not make each piece cost its length.
            scan_end = min(word_end, start + 64 + int(4 * chars_per_token * budget))
            graphemes = [m.end() for m in _GRAPHEME.finditer(text, start, scan_end)]
            # A single grapheme over the budget still becomes a piece, so the loop ends.
            cut = _farthest(graphemes, start, scan_end + 1, fits, guess) or graphemes[0]
        spans.append((start, cut, kind))
        chars_per_token = max(cut - start, 1) / max(count(start, cut), 1)
        gap = _SPACE_RUN.match(text, cut)
        start = gap.end() if gap else cut
    if start < n:
        spans.append((start, n, spans[-1][2]))
    return [Piece(text[a:b].strip(), kind) for a, b, kind in spans]


def _farthest(
    positions: list[int], start: int, end: int, fits: Callable[[int], bool], guess: int
) -> int | None:
    """Largest position strictly between start and end for which `fits` holds.

    Assumes `fits` is true up to some position and false after it; gallops from `guess`
    then bisects, so it costs about 2·log2(distance from the guess) calls.
    """
    lo, hi = bisect_right(positions, start), bisect_left(positions, end)
    if lo >= hi:
        return None
    g = min(max(bisect_right(positions, guess, lo, hi) - 1, lo), hi - 1)
    step = 1
    if fits(positions[g]):
        good, bad = g, hi
        while good + step < hi:
            if not fits(positions[good + step]):
                bad = good + step
                break
            good, step = good + step, step * 2
    else:
        good, bad = lo - 1, g
        while bad - step >= lo:
            if fits(positions[bad - step]):
                good = bad - step
                break
            bad, step = bad - step, step * 2
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(positions[mid]):
            good = mid
        else:
            bad = mid
    return positions[good] if good >= lo else None
