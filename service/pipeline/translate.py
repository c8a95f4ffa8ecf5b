"""Segments in, checked translations out: batching under a token budget, then the guards.

The backend is anything that follows :class:`service.engines.protocol.Seq2SeqBackend`; this
module never imports torch itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from service.engines.batching import pack_batches, run_split_on_oom
from service.engines.protocol import Generated, GenerationOptions, Seq2SeqBackend
from service.text.guards import (
    find_repetition,
    is_passthrough,
    joined,
    length_ratio_ok,
    missing_numbers,
)
from service.text.segmentation import fit_to_budget, possible_sentence_ends

log = logging.getLogger(__name__)

# Re-decoding a looping segment: forbid repeated trigrams and damp repeated tokens.
REPETITION_CONTROLS: dict[str, Any] = {"no_repeat_ngram_size": 3, "repetition_penalty": 1.3}
# A first output under this share of the pieces' output lost part of its source.
LOST_TEXT_RATIO = 0.85


@dataclass
class SegmentOutcome:
    """A translated segment with what the guards found: ``(code, detail)`` pairs."""

    translation: str
    flags: list[tuple[str, str]] = field(default_factory=list)
    tokens: int = 0  # target tokens decoded for the segment, re-decodings and repairs included


def output_limit(source_tokens: int, ceiling: int = 512) -> int:
    """Target tokens allowed for a source of this length: generous for English, which
    runs longer than French in tokens, yet bounded so a loop cannot run to the ceiling."""
    return min(ceiling, 2 * source_tokens + 16)


# Budgets a call holds when the backend streams its own sub-batches (summary windows).
STREAMED_BUDGETS_PER_CALL = 4


def generate_batched(
    backend: Seq2SeqBackend,
    texts: Sequence[str],
    lengths: Sequence[int],
    *,
    options: GenerationOptions,
    batch_tokens: int,
    on_batch: Callable[[list[int]], None] | None = None,
    skip: Callable[[int], bool] | None = None,
) -> list[Generated | None]:
    """Decode ``texts`` in length-sorted batches of at most ``batch_tokens`` padded tokens.

    ``on_batch(indices)`` is called after each batch with the indices it held (progress
    reporting); before each batch, indices for which ``skip(i)`` is true are left out (a
    cancelled job stops within one batch) and come back as None.
    """
    results: list[Generated | None] = [None] * len(texts)
    if options.max_new_tokens is not None and getattr(backend, "streams_batches", False):
        # The backend cuts each call under its own budget and keeps its replicas busy
        # across the cuts: a call holds several budgets, so that replicas wait for each
        # other once per call; progress and cancellation still come every call. Not when
        # each batch gets the output limit of its own longest segment: a larger call would
        # loosen it for its shorter ones.
        batch_tokens *= STREAMED_BUDGETS_PER_CALL
    for planned in pack_batches(lengths, batch_tokens):
        batch = [i for i in planned if not (skip and skip(i))]
        if not batch:
            continue
        longest = max(lengths[i] for i in batch)
        opts = options
        if options.max_new_tokens is None:
            opts = GenerationOptions(
                **{**options.kwargs(), "max_new_tokens": output_limit(longest)}
            )

        def run(idx: list[int], opts: GenerationOptions = opts) -> list[Generated]:
            return backend.generate([texts[i] for i in idx], opts)

        for i, out in zip(batch, run_split_on_oom(batch, run), strict=True):
            results[i] = out
        if on_batch:
            on_batch(batch)
    return results


def check_segment(source: str, out: Generated) -> list[tuple[str, str]]:
    """The guards that do not need a re-decode: passthrough, numbers, length."""
    flags: list[tuple[str, str]] = []
    if is_passthrough(source, out.text):
        flags.append(("passthrough", "the output is (nearly) the source text, untranslated"))
    lost = missing_numbers(source, out.text)
    if lost:
        flags.append(("number_mismatch", "not found in the translation: " + ", ".join(lost)))
    if not out.text.strip():
        flags.append(("empty_translation", "the model produced no text"))
    elif not length_ratio_ok(source, out.text):
        flags.append(("length_ratio", f"{len(out.text)} characters out for {len(source)} in"))
    if out.hit_limit:
        flags.append(
            ("output_truncated", f"decoding stopped at the length limit ({out.tokens} tokens)")
        )
    return flags


def shortfalls(source: str, out: Generated, *, lang: str, target_lang: str = "en") -> list[str]:
    """What makes an output look like it lost part of its source, worst first.

    ``empty``: no text; ``short``: far shorter than the source (the ``length_ratio``
    guard); ``truncated``: decoding stopped at its length limit; ``sentences``: fewer
    sentence ends than the source holds (a sentence-level model given several sentences
    may drop one, Helsinki-NLP/Opus-MT#60).
    """
    text = out.text.strip()
    if not text:
        return ["empty"]
    found: list[str] = []
    if len(text) < len(source) and not length_ratio_ok(source, text):
        found.append("short")
    if out.hit_limit:
        found.append("truncated")
    expected = len(possible_sentence_ends(source, lang))
    if expected and len(possible_sentence_ends(text, target_lang)) < expected:
        found.append("sentences")
    return found


def repair_pieces(source: str, count_tokens: Callable[[str], int], lang: str) -> list[str]:
    """The source cut for a second try: at every possible sentence end, else in two at
    clause punctuation (or a space). One piece means there is nothing to cut."""
    ends = possible_sentence_ends(source, lang)
    if ends:
        bounds = [0, *ends, len(source)]
        return [p for a, b in zip(bounds, bounds[1:], strict=False) if (p := source[a:b].strip())]
    tokens = count_tokens(source)
    return [p.text for p in fit_to_budget(source, count_tokens, max(1, (tokens + 1) // 2))]


def translate_segments(
    backend: Seq2SeqBackend,
    segments: Sequence[str],
    *,
    beam: int,
    batch_tokens: int,
    lang: str = "fr",
    on_batch: Callable[[list[int]], None] | None = None,
    skip: Callable[[int], bool] | None = None,
    views: Sequence[Callable[[str, str], tuple[str, str]] | None] | None = None,
) -> list[SegmentOutcome | None]:
    """Translate ``segments`` (each within the backend's source budget) and run the guards.

    A segment whose output loops is decoded once more with repetition controls; if it
    still loops it keeps the second output and a ``repetition`` flag. A segment whose
    output looks short (see :func:`shortfalls`) is translated again in pieces
    (:func:`repair_pieces`) and the pieces' output is kept when it has fewer shortfalls,
    with a ``short_output_repaired`` flag; otherwise the first output keeps its guard flags.
    Segments skipped (see :func:`generate_batched`) come back as None. ``views[i]``, when
    given, maps segment ``i``'s source and output to the pair the passthrough, number and
    length guards compare (placeholders resolved).
    """
    if not segments:
        return []
    lengths = [backend.count_tokens(s) for s in segments]
    options = GenerationOptions(num_beams=beam, source_lang=lang)
    outs = generate_batched(
        backend,
        segments,
        lengths,
        options=options,
        batch_tokens=batch_tokens,
        on_batch=on_batch,
        skip=skip,
    )
    looping = [i for i, o in enumerate(outs) if o is not None and find_repetition(o.text)]
    retried: dict[int, Generated] = {}
    if looping:
        log.info("re-decoding %d looping segment(s) with repetition controls", len(looping))
        controls = GenerationOptions(num_beams=beam, source_lang=lang, **REPETITION_CONTROLS)
        again = generate_batched(
            backend,
            [segments[i] for i in looping],
            [lengths[i] for i in looping],
            options=controls,
            batch_tokens=batch_tokens,
            skip=(lambda j: skip(looping[j])) if skip else None,
        )
        retried = {i: out for i, out in zip(looping, again, strict=True) if out is not None}

    outcomes: list[SegmentOutcome | None] = []
    for i, out in enumerate(outs):
        if out is None:
            outcomes.append(None)
            continue
        flags: list[tuple[str, str]] = []
        tokens = out.tokens
        if i in retried:
            first = find_repetition(out.text)
            out = retried[i]
            tokens += out.tokens
            still = find_repetition(out.text)
            if still:
                flags.append(("repetition", f"output repeats {still!r} even after re-decoding"))
            else:
                flags.append(
                    ("repetition_redecoded", f"first output repeated {first!r}; re-decoded")
                )
        outs[i] = out
        outcomes.append(SegmentOutcome(out.text, flags, tokens))
    _repair_short_outputs(backend, segments, outs, outcomes, lang, options, batch_tokens, skip)
    for k, (source, out, outcome) in enumerate(zip(segments, outs, outcomes, strict=True)):
        if out is not None and outcome is not None:
            view = views[k] if views else None
            if view is not None:
                source, text = view(source, out.text)
                out = replace(out, text=text)
            outcome.flags.extend(check_segment(source, out))
    return outcomes


def _repair_short_outputs(
    backend: Seq2SeqBackend,
    segments: Sequence[str],
    outs: list[Generated | None],
    outcomes: list[SegmentOutcome | None],
    lang: str,
    options: GenerationOptions,
    batch_tokens: int,
    skip: Callable[[int], bool] | None,
) -> None:
    """Translate again, in pieces, the segments whose output looks short; keep the better.

    Works in place on ``outs`` and ``outcomes``. A random-weight model is left alone: its
    output is no translation, and a second try would only cost time.
    """
    if backend.random_weights:
        return
    plans: list[tuple[int, list[str], list[str]]] = []  # (segment, shortfalls, pieces)
    for i, out in enumerate(outs):
        if out is None:
            continue
        found = shortfalls(segments[i], out, lang=lang)
        if found:
            pieces = repair_pieces(segments[i], backend.count_tokens, lang)
            if len(pieces) > 1:
                plans.append((i, found, pieces))
    if not plans:
        return
    log.info("translating %d short output(s) again in pieces", len(plans))
    texts = [p for _, _, pieces in plans for p in pieces]
    owners = [i for i, _, pieces in plans for _ in pieces]
    again = generate_batched(
        backend,
        texts,
        [backend.count_tokens(t) for t in texts],
        options=options,
        batch_tokens=batch_tokens,
        skip=(lambda k: skip(owners[k])) if skip else None,
    )
    at = 0
    for i, found, pieces in plans:
        parts = again[at : at + len(pieces)]
        at += len(pieces)
        if any(p is None for p in parts):
            continue
        done = [p for p in parts if p is not None]
        retry = Generated(
            joined(p.text for p in done),
            sum(p.tokens for p in done),
            any(p.hit_limit for p in done),
        )
        source, first = segments[i], outs[i]
        still = shortfalls(source, retry, lang=lang)
        outcome = outcomes[i]
        if first is None or outcome is None:
            continue
        outcome.tokens += retry.tokens  # decoded, whether kept or not
        # Fewer sentence ends alone may be style ("D.K. Arya" -> "D K Arya", two sentences
        # joined by a comma): only a first output clearly shorter than the pieces' shows
        # that a sentence was lost.
        lost = len(first.text.strip()) < LOST_TEXT_RATIO * len(retry.text)
        if found == ["sentences"] and not lost:
            continue
        if len(still) >= len(found):
            if "sentences" in found:
                outcome.flags.append(
                    (
                        "sentence_count",
                        f"the source holds {len(possible_sentence_ends(source, lang)) + 1} "
                        "sentences, the translation fewer, even when translated in pieces",
                    )
                )
            continue
        outs[i] = retry
        outcome.translation = retry.text
        outcome.flags.append(
            (
                "short_output_repaired",
                f"first output {', '.join(found)} ({len(first.text)} characters for "
                f"{len(source)}); translated again in {len(pieces)} pieces",
            )
        )
