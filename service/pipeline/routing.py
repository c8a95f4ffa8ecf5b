"""Before translation: an article's sentences, and which model translates each of them.

The article is cut into sentences, each sentence into segments within its model's token
budget. A sentence goes to the model of the article's language, unless language detection
(``source_lang: auto``) found its paragraph in another language: then it is kept as it is
when already in the target language, or sent to that language's own model when there is
one. A language with no pair of its own may go to the multilingual fallback model (the
translators say so, see :meth:`Router.route`): flagged ``fallback_model``. Every cut and
every reroute is flagged.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from service.articles import Article, Flag, Hold
from service.engines.protocol import Seq2SeqBackend
from service.errors import UnsupportedLanguage
from service.text.placeholders import Unmasked, mask
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
    translated_tokens: int = 0  # target tokens decoded, retries included (the result's `work`)
    title_holds: tuple[Hold, ...] = ()  # like article.holds, offsets in the stripped title
    # Per owner (sentence index or TITLE), the placeholder tokens its segments carry.
    masks: dict[int, list[tuple[str, Hold]]] = field(default_factory=dict)
    # Per owner, its translation with the placeholders resolved (set by reassembly): where
    # each markup boundary landed (``positions``) for a document's renderer.
    unmasked: dict[int, Unmasked] = field(default_factory=dict)
    # A Markdown or HTML article's parsed document (service.documents), written back after.
    document: Any = None

    def masked(self, owner: int, text: str, offset: int) -> str:
        """``text`` (at ``offset`` in the article text, or in the title for :data:`TITLE`)
        with its holds replaced by placeholder tokens, numbered on from the owner's others."""
        holds = self.title_holds if owner == TITLE else self.article.holds
        if not holds:
            return text
        tokens = self.masks.setdefault(owner, [])
        first = max((int(t.strip("{}")) for t, _ in tokens), default=0) + 1
        text, new = mask(text, offset, holds, first=first)
        tokens.extend(new)
        return text


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

    def route(self, lang: str) -> str | None:
        """``"pair"``, ``"fallback"`` (the multilingual model) or None (no model), as the
        translators say (:meth:`service.wiring.TranslatorPool.route`); a plain mapping of
        translators holds pairs only."""
        route = getattr(self.translators, "route", None)
        if route is not None:
            return route(lang)
        return "pair" if lang in self.translators else None

    def _flag_fallback(self, prep: Prepared, lang: str, index: int | None, where: str) -> None:
        prep.flags.append(
            Flag(
                "fallback_model",
                index,
                f"{where} ({lang!r}) has no dedicated model: translated by the multilingual "
                f"fallback {self.translators[lang].model.name}, whose quality is lower than a "
                "dedicated pair's",
            )
        )

    def check_language(self, lang: str, detected: bool) -> None:
        """Refuse a language with no model into the target language, listing the pairs."""
        if lang == self.target_lang or lang in self.translators:
            return
        listed = getattr(self.translators, "pairs", None)  # the pool's: "fr-en", ...
        pairs = sorted(
            set(listed()) if listed else {f"{s}-{self.target_lang}" for s in self.translators}
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
        title_holds: tuple[Hold, ...] = (),
    ) -> Prepared:
        """Segment ``article`` (its ``source_lang`` already decided) and route its sentences.

        ``language`` and ``spans`` are what :func:`detect_languages` found, for an article
        whose language was detected; ``started`` is when work on the article began
        (default: now), for its segmentation time. The article's ``holds`` and the
        ``title_holds`` (offsets in the stripped title) become placeholder tokens.
        """
        started = time.perf_counter() if started is None else started
        spans = spans or []
        self.check_language(article.source_lang, detected=language is not None)
        lang = article.source_lang
        sentences = segment_article(article.text, lang)
        title = (article.title or "").strip() or None
        prep = Prepared(article, sentences, title, started=started, language=language)
        prep.title_holds = title_holds
        if lang == self.target_lang:
            prep.kept = set(range(len(sentences)))
        else:
            backend = self.translators[lang]
            if self.route(lang) == "fallback":
                self._flag_fallback(prep, lang, None, "the article")
            if title:
                for start, end in split_sentences(title, lang):
                    self._add_segments(
                        prep, backend, lang, TITLE, prep.masked(TITLE, title[start:end], start)
                    )
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
            if first_of_paragraph and self.route(own) == "fallback":
                self._flag_fallback(prep, own, index, f"paragraph {sentence.paragraph}")
            text = prep.masked(index, sentence.text, sentence.start)
            self._add_segments(prep, self.translators[own], own, index, text)
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
        text = prep.masked(index, sentence.text, sentence.start)
        self._add_segments(prep, self.translators[lang], lang, index, text)

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
