"""Terminology: glossary entries and do-not-translate terms, found in an article as holds.

A :class:`Term` with a target is a glossary entry (``OTAN`` -> ``NATO``): where its source
occurs, the translation must hold the target. A term without a target is a do-not-translate
term (``Le Monde``): it must come through verbatim. :func:`find_holds` finds them in a text
(word boundaries, any case, through French elision: ``l'OTAN``, ``d’Ukraine``) as
:class:`~service.articles.Hold` spans that :mod:`service.text.placeholders` carries through
the model. A deployment's glossary file (:func:`load_glossary`) goes under the request's
terms (:func:`merge_terms`). The format and rules are in docs/glossary.md.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from service.articles import Hold
from service.errors import ConfigError

__all__ = [
    "MAX_FILE_TERMS",
    "MAX_TERMS",
    "MAX_TERM_CHARS",
    "Term",
    "find_holds",
    "load_glossary",
    "merge_terms",
    "parse_glossary",
    "request_terms",
    "term_problem",
]

MAX_TERMS = 1000  # glossary entries, and do-not-translate terms, in one request (each)
MAX_TERM_CHARS = 100
MAX_FILE_TERMS = 100_000  # lines of terms in a deployment's glossary file

_APOSTROPHES = "'’ʼ"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Term:
    """A glossary entry (``target`` set) or a do-not-translate term (``target`` None)."""

    source: str
    target: str | None = None


def term_problem(value: str) -> str | None:
    """Why ``value`` cannot be a term (source or target), or None: blank, over
    :data:`MAX_TERM_CHARS` characters, or holding a control character."""
    if not value.strip():
        return "is blank"
    if len(value) > MAX_TERM_CHARS:
        return f"has {len(value)} characters, over the limit of {MAX_TERM_CHARS}"
    for i, ch in enumerate(value):
        if unicodedata.category(ch) == "Cc":
            return f"holds a control character (U+{ord(ch):04X}) at position {i}"
    return None


def request_terms(glossary: Iterable[tuple[str, str]], keep: Iterable[str]) -> list[Term]:
    """A request's terms: its glossary entries, then its do-not-translate terms."""
    return [Term(s, t) for s, t in glossary] + [Term(k) for k in keep]


def merge_terms(*layers: Sequence[Term]) -> list[Term]:
    """The terms of several layers, the first layer winning on a source term given in more
    than one (case-insensitively; within a layer, the first entry wins): pass the request's
    terms first, the deployment's after."""
    seen: dict[str, Term] = {}
    for layer in layers:
        for term in layer:
            seen.setdefault(_key(term.source), term)
    return list(seen.values())


def _key(source: str) -> str:
    return " ".join(_normal_apostrophes(source).casefold().split())


def _normal_apostrophes(text: str) -> str:
    return re.sub(f"[{_APOSTROPHES}]", "'", text)


def _pattern(source: str) -> str:
    """A term's source as a regular expression: apostrophes of any kind, any run of spaces."""
    parts: list[str] = []
    for ch in source.strip():
        if ch in _APOSTROPHES:
            parts.append(f"[{_APOSTROPHES}]")
        elif ch.isspace():
            if parts[-1:] != [r"\s+"]:
                parts.append(r"\s+")
        else:
            parts.append(re.escape(ch))
    return "".join(parts)


def find_holds(text: str, terms: Sequence[Term]) -> list[Hold]:
    """Every occurrence of the ``terms`` in ``text`` as holds, in text order, none overlapping.

    A source term matches on word boundaries (not inside a longer word: ``OTAN`` is not
    found in ``OTANIE``), in any case, after an elided article (``l'OTAN``, ``qu’Ukraine``:
    the apostrophe is no word character). Where occurrences overlap, the longest wins, then
    the first. A glossary term becomes a ``term`` hold whose target is the entry's target
    (capitalised when the source term is not but the occurrence is, at a sentence start);
    a do-not-translate term a ``keep`` hold whose target is the occurrence as written.
    """
    if not text or not terms:
        return []
    # Each word of the text by its folded form: a term is tried only where its first word
    # stands, so a big glossary costs a dictionary look-up per term, not a scan.
    words: dict[str, list[int]] = {}
    for m in _WORD.finditer(text):
        words.setdefault(m.group().casefold(), []).append(m.start())
    found: list[tuple[int, int, Term]] = []
    seen: set[str] = set()
    for term in terms:
        source = term.source.strip()
        key = _key(source)
        if not source or key in seen:
            continue
        seen.add(key)
        first = _WORD.match(source)
        if first is None:  # starts with punctuation ("#MeToo"): a scan of its own
            pattern = re.compile(rf"(?<!\w){_pattern(source)}(?!\w)", re.IGNORECASE)
            found.extend((hit.start(), hit.end(), term) for hit in pattern.finditer(text))
            continue
        starts = words.get(first.group().casefold())
        if not starts:
            continue
        pattern = re.compile(rf"{_pattern(source)}(?!\w)", re.IGNORECASE)
        for at in starts:
            if hit := pattern.match(text, at):
                found.append((hit.start(), hit.end(), term))
    found.sort(key=lambda f: (-(f[1] - f[0]), f[0]))
    taken: list[tuple[int, int, Term]] = []
    used = bytearray(len(text))  # characters already in a hold
    for start, end, term in found:
        if not any(used[start:end]):
            used[start:end] = b"\x01" * (end - start)
            taken.append((start, end, term))
    taken.sort(key=lambda f: f[0])
    return [_hold(text, start, end, term) for start, end, term in taken]


def _hold(text: str, start: int, end: int, term: Term) -> Hold:
    written = text[start:end]
    if term.target is None:
        return Hold(start, end, "keep", written, f"{written} (do not translate)")
    target = term.target
    if written[:1].isupper() and term.source[:1].islower():
        target = target[:1].upper() + target[1:]
    return Hold(start, end, "term", target, f"{written} → {term.target}")


def parse_glossary(content: str, name: str = "glossary") -> list[Term]:
    """The terms of a glossary file's text: one ``source<TAB>target`` or ``source,target``
    (CSV quoting allowed) a line; a line with a source only (or an empty target) is a
    do-not-translate term; blank lines and lines starting with ``#`` are skipped.

    Raises :class:`ConfigError` naming the file (``name``) and the line of the first bad
    entry: more than two fields, a blank source, a term :func:`term_problem` refuses.
    """
    terms: list[Term] = []
    for number, line in enumerate(content.removeprefix("\ufeff").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue

        def bad(why: str, number: int = number) -> ConfigError:
            return ConfigError(
                f"{name}, line {number}: {why}; each line is `source<TAB>target` or "
                "`source,target`, or a source alone for a term not to translate "
                "(docs/glossary.md)",
                path=name,
                line=number,
            )

        if "\t" in line:
            fields = line.split("\t")
        else:
            fields = next(csv.reader([line], skipinitialspace=True))
        fields = [f.strip() for f in fields]
        while len(fields) > 1 and not fields[-1]:
            fields.pop()
        if len(fields) > 2:
            raise bad(f"{len(fields)} fields, at most 2 (source and target)")
        for label, value in zip(("source", "target"), fields, strict=False):
            problem = term_problem(value)
            if problem:
                raise bad(f"the {label} {problem}")
        terms.append(Term(fields[0], fields[1] if len(fields) == 2 else None))
        if len(terms) > MAX_FILE_TERMS:
            raise bad(f"over {MAX_FILE_TERMS} terms")
    return terms


def load_glossary(path: Path | str) -> list[Term]:
    """The terms of the glossary file at ``path`` (:func:`parse_glossary`); a file that
    cannot be read or is not UTF-8 is a :class:`ConfigError` naming it."""
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"glossary file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8",
            path=str(path),
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"glossary file {path} cannot be read: {exc.strerror or exc}", path=str(path)
        ) from None
    return parse_glossary(content, str(path))
