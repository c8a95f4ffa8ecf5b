"""One article end to end: segmentation, translation, reassembly, guards, summary.

The pipeline receives its models; it never looks them up. Several articles can go through
together (:meth:`Pipeline.run_many`): their segments share length-sorted batches, which is
where most of the speed on a CPU comes from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

from service.errors import EmptyText, PasseurError, TextTooLong, UnsupportedLanguage
from service.grounding import word_count
from service.guards import joined
from service.schemas import (
    Article,
    ArticleOptions,
    ArticleResult,
    Bullet,
    Flag,
    ParagraphResult,
    SentenceResult,
    TitleResult,
)
from service.segmentation import (
    Sentence,
    fit_to_budget,
    segment_article,
    split_paragraphs,
    split_sentences,
)
from service.seq2seq import Seq2SeqBackend
from service.settings import Settings
from service.translation import translate_segments

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: may raise to stop the work (a cancelled job)."""

TITLE = -1  # owner index of title segments


class Summariser(Protocol):
    """Bullets from English sentences; implemented in :mod:`service.summarisation`."""

    def info(self, mode: str) -> dict[str, str] | None: ...

    def mode_for(self, mode: str, words: int) -> tuple[str, Flag | None]: ...

    def summarise_many(
        self, requests: Sequence[Any]
    ) -> list[tuple[list[Bullet], list[Flag]] | PasseurError]: ...


@dataclass
class _Prepared:
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


class Pipeline:
    """Translate and summarise articles with the models it is given."""

    def __init__(
        self,
        translators: Mapping[str, Seq2SeqBackend],
        summariser: Summariser | None,
        settings: Settings,
        *,
        target_lang: str = "en",
    ) -> None:
        self.translators = translators
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
        prepared: dict[int, _Prepared] = {}
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
                assembled[i] = self._assemble(prep, translated.get(i, {}))
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

    def _check(self, article: Article) -> None:
        size = len(article.text) + len(article.title or "")
        if not article.text.strip():
            raise EmptyText("the article text is empty")
        limit = self.settings.max_article_chars
        if size > limit:
            raise TextTooLong(
                f"article is {size} characters, over the limit of {limit} "
                "(PASSEUR_MAX_ARTICLE_CHARS); split it or raise the limit",
                limit=limit,
                size=size,
            )

    def _check_language(self, lang: str, detected: bool) -> None:
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

    def identifier(self) -> Any:
        """The language identifier, built on the first ``source_lang: auto`` article."""
        if self._identifier is None:
            from service.langid import LanguageIdentifier

            self._identifier = LanguageIdentifier(self.settings.language_list)
        return self._identifier

    def _detect(
        self, article: Article
    ) -> tuple[Article, dict[str, Any], list[tuple[int, int, str]]]:
        """Detect the article's language and each paragraph's: (article with its
        language, the record for the result, paragraph spans with their language)."""
        paragraphs = split_paragraphs(article.text)
        found = self.identifier().detect_article(article.text, [p.text for p in paragraphs])
        spans = [
            (p.start, p.end, pl.lang) for p, pl in zip(paragraphs, found.paragraphs, strict=True)
        ]
        return (
            replace(article, source_lang=found.lang),
            {"detected": True, **found.to_dict()},
            spans,
        )

    def _prepare(self, article: Article) -> _Prepared:
        self._check(article)
        started = time.perf_counter()
        language, spans = None, []
        if article.source_lang == "auto":
            article, language, spans = self._detect(article)
        self._check_language(article.source_lang, detected=language is not None)
        lang = article.source_lang
        sentences = segment_article(article.text, lang)
        title = (article.title or "").strip() or None
        prep = _Prepared(article, sentences, title, started=started, language=language)
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

    def _route(self, prep: _Prepared, index: int, sentence: Sentence, own: str, lang: str) -> None:
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

    def _add_segments(
        self, prep: _Prepared, backend: Seq2SeqBackend, lang: str, owner: int, text: str
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

    def _translate(
        self,
        prepared: Mapping[int, _Prepared],
        items: Sequence[tuple[Article, ArticleOptions, ProgressFn | None]],
        stopped: dict[int, BaseException],
    ) -> dict[int, dict[int, list[tuple[str, list[tuple[str, str]]]]]]:
        """Translate the segments of all articles, batched together per language and beam.

        Returns, per article, per owner sentence, the translated pieces with their flags.
        An article whose progress callback raises lands in ``stopped``.
        """
        out: dict[int, dict[int, list[tuple[str, list[tuple[str, str]]]]]] = {}
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

        for (lang, beam), group in groups.items():
            started = time.perf_counter()

            def on_batch(batch: list[int], group: list[tuple[int, int, str]] = group) -> None:
                touched = set()
                for k in batch:
                    segments_left[group[k][0]] -= 1
                    touched.add(group[k][0])
                for i in touched:
                    report(i)

            outcomes = translate_segments(
                self.translators[lang],
                [text for _, _, text in group],
                beam=beam,
                batch_tokens=self.settings.batch_tokens,
                lang=lang,
                on_batch=on_batch,
                skip=lambda k, group=group: group[k][0] in stopped,
            )
            elapsed = time.perf_counter() - started
            for (i, owner, _), outcome in zip(group, outcomes, strict=True):
                if outcome is not None:
                    out.setdefault(i, {}).setdefault(owner, []).append(
                        (outcome.translation, outcome.flags)
                    )
            for i in {i for i, _, _ in group}:
                prepared[i].translation_s += elapsed
        return out

    def _assemble(
        self, prep: _Prepared, pieces: Mapping[int, list[tuple[str, list[tuple[str, str]]]]]
    ) -> ArticleResult:
        """The result without its summary: translations reassembled, flags attached."""
        article = prep.article
        lang = article.source_lang
        backend = None if lang == self.target_lang else self.translators[lang]
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
            return joined(t for t, _ in parts)

        title = None
        if prep.title_source:
            title = TitleResult(prep.title_source, text_of(TITLE, prep.title_source))
        sentences = [
            SentenceResult(s.paragraph, s.text, text_of(i, s.text))
            for i, s in enumerate(prep.sentences)
        ]
        paragraphs: list[ParagraphResult] = []
        for s, sentence in zip(sentences, prep.sentences, strict=True):
            if s.paragraph == len(paragraphs):
                paragraphs.append(ParagraphResult(s.source, s.translation))
                first_start = sentence.start
            else:
                para = paragraphs[s.paragraph]
                # The paragraph's own text, spacing and all, not the sentences re-joined.
                para.source = article.text[first_start : sentence.end]
                para.translation = joined([para.translation, s.translation])
        flags.sort(key=lambda f: -1 if f.sentence is None else f.sentence)

        used = {seg_lang: self.translators[seg_lang] for _, _, seg_lang in prep.segments}
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
            target_lang=self.target_lang,
            title=title,
            paragraphs=paragraphs,
            sentences=sentences,
            models={**models, "summarisation": None},
            language=prep.language,
            flags=flags,
            timings={
                "segmentation_s": round(prep.segmentation_s, 4),
                "translation_s": round(prep.translation_s, 4),
            },
        )

    def _summarise_all(
        self,
        assembled: dict[int, ArticleResult],
        items: Sequence[tuple[Article, ArticleOptions, ProgressFn | None]],
        stopped: dict[int, BaseException],
    ) -> None:
        """Bullets for every assembled article, their summary windows batched together."""
        from service.summarisation import SummaryRequest

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
        for (i, mode, _), outcome in zip(wanted, outcomes, strict=True):
            result = assembled[i]
            result.timings["summarisation_s"] = elapsed  # shared by the articles batched
            if isinstance(outcome, PasseurError):
                assembled[i] = ArticleResult.failed(
                    result.id, result.source_lang, outcome.to_dict()
                )
                continue
            result.bullets, flags = outcome
            result.flags.extend(flags)
            result.models["summarisation"] = self.summariser.info(mode)
            try:
                progress = items[i][2]
                if progress:
                    progress("summarisation", 1, 1)
            except Exception as exc:  # noqa: BLE001 - the caller's way to stop this article
                stopped[i] = exc
