"""The in-process runs of ``passeur bench``, one per process so that peak memory is per run:
``python -m service.measure.bench_runs SPEC.json OUT.json``.

Every run gets the same articles, threads and beam, loads its models (not timed), warms up
on a short text (not timed), then processes all the articles ``repeat`` times. All the
articles are handed over at once, so an article's latency is the time from the start of the
repeat until its result is ready.

- ``baseline``: transformers float32, per article: our sentence splitter, ``generate`` in
  batches of 16, then the summariser on the translation cut to its 1,024 tokens.
- ``peer``: the same steps through CTranslate2 int8, one article at a time.
- ``inprocess``: the batch script's path, ``Pipeline.run_many`` over groups of
  ``batch_articles``, CTranslate2 int8, abstractive summaries.

``plan`` and ``engine_limit`` are in :mod:`service.measure.bench_engine`; what the runs share
(the spec, the settings, backends and pipeline built the product's way) in
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

from service.engines.protocol import Generated, GenerationOptions
from service.measure.bench_engine import run_engine_limit, run_plan
from service.measure.bench_setup import (
    SUMMARY_DECODING,
    Engine,
    RunSpec,
    articles_of,
    forced_backend,
    peak_rss_mb,
    quiet_libraries,
    wired_pipeline,
)
from service.measure.bench_support import ForcedLength

__all__ = ["execute", "runs"]

log = logging.getLogger("passeur.bench")

BASELINE_BATCH = 16
WARMUP_WORDS = 20


def _warmup_text(articles: Sequence[str]) -> str:
    return " ".join(articles[0].split()[:WARMUP_WORDS])


def _stats_delta(
    backends: Sequence[ForcedLength], before: list[dict[str, float]]
) -> dict[str, float]:
    total: dict[str, float] = {}
    for backend, old in zip(backends, before, strict=True):
        for key, value in backend.stats.to_dict().items():
            total[key] = total.get(key, 0) + value - old[key]
    return total


def _repeat(
    spec: RunSpec,
    backends: Sequence[ForcedLength],
    process: Callable[[Sequence[str], Callable[[int], None]], None],
) -> list[dict[str, Any]]:
    """Warm up, then run ``process(articles, done)`` ``spec.repeat`` times; ``done(k)``
    marks the next ``k`` articles finished."""
    process([_warmup_text(spec.articles)], lambda k: None)
    repeats = []
    for r in range(spec.repeat):
        before = [b.stats.to_dict() for b in backends]
        latencies: list[float] = []
        load_before = os.getloadavg()[0]
        started = time.perf_counter()

        def done(k: int, started: float = started, latencies: list[float] = latencies) -> None:
            latencies.extend([time.perf_counter() - started] * k)

        process(spec.articles, done)
        wall = time.perf_counter() - started
        stats = _stats_delta(backends, before)
        repeats.append(
            {
                "wall_s": round(wall, 3),
                "latencies_s": [round(x, 3) for x in latencies],
                "target_tokens": stats["target_tokens"],
                "decoded_tokens": stats["decoded_tokens"],
                "redecoded_rows": stats["redecoded_rows"],
                "engine_calls": stats["calls"],
                "forced_cost_ratio": round(stats["forced_cost"] / max(stats["natural_cost"], 1), 3),
                "load_average": [load_before, os.getloadavg()[0]],
            }
        )
        log.info("%s: repeat %d/%d in %.1f s", spec.run, r + 1, spec.repeat, wall)
    return repeats


# -- runs ---------------------------------------------------------------------------------


def _per_article(spec: RunSpec, engine: Engine, batch: int | None) -> dict[str, Any]:
    """baseline (transformers, batches of ``batch``) and peer (CTranslate2, one call)."""
    from service.text.segmentation import segment_article

    started = time.perf_counter()
    translator = forced_backend(spec, engine, "translation", None)
    summariser = forced_backend(spec, engine, "summarisation", None)
    load_s = time.perf_counter() - started
    options = GenerationOptions(num_beams=spec.beam)
    summary_options = GenerationOptions(num_beams=spec.beam, **SUMMARY_DECODING)

    def process(articles: Sequence[str], done: Callable[[int], None]) -> None:
        for text in articles:
            sentences = [s.text for s in segment_article(text, "fr")]
            size = batch or len(sentences) or 1
            out: list[Generated] = []
            for i in range(0, len(sentences), size):
                out += translator.generate(sentences[i : i + size], options)
            # The summariser cuts its input to its 1,024 tokens.
            summariser.generate([" ".join(o.text for o in out)], summary_options)
            done(1)

    repeats = _repeat(spec, [translator, summariser], process)
    return {"load_s": round(load_s, 2), "repeats": repeats}


def run_baseline(spec: RunSpec) -> dict[str, Any]:
    return _per_article(spec, "transformers", BASELINE_BATCH)


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

    repeats = _repeat(spec, [translator, summariser], process)
    return {"load_s": round(load_s, 2), "repeats": repeats}


def runs() -> dict[str, Callable[[RunSpec], dict[str, Any]]]:
    """Every run by name."""
    return {
        "plan": run_plan,
        "baseline": run_baseline,
        "peer": run_peer,
        "inprocess": run_inprocess,
        "engine_limit": run_engine_limit,
    }


def execute(spec: RunSpec) -> dict[str, Any]:
    """Run ``spec.run`` in this process and return its record, peak memory included."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = runs()[spec.run](spec)
    result["peak_rss_mb"] = peak_rss_mb()
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
