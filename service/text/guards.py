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
from decimal import Decimal
from typing import NamedTuple

__all__ = [
    "find_repetition",
    "is_passthrough",
    "joined",
    "length_ratio_ok",
    "missing_numbers",
    "number_pool",
    "numbers_in",
    "unsupported_numbers",
]

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


# -- numbers ------------------------------------------------------------------------
#
# A number is read as a set of *readings*, canonical strings of the values it may mean:
# "1.200" is 1200 in French and 1.2 in English, "10:00" is 10:00 or 22:00, "14 h 30" is
# "14:30". Two numbers match when they share a reading. The source side is read strictly
# (what its digits say); the translation side also in words ("four million", "tenth",
# "noon") and with the looser readings a translator's rewording shares ("four million"
# also offers "4", "1920s" also "20").

_SP = r"[^\S\r\n]"  # any space inside a line: ordinary, no-break, narrow or thin
# Words that multiply the number before them: "4 millions", "2,5 milliards", "3 dozen".
_SCALES = {
    "thousand": 10**3,
    "million": 10**6,
    "milliard": 10**9,
    "billion": 10**9,  # 10**12 in French, see numbers_in
    "trillion": 10**12,
    "dozen": 12,
}
# Abbreviated scales are ambiguous ("5 m" may be metres, "5 mn" minutes): both readings.
_ABBREVIATIONS = {"k": 10**3, "m": 10**6, "mn": 10**6, "mln": 10**6, "bn": 10**9}
_ABBREVIATIONS |= dict.fromkeys(("md", "mds", "mrd", "mrds"), 10**9)
_NUMBER = re.compile(
    rf"(?<![0-9])(?P<num>[0-9]{{1,3}}(?:{_SP}[0-9]{{3}})+(?![0-9])(?:,[0-9]+)?"
    rf"|[0-9]+(?:[.,][0-9]+)*)"
    rf"(?:(?:{_SP}|-)?(?:(?P<scale>{'|'.join(_SCALES)})s?|(?P<abbr>{'|'.join(_ABBREVIATIONS)}))\b)?",
    re.IGNORECASE,
)
# Clock times: French "14 h 30", "8h", "6 heures"; "14:30"; English "2:30 p.m.", "8am".
_FR_TIME = re.compile(
    rf"(?<![0-9.,])(?P<h>[01]?[0-9]|2[0-4]){_SP}?(?:h|heures?)(?:{_SP}?(?P<m>[0-5][0-9]))?(?!\w)",
    re.IGNORECASE,
)
# Not "4:41.30", a race time in minutes, seconds and hundredths.
_CLOCK = re.compile(r"(?<![0-9.,:])(?P<h>[01]?[0-9]|2[0-4]):(?P<m>[0-5][0-9])(?![0-9:]|[.,][0-9])")
_EN_TIME = re.compile(
    rf"(?<![0-9.,])(?P<h>1[0-2]|0?[0-9])(?:[:.](?P<m>[0-5][0-9]))?{_SP}?(?P<mer>[ap])\.?m\b\.?",
    re.IGNORECASE,
)
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DECADE = re.compile(r"(?:1[0-9]|20)[1-9]0")
_DOT_TIME = re.compile(r"([01]?[0-9]|2[0-4])\.([0-5][0-9])")
# "'15", "Q1/15", "FY15": a two-digit year.
_SHORT_YEAR = re.compile(r"(?:(?<!\w)['’]|\bQ[1-4]/|\bH[12]/|\bFY)$")

# Kept as strings to read as prose; list literals would run to sixty lines.
_UNITS = """zero one two three four five six seven eight nine ten eleven twelve thirteen
    fourteen fifteen sixteen seventeen eighteen nineteen""".split()  # noqa: SIM905
_UNIT_ORDINALS = """zeroth first second third fourth fifth sixth seventh eighth ninth tenth
    eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth
    nineteenth""".split()  # noqa: SIM905
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905


def _number_words() -> dict[str, tuple[str, int, bool]]:
    """English number words: word -> (kind, value, whether it is an ordinal)."""
    words: dict[str, tuple[str, int, bool]] = {}
    for value, (word, ordinal) in enumerate(zip(_UNITS, _UNIT_ORDINALS, strict=True)):
        kind = "unit" if value < 10 else "teen"
        words |= {word: (kind, value, False), ordinal: (kind, value, True)}
    for value, word in zip(range(20, 100, 10), _TENS, strict=True):
        words |= {word: ("tens", value, False), word[:-1] + "ieth": ("tens", value, True)}
        words[word[:-1] + "ies"] = ("decade", value, True)  # "the twenties"
    words |= {"hundred": ("hundred", 100, False), "hundredth": ("hundred", 100, True)}
    words["dozen"] = ("hundred", 12, False)  # multiplies like "hundred": "two dozen"
    for word in ("thousand", "million", "billion", "trillion"):
        words |= {
            word: ("scale", _SCALES[word], False),
            word + "th": ("scale", _SCALES[word], True),
        }
    words["a"] = words["an"] = ("unit", 1, False)  # only before a scale: "a dozen", "a million"
    return words


_WORDS = _number_words()
_CLOCK_WORDS = {"noon": "12:00", "midday": "12:00", "midnight": "0:00"}
_WORD_ALTERNATIVES = "|".join(sorted(set(_WORDS) - {"a", "an"}, key=len, reverse=True))
_NUMBER_WORD = (
    rf"(?:{_WORD_ALTERNATIVES}|an?(?={_SP}+(?:dozen|hundred|thousand|(?:m|b|tr)illion)\b))"
)
_WORD_RUN = re.compile(
    rf"\b{_NUMBER_WORD}(?:(?:{_SP}|-)+(?:and{_SP}+)?{_NUMBER_WORD})*\b|\b(?:{'|'.join(_CLOCK_WORDS)})\b",
    re.IGNORECASE,
)


class _Number(NamedTuple):
    start: int
    end: int
    written: str
    readings: frozenset[str]  # what the written number means
    looser: frozenset[str] = frozenset()  # what another wording of it may share
    parts: tuple[frozenset[str], ...] = ()  # a clock time may be a duration: "2 h 30"


def _canon(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _readings(token: str) -> set[str]:
    """Every value a written number can mean: "1.200" is 1200 in French, 1.2 in English."""
    token = re.sub(_SP, "", token)
    seps = re.findall(r"[.,]", token)
    if not seps:
        return {_canon(Decimal(token))}
    readings: set[str] = set()
    parts = re.split(r"[.,]", token)
    # All separators are thousands separators ("1,200,000" / "1.200.000").
    if all(len(p) == 3 for p in parts[1:]):
        readings.add(_canon(Decimal("".join(parts))))
    # The last separator is the decimal mark, the others thousands separators.
    if len(set(seps[:-1])) <= 1 and (len(seps) == 1 or seps[-1] != seps[0]):
        readings.add(_canon(Decimal("".join(parts[:-1]) + "." + parts[-1])))
    return readings or {token}  # "4.0.3", a version: matched as written


def _clock(
    hour: int, minute: int, meridiem: str | None = None, *, french: bool = False
) -> set[str]:
    if meridiem:
        hours = {hour % 12 + (12 if meridiem.lower() == "p" else 0)}
    elif french or hour > 12:
        hours = {hour % 24}
    else:  # "10:00" alone may be morning or evening
        hours = {hour % 12, hour % 12 + 12}
    return {f"{h}:{minute:02d}" for h in hours}


def _times(text: str) -> list[_Number]:
    found: list[_Number] = []
    for m in _FR_TIME.finditer(text):
        hour, minute = int(m["h"]), int(m["m"] or 0)
        readings = _clock(hour, minute, french=True)
        readings |= {str(hour * 100 + minute)} if hour else set()  # "1200 GMT"
        if m["m"] is None:  # "6 heures" may be six hours, not six o'clock
            found.append(_Number(m.start(), m.end(), m[0], frozenset(readings | {str(hour)})))
        else:
            parts = (frozenset({str(hour)}), frozenset({str(minute)}))
            found.append(_Number(m.start(), m.end(), m[0], frozenset(readings), parts=parts))
    for m in _CLOCK.finditer(text):
        hour, minute = int(m["h"]), int(m["m"])
        parts = (frozenset({str(hour)}), frozenset({str(minute)}))
        found.append(
            _Number(m.start(), m.end(), m[0], frozenset(_clock(hour, minute)), parts=parts)
        )
    for m in _EN_TIME.finditer(text):
        hour, minute = int(m["h"]), int(m["m"] or 0)
        readings = _clock(hour, minute, m["mer"]) | (set() if m["m"] else {str(hour)})
        found.append(_Number(m.start(), m.end(), m[0], frozenset(readings)))
    return found


def _digit_numbers(text: str, lang: str) -> list[_Number]:
    found: list[_Number] = []
    for m in _NUMBER.finditer(text):
        base = _readings(m["num"])
        readings, looser = set(base), set[str]()
        if m["scale"] or m["abbr"]:
            word = (m["scale"] or m["abbr"]).lower()
            factor = 10**12 if lang == "fr" and word == "billion" else _SCALES.get(word)
            factor = factor or _ABBREVIATIONS[word]
            scaled = {_canon(Decimal(r) * factor) for r in base if _DECIMAL.fullmatch(r)}
            # "4 millions" says 4,000,000; "4m" may say it or four metres.
            readings, looser = (scaled, base) if m["scale"] else (base | scaled, set())
        if (t := _DOT_TIME.fullmatch(m["num"])) is not None:  # "15.00 UTC"
            readings |= _clock(int(t[1]), int(t[2]))
        num = m["num"]
        if _DECADE.fullmatch(num) and re.match(r"['’]?s\b", text[m.end() :]):
            looser.add(num[2:])  # "the 1920s": "les années 20"
        if len(num) == 2 and _SHORT_YEAR.search(text, max(0, m.start() - 4), m.start()):
            looser |= {"19" + num, "20" + num}
        found.append(_Number(m.start(), m.end(), m[0], frozenset(readings), frozenset(looser)))
    return found


def _word_values(words: list[str]) -> list[tuple[int, int]]:
    """(value, largest scale used) of each number in a run of English number words."""
    values: list[tuple[int, int]] = []
    total = current = scale = 0
    last: str | None = None  # kind of the previous word of the open number
    for word in words:
        kind, value, ordinal = _WORDS[word]
        small = kind in ("unit", "teen", "tens")
        if last is not None and (
            kind == "decade"
            or (small and not (last in ("hundred", "scale") or (last == "tens" and kind == "unit")))
        ):
            values.append((total + current, scale))
            total = current = scale = 0
            last = None
        if small or kind == "decade":
            current += value
        elif kind == "hundred":
            current = (current or 1) * value
        else:
            total += (current or 1) * value
            current, scale = 0, max(scale, value)
        last = kind
        if ordinal:  # "twenty-first": nothing follows an ordinal in the same number
            values.append((total + current, scale))
            total = current = scale = 0
            last = None
    if last is not None:
        values.append((total + current, scale))
    return values


def _word_numbers(text: str) -> list[_Number]:
    found: list[_Number] = []
    for m in _WORD_RUN.finditer(text):
        run = m[0].lower()
        if run in _CLOCK_WORDS:
            found.append(_Number(m.start(), m.end(), m[0], frozenset({_CLOCK_WORDS[run]})))
            continue
        words = [w for w in re.split(rf"(?:{_SP}|-)+", run) if w != "and"]
        for value, scale in _word_values(words):
            looser = {_canon(Decimal(value) / scale)} if scale >= 1000 else set()
            found.append(
                _Number(m.start(), m.end(), m[0], frozenset({str(value)}), frozenset(looser))
            )
    return found


def _scan(text: str, lang: str, *, words: bool) -> list[_Number]:
    """The numbers of ``text`` in order; where two readings overlap, the longer wins."""
    candidates = _times(text) + _digit_numbers(text, lang)
    if words:
        candidates += _word_numbers(text)
    candidates.sort(key=lambda n: (n.start, -n.end))
    chosen: list[_Number] = []
    for number in candidates:
        if not chosen or number.start >= chosen[-1].end:
            chosen.append(number)
        elif number.start == chosen[-1].start and number.end == chosen[-1].end and words:
            chosen.append(number)  # "one two" is one run of words but two numbers
    return chosen


def numbers_in(text: str, lang: str = "en") -> list[tuple[str, set[str]]]:
    """The numbers written in digits in ``text`` with their possible readings, in order.

    A clock time is one number ("14 h 30", "2:30 p.m."), as is a number with its scale
    ("4 millions", "2.5bn"). ``lang="fr"`` reads "billion" as 10^12.
    """
    return [(n.written, set(n.readings)) for n in _scan(text, lang, words=False)]


def number_pool(text: str) -> list[set[str]]:
    """Every number of English ``text``, in digits or in words ("four million", "tenth",
    "noon"), each as the readings another wording of it may share, in order."""
    return [set(n.readings | n.looser) for n in _scan(text, "en", words=True)]


def unsupported_numbers(text: str, support: str) -> list[str]:
    """The numbers written in ``text`` that ``support`` holds nowhere, in digits or words."""
    pool = set().union(*number_pool(support))
    return [written for written, readings in numbers_in(text) if not readings & pool]


def missing_numbers(source: str, translation: str) -> list[str]:
    """Numbers of the French source that the English translation does not contain.

    Matched by value, however the translator wrote them: ``2,4`` ↔ ``2.4``, ``6 000`` ↔
    ``6,000``, ``4 000 000`` ↔ ``four million``, ``10ème`` ↔ ``tenth``, ``12 h 00`` ↔
    ``12:00``, ``1200`` or ``noon``, ``milliard`` ↔ ``billion``. Each source number needs a
    distinct number of the translation (two "3"s need two "3"s); a time such as ``2 h 30``
    may also be matched as a duration, by its hours and its minutes apart.
    """
    pool = number_pool(translation)
    missing: list[str] = []

    def take(readings: Iterable[str]) -> bool:
        wanted = set(readings)
        hit = next((i for i, r in enumerate(pool) if r & wanted), None)
        if hit is not None:
            pool.pop(hit)
        return hit is not None

    for number in _scan(source, "fr", words=False):
        if take(number.readings):
            continue
        kept = list(pool)
        if not (number.parts and all(take(p) for p in number.parts)):
            pool[:] = kept
            missing.append(number.written)
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
