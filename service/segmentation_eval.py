"""Measure sentence boundaries on line-aligned data such as FLORES-200.

Lines are joined into paragraphs with a single space, the paragraphs are split with
`split_sentences`, and the cuts are compared with the known line boundaries. A FLORES
line is a translation unit, not always one sentence (about 13 % of the French lines hold
two or more), so a correct splitter also cuts inside some lines. `inside_cut_rate`
therefore mixes real sentence ends with errors; pass `reference_counts` (how many
sentences each line really holds) to get `excess_cut_rate`, which counts only the cuts
beyond that reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.segmentation import split_sentences

__all__ = ["evaluate_boundaries", "line_sentence_counts"]

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
