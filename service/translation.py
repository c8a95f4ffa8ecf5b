"""Segments in, checked translations out: batching under a token budget, then the guards.

The backend is anything that follows :class:`service.seq2seq.Seq2SeqBackend`; this module
never imports torch itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from service.batching import pack_batches, run_split_on_oom
from service.guards import find_repetition, is_passthrough, length_ratio_ok, missing_numbers
from service.seq2seq import Generated, GenerationOptions, Seq2SeqBackend

log = logging.getLogger(__name__)

# Re-decoding a looping segment: forbid repeated trigrams and damp repeated tokens.
REPETITION_CONTROLS = {"no_repeat_ngram_size": 3, "repetition_penalty": 1.3}


@dataclass
class SegmentOutcome:
    """A translated segment with what the guards found: ``(code, detail)`` pairs."""

    translation: str
    flags: list[tuple[str, str]] = field(default_factory=list)


def output_limit(source_tokens: int, ceiling: int = 512) -> int:
    """Target tokens allowed for a source of this length: generous for English, which
    runs longer than French in tokens, yet bounded so a loop cannot run to the ceiling."""
    return min(ceiling, 2 * source_tokens + 16)


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


def translate_segments(
    backend: Seq2SeqBackend,
    segments: Sequence[str],
    *,
    beam: int,
    batch_tokens: int,
    on_batch: Callable[[list[int]], None] | None = None,
    skip: Callable[[int], bool] | None = None,
) -> list[SegmentOutcome | None]:
    """Translate ``segments`` (each within the backend's source budget) and run the guards.

    A segment whose output loops is decoded once more with repetition controls; if it
    still loops it keeps the second output and a ``repetition`` flag. Segments skipped
    (see :func:`generate_batched`) come back as None.
    """
    if not segments:
        return []
    lengths = [backend.count_tokens(s) for s in segments]
    options = GenerationOptions(num_beams=beam)
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
        controls = GenerationOptions(num_beams=beam, **REPETITION_CONTROLS)
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
    for i, (source, out) in enumerate(zip(segments, outs, strict=True)):
        if out is None:
            outcomes.append(None)
            continue
        flags: list[tuple[str, str]] = []
        if i in retried:
            first = find_repetition(out.text)
            out = retried[i]
            still = find_repetition(out.text)
            if still:
                flags.append(("repetition", f"output repeats {still!r} even after re-decoding"))
            else:
                flags.append(
                    ("repetition_redecoded", f"first output repeated {first!r}; re-decoded")
                )
        flags.extend(check_segment(source, out))
        outcomes.append(SegmentOutcome(out.text, flags))
    return outcomes
