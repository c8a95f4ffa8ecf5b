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

Extractive mode needs no model: see :mod:`service.extractive`. Both modes then go through
the faithfulness guard (:mod:`service.faithfulness`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import regex

from service.errors import InputError, PasseurError
from service.extractive import METHOD, METHOD_VERSION, ends_sentence, select_sentences
from service.faithfulness import unsupported_words
from service.grounding import ArticleIndex, content_words, document_counts, overlap, word_count
from service.guards import find_repetition, joined
from service.schemas import Bullet, Flag
from service.segmentation import fit_to_budget, split_sentences
from service.seq2seq import GenerationOptions, Seq2SeqBackend
from service.settings import Settings
from service.translation import generate_batched

__all__ = [
    "BULLETS_MAX",
    "BulletSummariser",
    "Window",
    "build_summariser",
    "plan_windows",
    "summary_sentences",
]

log = logging.getLogger(__name__)

BULLETS_MAX = 10
MODES = ("abstractive", "extractive")
# distilbart-cnn-12-6's own decoding settings: the defaults for a summariser given as a
# local folder, which has no registry entry. A registry entry's values override them.
SUMMARY_GENERATION = {
    "num_beams": 4,
    "no_repeat_ngram_size": 3,
    "length_penalty": 2.0,
    "min_new_tokens": 30,
    "max_new_tokens": 142,
}
DUPLICATE_OVERLAP = 0.7  # share of the smaller bullet's content words found in the other
MIN_BULLET_WORDS = 3
_SPACE_BEFORE_PUNCT = regex.compile(r"\s+(?=[.,;:!?%)\]’”»])|(?<=[(\[“«])\s+")
_SPACES = regex.compile(r"\s+")

NO_MODEL_HINT = (
    "no summarisation model is loaded, so no abstractive bullets: pull the default one with "
    "`passeur models pull distilbart-cnn-12-6` (on a machine with hub access) or pass a local "
    "folder with --summary-model DIR (PASSEUR_SUMMARY_MODEL) and summary mode abstractive at "
    "start-up; --summary-mode extractive needs no model"
)


@dataclass(frozen=True)
class Window:
    """Consecutive sentences (or pieces of one long sentence) summarised in one go."""

    text: str
    sentences: tuple[int, ...]  # indices covered; a cut sentence spans several windows
    tokens: int  # in the summariser's tokens, special tokens included


def plan_windows(
    sentences: Sequence[str], count_tokens: Callable[[str], int], budget: int
) -> list[Window]:
    """Cut the article into windows of at most ``budget`` tokens, on sentence boundaries.

    Windows are balanced (a 2.2-budget article gives three windows of about 0.73 budget,
    not two full ones and a scrap), and every window's count is checked on its joined
    text, so none is over budget. A sentence over the budget on its own is cut into pieces
    with :func:`fit_to_budget` and each piece is a unit.
    """
    if budget < 1:
        raise ValueError(f"budget must be a positive number of tokens, got {budget}")
    specials = count_tokens("")
    units: list[tuple[int, str, int]] = []  # (sentence index, text, tokens without specials)
    for i, sentence in enumerate(sentences):
        text = sentence.strip()
        if not text:
            continue
        if count_tokens(text) > budget:
            pieces = [p.text for p in fit_to_budget(text, count_tokens, budget, lang="en")]
        else:
            pieces = [text]
        units.extend((i, piece, max(count_tokens(piece) - specials, 0)) for piece in pieces)
    if not units:
        return []
    total = specials + sum(cost for _, _, cost in units)
    target = math.ceil(total / math.ceil(total / budget))
    groups: list[list[tuple[int, str, int]]] = [[]]
    size = specials
    for unit in units:
        if groups[-1] and size + unit[2] > budget:
            groups.append([])
            size = specials
        groups[-1].append(unit)
        size += unit[2]
        if size >= target:
            groups.append([])
            size = specials
    groups = [g for g in groups if g]
    # Token counts of joined text differ a little from the sum of the parts: check, and
    # push the last unit of an over-budget window into the next one.
    windows: list[Window] = []
    i = 0
    while i < len(groups):
        group = groups[i]
        text = " ".join(u[1] for u in group)
        tokens = count_tokens(text)
        if tokens > budget and len(group) > 1:
            moved = group.pop()
            if i + 1 < len(groups):
                groups[i + 1].insert(0, moved)
            else:
                groups.append([moved])
            continue
        windows.append(Window(text, tuple(sorted({u[0] for u in group})), tokens))
        i += 1
    return windows


def clean_summary_text(text: str) -> str:
    """One line, no space before closing punctuation (CNN-trained models write "word .")."""
    return _SPACE_BEFORE_PUNCT.sub("", _SPACES.sub(" ", text)).strip()


def summary_sentences(text: str) -> list[str]:
    """The complete sentences of a generated summary; fragments and loops left out."""
    text = clean_summary_text(text)
    out = []
    for start, end in split_sentences(text, "en"):
        sentence = text[start:end]
        if (
            ends_sentence(sentence)
            and word_count(sentence) >= MIN_BULLET_WORDS
            and not find_repetition(sentence)
        ):
            out.append(sentence)
    return out


def generation_options(
    model_generation: Mapping[str, Any], shortest_window: int
) -> GenerationOptions:
    """Decoding settings: the registry's, else distilbart's; a short window is not forced
    into a summary longer than half of it."""
    names = {f.name for f in fields(GenerationOptions)}
    values: dict[str, Any] = {
        **SUMMARY_GENERATION,
        **{k: v for k, v in model_generation.items() if k in names},
    }
    if values.get("min_new_tokens"):
        values["min_new_tokens"] = min(int(values["min_new_tokens"]), max(1, shortest_window // 2))
    return GenerationOptions(**values)


@dataclass
class _Candidate:
    text: str
    words: set[str]
    support: list[int] = field(default_factory=list)


def merge_duplicates(candidates: list[_Candidate]) -> list[_Candidate]:
    """Keep one of each group of near-duplicates: the one with more content words."""
    kept: list[_Candidate] = []
    for cand in candidates:
        twin = next((k for k in kept if overlap(k.words, cand.words) >= DUPLICATE_OVERLAP), None)
        if twin is None:
            kept.append(cand)
        elif len(cand.words) > len(twin.words):
            kept[kept.index(twin)] = cand
    return kept


def select_covering(
    candidates: list[_Candidate], index: ArticleIndex, count: int
) -> list[_Candidate]:
    """Up to ``count`` candidates that together cover the article best.

    The article is divided into ``count`` equal parts by sentence position, and each part
    with a candidate grounded in it gives one bullet; remaining places go to the others.
    Within each step the candidate adding the most content words not yet covered wins,
    each word weighted by how often the article uses it (central words count more).
    """
    weights: Counter[str] = document_counts(index)
    n = max(len(index.sentences), 1)
    chosen: list[_Candidate] = []
    covered: set[str] = set()

    def take(pool: list[_Candidate]) -> None:
        gains = [sum(weights[w] for w in c.words - covered) for c in pool]
        best = pool[max(range(len(pool)), key=lambda i: (gains[i], -i))]
        covered.update(best.words)
        chosen.append(best)

    for part in range(count):
        pool = [c for c in candidates if c not in chosen and c.support[0] * count // n == part]
        if pool:
            take(pool)
    while len(chosen) < count and len(chosen) < len(candidates):
        take([c for c in candidates if c not in chosen])
    return chosen


@dataclass(frozen=True)
class SummaryRequest:
    """One article's summary request: its English sentences and the options."""

    sentences: list[str]
    mode: str
    count: int
    drop_unsupported: bool


class BulletSummariser:
    """Bullets for the pipeline (see :class:`service.pipeline.Summariser`).

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
                f"unknown summary mode {request.mode!r}: use auto, abstractive, extractive or none"
            )
        if not 1 <= request.count <= BULLETS_MAX:
            raise InputError(f"bullets must be between 1 and {BULLETS_MAX}, got {request.count}")

    def _finish(
        self, request: SummaryRequest, bullets: list[Bullet], flags: list[Flag]
    ) -> tuple[list[Bullet], list[Flag]]:
        bullets, guard_flags = self.check_faithfulness(
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
                batch_tokens=self.settings.batch_tokens,
            )
            for (k, _), out in zip(members, outputs, strict=True):
                texts[k].append(out.text if out is not None else "")
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
        candidates: list[_Candidate] = []
        complete = 0
        for summary in summaries:
            sentences = summary_sentences(summary)
            complete += bool(sentences)
            for text in sentences:
                support = index.ground(text)
                if support:  # a sentence sharing no word with the article summarises nothing
                    candidates.append(_Candidate(text, set(content_words(text)), support))
        log.debug(
            "%d windows, %d with a complete sentence, %d candidates",
            windows,
            complete,
            len(candidates),
        )
        if not candidates:
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
        chosen = select_covering(merge_duplicates(candidates), index, count)
        chosen.sort(key=lambda c: (c.support[0], sum(c.support) / len(c.support)))
        return [Bullet(c.text, c.support) for c in chosen], flags

    @staticmethod
    def check_faithfulness(
        bullets: list[Bullet], sentences: Sequence[str], drop: bool
    ) -> tuple[list[Bullet], list[Flag]]:
        """Flag (or drop) bullets with numbers or names the translation does not contain."""
        source = joined(sentences)
        kept: list[Bullet] = []
        flags: list[Flag] = []
        for bullet in bullets:
            missing = unsupported_words(bullet.text, source)
            if not missing:
                kept.append(bullet)
                continue
            words = ", ".join(missing)
            if drop:
                detail = f"bullet removed, {words} not found in the translation: {bullet.text!r}"
            else:
                detail = f"bullet {len(kept) + 1}: {words} not found in the translation"
                kept.append(bullet)
            flags.append(Flag("unsupported_bullet", None, detail))
        return kept, flags


def build_summariser(settings: Settings, backend: Seq2SeqBackend | None) -> BulletSummariser:
    """The summariser for these settings. Extractive mode needs no ``backend``; without one,
    abstractive requests get no bullets and a ``summary_skipped`` flag saying how to load one."""
    return BulletSummariser(settings, backend)
