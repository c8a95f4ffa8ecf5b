"""The two runs of ``passeur bench`` that see the pipeline's work as the engine does.

- ``plan``: no decoding; what the passeur pipeline asks its engines to decode (segments and
  summary windows, with their forced lengths), found by running the pipeline on backends
  that only count tokens. The engine-limit run decodes it; the service run did it.
- ``engine_limit``: the plan's segments straight through CTranslate2, all articles in the
  same calls, then its summary windows likewise; tokenising and detokenising are timed
  too, segmenting and planning windows are not. Rows go in groups of neighbouring forced
  lengths (as :class:`~service.measure.bench_support.ForcedLength` groups them), each group in one
  ``translate_batch`` call cut by ``max_batch_size``, the fastest of a few sizes tried on
  a sample of the segments before the timed repeats.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.engines.protocol import Generated, GenerationOptions
from service.measure.bench_setup import (
    SUMMARY_DECODING,
    RunSpec,
    articles_of,
    resolve_model,
    wired_pipeline,
)
from service.measure.bench_support import (
    STEP_OVERHEAD_ROWS,
    ForcedLength,
    ForcedStats,
    length_groups,
    output_specials,
)

__all__ = ["run_engine_limit", "run_plan"]

log = logging.getLogger("passeur.bench")

# max_batch_size (examples) tried on a sample of the segments; 0 in the spec means sweep.
ENGINE_BATCH_SIZES = (8, 16, 32, 64, 128)
SWEEP_SEGMENTS = 256


class _Recorder:
    """Decorates a backend the pipeline was given without loading it: decodes nothing,
    counts tokens with the model's tokenizer and records what it is asked (the plan run)."""

    def __init__(self, inner: Any) -> None:
        from transformers import AutoTokenizer

        self.model = inner.model
        self.random_weights = True
        path = self.model.path
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        hard_limit = int(config.get("max_position_embeddings") or 512) - 2
        # Not loaded, a backend holds the budget it was asked for (0: none), as the engine
        # would cut it to the model's positions.
        budget = int(inner.max_source_tokens or 0)
        self.max_source_tokens = min(budget or hard_limit, hard_limit)
        self.seen: list[str] = []

    def load(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        self.seen.extend(texts)
        return [Generated("", 0, True) for _ in texts]


def run_plan(spec: RunSpec) -> dict[str, Any]:
    """What the passeur pipeline decodes for these articles, and with which lengths: the
    pipeline a worker runs, wired the product's way, on recorders with forced lengths."""
    recorders: dict[str, _Recorder] = {}
    forced: dict[str, ForcedLength] = {}

    def wrap(backend: Any) -> ForcedLength:
        task = backend.model.task
        recorders[task] = _Recorder(backend)
        forced[task] = ForcedLength(recorders[task])
        return forced[task]

    pipeline = wired_pipeline(spec, wrap)
    marian, bart = recorders["translation"], recorders["summarisation"]
    translator, summariser = forced["translation"], forced["summarisation"]
    per_article = []
    for i, text in enumerate(spec.articles):
        seen = (len(marian.seen), len(bart.seen))
        [result] = pipeline.run_many(articles_of([text], i))
        if result.error:
            raise RuntimeError(f"article {i} cannot be planned: {result.error}")
        per_article.append(
            {"segments": len(marian.seen) - seen[0], "windows": len(bart.seen) - seen[1]}
        )
    segments = list(zip(marian.seen, translator.targets(marian.seen), strict=True))
    windows = list(zip(bart.seen, summariser.targets(bart.seen), strict=True))
    source_tokens = sum(translator.source_tokens(t) for t in marian.seen)
    words = sum(len(text.split()) for text in spec.articles)
    return {
        "segments": segments,
        "windows": windows,
        "per_article": per_article,
        "translation_tokens": sum(n for _, n in segments),
        "summary_tokens": sum(n for _, n in windows),
        "target_tokens": sum(n for _, n in segments) + sum(n for _, n in windows),
        "source_tokens": source_tokens,
        "source_tokens_per_word": round(source_tokens / max(words, 1), 3),
    }


def run_engine_limit(spec: RunSpec) -> dict[str, Any]:
    """The plan's work straight through CTranslate2, all articles in the same calls."""
    import ctranslate2  # type: ignore[import-untyped]

    from service.engines.ct2 import ensure_converted, load_tokenizer, thread_layout

    if spec.plan is None:
        raise ValueError("the engine_limit run needs the plan run's output")
    started = time.perf_counter()
    stages = []
    for task, items, options in (
        ("translation", spec.plan["segments"], {}),
        ("summarisation", spec.plan["windows"], SUMMARY_DECODING),
    ):
        model = resolve_model(spec, task)
        folder = ensure_converted(model, Path(spec.cache_dir), "int8")
        replicas, intra = thread_layout("cpu", spec.threads, 0)  # as the service runs it
        engine = ctranslate2.Translator(
            str(folder),
            device="cpu",
            compute_type="int8",
            intra_threads=intra,
            inter_threads=replicas,
        )
        tokenizer = load_tokenizer(model.path)
        # A forced first token (BART's <s>) is a prefix, and counts in the decoding length.
        prefix = [tokenizer.bos_token] if output_specials(model.path) > 1 else []
        stages.append((engine, tokenizer, items, options, prefix))
    load_s = time.perf_counter() - started
    stats = ForcedStats()

    def decode(
        stage: tuple[Any, ...],
        items: Sequence[Sequence[Any]],
        batch_size: int,
        stats: ForcedStats = stats,
    ) -> None:
        engine, tokenizer, _, options, prefix = stage
        ids = tokenizer([t for t, _ in items], truncation=True)["input_ids"]
        source = [tokenizer.convert_ids_to_tokens(row) for row in ids]
        targets = [int(n) for _, n in items]
        groups = length_groups(targets, STEP_OVERHEAD_ROWS)
        for group in groups:
            length = max(targets[i] for i in group) + len(prefix)
            results = engine.translate_batch(
                [source[i] for i in group],
                [list(prefix) for _ in group] if prefix else None,
                max_batch_size=batch_size,
                batch_type=spec.engine_batch_type,
                beam_size=spec.beam,
                min_decoding_length=length,
                max_decoding_length=length,
                max_input_length=0,
                **options,
            )
            for result in results:
                tokens = result.hypotheses[0][len(prefix) :]
                tokenizer.decode(tokenizer.convert_tokens_to_ids(tokens), skip_special_tokens=True)
                stats.decoded_tokens += len(tokens)
            stats.calls += 1
        stats.count(targets, groups, compacts=True)

    for stage in stages:  # warm-up
        decode(stage, stage[2][:4], 1, ForcedStats())
    batch_size, sweep = spec.engine_batch_size, dict[str, float]()
    if not batch_size:
        batch_size, sweep = _best_batch_size(stages[0], decode)
    repeats = []
    for r in range(spec.repeat):
        before = stats.to_dict()
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        for stage in stages:
            decode(stage, stage[2], batch_size)
        wall = time.perf_counter() - started
        after = stats.to_dict()
        repeats.append(
            {
                "wall_s": round(wall, 3),
                # Every article is done when the last call returns.
                "latencies_s": [round(wall, 3)] * len(spec.articles),
                "target_tokens": after["target_tokens"] - before["target_tokens"],
                "decoded_tokens": after["decoded_tokens"] - before["decoded_tokens"],
                "redecoded_rows": 0,
                "engine_calls": after["calls"] - before["calls"],
                "forced_cost_ratio": round(
                    (after["forced_cost"] - before["forced_cost"])
                    / max(after["natural_cost"] - before["natural_cost"], 1),
                    3,
                ),
                "load_average": [load_before, os.getloadavg()[0]],
            }
        )
        log.info("engine_limit: repeat %d/%d in %.1f s", r + 1, spec.repeat, wall)
    return {
        "load_s": round(load_s, 2),
        "repeats": repeats,
        "engine_batch": {
            "max_batch_size": batch_size,
            "type": spec.engine_batch_type,
            "sweep_s": sweep,
        },
    }


def _best_batch_size(stage: tuple[Any, ...], decode: Any) -> tuple[int, dict[str, float]]:
    """The fastest ``max_batch_size`` on a sample of the segments, with each one's time.
    Too few segments to fill the largest batches: the middle size, untried."""
    items = stage[2]
    if len(items) < 2 * max(ENGINE_BATCH_SIZES):
        return ENGINE_BATCH_SIZES[1], {}
    step = max(1, len(items) // SWEEP_SEGMENTS)
    sample = items[::step][:SWEEP_SEGMENTS]
    times = {}
    for size in ENGINE_BATCH_SIZES:
        started = time.perf_counter()
        decode(stage, sample, size, ForcedStats())
        times[str(size)] = round(time.perf_counter() - started, 3)
    best = min(ENGINE_BATCH_SIZES, key=lambda size: times[str(size)])
    log.info("engine_limit: max_batch_size %d (sweep %s)", best, times)
    return best, times
