"""Language identification per article and per paragraph, over every language lingua knows
(75); the configured languages only name the default and the routes, never what can be
recognised: a Polish paragraph is named ``pl``, then routed to the fallback or refused.

Two stages, and a check. Lingua in low-accuracy mode over all 75 names the language; when
it names a configured one, lingua in high-accuracy mode restricted to the configured
languages shares their total confidence among them (``fr`` against ``ca`` or ``it`` is
the hard call, and the one a route rests on). When it names one of the configured
languages' :data:`NEIGHBOURS` (Latin for Italian, Tagalog for Romanian), high accuracy
over the configured languages plus that one decides: low accuracy reads trigrams only
and takes short Romance sentences for Latin or Tagalog with confidence, where high
accuracy does not; a real Latin text stays Latin. Any other name is kept with its
confidence; under :data:`SHORT_LETTERS` letters it must reach
:data:`SHORT_OTHER_CONFIDENCE`, else it counts as too short to judge (low-accuracy
confidences are not calibrated on a name: "Emmanuel Macron" is Yoruba at 0.74).

A paragraph is clear when it has at least ``min_chars`` letters and its best language
reaches ``min_confidence``. The article's language is the one most of its clear
paragraphs are in, counted in letters; each paragraph then takes that language as its
prior: an unclear paragraph gets it with ``fallback=True``, a clear paragraph in another
language (an English quotation in a French article) keeps its own. An article with no
clear paragraph is judged as one text, and failing that gets ``default`` with
``fallback=True``.

Thresholds, measured on FLORES-200 devtest with the high-accuracy detector restricted to
the nine default languages (this module's second stage):

- ``MIN_CONFIDENCE = 0.5`` (the best language is more likely than all the others
  together): 7 of lingua's 18 wrong guesses on the 9,108 sentences fall below it, and
  0.23 % of its right ones. Raising it to 0.6 costs more right answers than it saves.
- ``MIN_LETTERS = 10``: with 5-9 letters lingua is right 74 % of the time and still
  wrong on 8 % of what clears the threshold; the article language is the better bet.

Measured with ``passeur eval langid`` on the 24 FLORES-200 devtest languages
(docs/quality.md): the nine 99.08 % of single sentences (99.23 % on the half of each file
the neighbours were not read from) and 100 % of 5-sentence paragraphs, the 15 others
97.04 % and 99.47 %, no paragraph of the others given one of the nine with confidence 0.9
or more. About 325 MiB once per process (the single-stage high-accuracy detector over
all 75: 0.9-1.1 GiB), 2.5-3.5 s of CPU to load, 1.3 ms of CPU a sentence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from service.errors import ConfigError
from service.settings import DEFAULT_LANGUAGES, DEFAULT_SOURCE_LANG
from service.text.segmentation import split_paragraphs

__all__ = [
    "DEFAULT_LANGUAGES",
    "MIN_CONFIDENCE",
    "MIN_LETTERS",
    "NEIGHBOURS",
    "ArticleLanguage",
    "LanguageIdentifier",
    "ParagraphLanguage",
    "supported_languages",
]

log = logging.getLogger(__name__)

MIN_CONFIDENCE = 0.5
MIN_LETTERS = 10
# Below this many letters the coarse stage must be this sure of a language outside the
# configured ones.
SHORT_LETTERS = 60
SHORT_OTHER_CONFIDENCE = 0.9
# The languages the low-accuracy stage names for a configured language's sentences often
# enough to check in high accuracy: each one the coarse stage named at least twice for
# that language's sentences in the first half (lines 0-505) of its FLORES-200 devtest
# file, ``passeur eval langid --neighbours --lines :506``; the other half is what the
# accuracy is reported on. Each costs about 10 MiB of high-accuracy models, once loaded.
# A configured language not listed has none (the two stages alone).
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "it": ("la",),
    "nl": ("af",),
    "ca": ("tl", "la"),
    "ro": ("tl", "eo", "la", "zu"),
}
# Lingua's confidence is saturated long before this many characters; the cap bounds the
# cost of a huge paragraph, since lingua's grows with the text.
SAMPLE_CHARS = 1000
_WARM_UP = "Warm up every language model once before the first article."


@dataclass(frozen=True)
class ParagraphLanguage:
    """The language of one paragraph; ``confidence`` is the detector's for ``lang``
    (0.0 when the paragraph was too short to ask)."""

    index: int
    lang: str
    confidence: float
    fallback: bool  # too short or ambiguous: the article's language was used

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "lang": self.lang,
            "confidence": round(self.confidence, 4),
            "fallback": self.fallback,
        }


@dataclass(frozen=True)
class ArticleLanguage:
    """The language of an article and of each of its paragraphs.

    ``confidence`` is the letter-weighted mean of the paragraphs' confidence in ``lang``:
    an article with a long quotation in another language scores lower than a uniform one.
    """

    lang: str
    confidence: float
    paragraphs: list[ParagraphLanguage] = field(default_factory=list)
    fallback: bool = False  # no clear language: ``default`` was used

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "confidence": round(self.confidence, 4),
            "fallback": self.fallback,
            "paragraphs": [p.to_dict() for p in self.paragraphs],
        }


_LINGUA = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}


def supported_languages() -> list[str]:
    """ISO 639-1 codes lingua can name."""
    return sorted(_LINGUA)


def _as_dict(values: Sequence[Any]) -> dict[str, float]:
    return {v.language.iso_code_639_1.name.lower(): float(v.value) for v in values}


@dataclass(frozen=True)
class _Detectors:
    coarse: LanguageDetector  # low accuracy, all 75 languages
    fine: LanguageDetector  # high accuracy, the configured languages
    checks: dict[str, LanguageDetector]  # neighbour -> high accuracy, configured + it


def _high_accuracy(codes: Sequence[str]) -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*(_LINGUA[code] for code in codes)).build()


def _letters(text: str) -> int:
    return sum(map(str.isalpha, text))


def _sample(text: str) -> str:
    if len(text) <= SAMPLE_CHARS:
        return text
    cut = text.rfind(" ", 0, SAMPLE_CHARS)
    return text[: cut if cut > 0 else SAMPLE_CHARS]


class LanguageIdentifier:
    """Detects the language of articles and paragraphs among every language lingua knows.

    ``languages`` are the configured ones (the deployment's routes; ``default`` must be
    one of them): they no longer restrict what is recognised.

    Construction only checks the arguments; the lingua detectors (about 325 MiB for the
    nine default languages, 2.5 s of CPU) are built by ``load()`` or on first use, once,
    safely across threads. Lingua shares its models between detectors, so several
    identifiers in one process cost the same.
    """

    def __init__(
        self,
        languages: Sequence[str] = DEFAULT_LANGUAGES,
        *,
        default: str = DEFAULT_SOURCE_LANG,
        min_confidence: float = MIN_CONFIDENCE,
        min_chars: int = MIN_LETTERS,
    ) -> None:
        codes = list(dict.fromkeys(code.strip().lower() for code in languages))
        supported = supported_languages()
        unknown = [code for code in codes if code not in supported]
        if unknown:
            raise ConfigError(
                f"unknown language code(s) {', '.join(unknown)}; "
                f"supported ISO 639-1 codes: {', '.join(supported)}"
            )
        if len(codes) < 2:
            raise ConfigError(f"language identification needs at least two languages, got {codes}")
        default = default.strip().lower()
        if default not in codes:
            raise ConfigError(f"default language {default!r} is not one of {', '.join(codes)}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be between 0 and 1, got {min_confidence}")
        if min_chars < 0:
            raise ConfigError(f"min_chars must be 0 or more, got {min_chars}")
        self.languages = tuple(codes)
        self.default = default
        self.min_confidence = min_confidence
        self.min_chars = min_chars  # counted in letters: digits and punctuation say nothing
        self.neighbours = tuple(
            dict.fromkeys(
                other for code in codes for other in NEIGHBOURS.get(code, ()) if other not in codes
            )
        )
        self._detectors: _Detectors | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Build the detectors and load their models now rather than on the first article."""
        self._get_detectors()

    def _get_detectors(self) -> _Detectors:
        if self._detectors is None:
            with self._lock:
                if self._detectors is None:
                    self._detectors = self._build()
        return self._detectors

    def _build(self) -> _Detectors:
        began = time.perf_counter()
        coarse = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        fine = _high_accuracy(self.languages)
        # Lingua shares its models between detectors: each check adds one language's.
        checks = {other: _high_accuracy((*self.languages, other)) for other in self.neighbours}
        # Lingua loads its models lazily; one short text loads those of the Latin script
        # (other scripts' on their first text).
        for detector in (coarse, fine, *checks.values()):
            detector.compute_language_confidence_values(_WARM_UP)
        log.info(
            "language detectors (all %d languages, then %s; checked: %s) loaded in %.1f s",
            len(Language.all()),
            ",".join(self.languages),
            ",".join(self.neighbours) or "none",
            time.perf_counter() - began,
        )
        return _Detectors(coarse, fine, checks)

    def _scores(self, text: str, letters: int | None = None) -> dict[str, float] | None:
        """Confidence per language, or None when ``text`` is too short to judge.

        The coarse detector names the language among all; when it names a configured one,
        the fine detector shares the configured languages' total confidence among them;
        when it names a neighbour, the neighbour's check shares it among the configured
        languages and that neighbour. A short text finally given another language without
        :data:`SHORT_OTHER_CONFIDENCE` is too short to judge: its confidences are not
        calibrated there ("Emmanuel Macron": Yoruba 0.74).
        """
        letters = _letters(text) if letters is None else letters
        if letters < max(self.min_chars, 1):
            return None
        detectors = self._get_detectors()
        sample = _sample(text)
        scores = _as_dict(detectors.coarse.compute_language_confidence_values(sample))
        if not scores:
            return scores
        top = max(scores, key=scores.__getitem__)
        if top in self.languages:
            fine, group = detectors.fine, self.languages
        elif top in detectors.checks:
            fine, group = detectors.checks[top], (*self.languages, top)
        else:
            fine = None
        if fine is not None:
            mass = sum(scores.get(code, 0.0) for code in group)
            for code, value in _as_dict(fine.compute_language_confidence_values(sample)).items():
                scores[code] = value * mass
            top = max(scores, key=scores.__getitem__)
        if top not in self.languages:
            short = letters < SHORT_LETTERS and scores[top] < SHORT_OTHER_CONFIDENCE
            return None if short else scores
        return scores

    def first_stage(self, text: str) -> str | None:
        """The language the low-accuracy stage names among all 75 (None for no letters):
        what :data:`NEIGHBOURS` is derived from."""
        scores = _as_dict(self._get_detectors().coarse.compute_language_confidence_values(text))
        return max(scores, key=scores.__getitem__) if scores else None

    def _decide(
        self, scores: dict[str, float] | None, prior: str | None
    ) -> tuple[str, float, bool]:
        fallback = prior or self.default
        if scores is None:
            return fallback, 0.0, True
        # On a tie the prior wins.
        lang = max(scores, key=lambda code: (scores[code], code == fallback))
        if scores[lang] < self.min_confidence or scores[lang] == 0.0:
            return fallback, scores.get(fallback, 0.0), True
        return lang, scores[lang], False

    def _check_prior(self, prior: str | None) -> None:
        if prior is not None and prior not in supported_languages():
            raise ValueError(
                f"prior {prior!r} is not a language code lingua knows: "
                f"{', '.join(supported_languages())}"
            )

    def detect(self, text: str, *, prior: str | None = None) -> tuple[str, float, bool]:
        """``(lang, confidence, fallback)`` for one text. Text that is too short or
        ambiguous gets ``prior`` (or ``default``) and ``fallback=True``."""
        self._check_prior(prior)
        return self._decide(self._scores(text), prior)

    def detect_article(self, text: str, paragraphs: Sequence[str] | None = None) -> ArticleLanguage:
        """The article's language, then each paragraph's with the article's as prior.

        ``paragraphs`` defaults to ``split_paragraphs(text)``; pass them when the caller
        has split the article already, so that the indexes match its own.
        """
        if paragraphs is None:
            paragraphs = [p.text for p in split_paragraphs(text)]
        letters = [_letters(p) for p in paragraphs]
        scored = [self._scores(p, n) for p, n in zip(paragraphs, letters, strict=True)]
        lang, confidence, fallback = self._article_language(letters, scored, paragraphs, text)
        return ArticleLanguage(
            lang,
            confidence,
            [ParagraphLanguage(i, *self._decide(s, lang)) for i, s in enumerate(scored)],
            fallback,
        )

    def _article_language(
        self,
        letters: list[int],
        scored: list[dict[str, float] | None],
        paragraphs: Sequence[str],
        text: str,
    ) -> tuple[str, float, bool]:
        """The language of most of the clear paragraphs, counted in letters.

        Its confidence is the letter-weighted mean of every judged paragraph's confidence
        in it, so an article with a long quotation scores below a uniform one without
        falling back. With no clear paragraph, the paragraphs are judged as one text.
        """
        votes: Counter[str] = Counter()
        mass: defaultdict[str, float] = defaultdict(float)
        total = 0
        for weight, scores in zip(letters, scored, strict=True):
            if scores is None:
                continue
            total += weight
            for code, value in scores.items():
                mass[code] += value * weight
            lang, _, fallback = self._decide(scores, None)
            if not fallback:
                votes[lang] += weight
        if votes:
            lang = max(votes, key=lambda code: (votes[code], code == self.default))
            return lang, mass[lang] / total, False
        return self._decide(self._scores("\n".join(paragraphs) if paragraphs else text), None)
