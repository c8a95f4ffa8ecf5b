"""Measure sentence boundaries: on line-aligned data such as FLORES-200, and on gold
sentences written by others (Universal Dependencies CoNLL-U), beside other splitters.

Lines are joined into paragraphs with a single space, the paragraphs are split with
`split_sentences`, and the cuts are compared with the known line boundaries. A FLORES
line is a translation unit, not always one sentence (about 13 % of the French lines hold
two or more), so a correct splitter also cuts inside some lines. `inside_cut_rate`
therefore mixes real sentence ends with errors; pass `reference_counts` (how many
sentences each line really holds) to get `excess_cut_rate`, which counts only the cuts
beyond that reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from service.text.segmentation import split_sentences

__all__ = [
    "GoldReport",
    "evaluate_boundaries",
    "evaluate_gold_sentences",
    "format_gold_table",
    "line_sentence_counts",
    "moses_splitter",
    "naive_split",
    "passeur_splitter",
    "read_conllu_sentences",
]

_EXAMPLES = 10  # misses and inside cuts shown in the report, to read at a glance
_CONTEXT = 40


def evaluate_boundaries(
    lines: Sequence[str],
    lines_per_paragraph: int = 10,
    lang: str = "fr",
    reference_counts: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Compare `split_sentences` cuts with the line boundaries of `lines`.

    - `boundary_recall`: true boundaries (between two lines of one paragraph) found as a
      cut, over all true boundaries.
    - `inside_cut_rate`: cuts inside a line (not at a true boundary), over the number of
      lines.
    - `excess_cut_rate` (only with `reference_counts`): for each line, the cuts inside it
      beyond `reference_counts[i] - 1`, summed, over the number of lines.
    Counts and a few examples of misses and inside cuts come with the rates.
    """
    if lines_per_paragraph < 1:
        raise ValueError(f"lines_per_paragraph must be at least 1, got {lines_per_paragraph}")
    if reference_counts is not None and len(reference_counts) != len(lines):
        raise ValueError(
            f"reference_counts has {len(reference_counts)} entries for {len(lines)} lines"
        )
    clean = [" ".join(line.split()) for line in lines]
    boundaries = found = inside = excess = 0
    missed: list[str] = []
    inside_examples: list[str] = []
    for first in range(0, len(clean), lines_per_paragraph):
        chunk = clean[first : first + lines_per_paragraph]
        text = " ".join(chunk)
        ends: list[int] = []  # end offset of each line in `text`
        for line in chunk:
            ends.append((ends[-1] + 1 if ends else 0) + len(line))
        cuts = {end for _, end in split_sentences(text, lang)[:-1]}
        line_start = 0
        for i, end in enumerate(ends):
            inner = sorted(c for c in cuts if line_start < c < end)
            inside += len(inner)
            if reference_counts is not None:
                excess += max(0, len(inner) - (reference_counts[first + i] - 1))
            for cut in inner[: max(0, _EXAMPLES - len(inside_examples))]:
                after = text[cut : cut + _CONTEXT].lstrip()
                inside_examples.append(f"{text[max(0, cut - _CONTEXT) : cut]}|{after}")
            if i < len(ends) - 1:
                boundaries += 1
                if end in cuts:
                    found += 1
                elif len(missed) < _EXAMPLES:
                    before = text[max(0, end - _CONTEXT) : end]
                    missed.append(f"{before}|{text[end + 1 : end + _CONTEXT]}")
            line_start = end + 1
    report: dict[str, Any] = {
        "lang": lang,
        "lines": len(clean),
        "boundaries": boundaries,
        "boundaries_found": found,
        "boundary_recall": found / boundaries if boundaries else 1.0,
        "inside_cuts": inside,
        "inside_cut_rate": inside / len(clean) if clean else 0.0,
    }
    if reference_counts is not None:
        report["excess_cuts"] = excess
        report["excess_cut_rate"] = excess / len(clean) if clean else 0.0
    report["missed_examples"] = missed
    report["inside_examples"] = inside_examples
    return report


def line_sentence_counts(parallel: dict[str, Sequence[str]]) -> list[int]:
    """Reference sentence count per line: the median over line-aligned translations.

    Each language's line is split on its own; translators keep sentence structure, so a
    count that most languages agree on is taken as the truth, and one splitter's error
    in one language is outvoted by the others.
    """
    counts = [
        [len(split_sentences(line, lang)) for line in lines] for lang, lines in parallel.items()
    ]
    return [sorted(column)[len(column) // 2] for column in zip(*counts, strict=True)]


# -- gold sentences (Universal Dependencies CoNLL-U) -----------------------------

Splitter = Callable[[str], list[tuple[int, int]]]
"""A sentence splitter seen from outside: text in, (start, end) spans out."""

_CLOSERS = "»”’\"')]›"
_OPENERS = "«“„‘\"'([‹¿¡-–— \u00a0\u202f"
_NAIVE_CUT = regex.compile(r"(?<=[.!?…][»”\"’)\]]*)\s+(?=[«“\"(\[]?\s?[\p{Lu}\p{N}])")


def read_conllu_sentences(path: Path) -> list[str]:
    """The `# text = ` line of every sentence of a CoNLL-U file, in file order."""
    prefix = "# text = "
    with path.open(encoding="utf-8") as fh:
        return [line[len(prefix) :].strip() for line in fh if line.startswith(prefix)]


def passeur_splitter(lang: str) -> Splitter:
    return lambda text: split_sentences(text, lang)


def moses_splitter(lang: str) -> Splitter:
    """`sentence-splitter` (the Moses rules), its sentences found back in the text."""
    from sentence_splitter import SentenceSplitter  # type: ignore[import-untyped]

    splitter = SentenceSplitter(language=lang)

    def split(text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        pos = 0
        for sentence in splitter.split(text):
            start = text.find(sentence, pos) if sentence else -1
            if start < 0:  # Moses rewrote the spacing: fall back to the first word
                first = sentence.split()[0] if sentence.split() else ""
                start = text.find(first, pos) if first else -1
                if start < 0:
                    continue
            spans.append((start, start + len(sentence)))
            pos = start + len(sentence)
        return spans

    return split


def naive_split(text: str) -> list[tuple[int, int]]:
    """The regex everyone writes first: final punctuation, a space, a capital or digit."""
    cuts = [0, *(m.end() for m in _NAIVE_CUT.finditer(text)), len(text)]
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if text[a:b].strip()]


def boundary_visible(before: str, after: str) -> bool:
    """A boundary a splitter can see: final punctuation, then a capital or a digit."""
    end = before.rstrip().rstrip(_CLOSERS)
    start = after.lstrip(_OPENERS)
    return (
        bool(end)
        and end[-1] in ".!?…"
        and bool(start)
        and (start[0].isupper() or start[0].isdigit())
    )


@dataclass
class GoldReport:
    """One splitter on gold sentences joined into paragraphs."""

    splitter: str
    sentences: int
    boundaries: int  # between two gold sentences of one paragraph
    visible: int
    visible_found: int
    invisible_found: int
    inner_cuts: int  # cuts inside a gold sentence
    quote_moved: int = 0  # boundaries found with a spaced straight quote on the other side
    misses: list[str] = field(default_factory=list)
    inner: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.visible_found / self.visible if self.visible else 1.0


def evaluate_gold_sentences(
    sentences: Sequence[str], splitters: dict[str, Splitter], per_paragraph: int = 8
) -> list[GoldReport]:
    """Join `per_paragraph` consecutive gold sentences with a space and split them again.

    For each splitter: visible boundaries found (see `boundary_visible`), invisible ones
    found, and cuts inside gold sentences, with every miss and inner cut in context.
    """
    if per_paragraph < 1:
        raise ValueError(f"per_paragraph must be at least 1, got {per_paragraph}")
    clean = [" ".join(s.split()) for s in sentences if s.strip()]
    reports = {name: GoldReport(name, len(clean), 0, 0, 0, 0, 0) for name in splitters}
    for first in range(0, len(clean), per_paragraph):
        chunk = clean[first : first + per_paragraph]
        text = " ".join(chunk)
        starts = [0]
        for s in chunk[:-1]:
            starts.append(starts[-1] + len(s) + 1)
        gold = set(starts[1:])
        visible = {
            start for i, start in enumerate(starts[1:]) if boundary_visible(chunk[i], chunk[i + 1])
        }
        for name, split in splitters.items():
            report = reports[name]
            cuts = set()
            for start, _ in split(text)[1:]:
                # `ans. | " Je` against gold `ans. " | Je`: the boundary is found, only a
                # spaced straight quote that may face either way went to the other side.
                near = _beside_quote(text, start, gold)
                if near is not None:
                    report.quote_moved += 1
                cuts.add(near if near is not None else start)
            report.boundaries += len(gold)
            report.visible += len(visible)
            report.visible_found += len(visible & cuts)
            report.invisible_found += len((gold - visible) & cuts)
            report.misses += [_in_context(text, c) for c in sorted(visible - cuts)]
            inner = sorted(cuts - gold)
            report.inner_cuts += len(inner)
            report.inner += [_in_context(text, c) for c in inner]
    return list(reports.values())


def _beside_quote(text: str, cut: int, gold: set[int]) -> int | None:
    """The gold boundary that `cut` misses only by quote marks and spaces, if any."""
    if cut in gold:
        return None
    for g in gold:
        a, b = min(cut, g), max(cut, g)
        if b - a <= 3 and text[a:b].strip(" \u00a0\u202f") in ('"', "'"):
            return g
    return None


def _in_context(text: str, cut: int) -> str:
    return f"{text[max(0, cut - _CONTEXT) : cut].rstrip()} | {text[cut : cut + _CONTEXT]}"


def format_gold_table(reports: Sequence[GoldReport], *, verbose: bool = False) -> str:
    """The splitters side by side; with `verbose`, every miss and inner cut."""
    r0 = reports[0]
    lines = [
        f"{r0.sentences} gold sentences, {r0.boundaries} boundaries inside paragraphs, "
        f"{r0.visible} visible (final punctuation, then a capital or digit)",
        "",
        "| splitter | visible boundaries found | recall | invisible found "
        '| cuts inside gold sentences | found, a spaced `"` on the other side |',
        "|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.splitter} | {r.visible_found} / {r.visible} | {100 * r.recall:.2f} % "
            f"| {r.invisible_found} | {r.inner_cuts} | {r.quote_moved} |"
        )
    if verbose:
        for r in reports:
            lines += ["", f"{r.splitter}: {len(r.misses)} missed visible boundaries"]
            lines += [f"  miss   {m}" for m in r.misses]
            lines += [f"{r.splitter}: {len(r.inner)} cuts inside gold sentences"]
            lines += [f"  inner  {m}" for m in r.inner]
    return "\n".join(lines)
