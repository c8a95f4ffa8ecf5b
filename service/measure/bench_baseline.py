"""The transformers baselines of ``passeur bench``, as an expert writes them for throughput.

``baseline`` (float32) and ``baseline-int8`` (the same after ``torch.ao.quantization
.quantize_dynamic`` of every ``Linear`` layer, the cheap speed-up a transformers user tries
next) do exactly the plan's work (:func:`service.measure.bench_engine.run_plan`): the
segments the service translates and the summary windows it summarises, token for token.

- All segments of all articles are sorted by length and packed into batches under a budget
  of padded tokens (rows × (longest source + longest target)), so transformers, which
  decodes every row of a batch to the longest, pads little; then the summary windows, the
  same way. ``generate`` runs under ``torch.inference_mode`` (the backend's own).
- The budget is swept on a sample of each stage before the timed repeats, and the fastest
  kept (``budget_sweep`` in the record: seconds per target token for each budget tried).
  A fastest budget at an end of the range tried is no optimum: the sweep goes on past
  that end, halving or doubling, while each new budget is faster
  (:func:`service.measure.bench_support.swept_best`).

Tokenising, generating and detokenising are timed; segmenting and planning windows (ours,
a few ms an article) are not, which favours the baseline.

On a GPU (``device`` cuda) ``baseline`` runs in float16 and its sweep goes to larger budgets
on larger samples (:data:`GPU_BUDGETS`); ``baseline-int8`` does not run there: torch's
dynamic quantisation has CPU kernels only (:func:`int8_unsupported`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from service.engines.protocol import GenerationOptions
from service.measure.bench_setup import (
    SUMMARY_DECODING,
    RunSpec,
    device_synchroniser,
    forced_backend,
    repeat_timed,
)
from service.measure.bench_support import ForcedLength, swept_best

__all__ = [
    "BUDGETS",
    "GPU_BUDGETS",
    "int8_unsupported",
    "pack_sorted",
    "run_baseline",
    "run_baseline_int8",
    "sweep_budgets",
    "sweep_rows",
]

log = logging.getLogger("passeur.bench")

# Padded tokens per batch tried by the sweep (rows x (longest source + longest target)).
BUDGETS = (1024, 2048, 4096, 8192, 16384)
SHORT_BUDGETS = (2048, 8192)  # --quick
SWEEP_ROWS = {"translation": 64, "summarisation": 8}
# On a GPU: the same budgets and four times more above, on samples four times as large (a
# sample smaller than a budget cannot tell it from the next). A starting point for the
# first GPU run, not measured.
GPU_BUDGETS = (*BUDGETS, 32768, 65536)
GPU_SHORT_BUDGETS = (8192, 32768)
GPU_SWEEP_ROWS = {task: 4 * rows for task, rows in SWEEP_ROWS.items()}
INT8_CPU_ONLY = "torch dynamic int8 quantisation runs on CPU only"
# How far past the range the sweep may go when the fastest budget is at one of its ends:
# down to MIN_BUDGET (a row or two a batch), up to MAX_BUDGET_FACTOR times the largest.
MIN_BUDGET = 128
MAX_BUDGET_FACTOR = 4


def int8_unsupported(device: str) -> str | None:
    """Why ``baseline-int8`` cannot run on ``device``, or None where it can."""
    return INT8_CPU_ONLY if device != "cpu" else None


def sweep_budgets(device: str, short: bool) -> tuple[int, ...]:
    """The padded-token budgets the baseline's sweep tries on ``device`` (``short``:
    --quick)."""
    if device == "cuda":
        return GPU_SHORT_BUDGETS if short else GPU_BUDGETS
    return SHORT_BUDGETS if short else BUDGETS


def sweep_rows(device: str) -> dict[str, int]:
    """Rows of each stage's sample the sweep decodes on ``device``."""
    return dict(GPU_SWEEP_ROWS if device == "cuda" else SWEEP_ROWS)


def pack_sorted(lengths: Sequence[tuple[int, int]], budget: int) -> list[list[int]]:
    """Indices of ``lengths`` (``(source, target)`` tokens per row) sorted by length, cut
    into batches whose padded size, rows × (longest source + longest target), stays within
    ``budget`` (a row alone may exceed it)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i][0], lengths[i][1]))
    batches: list[list[int]] = []
    batch: list[int] = []
    longest_source = longest_target = 0
    for i in order:
        source = max(longest_source, lengths[i][0])
        target = max(longest_target, lengths[i][1])
        if batch and (len(batch) + 1) * (source + target) > budget:
            batches.append(batch)
            batch, source, target = [], lengths[i][0], lengths[i][1]
        batch.append(i)
        longest_source, longest_target = source, target
    if batch:
        batches.append(batch)
    return batches


def _quantise(backend: ForcedLength) -> None:
    import torch

    model = backend.inner._model
    backend.inner._model = torch.ao.quantization.quantize_dynamic(
        model, {torch.nn.Linear}, dtype=torch.qint8
    )


def _sample(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over ``items`` sorted by length: every length class."""
    ordered = sorted(items, key=lambda item: int(item[1]))
    if len(ordered) <= count:
        return list(ordered)
    step = len(ordered) / count
    return [ordered[int(k * step)] for k in range(count)]


def _run(spec: RunSpec, quantise: bool) -> dict[str, Any]:
    if spec.plan is None:
        raise ValueError(f"the {spec.run} run needs the plan run's output")
    why = int8_unsupported(spec.device) if quantise else None
    if why:
        raise ValueError(f"the {spec.run} run cannot run on {spec.device}: {why}")
    started = time.perf_counter()
    translator = forced_backend(spec, "transformers", "translation", None)
    summariser = forced_backend(spec, "transformers", "summarisation", None)
    if quantise:
        _quantise(translator)
        _quantise(summariser)
    load_s = time.perf_counter() - started
    stages = (
        ("translation", translator, spec.plan["segments"], GenerationOptions(num_beams=spec.beam)),
        (
            "summarisation",
            summariser,
            spec.plan["windows"],
            GenerationOptions(num_beams=spec.beam, **SUMMARY_DECODING),
        ),
    )

    def decode(
        backend: ForcedLength, items: Sequence[Any], options: GenerationOptions, budget: int
    ) -> None:
        texts = [str(text) for text, _ in items]
        lengths = [
            (backend.count_tokens(t), int(n))
            for t, n in zip(texts, (n for _, n in items), strict=True)
        ]
        for batch in pack_sorted(lengths, budget):
            backend.generate([texts[i] for i in batch], options)

    best: dict[str, int] = {}
    sweep: dict[str, dict[str, float]] = {}
    rows = sweep_rows(spec.device)
    synchronise = device_synchroniser(spec, "transformers")

    def timed(
        backend: ForcedLength, sample: Sequence[Any], options: GenerationOptions, budget: int
    ) -> float:
        """Milliseconds per target token of ``sample`` decoded under ``budget``."""
        tokens = sum(int(n) for _, n in sample) or 1
        synchronise()
        began = time.perf_counter()
        decode(backend, sample, options, budget)
        synchronise()
        return round((time.perf_counter() - began) / tokens * 1000, 3)

    for task, backend, items, options in stages:
        decode(backend, items[:2], options, BUDGETS[0])  # warm-up, not timed
        if spec.baseline_budget:
            best[task] = spec.baseline_budget
            continue
        sample = _sample(items, rows[task])
        time_of = functools.partial(timed, backend, sample, options)
        budgets = sweep_budgets(spec.device, spec.short_sweep)
        # --quick keeps its two points: a smoke check, no figure rests on its sweep.
        low, high = (
            (min(budgets), max(budgets))
            if spec.short_sweep
            else (MIN_BUDGET, max(budgets) * MAX_BUDGET_FACTOR)
        )
        best[task], times = swept_best(budgets, time_of, low=low, high=high)
        sweep[task] = {str(budget): ms for budget, ms in sorted(times.items())}
        log.info("%s %s: budget %d (ms per target token: %s)", spec.run, task, best[task], sweep)

    def process(articles: Sequence[str], done: Callable[[int], None]) -> None:
        for task, backend, items, options in stages:
            decode(backend, items, options, best[task])
        done(len(articles))  # every article's summary comes with the last batch

    repeats = repeat_timed(
        spec, [translator, summariser], process, warm_up=False, synchronise=synchronise
    )
    return {
        "load_s": round(load_s, 2),
        "repeats": repeats,
        "batching": {
            "budget": best,
            "sweep_ms_per_target_token": sweep,
            "sample_rows": rows,
        },
    }


def run_baseline(spec: RunSpec) -> dict[str, Any]:
    return _run(spec, quantise=False)


def run_baseline_int8(spec: RunSpec) -> dict[str, Any]:
    return _run(spec, quantise=True)
