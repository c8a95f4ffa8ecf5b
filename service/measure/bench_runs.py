"""The in-process runs of ``passeur bench``, one per process so that peak memory is per run:
``python -m service.measure.bench_runs SPEC.json OUT.json``.

Every run gets the same articles, threads and beam (4), loads its models (not timed), warms
up (not timed), then does its work ``repeat`` times. All the articles are handed over at
once, so an article's latency is the time from the start of the repeat until its result is
ready. Every run but ``inprocess`` decodes the plan's segments and windows (what the
pipeline asks its engines for, :func:`service.measure.bench_engine.run_plan`); ``inprocess``
runs the pipeline itself. Each repeat's target tokens are checked against the plan's.

- ``naive``: transformers float32, one article at a time, its segments in article order in
  batches of 16, then its summary windows (the loop most people write first);
- ``peer``: CTranslate2 int8, one article at a time, each article's segments in one call,
  then its windows (what a one-request-one-article server does);
- ``inprocess``: the batch script's path, ``Pipeline.run_many`` over groups of
  ``batch_articles``, CTranslate2 int8, abstractive summaries.

With ``device`` cuda (``passeur bench --device cuda``) CTranslate2 runs in float16 and
transformers in float16 on the GPU (:func:`service.measure.bench_setup.ct2_compute_type`,
:func:`~service.measure.bench_setup.torch_dtype`); the transformers runs also report the
peak GPU memory torch allocated (``peak_gpu_mb``).

``baseline`` and ``baseline-int8`` are in :mod:`service.measure.bench_baseline`; ``plan``
and ``engine_limit`` in :mod:`service.measure.bench_engine`; what the runs share (the spec,
the settings, backends and pipeline built the product's way) in
:mod:`service.measure.bench_setup`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.engines.protocol import GenerationOptions
from service.measure.bench_baseline import run_baseline, run_baseline_int8
from service.measure.bench_engine import run_engine_limit, run_plan
from service.measure.bench_setup import (
    SUMMARY_DECODING,
    Engine,
    RunSpec,
    articles_of,
    device_synchroniser,
    forced_backend,
    peak_gpu_mb,
    peak_rss_mb,
    quiet_libraries,
    repeat_timed,
    wired_pipeline,
)
from service.measure.bench_support import ForcedLength

__all__ = ["execute", "runs"]

log = logging.getLogger("passeur.bench")

NAIVE_BATCH = 16
# Runs of transformers, whose GPU memory torch's allocator can tell (CTranslate2's cannot).
TORCH_RUNS = frozenset({"baseline", "baseline-int8", "naive"})


def plan_by_article(plan: dict[str, Any]) -> list[tuple[list[Any], list[Any]]]:
    """The plan's segments and windows, article by article (the plan lists them in order)."""
    out = []
    segment = window = 0
    for counts in plan["per_article"]:
        out.append(
            (
                plan["segments"][segment : segment + counts["segments"]],
                plan["windows"][window : window + counts["windows"]],
            )
        )
        segment += counts["segments"]
        window += counts["windows"]
    return out


# -- runs ---------------------------------------------------------------------------------


def _per_article(spec: RunSpec, engine: Engine, batch: int | None) -> dict[str, Any]:
    """naive (transformers, article order, batches of ``batch``) and peer (CTranslate2, an
    article's segments in one call): one article at a time, the plan's work."""
    if spec.plan is None:
        raise ValueError(f"the {spec.run} run needs the plan run's output")
    started = time.perf_counter()
    translator = forced_backend(spec, engine, "translation", None)
    summariser = forced_backend(spec, engine, "summarisation", None)
    load_s = time.perf_counter() - started
    options = GenerationOptions(num_beams=spec.beam)
    summary_options = GenerationOptions(num_beams=spec.beam, **SUMMARY_DECODING)
    work = plan_by_article(spec.plan)

    # Warm-up, not timed: a few segments and a window.
    translator.generate([str(t) for t, _ in spec.plan["segments"][:2]], options)
    summariser.generate([str(t) for t, _ in spec.plan["windows"][:1]], summary_options)

    def process(articles: Sequence[str], done: Callable[[int], None]) -> None:
        for segments, windows in work:
            texts = [str(t) for t, _ in segments]
            size = batch or len(texts) or 1
            for i in range(0, len(texts), size):
                translator.generate(texts[i : i + size], options)
            if windows:
                summariser.generate([str(t) for t, _ in windows], summary_options)
            done(1)

    synchronise = device_synchroniser(spec, engine)
    repeats = repeat_timed(
        spec, [translator, summariser], process, warm_up=False, synchronise=synchronise
    )
    return {"load_s": round(load_s, 2), "repeats": repeats}


def run_naive(spec: RunSpec) -> dict[str, Any]:
    return _per_article(spec, "transformers", NAIVE_BATCH)


def run_peer(spec: RunSpec) -> dict[str, Any]:
    return _per_article(spec, "ctranslate2", None)


def run_inprocess(spec: RunSpec) -> dict[str, Any]:
    """The batch script's path: the pipeline a CTranslate2 worker runs, articles in groups."""
    started = time.perf_counter()
    forced: dict[str, ForcedLength] = {}

    def wrap(backend: Any) -> ForcedLength:
        forced[backend.model.task] = ForcedLength(backend)
        return forced[backend.model.task]

    pipeline = wired_pipeline(spec, wrap)
    translator, summariser = forced["translation"], forced["summarisation"]
    load_s = time.perf_counter() - started

    def process(texts: Sequence[str], done: Callable[[int], None]) -> None:
        for first in range(0, len(texts), spec.batch_articles):
            group = articles_of(texts[first : first + spec.batch_articles], first)
            for result in pipeline.run_many(group):
                if result.error:
                    raise RuntimeError(f"article {result.id} failed: {result.error}")
            done(len(group))

    repeats = repeat_timed(spec, [translator, summariser], process)
    return {"load_s": round(load_s, 2), "repeats": repeats}


def run_scaling(spec: RunSpec) -> dict[str, Any]:
    """Articles of growing length through the pipeline (:mod:`.bench_scaling`)."""
    from service.measure.bench_scaling import LENGTHS, length_scaling

    lengths = spec.scaling_lengths or LENGTHS
    return length_scaling(spec, spec.articles, lengths)


def runs() -> dict[str, Callable[[RunSpec], dict[str, Any]]]:
    """Every run by name."""
    return {
        "plan": run_plan,
        "baseline": run_baseline,
        "baseline-int8": run_baseline_int8,
        "naive": run_naive,
        "peer": run_peer,
        "inprocess": run_inprocess,
        "engine_limit": run_engine_limit,
        "scaling": run_scaling,
    }


def execute(spec: RunSpec) -> dict[str, Any]:
    """Run ``spec.run`` in this process and return its record, peak memory included (on a
    GPU, for transformers runs, the GPU's too)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = runs()[spec.run](spec)
    result["peak_rss_mb"] = peak_rss_mb()
    if spec.device == "cuda" and spec.run in TORCH_RUNS:
        result["peak_gpu_mb"] = peak_gpu_mb()
    return result


def main(argv: Sequence[str]) -> int:
    from service.log import configure_logging

    if len(argv) != 2:
        print("usage: python -m service.measure.bench_runs SPEC.json OUT.json", file=sys.stderr)
        return 2
    configure_logging(os.environ.get("PASSEUR_BENCH_LOG_LEVEL", "INFO"))
    quiet_libraries()
    spec = RunSpec(**json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    result = execute(spec)
    Path(argv[1]).write_text(json.dumps(result) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
