"""Checks run on every translated segment. Pure functions: no model, no torch.

Each guard answers one question a reader would ask of a machine translation: did the
model loop, did it copy the source, did it lose a number, is the output absurdly long or
short for its input? The pipeline turns the answers into flags on the result.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"\w+", re.UNICODE)


def find_repetition(text: str, *, min_repeats: int = 4, max_ngram: int = 6) -> str | None:
    """The first n-gram (1..max_ngram words) repeated ``min_repeats`` times in a row.

    Catches the classic decoder loop ("the the the the", "in the city, in the city, …").
    Also catches character-level stutter inside one token ("ahahahahahahahah") via a
    regex on the raw text. Returns the repeated unit, or None.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    for n in range(1, max_ngram + 1):
        needed = n * min_repeats
        for start in range(0, len(words) - needed + 1):
            unit = words[start : start + n]
            if all(
                words[start + k * n : start + (k + 1) * n] == unit for k in range(1, min_repeats)
            ):
                return " ".join(unit)
    stutter = re.search(r"(\S{2,8}?)\1{5,}", text)
    return stutter.group(1) if stutter else None


def _letters(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in folded if ch.isalpha())


def is_passthrough(
    source: str, translation: str, *, min_words: int = 4, ratio: float = 0.9
) -> bool:
    """True when the translation is (nearly) the source copied through.

    Short segments are skipped: a name or a number legitimately stays the same.
    """
    if len(_WORD.findall(source)) < min_words:
        return False
    a, b = _letters(source), _letters(translation)
    if not a or not b:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= ratio


# A number as written in French or English running text: digit groups separated by
# (non-breaking / narrow) spaces, commas or dots. Interpreted below, not here.
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:(?:[ \u00a0\u202f]\d{3})+|(?:[.,]\d+)+)*(?![\w])|\d+")
_GROUP_SPACES = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d{3}(?!\d))")
# French clock times ("14 h 30", "8h") may come out as "2:30 p.m." or "14:30".
_FR_TIME = re.compile(r"\b(\d{1,2}) ?h ?(\d{2})?\b")


def _readings(token: str) -> set[str]:
    """Every value a written number can mean: "1.200" is 1200 in French, 1.2 in English."""
    token = _GROUP_SPACES.sub("", token)
    readings: set[str] = set()
    seps = re.findall(r"[.,]", token)
    if not seps:
        readings.add(token.lstrip("0") or "0")
        return readings
    parts = re.split(r"[.,]", token)
    # All separators are thousands separators ("1,200,000" / "1.200.000").
    if all(len(p) == 3 for p in parts[1:]):
        readings.add("".join(parts).lstrip("0") or "0")
    # The last separator is the decimal mark, the others thousands separators.
    whole = "".join(parts[:-1]).lstrip("0") or "0"
    decimals = parts[-1].rstrip("0")
    if len(set(seps[:-1])) <= 1 and (len(seps) == 1 or seps[-1] != seps[0]):
        readings.add(f"{whole}.{decimals}" if decimals else whole)
    return readings


def numbers_in(text: str) -> list[tuple[str, set[str]]]:
    """The numbers of ``text`` with their possible readings, in order."""
    return [(m.group(0), _readings(m.group(0))) for m in _NUMBER.finditer(text)]


def _time_readings(text: str) -> set[str]:
    values: set[str] = set()
    for m in _FR_TIME.finditer(text):
        hour = int(m.group(1))
        values.update({str(hour), str(hour % 12 or 12)})
    return values


def missing_numbers(source: str, translation: str) -> list[str]:
    """Numbers of the French source that the English translation does not contain.

    Formats are matched by value: ``2,4`` ↔ ``2.4``, ``1 200`` ↔ ``1,200``; a French
    clock hour may come out on the 12-hour clock. Each source number must be matched
    by a distinct number of the translation (two "3"s need two "3"s).
    """
    pool: list[set[str]] = [r for _, r in numbers_in(translation)]
    times = _time_readings(source)
    missing: list[str] = []
    for written, readings in numbers_in(source):
        hit = next((i for i, r in enumerate(pool) if r & readings), None)
        if hit is not None:
            pool.pop(hit)
        elif not readings & times:
            missing.append(written)
    return missing


def length_ratio_ok(source: str, translation: str, *, low: float = 0.3, high: float = 3.0) -> bool:
    """English output between ``low`` and ``high`` times the source length (characters).

    Very short segments are exempt: "Oui." → "Yes." is a ratio of 1.0 but "M. X" → "Mr X"
    style cases make ratios on a few characters meaningless.
    """
    if len(source) < 20:
        return len(translation) <= 20 + high * len(source)
    ratio = len(translation) / len(source)
    return low <= ratio <= high


def joined(parts: Iterable[str]) -> str:
    """Join translated pieces with single spaces, ignoring empty ones."""
    return " ".join(p.strip() for p in parts if p and p.strip())
