"""The two runs of ``passeur bench`` that see the pipeline's work as the engine does.

- ``plan``: no decoding; what the passeur pipeline asks its engines to decode (segments and
  summary windows, with their forced lengths), found by running the pipeline on backends
  that only count tokens. The engine-limit run decodes it; the service run did it.
- ``engine_limit``: the plan's segments straight through CTranslate2, all articles in the
  same calls, then its summary windows likewise; tokenising and detokenising are timed
  too, segmenting and planning windows are not. Rows go in groups of neighbouring forced
  lengths (as :class:`~service.measure.bench_support.ForcedLength` groups them), each group in one
  ``translate_batch`` call cut by ``max_batch_size`` (and at least in as many parts as there
  are replicas, as the service's backend cuts it). Before the timed repeats, each model
  is swept on samples of its own work over every pair of thread layout (replicas × threads
  per replica, every split of the threads) and ``max_batch_size`` (1 to 128): the best
  batch size depends on the layout (the 57 summary windows of the 50-article run: 72 s on
  two single-threaded replicas of 2 windows, 96 s on one two-threaded replica of 16), so
  the two are not chosen one after the other. Each model keeps its fastest point (``sweep`` in the
  record: milliseconds per target token of every point tried).

On a GPU (``device`` cuda) CTranslate2 runs in float16 on one replica, as the service runs
it (:func:`service.engines.ct2.thread_layout`): no layouts to sweep, and batch sizes up to
512 (:func:`engine_batch_sizes`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.engines.ct2 import thread_layout, usable_cores
from service.engines.memory import limit_malloc_arenas
from service.engines.protocol import Generated, GenerationOptions
from service.measure.bench_report import machine_busy
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
    swept_best,
)

__all__ = [
    "engine_batch_sizes",
    "run_engine_limit",
    "run_plan",
    "sweep_points",
    "thread_layouts",
]

log = logging.getLogger("passeur.bench")

# max_batch_size (examples) tried per model; 0 in the spec means sweep.
ENGINE_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
SHORT_BATCH_SIZES = (8, 32)  # --quick
# On a GPU, larger batches too: a starting point for the first GPU run, not measured.
GPU_ENGINE_BATCH_SIZES = (*ENGINE_BATCH_SIZES, 256, 512)
GPU_SHORT_BATCH_SIZES = (32, 128)  # --quick
SWEEP_MIN_ROWS = 16  # a point decodes max(this, 2 x its batch size) rows of the sample


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


def thread_layouts(threads: int, device: str = "cpu") -> list[tuple[int, int]]:
    """Every ``(replicas, threads per replica)`` that uses ``threads`` exactly; on a GPU
    only the service's own, one replica (:func:`service.engines.ct2.thread_layout`)."""
    if device != "cpu":
        return [thread_layout(device, threads, 0)]
    return [(r, threads // r) for r in range(1, threads + 1) if threads % r == 0]


def engine_batch_sizes(device: str, short: bool) -> tuple[int, ...]:
    """The ``max_batch_size`` values the sweep tries on ``device`` (``short``: --quick)."""
    if device == "cuda":
        return GPU_SHORT_BATCH_SIZES if short else GPU_ENGINE_BATCH_SIZES
    return SHORT_BATCH_SIZES if short else ENGINE_BATCH_SIZES


def sweep_points(
    threads: int, sizes: Sequence[int], rows: int, device: str = "cpu"
) -> list[tuple[tuple[int, int], int]]:
    """Every ``(layout, max_batch_size)`` worth timing for a model with ``rows`` rows of
    work, layout by layout (one engine loaded at a time). Sizes past what a replica can be
    given (its share of all the rows) decode the same batches: only the first is kept."""
    points = []
    for layout in thread_layouts(threads, device):
        per_replica = max(1, -(-rows // layout[0]))
        seen: set[int] = set()
        for size in sizes:
            if min(size, per_replica) not in seen:
                seen.add(min(size, per_replica))
                points.append((layout, size))
    return points


class _Stage:
    """One model of the engine-limit run: its work, its tokenizer, its loaded engines."""

    def __init__(self, spec: RunSpec, task: str, items: Sequence[Sequence[Any]]) -> None:
        from service.engines.ct2 import ensure_converted, load_tokenizer

        self.spec = spec
        self.task = task
        self.items = items
        self.options = SUMMARY_DECODING if task == "summarisation" else {}
        model = resolve_model(spec, task)
        self.folder = ensure_converted(model, Path(spec.cache_dir), spec.compute_type)
        self.tokenizer = load_tokenizer(model.path)
        # A forced first token (BART's <s>) is a prefix, and counts in the decoding length.
        self.prefix = [self.tokenizer.bos_token] if output_specials(model.path) > 1 else []
        self._engines: dict[tuple[int, int], Any] = {}
        self.layout = thread_layouts(spec.threads, spec.device)[0]
        self.batch_size = spec.engine_batch_size or engine_batch_sizes(spec.device, short=False)[-1]

    def engine(self, layout: tuple[int, int]) -> Any:
        import ctranslate2  # type: ignore[import-untyped]

        if layout not in self._engines:
            self._engines.clear()  # one loaded at a time: memory is the service's too
            # As the service's backend does before its replicas start (service.engines.ct2):
            # without it each replica thread keeps a malloc arena of its own (memory, not
            # speed: the summaries of 50 articles took 68.9 s without, 75.3 s with).
            limit_malloc_arenas(usable_cores())
            self._engines[layout] = ctranslate2.Translator(
                str(self.folder),
                device=self.spec.device,
                compute_type=self.spec.compute_type,
                inter_threads=layout[0],
                intra_threads=layout[1],
            )
        return self._engines[layout]

    def decode(
        self, items: Sequence[Sequence[Any]], stats: ForcedStats, layout: tuple[int, int], size: int
    ) -> None:
        engine, tokenizer, prefix = self.engine(layout), self.tokenizer, self.prefix
        ids = tokenizer([t for t, _ in items], truncation=True)["input_ids"]
        source = [tokenizer.convert_ids_to_tokens(row) for row in ids]
        targets = [int(n) for _, n in items]
        groups = length_groups(targets, STEP_OVERHEAD_ROWS)
        for group in groups:
            # The steps transformers decodes: the target, the prefix and one for </s>
            # (CTranslate2 decodes a token in its place; see bench_support).
            length = max(targets[i] for i in group) + len(prefix) + 1
            # Each call's rows cut over the replicas, as the service's backend does: a group
            # smaller than a batch would otherwise leave all replicas but one idle.
            per_replica = -(-len(group) // layout[0])
            results = engine.translate_batch(
                [source[i] for i in group],
                [list(prefix) for _ in group] if prefix else None,
                max_batch_size=max(1, min(size, per_replica)),
                batch_type=self.spec.engine_batch_type,
                beam_size=self.spec.beam,
                min_decoding_length=length,
                max_decoding_length=length,
                max_input_length=0,
                **self.options,
            )
            for result in results:
                tokens = result.hypotheses[0]
                tokenizer.decode(
                    tokenizer.convert_tokens_to_ids(tokens[len(prefix) :]),
                    skip_special_tokens=True,
                )
                stats.decoded_tokens += len(tokens)
            stats.calls += 1
        stats.count(targets, groups, compacts=True)

    def sweep(self) -> dict[str, float]:
        """Pick this model's layout and batch size together, on samples of its work; the
        milliseconds per target token of each point tried."""
        times: dict[str, float] = {}

        def point_ms(layout: tuple[int, int], size: int) -> float:
            rows = max(SWEEP_MIN_ROWS, 2 * size)
            step = max(1, len(self.items) // rows)
            sample = list(self.items[::step][:rows])
            tokens = sum(int(n) for _, n in sample) or 1
            self.decode(sample[:2], ForcedStats(), layout, size)  # a fresh engine warms up
            began = time.perf_counter()
            self.decode(sample, ForcedStats(), layout, size)
            ms = round((time.perf_counter() - began) / tokens * 1000, 3)
            times[f"{layout[0]}x{layout[1]} batch {size}"] = ms
            return ms

        if self.spec.engine_batch_size:
            sizes: Sequence[int] = [self.spec.engine_batch_size]
        else:
            sizes = engine_batch_sizes(self.spec.device, self.spec.short_sweep)
        points = sweep_points(self.spec.threads, sizes, len(self.items), self.spec.device)
        timed = {point: point_ms(*point) for point in points}
        self.layout, self.batch_size = min(timed, key=lambda p: timed[p])
        if not (self.spec.engine_batch_size or self.spec.short_sweep):
            # The fastest size at the top of the range (translation's 128 on 2026-12-02,
            # 2.88 ms a target token against 3.04 at 64): on past it while faster, up to a
            # replica's share of the rows (larger sizes decode the same batches).
            layout = self.layout
            share = max(1, -(-len(self.items) // layout[0]))
            known = {size: ms for (lay, size), ms in timed.items() if lay == layout}
            self.batch_size, _ = swept_best(
                list(known),
                lambda size: point_ms(layout, size),
                low=1,
                high=2 * share - 1,
                known=known,
            )
        log.info(
            "engine_limit %s: %dx%d threads, max_batch_size %d (ms per target token: %s)",
            self.task,
            *self.layout,
            self.batch_size,
            times,
        )
        return times


def run_engine_limit(spec: RunSpec) -> dict[str, Any]:
    """The plan's work straight through CTranslate2, all articles in the same calls."""
    if spec.plan is None:
        raise ValueError("the engine_limit run needs the plan run's output")
    started = time.perf_counter()
    stages = [
        _Stage(spec, "translation", spec.plan["segments"]),
        _Stage(spec, "summarisation", spec.plan["windows"]),
    ]
    load_s = time.perf_counter() - started
    sweeps = {stage.task: stage.sweep() for stage in stages}
    # Both models loaded as they run, for the timed repeats and the peak memory.
    for stage in stages:
        stage.decode(stage.items[:2], ForcedStats(), stage.layout, stage.batch_size)
    stats = ForcedStats()
    repeats = []
    for r in range(spec.repeat):
        before = stats.to_dict()
        busy = machine_busy()
        began = time.perf_counter()
        for stage in stages:
            stage.decode(stage.items, stats, stage.layout, stage.batch_size)
        wall = time.perf_counter() - began
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
                "busy_before": busy,
            }
        )
        log.info("engine_limit: repeat %d/%d in %.1f s", r + 1, spec.repeat, wall)
    return {
        "load_s": round(load_s, 2),
        "repeats": repeats,
        "engine_batch": {
            stage.task: {
                "replicas": stage.layout[0],
                "threads_per_replica": stage.layout[1],
                "max_batch_size": stage.batch_size,
                "type": spec.engine_batch_type,
                "sweep_ms_per_target_token": sweeps[stage.task],
            }
            for stage in stages
        },
    }
