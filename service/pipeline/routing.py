"""Before translation: an article's sentences, and which model translates each of them.

The article is cut into sentences, each sentence into segments within its model's token
budget. A sentence goes to the model of the article's language, unless language detection
(``source_lang: auto``) found its paragraph in another language: then it is kept as it is
when already in the target language, or sent to that language's own model when there is
one. Every cut and every reroute is flagged.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from service.articles import Article, Flag
from service.engines.protocol import Seq2SeqBackend
from service.errors import UnsupportedLanguage
from service.text.segmentation import (
    Sentence,
    fit_to_budget,
    segment_article,
    split_paragraphs,
    split_sentences,
)

__all__ = ["TITLE", "Prepared", "Router", "detect_languages"]

TITLE = -1  # owner index of title segments

Spans = list[tuple[int, int, str]]
"""Paragraphs as ``(start, end, language)`` character spans of the article text."""


@dataclass
class Prepared:
    """An article after segmentation: its sentences and the segments to translate."""

    article: Article
    sentences: list[Sentence]
    title_source: str | None
    segments: list[tuple[int, str, str]] = field(default_factory=list)  # (owner, text, lang)
    kept: set[int] = field(default_factory=set)  # sentences already in the target language
    language: dict[str, Any] | None = None  # what detection found, for source_lang "auto"
    flags: list[Flag] = field(default_factory=list)
    started: float = 0.0
    segmentation_s: float = 0.0
    translation_s: float = 0.0  # shared by the articles batched together


def detect_languages(article: Article, identifier: Any) -> tuple[Article, dict[str, Any], Spans]:
    """Detect the article's language and each paragraph's with ``identifier`` (a
    :class:`service.engines.langid.LanguageIdentifier`): the article with its language, the
    record for the result, and the paragraph spans with their language."""
    paragraphs = split_paragraphs(article.text)
    found = identifier.detect_article(article.text, [p.text for p in paragraphs])
    spans = [(p.start, p.end, pl.lang) for p, pl in zip(paragraphs, found.paragraphs, strict=True)]
    return (
        replace(article, source_lang=found.lang),
        {"detected": True, **found.to_dict()},
        spans,
    )


class Router:
    """Segments articles and routes their sentences to the translation models given."""

    def __init__(self, translators: Mapping[str, Seq2SeqBackend], target_lang: str) -> None:
        self.translators = translators
        self.target_lang = target_lang

    def check_language(self, lang: str, detected: bool) -> None:
        """Refuse a language with no model into the target language, listing the pairs."""
        if lang == self.target_lang or lang in self.translators:
            return
        pairs = sorted(
            {f"{s}-{self.target_lang}" for s in getattr(self.translators, "pairs", lambda: [])()}
            | {f"{s}-{self.target_lang}" for s in self.translators}
        )
        how = "detected as" if detected else "given as"
        raise UnsupportedLanguage(
            f"the article's language ({how} {lang!r}) has no translation model to "
            f"{self.target_lang}; supported: {', '.join(pairs) or 'none'}",
            supported=pairs,
            language=lang,
        )

    def prepare(
        self,
        article: Article,
        *,
        language: dict[str, Any] | None = None,
        spans: Spans | None = None,
        started: float | None = None,
    ) -> Prepared:
        """Segment ``article`` (its ``source_lang`` already decided) and route its sentences.

        ``language`` and ``spans`` are what :func:`detect_languages` found, for an article
        whose language was detected; ``started`` is when work on the article began
        (default: now), for its segmentation time.
        """
        started = time.perf_counter() if started is None else started
        spans = spans or []
        self.check_language(article.source_lang, detected=language is not None)
        lang = article.source_lang
        sentences = segment_article(article.text, lang)
        title = (article.title or "").strip() or None
        prep = Prepared(article, sentences, title, started=started, language=language)
        if lang == self.target_lang:
            prep.kept = set(range(len(sentences)))
        else:
            backend = self.translators[lang]
            if title:
                for start, end in split_sentences(title, lang):
                    self._add_segments(prep, backend, lang, TITLE, title[start:end])
            for index, sentence in enumerate(sentences):
                own = next((pl for s, e, pl in spans if s <= sentence.start < e), lang)
                self._route(prep, index, sentence, own, lang)
        prep.segmentation_s = time.perf_counter() - started
        return prep

    def _route(self, prep: Prepared, index: int, sentence: Sentence, own: str, lang: str) -> None:
        """A sentence of a paragraph detected in another language than the article's: kept
        when already in the target language, else sent to its own language's model when
        there is one, else to the article's."""
        first_of_paragraph = index == 0 or prep.sentences[index - 1].paragraph != sentence.paragraph
        if own == self.target_lang:
            prep.kept.add(index)
            if first_of_paragraph:
                prep.flags.append(
                    Flag(
                        "already_target_language",
                        index,
                        f"paragraph {sentence.paragraph} is already in "
                        f"{self.target_lang}: kept as is",
                    )
                )
            return
        if own != lang and own in self.translators:
            self._add_segments(prep, self.translators[own], own, index, sentence.text)
            return
        if own != lang and first_of_paragraph:
            prep.flags.append(
                Flag(
                    "paragraph_language_unsupported",
                    index,
                    f"paragraph {sentence.paragraph} looks {own!r}, which has no model; "
                    f"translated as {lang!r}",
                )
            )
        self._add_segments(prep, self.translators[lang], lang, index, sentence.text)

    @staticmethod
    def _add_segments(
        prep: Prepared, backend: Seq2SeqBackend, lang: str, owner: int, text: str
    ) -> None:
        pieces = fit_to_budget(text, backend.count_tokens, backend.max_source_tokens)
        prep.segments.extend((owner, p.text, lang) for p in pieces)
        cuts = {p.cut for p in pieces if p.cut}
        if cuts:
            how = (
                "at clause punctuation"
                if cuts == {"clause"}
                else "hard (no clause punctuation fitted)"
            )
            prep.flags.append(
                Flag(
                    "sentence_split",
                    None if owner == TITLE else owner,
                    f"{'title' if owner == TITLE else 'sentence'} of "
                    f"{backend.count_tokens(text)} tokens cut into {len(pieces)} pieces {how} "
                    f"to fit the model's {backend.max_source_tokens}-token budget",
                )
            )
