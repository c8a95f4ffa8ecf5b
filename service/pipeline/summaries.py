"""Bullet summaries of the English translation: abstractive, extractive, grounded, checked.

Abstractive mode (a BART-class summariser behind :class:`Seq2SeqBackend`):

1. the sentences are packed into windows that fit the summariser's source budget, measured
   in its own tokens, cut on sentence boundaries (a sentence over the budget alone is cut
   with :func:`fit_to_budget`), so the end of a long article is summarised too;
2. every window is summarised (length-sorted batches); each summary is split into
   sentences, and fragments (no final punctuation: decoding stopped at its length limit),
   loops, and sentences sharing no content word with the article are dropped;
3. near-duplicates are merged (the fuller one is kept); if more remain than asked for, one
   bullet is kept from each part of the article (``count`` equal parts), then others, each
   time the one adding the most content words not yet covered (words weighted by how often
   the article uses them);
4. each bullet is grounded on the sentences that best match it, and bullets are ordered
   by where that support sits in the article.

When no window gives a single complete sentence (a random-weight test model, or a
summariser that always runs into its length limit), the summary falls back to the
article's best extractive sentence and says so with a ``summary_fallback`` flag: the
reader gets one sentence that is really in the article rather than a fragment or nothing.

Extractive mode needs no model: see :mod:`service.text.extractive`. Both modes then go through
the faithfulness guard (:mod:`service.text.faithfulness`).

Step 1 and the decoding settings are in :mod:`.windows`, steps 2 to 4 and the faithfulness
check in :mod:`.bullets`; this module runs them for a batch of articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from service.articles import Bullet, Flag
from service.engines.protocol import GenerationOptions, Seq2SeqBackend
from service.errors import InputError, PasseurError
from service.pipeline.bullets import check_faithfulness, choose_bullets
from service.pipeline.translate import generate_batched
from service.pipeline.windows import Window, generation_options, plan_windows
from service.settings import BULLETS_MAX, BULLETS_MIN, SUMMARY_MODES, Settings
from service.text.extractive import METHOD, METHOD_VERSION, select_sentences
from service.text.grounding import ArticleIndex, word_count

__all__ = ["BULLETS_MAX", "BulletSummariser", "SummaryRequest", "build_summariser"]

MODES = ("abstractive", "extractive")

NO_MODEL_HINT = (
    "no summarisation model is loaded, so no abstractive bullets: pull the default one with "
    "`passeur models pull distilbart-cnn-12-6` (on a machine with hub access) or pass a local "
    "folder with --summary-model DIR (PASSEUR_SUMMARY_MODEL) and summary mode abstractive at "
    "start-up; --summary-mode extractive needs no model"
)


@dataclass(frozen=True)
class SummaryRequest:
    """One article's summary request: its English sentences and the options."""

    sentences: list[str]
    mode: str
    count: int
    drop_unsupported: bool
    # Filled by the summariser: windows summarised and the target tokens decoded for them.
    work: dict[str, int] = field(default_factory=dict)


class BulletSummariser:
    """Bullets for the pipeline (see :class:`service.pipeline.article.Summariser`).

    ``info(mode)`` names what made the bullets: the summarisation model for abstractive
    mode; ``{"name": "extractive:lead-centrality", "revision": "1"}`` for extractive mode
    (the method and its version, since no model is involved).
    """

    def __init__(self, settings: Settings, backend: Seq2SeqBackend | None) -> None:
        self.settings = settings
        self.backend = backend

    def info(self, mode: str) -> dict[str, str] | None:
        if mode == "extractive":
            return {"name": f"extractive:{METHOD}", "revision": METHOD_VERSION}
        if mode == "abstractive" and self.backend is not None:
            return self.backend.model.info()
        return None

    def mode_for(self, mode: str, words: int) -> tuple[str, Flag | None]:
        """The mode that makes the bullets for ``auto`` (others are kept) for an article of
        ``words`` words, and a flag when it is extractive.

        ``auto`` is abstractive, except for an article under ``abstractive_min_words``: an
        abstractive summary is some 40 to 100 words (distilbart writes 56 to 142 tokens),
        about as long as such a text, so its bullets are the text's own sentences, chosen
        extractively. Asking for ``abstractive`` gets it whatever the length.
        """
        if mode != "auto":
            return mode, None
        least = self.settings.abstractive_min_words
        if self.backend is None or words >= least:
            return "abstractive", None
        return "extractive", Flag(
            "summary_extractive_short_text",
            None,
            f"the article has {words} words, fewer than the {least} an abstractive summary "
            "needs to be shorter than the text (PASSEUR_ABSTRACTIVE_MIN_WORDS): the bullets are "
            "its own sentences, chosen extractively",
        )

    def summarise(
        self, sentences: list[str], *, mode: str, count: int, drop_unsupported: bool
    ) -> tuple[list[Bullet], list[Flag]]:
        """Up to ``count`` bullets for the English ``sentences`` of one article."""
        [outcome] = self.summarise_many([SummaryRequest(sentences, mode, count, drop_unsupported)])
        if isinstance(outcome, PasseurError):
            raise outcome
        return outcome

    def summarise_many(
        self, requests: Sequence[SummaryRequest]
    ) -> list[tuple[list[Bullet], list[Flag]] | PasseurError]:
        """Bullets for several articles; their summary windows share length-sorted batches.

        An article with a bad request (unknown mode, count out of range) gets its error in
        its slot; the others go on.
        """
        outcomes: list[tuple[list[Bullet], list[Flag]] | PasseurError | None] = []
        plans: dict[int, tuple[ArticleIndex, list[Window]]] = {}
        for k, request in enumerate(requests):
            outcomes.append(None)
            auto_flags: list[Flag] = []
            if request.mode == "auto":  # the pipeline resolves it first, to name the model
                words = sum(word_count(text) for text in request.sentences)
                mode, flag = self.mode_for(request.mode, words)
                request = replace(request, mode=mode)
                auto_flags = [flag] if flag else []
            try:
                self._check(request)
            except PasseurError as exc:
                outcomes[k] = exc
                continue
            if request.mode == "abstractive" and self.backend is None:
                outcomes[k] = ([], [Flag("summary_skipped", None, NO_MODEL_HINT)])
                continue
            index = ArticleIndex.build(request.sentences)
            if request.mode == "extractive":
                bullets = self.extractive(index, request.count)
                outcomes[k] = self._finish(request, bullets, auto_flags)
            else:
                plans[k] = (index, self._windows(index))
        for k, (bullets, flags) in self._abstractive(requests, plans).items():
            outcomes[k] = self._finish(requests[k], bullets, flags)
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _check(request: SummaryRequest) -> None:
        if request.mode not in MODES:
            raise InputError(
                f"unknown summary mode {request.mode!r}: use {', '.join(SUMMARY_MODES)}"
            )
        if not BULLETS_MIN <= request.count <= BULLETS_MAX:
            raise InputError(
                f"bullets must be between {BULLETS_MIN} and {BULLETS_MAX}, got {request.count}"
            )

    def _finish(
        self, request: SummaryRequest, bullets: list[Bullet], flags: list[Flag]
    ) -> tuple[list[Bullet], list[Flag]]:
        bullets, guard_flags = check_faithfulness(
            bullets, request.sentences, request.drop_unsupported
        )
        flags = flags + guard_flags
        if not bullets:
            why = (
                "every bullet named a number or name absent from the translation (drop_unsupported)"
                if guard_flags
                else "the translation has no sentence to summarise"
            )
            flags.append(Flag("summary_empty", None, f"no bullets: {why}"))
        return bullets, flags

    @staticmethod
    def extractive(index: ArticleIndex, count: int) -> list[Bullet]:
        return [Bullet(index.sentences[i].strip(), [i]) for i in select_sentences(index, count)]

    def _windows(self, index: ArticleIndex) -> list[Window]:
        backend = self.backend
        if backend is None:  # checked by summarise_many(); keeps the type checker informed
            raise RuntimeError("abstractive summary without a backend")
        return plan_windows(index.sentences, backend.count_tokens, backend.max_source_tokens)

    def _abstractive(
        self,
        requests: Sequence[SummaryRequest],
        plans: dict[int, tuple[ArticleIndex, list[Window]]],
    ) -> dict[int, tuple[list[Bullet], list[Flag]]]:
        """Summarise every planned window of every article, batched together (grouped by
        decoding options), then pick each article's bullets from its windows' summaries."""
        backend = self.backend
        if not plans or backend is None:
            return {}
        groups: dict[GenerationOptions, list[tuple[int, Window]]] = {}
        for k, (_, windows) in plans.items():
            if windows:
                options = generation_options(
                    backend.model.generation, min(w.tokens for w in windows)
                )
                groups.setdefault(options, []).extend((k, w) for w in windows)
        texts: dict[int, list[str]] = {k: [] for k in plans}
        for options, members in groups.items():
            outputs = generate_batched(
                backend,
                [w.text for _, w in members],
                [w.tokens for _, w in members],
                options=options,
                batch_tokens=self.settings.summary_batch_tokens,
            )
            for (k, _), out in zip(members, outputs, strict=True):
                texts[k].append(out.text if out is not None else "")
                work = requests[k].work
                work["summary_windows"] = work.get("summary_windows", 0) + 1
                tokens = out.tokens if out is not None else 0
                work["summary_tokens"] = work.get("summary_tokens", 0) + tokens
        return {
            k: self._bullets(index, len(windows), texts[k], requests[k].count)
            for k, (index, windows) in plans.items()
        }

    def _bullets(
        self, index: ArticleIndex, windows: int, summaries: list[str], count: int
    ) -> tuple[list[Bullet], list[Flag]]:
        backend = self.backend
        flags: list[Flag] = []
        if backend is not None and backend.random_weights:
            flags.append(
                Flag(
                    "random_model",
                    None,
                    f"summarisation model {backend.model.name} has random weights (a test or "
                    "benchmark build): these bullets are not a summary",
                )
            )
        if not windows:
            return [], flags
        bullets = choose_bullets(index, summaries, count)
        if bullets:
            return bullets, flags
        fallback = self.extractive(index, 1)
        if fallback:
            flags.append(
                Flag(
                    "summary_fallback",
                    None,
                    "the summariser gave no complete sentence grounded in the article for "
                    f"any of {windows} window(s) (fragments are never shown): the "
                    "bullet is the article's best sentence, chosen extractively",
                )
            )
        return fallback, flags


def build_summariser(settings: Settings, backend: Seq2SeqBackend | None) -> BulletSummariser:
    """The summariser for these settings. Extractive mode needs no ``backend``; without one,
    abstractive requests get no bullets and a ``summary_skipped`` flag saying how to load one."""
    return BulletSummariser(settings, backend)
