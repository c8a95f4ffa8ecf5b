"""After translation: the article put back together, sentence by sentence and paragraph by
paragraph, with the guards' flags attached where they belong (no summary yet)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.articles import ArticleResult, Flag, ParagraphResult, SentenceResult, TitleResult
from service.engines.protocol import Seq2SeqBackend
from service.pipeline.routing import TITLE, Prepared
from service.text.guards import joined
from service.text.placeholders import TERM_KINDS, Hold, unmask

__all__ = ["Translated", "assemble"]

Translated = list[tuple[str, list[tuple[str, str]]]]
"""One sentence's (or the title's) translated segments, in order, each with its guards'
``(code, detail)`` flags."""


def assemble(
    prep: Prepared,
    pieces: Mapping[int, Translated],
    translators: Mapping[str, Seq2SeqBackend],
    target_lang: str,
) -> ArticleResult:
    """The result without its summary: translations reassembled, flags attached.

    ``pieces`` holds the translation of each sentence by index (:data:`TITLE` for the title).
    """
    article = prep.article
    lang = article.source_lang
    backend = None if lang == target_lang else translators[lang]
    flags = list(prep.flags)

    def text_of(owner: int, source: str) -> str:
        if backend is None or owner in prep.kept:  # already in the target language
            return source
        parts = pieces.get(owner, [])
        for _, seg_flags in parts:
            flags.extend(
                Flag(
                    code,
                    None if owner == TITLE else owner,
                    ("title: " if owner == TITLE else "") + detail,
                )
                for code, detail in seg_flags
            )
        return resolved(owner, joined(t for t, _ in parts))

    def resolved(owner: int, text: str) -> str:
        # Placeholders back to terms; a term the translation lost is flagged, never silent.
        tokens = prep.masks.get(owner)
        if not tokens:
            return text
        done = prep.unmasked[owner] = unmask(text, tokens)
        flags.extend(
            Flag(
                "glossary_miss",
                None if owner == TITLE else owner,
                ("title: " if owner == TITLE else "") + _miss(hold),
            )
            for hold in done.missing
            if hold.kind in TERM_KINDS and not _holds_term(done.text, hold)
        )
        return done.text

    title = None
    if prep.title_source:
        title = TitleResult(prep.title_source, text_of(TITLE, prep.title_source))
    sentences = [
        SentenceResult(s.paragraph, s.text, text_of(i, s.text))
        for i, s in enumerate(prep.sentences)
    ]
    # The language each sentence was translated from (its segments'), for the routes.
    routed = {owner: seg_lang for owner, _, seg_lang in prep.segments}
    paragraphs: list[ParagraphResult] = []
    for i, (s, sentence) in enumerate(zip(sentences, prep.sentences, strict=True)):
        if s.paragraph == len(paragraphs):
            paragraphs.append(ParagraphResult(s.source, s.translation, target_lang))
            first_start = sentence.start
        else:
            para = paragraphs[s.paragraph]
            # The paragraph's own text, spacing and all, not the sentences re-joined.
            para.source = article.text[first_start : sentence.end]
            para.translation = joined([para.translation, s.translation])
        if i in routed and paragraphs[s.paragraph].model is None:
            paragraphs[s.paragraph].lang = routed[i]
            paragraphs[s.paragraph].model = translators[routed[i]].model.name
    flags.sort(key=lambda f: -1 if f.sentence is None else f.sentence)

    used = {seg_lang: translators[seg_lang] for _, _, seg_lang in prep.segments}
    for used_backend in used.values():
        if used_backend.random_weights:
            flags.insert(
                0,
                Flag(
                    "random_model",
                    None,
                    f"translation model {used_backend.model.name} has random weights (a "
                    "test or benchmark build): this output is not a translation",
                ),
            )
    models: dict[str, Any] = {"translation": backend.model.info() if backend else None}
    others = {code: b.model.info() for code, b in used.items() if code != lang}
    if others:
        models["translation_by_language"] = others

    return ArticleResult(
        id=article.id,
        source_lang=article.source_lang,
        target_lang=target_lang,
        title=title,
        paragraphs=paragraphs,
        sentences=sentences,
        models={**models, "summarisation": None},
        language=prep.language,
        flags=flags,
        work={
            "segments": len(prep.segments),
            "translated_tokens": prep.translated_tokens,
            "summary_windows": 0,
            "summary_tokens": 0,
        },
        timings={
            "segmentation_s": round(prep.segmentation_s, 4),
            "translation_s": round(prep.translation_s, 4),
        },
    )


def _holds_term(text: str, hold: Hold) -> bool:
    """Whether ``text`` holds the hold's target even without its token: verbatim for a
    do-not-translate term, in any case for a glossary target."""
    if hold.kind == "keep":
        return hold.target in text
    return hold.target.casefold() in text.casefold()


def _miss(hold: Hold) -> str:
    if hold.kind == "keep":
        return f"{hold.target!r} (do not translate) is not in the translation"
    return f"glossary term {hold.label!r}: {hold.target!r} is not in the translation"
