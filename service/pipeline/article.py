"""One article end to end: segmentation, translation, reassembly, guards, summary.

The pipeline receives its models; it never looks them up. Several articles can go through
together (:meth:`Pipeline.run_many`): their segments share length-sorted batches, which is
where most of the speed on a CPU comes from.

The steps before and after translation have their own modules: :mod:`.routing` (sentences,
segments, which model translates each) and :mod:`.reassembly` (the result put together).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, cast

from service.articles import (
    Article,
    ArticleOptions,
    ArticleResult,
    Bullet,
    Flag,
    Hold,
    validate_article,
)
from service.engines.protocol import Seq2SeqBackend
from service.errors import PasseurError
from service.pipeline.documents import finish_document, open_document
from service.pipeline.reassembly import Translated, assemble
from service.pipeline.routing import TITLE, Prepared, Router, detect_languages
from service.pipeline.translate import translate_segments
from service.settings import Settings
from service.text.grounding import word_count
from service.text.guards import joined
from service.text.placeholders import TERM_KINDS, unmask
from service.text.segmentation import fit_to_budget
from service.text.terms import Term, find_holds, load_glossary, merge_terms, request_terms

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: may raise to stop the work (a cancelled job)."""


class Summariser(Protocol):
    """Bullets from English sentences; implemented in :mod:`service.pipeline.summaries`."""

    def info(self, mode: str) -> dict[str, str] | None: ...

    def mode_for(self, mode: str, words: int) -> tuple[str, Flag | None]: ...

    def summarise_many(
        self, requests: Sequence[Any]
    ) -> list[tuple[list[Bullet], list[Flag]] | PasseurError]: ...


class Pipeline:
    """Translate and summarise articles with the models it is given."""

    def __init__(
        self,
        translators: Mapping[str, Seq2SeqBackend],
        summariser: Summariser | None,
        settings: Settings,
        *,
        target_lang: str = "en",
        glossary: Sequence[Term] | None = None,
    ) -> None:
        self.translators = translators
        # The deployment's terms, under each request's own; None: the settings' file.
        if glossary is None and settings.glossary is not None:
            glossary = load_glossary(settings.glossary)
        self.glossary = list(glossary or ())
        self.router = Router(translators, target_lang)
        self._identifier: Any = None
        self.summariser = summariser
        self.settings = settings
        self.target_lang = target_lang

    def run(
        self,
        article: Article,
        options: ArticleOptions | None = None,
        progress: ProgressFn | None = None,
    ) -> ArticleResult:
        """One article. An exception raised by ``progress`` (a cancelled job) propagates."""
        [outcome] = self.run_jobs([(article, options or ArticleOptions(), progress)])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def run_many(
        self,
        articles: Sequence[Article],
        options: ArticleOptions | None = None,
        progress: ProgressFn | None = None,
    ) -> list[ArticleResult]:
        """Several articles whose segments share batches, in the order given; an article
        with bad input gets a result with its ``error`` set and does not stop the others.
        ``progress`` sees the sentences of all of them together."""
        totals = [0] * len(articles)
        done = [0] * len(articles)

        def share(i: int) -> ProgressFn:
            def report(stage: str, d: int, total: int) -> None:
                done[i], totals[i] = d, total
                if progress:
                    progress(stage, sum(done), sum(totals))

            return report

        opts = options or ArticleOptions()
        outcomes = self.run_jobs([(a, opts, share(i)) for i, a in enumerate(articles)])
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return cast(list[ArticleResult], outcomes)

    def run_jobs(
        self, items: Sequence[tuple[Article, ArticleOptions, ProgressFn | None]]
    ) -> list[ArticleResult | BaseException]:
        """Articles with their own options and progress callbacks (the worker's jobs),
        batched together. When an article's callback raises, that article stops within one
        batch and its slot holds the exception; the others go on."""
        results: list[ArticleResult | BaseException | None] = [None] * len(items)
        prepared: dict[int, Prepared] = {}
        for i, (article, _, _) in enumerate(items):
            try:
                prepared[i] = self._prepare(article)
            except PasseurError as exc:
                results[i] = ArticleResult.failed(article.id, article.source_lang, exc.to_dict())

        stopped: dict[int, BaseException] = {}
        translated = self._translate(prepared, items, stopped)
        assembled: dict[int, ArticleResult] = {}
        for i, prep in prepared.items():
            if i in stopped:
                continue
            try:
                pieces = translated.get(i, {})
                assembled[i] = assemble(prep, pieces, self.translators, self.target_lang)
                if prep.document is not None:
                    result = assembled[i]

                    def again(
                        lang: str, texts: list[str], result: ArticleResult = result
                    ) -> list[str]:
                        return self._retranslate(lang, texts, result)

                    finish_document(prep, result, prep.document, again)
            except PasseurError as exc:
                results[i] = ArticleResult.failed(
                    prep.article.id, prep.article.source_lang, exc.to_dict()
                )
        self._summarise_all(assembled, items, stopped)
        for i, prep in prepared.items():
            if i in stopped:
                results[i] = stopped[i]
            elif i in assembled:
                result = assembled[i]
                result.timings.setdefault("summarisation_s", 0.0)
                result.timings["total_s"] = round(time.perf_counter() - prep.started, 4)
                results[i] = result
        return cast(list[ArticleResult | BaseException], results)

    # -- steps ---------------------------------------------------------------

    def identifier(self) -> Any:
        """The language identifier, built on the first ``source_lang: auto`` article."""
        if self._identifier is None:
            from service.engines.langid import LanguageIdentifier

            self._identifier = LanguageIdentifier(self.settings.language_list)
        return self._identifier

    def _prepare(self, article: Article) -> Prepared:
        started = time.perf_counter()
        article, document = open_document(article, self.settings.max_article_chars)
        validate_article(article.text, article.title, max_chars=self.settings.max_article_chars)
        prep = self._prepare_text(article, started)
        prep.document = document
        return prep

    def _prepare_text(self, article: Article, started: float) -> Prepared:
        article, title_holds = self._with_terms(article)
        if article.source_lang != "auto":
            return self.router.prepare(article, started=started, title_holds=title_holds)
        article, language, spans = detect_languages(article, self.identifier())
        return self.router.prepare(
            article, language=language, spans=spans, started=started, title_holds=title_holds
        )

    def _retranslate(self, lang: str, texts: list[str], result: ArticleResult) -> list[str]:
        """``texts`` translated by ``lang``'s model, each cut to its budget first (a
        document's sentences translated again without their markup placeholders); the
        tokens decoded count in ``result.work``."""
        backend = self.translators[lang]
        pieces: list[tuple[int, str]] = [
            (k, p.text)
            for k, text in enumerate(texts)
            for p in fit_to_budget(text, backend.count_tokens, backend.max_source_tokens)
        ]
        outcomes = translate_segments(
            backend,
            [p for _, p in pieces],
            beam=self.settings.beam or int(backend.model.generation.get("num_beams", 4)),
            batch_tokens=self.settings.batch_tokens,
            lang=lang,
        )
        parts: list[list[str]] = [[] for _ in texts]
        for (k, _), outcome in zip(pieces, outcomes, strict=True):
            parts[k].append(outcome.translation if outcome else "")
            tokens = outcome.tokens if outcome else 0
            result.work["translated_tokens"] = result.work.get("translated_tokens", 0) + tokens
        return [joined(p) for p in parts]

    def _with_terms(self, article: Article) -> tuple[Article, tuple[Hold, ...]]:
        """The article with the holds of its terms added (its own glossary and
        do-not-translate terms over the deployment's), and the holds of its title."""
        own = request_terms(article.glossary, article.do_not_translate)
        terms = merge_terms(own, self.glossary)
        if not terms:
            return article, ()
        holds = find_holds(article.text, terms)
        title_holds = tuple(find_holds((article.title or "").strip(), terms))
        return replace(article, holds=(*article.holds, *holds)), title_holds

    def _translate(
        self,
        prepared: Mapping[int, Prepared],
        items: Sequence[tuple[Article, ArticleOptions, ProgressFn | None]],
        stopped: dict[int, BaseException],
    ) -> dict[int, dict[int, Translated]]:
        """Translate the segments of all articles, batched together per language and beam.

        Returns, per article, per owner sentence, the translated pieces with their flags.
        An article whose progress callback raises lands in ``stopped``.
        """
        out: dict[int, dict[int, Translated]] = {}
        groups: dict[tuple[str, int], list[tuple[int, int, str]]] = {}
        for i, prep in prepared.items():
            for owner, text, lang in prep.segments:
                backend = self.translators[lang]
                beam = (
                    items[i][1].beam
                    or self.settings.beam
                    or int(backend.model.generation.get("num_beams", 4))
                )
                groups.setdefault((lang, beam), []).append((i, owner, text))
        segments_left = {i: len(p.segments) for i, p in prepared.items()}

        def report(i: int) -> None:
            prep, progress = prepared[i], items[i][2]
            if progress is None or i in stopped:
                return
            total = len(prep.sentences)
            all_segments = len(prep.segments) or 1
            done = round((all_segments - segments_left[i]) * total / all_segments)
            try:
                progress("translation", done, total)
            except Exception as exc:  # noqa: BLE001 - the caller's way to stop this article
                stopped[i] = exc

        for i in prepared:  # every article's total, before the first batch takes its time
            report(i)
        for (lang, beam), group in groups.items():
            started = time.perf_counter()

            def on_batch(batch: list[int], group: list[tuple[int, int, str]] = group) -> None:
                touched = set()
                for k in batch:
                    segments_left[group[k][0]] -= 1
                    touched.add(group[k][0])
                for i in touched:
                    report(i)

            def skip(k: int, group: list[tuple[int, int, str]] = group) -> bool:
                return group[k][0] in stopped

            outcomes = translate_segments(
                self.translators[lang],
                [text for _, _, text in group],
                beam=beam,
                batch_tokens=self.settings.batch_tokens,
                lang=lang,
                on_batch=on_batch,
                skip=skip,
                views=[_guard_view(prepared[i], owner) for i, owner, _ in group],
            )
            elapsed = time.perf_counter() - started
            for (i, owner, _), outcome in zip(group, outcomes, strict=True):
                if outcome is not None:
                    prepared[i].translated_tokens += outcome.tokens
                    out.setdefault(i, {}).setdefault(owner, []).append(
                        (outcome.translation, outcome.flags)
                    )
            for i in {i for i, _, _ in group}:
                prepared[i].translation_s += elapsed
        return out

    def _summarise_all(
        self,
        assembled: dict[int, ArticleResult],
        items: Sequence[tuple[Article, ArticleOptions, ProgressFn | None]],
        stopped: dict[int, BaseException],
    ) -> None:
        """Bullets for every assembled article, their summary windows batched together."""
        from service.pipeline.summaries import SummaryRequest

        wanted: list[tuple[int, str, SummaryRequest]] = []
        for i, result in assembled.items():
            options, progress = items[i][1], items[i][2]
            mode = options.summary_mode or self.settings.summary_mode
            if mode == "none":
                continue
            if self.summariser is None:
                detail = f"no summariser loaded for mode {mode!r}"
                result.flags.append(Flag("summary_skipped", None, detail))
                continue
            try:
                if progress:
                    progress("summarisation", 0, 1)
            except Exception as exc:  # noqa: BLE001 - the caller's way to stop this article
                stopped[i] = exc
                continue
            drop = options.drop_unsupported
            words = sum(word_count(s.source) for s in result.sentences)
            mode, changed = self.summariser.mode_for(mode, words)
            if changed:
                result.flags.append(changed)
            request = SummaryRequest(
                [s.translation for s in result.sentences],
                mode,
                options.bullets or self.settings.bullets,
                self.settings.drop_unsupported if drop is None else drop,
            )
            wanted.append((i, mode, request))
        if not wanted or self.summariser is None:
            return
        started = time.perf_counter()
        outcomes = self.summariser.summarise_many([request for _, _, request in wanted])
        elapsed = round(time.perf_counter() - started, 4)
        for (i, mode, request), outcome in zip(wanted, outcomes, strict=True):
            result = assembled[i]
            result.timings["summarisation_s"] = elapsed  # shared by the articles batched
            if isinstance(outcome, PasseurError):
                assembled[i] = ArticleResult.failed(
                    result.id, result.source_lang, outcome.to_dict()
                )
                continue
            result.bullets, flags = outcome
            result.flags.extend(flags)
            result.work.update(request.work)
            result.models["summarisation"] = self.summariser.info(mode)
            try:
                progress = items[i][2]
                if progress:
                    progress("summarisation", 1, 1)
            except Exception as exc:  # noqa: BLE001 - the caller's way to stop this article
                stopped[i] = exc


_MASKED = re.compile(r"\{\d+\}")  # a placeholder as mask() writes it


def _guard_view(prep: Prepared, owner: int) -> Callable[[str, str], tuple[str, str]] | None:
    """What the guards compare for a segment carrying placeholders: the source as written
    and the output with its terms put back (markup tokens removed from both), so that a
    token is never a number, a passthrough or a length of its own."""
    tokens = prep.masks.get(owner)
    if not tokens:
        return None
    text = (prep.title_source or "") if owner == TITLE else prep.article.text

    def view(source: str, output: str) -> tuple[str, str]:
        # Only the segment's own tokens: a sentence of thousands of inline elements, cut
        # into many segments, would otherwise cost segments times tokens.
        present = set(_MASKED.findall(source))
        mine = [(token, h) for token, h in tokens if token in present]
        as_written = [
            (token, replace(h, target=text[h.start : h.end]) if h.kind in TERM_KINDS else h)
            for token, h in mine
        ]
        return unmask(source, as_written).text, unmask(output, mine).text

    return view
