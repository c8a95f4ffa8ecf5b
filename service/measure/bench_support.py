"""Forced output lengths for benchmarks on random-weight models.

Random weights either stop at once or decode to the length limit, so a benchmark on them
measures nothing real. :class:`ForcedLength` wraps any
:class:`~service.engines.protocol.Seq2SeqBackend` and makes every output the length a trained
model would give: a translation of ``ceil(1.2 × source tokens)`` target tokens, a summary of
a fixed 70 tokens per window (``min_new_tokens = max_new_tokens``, shared/MEASURED.md
pitfall 3).

Both engines take one length per call, not one per row, and they differ in what a row that
ends early costs:

- transformers keeps finished rows in the batch until the longest is done, so the faithful
  emulation is one call decoded to the longest row's length;
- CTranslate2 drops finished rows from the batch, so decoding every row to the longest
  length would overcharge it, and one call per length would lose its batching. The rows
  are split into groups of neighbouring lengths (:func:`length_groups`) chosen to cost the
  least under CTranslate2's measured cost per decoding step.

Both engines decode the same number of steps for a row: its target tokens plus the steps
for its special tokens (the end token; BART's forced ``<s>``). transformers spends the last
step on the end token it forces at the limit; CTranslate2, held to a fixed length, emits no
end token, so it is given one more token to decode in its place.

What the emulation adds is counted: the steps decoded, padding included, against the target
tokens (``stats.decoded_tokens`` against ``stats.target_tokens``: a row of ``n`` target
tokens decoded alone costs ``n`` plus its special tokens), and the decoding cost under that
cost model against what the engine would spend on rows that end on their own
(``stats.forced_cost`` against ``stats.natural_cost``, in row-steps).

The text returned is an English stand-in of the target length, not the decoded noise:
random weights emit pieces no trained model would (``<unused_123>`` placeholders), and the
stages downstream (the guards, the summary windows, the bullet selection) would otherwise
see text of unrealistic length and shape, and loop detection would fire on every segment.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from service.engines.protocol import Generated, GenerationOptions
from service.measure.devmodels.samples import DEFAULT_ENGLISH_TEXTS

__all__ = [
    "STEP_OVERHEAD_ROWS",
    "SUMMARY_TOKENS",
    "TRANSLATION_RATIO",
    "EnglishStandIn",
    "ForcedLength",
    "ForcedStats",
    "InstantBackend",
    "length_groups",
    "output_specials",
    "target_length",
]

TRANSLATION_RATIO = 1.2
SUMMARY_TOKENS = 70
# CTranslate2 int8, beam 4, opus-mt-fr-en shape on 2 cores (shared/MEASURED.md): 70 tokens/s
# one row at a time, 457 in batches of 32. A decoding step costs a + c × rows with
# a ≈ 12.5 ms and c ≈ 1.8 ms: the fixed part of a step is worth about 7 rows.
STEP_OVERHEAD_ROWS = 7.0


def target_length(source_tokens: int, ratio: float = TRANSLATION_RATIO) -> int:
    """Target tokens for a source of ``source_tokens`` tokens (special tokens excluded)."""
    return max(1, math.ceil(ratio * source_tokens - 1e-9))


def length_groups(lengths: Sequence[int], overhead_rows: float) -> list[list[int]]:
    """Indices of ``lengths`` split into groups of neighbouring lengths, each group decoded
    in one call to its longest length.

    A group of ``n`` rows decoded to length ``L`` costs ``L × (overhead_rows + n)`` (the
    fixed cost of each step plus each row's); the split minimises the total, by dynamic
    programming over the distinct lengths. ``overhead_rows`` 0 gives one group per length;
    a large value gives one group for everything.
    """
    if not lengths:
        return []
    distinct = sorted(set(lengths))
    counts = Counter(lengths)
    best = [0.0] + [math.inf] * len(distinct)
    start = [0] * (len(distinct) + 1)
    for end in range(1, len(distinct) + 1):
        rows = 0
        for first in range(end, 0, -1):
            rows += counts[distinct[first - 1]]
            cost = best[first - 1] + distinct[end - 1] * (overhead_rows + rows)
            if cost < best[end]:
                best[end], start[end] = cost, first - 1
    bounds = []
    end = len(distinct)
    while end > 0:
        bounds.append((distinct[start[end]], distinct[end - 1]))
        end = start[end]
    groups = []
    for low, high in reversed(bounds):
        groups.append([i for i, n in enumerate(lengths) if low <= n <= high])
    return groups


def output_specials(model_path: Any) -> int:
    """Special tokens a decoded output carries besides its text: the end token, and the
    forced first token (BART's ``<s>``) when the model has one."""
    specials = 1
    for name in ("generation_config.json", "config.json"):
        try:
            config = json.loads((model_path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if config.get("forced_bos_token_id") is not None:
            return specials + 1
    return specials


class EnglishStandIn:
    """English text of a given length in target tokens, the same for the same source.

    Words are taken in order from a corpus (by default the English sample of
    :mod:`service.measure.devmodels.samples`), starting at a place chosen by a checksum of
    the source, so that every run of a benchmark sees the same texts.
    """

    def __init__(self, texts: Sequence[str] = DEFAULT_ENGLISH_TEXTS) -> None:
        self.words = " ".join(texts).split()
        self.tokens_per_word = 1.3  # English in a subword vocabulary; see calibrate()

    def calibrate(self, tokenizer: Any) -> None:
        """Measure the target tokens per word of the corpus with the model's tokenizer."""
        sample = " ".join(self.words)
        ids = tokenizer(text_target=sample, add_special_tokens=False)["input_ids"]
        self.tokens_per_word = max(len(ids), 1) / max(len(self.words), 1)

    def text(self, source: str, tokens: int) -> str:
        count = max(1, round(tokens / self.tokens_per_word))
        first = zlib.crc32(source.encode("utf-8")) % len(self.words)
        return " ".join(self.words[(first + k) % len(self.words)] for k in range(count))


@dataclass
class ForcedStats:
    """What the wrapped backend was asked for and what it decoded."""

    calls: int = 0  # calls to the wrapped backend
    rows: int = 0
    target_tokens: int = 0  # what trained models would have produced
    decoded_tokens: int = 0  # decoding steps, padding and special tokens included
    redecoded_rows: int = 0  # rows sent again with repetition controls (the loop guard)
    natural_cost: float = 0.0  # row-steps the engine spends when rows end on their own
    forced_cost: float = 0.0  # row-steps spent with the forced lengths

    def to_dict(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "rows": self.rows,
            "target_tokens": self.target_tokens,
            "decoded_tokens": self.decoded_tokens,
            "redecoded_rows": self.redecoded_rows,
            "natural_cost": self.natural_cost,
            "forced_cost": self.forced_cost,
        }

    def count(
        self, targets: Sequence[int], groups: Sequence[Sequence[int]], compacts: bool
    ) -> None:
        """Account for one call of ``targets`` decoded as ``groups``."""
        if not targets:
            return
        longest = max(targets)
        self.rows += len(targets)
        self.target_tokens += sum(targets)
        # One step's fixed cost while any row runs, plus each running row; an engine that
        # does not drop finished rows runs all of them to the longest.
        running = sum(targets) if compacts else longest * len(targets)
        self.natural_cost += STEP_OVERHEAD_ROWS * longest + running
        for group in groups:
            length = max(targets[i] for i in group)
            self.forced_cost += length * (STEP_OVERHEAD_ROWS + len(group))


class ForcedLength:
    """A backend whose outputs have the lengths of a trained model's (see the module doc).

    Follows :class:`~service.engines.protocol.Seq2SeqBackend`. ``tokens_generated`` counts the
    tokens of the outputs it returns (the forced lengths, what a trained model would have
    decoded), as a backend's own counter does, so a worker's heartbeat reports them;
    anything else (``tokenizer``, ``compute_type``) is read from the wrapped backend.
    """

    def __init__(
        self,
        inner: Any,
        *,
        ratio: float = TRANSLATION_RATIO,
        summary_tokens: int = SUMMARY_TOKENS,
        overhead_rows: float | None = None,
        stand_in: EnglishStandIn | None = None,
    ) -> None:
        from service.engines.ct2 import (
            CTranslate2Seq2Seq,  # no engine import: construction is cheap
        )

        self.inner = inner
        self.kind = inner.model.task
        self.ratio = ratio
        self.summary_tokens = summary_tokens
        self.compacts = isinstance(inner, CTranslate2Seq2Seq)
        if overhead_rows is None:
            overhead_rows = STEP_OVERHEAD_ROWS if self.compacts else math.inf
        self.overhead_rows = overhead_rows
        self.stand_in = stand_in or EnglishStandIn()
        self.stats = ForcedStats()
        self._source_specials: int | None = None
        self._output_specials = output_specials(inner.model.path)

    # -- Seq2SeqBackend ------------------------------------------------------------------

    @property
    def model(self) -> Any:
        return self.inner.model

    @property
    def random_weights(self) -> bool:
        return bool(self.inner.random_weights)

    @property
    def max_source_tokens(self) -> int:
        return int(self.inner.max_source_tokens)

    def load(self) -> None:
        self.inner.load()
        tokenizer = getattr(self.inner, "tokenizer", None)
        if tokenizer is not None:  # else the stand-in keeps its typical ratio
            self.stand_in.calibrate(tokenizer)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    @property
    def tokens_generated(self) -> int:
        """Tokens of every output returned so far (``stats.target_tokens``)."""
        return self.stats.target_tokens

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: construction failed
            raise AttributeError(name)
        return getattr(self.inner, name)

    # -- forcing -------------------------------------------------------------------------

    def source_tokens(self, text: str) -> int:
        """Tokens of ``text`` as the model reads it, without the special tokens, and
        within the source budget (longer inputs are cut by the backend)."""
        if self._source_specials is None:
            self._source_specials = self.count_tokens("")
        tokens = self.count_tokens(text) - self._source_specials
        budget = self.max_source_tokens
        return min(tokens, budget) if budget else tokens

    def targets(self, texts: Sequence[str]) -> list[int]:
        """The output length, in target tokens, that each of ``texts`` gets."""
        if self.kind == "translation":
            return [target_length(self.source_tokens(t), self.ratio) for t in texts]
        return [self.summary_tokens] * len(texts)

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        targets = self.targets(texts)
        if math.isinf(self.overhead_rows):
            groups = [list(range(len(texts)))] if texts else []
        else:
            groups = length_groups(targets, self.overhead_rows)
        results: list[Generated | None] = [None] * len(texts)
        # CTranslate2 decodes a token where transformers decodes the end token (module doc).
        extra = 1 if self.compacts else 0
        for group in groups:
            longest = max(targets[i] for i in group)
            new_tokens = longest + self._output_specials + extra
            forced = replace(options, min_new_tokens=new_tokens, max_new_tokens=new_tokens)
            outputs = self.inner.generate([texts[i] for i in group], forced)
            for i, out in zip(group, outputs, strict=True):
                # Steps: the tokens returned (special ones left out), then the specials.
                self.stats.decoded_tokens += out.tokens + self._output_specials - extra
                # A trained model stops on its own at this length: not cut.
                results[i] = Generated(
                    self.stand_in.text(texts[i], targets[i]), targets[i], hit_limit=False
                )
        self.stats.calls += len(groups)
        self.stats.count(targets, groups, self.compacts)
        if self.kind == "translation" and options.repetition_penalty is not None:
            self.stats.redecoded_rows += len(texts)
        return [r for r in results if r is not None]


class InstantBackend:
    """A backend that answers at once with outputs of the forced lengths: the engine taken
    out, to measure everything around it. Follows the
    :class:`~service.engines.protocol.Seq2SeqBackend` protocol; loads nothing."""

    def __init__(self, inner: Any) -> None:
        self.model = inner.model
        self.kind = inner.model.task
        budget = int(getattr(inner, "max_source_tokens", 0) or 0)
        self.max_source_tokens = budget or (1000 if self.kind == "summarisation" else 256)
        self.random_weights = True
        self.tokens_generated = 0
        self.stand_in = EnglishStandIn()

    def load(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return 1 + round(1.5 * len(text.split()))

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        if self.kind == "translation":
            lengths = [target_length(self.count_tokens(t) - 1) for t in texts]
        else:
            lengths = [SUMMARY_TOKENS] * len(texts)
        self.tokens_generated += sum(lengths)
        return [
            Generated(self.stand_in.text(t, n), n, hit_limit=False)
            for t, n in zip(texts, lengths, strict=True)
        ]


def swept_best(
    values: Sequence[int],
    time_of: Callable[[int], float],
    *,
    low: int,
    high: int,
    known: dict[int, float] | None = None,
) -> tuple[int, dict[int, float]]:
    """The fastest of ``values`` by ``time_of`` (lower is faster), and the time of every
    value tried (``known``: times already taken, not taken again).

    A fastest value at an end of the range is no optimum: the sweep tries half of it (or
    double), and again, while the new value is the fastest, within ``low`` and ``high``.
    On 2026-12-02 ``baseline-int8`` translated fastest at 1,024 tokens, the smallest budget
    tried (6.7 ms a target token, 8.8 at 2,048); timed after the run, 512 and 256 were not
    faster (6.4 and 7.4, 9.1 and 10.5 ms, against 6.4 and 6.0 for 1,024, two rounds).
    """
    times = dict(known or {})
    for value in values:
        if value not in times:
            times[value] = time_of(value)
    while True:
        best = min(times, key=lambda v: times[v])
        if best == min(times) and best // 2 >= low:
            nearer = best // 2
        elif best == max(times) and best * 2 <= high:
            nearer = best * 2
        else:
            return best, times
        times[nearer] = time_of(nearer)
