"""What every in-process run of ``passeur bench`` shares: its spec, and its models built
and wired the product's way.

A backend comes from :func:`service.engines.build.make_backend` and a pipeline from
:func:`service.wiring.load_pipeline`, as in a worker; the benchmark adds only its own
wrapping (:class:`~service.measure.bench_support.ForcedLength`), through ``wrap=``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from service.measure.bench_support import ForcedLength
from service.settings import (
    DEFAULT_BATCH_ARTICLES,
    DEFAULT_BATCH_TOKENS,
    DEFAULT_SUMMARY_BATCH_TOKENS,
)

log = logging.getLogger("passeur.bench")

if TYPE_CHECKING:
    from service.articles import Article
    from service.pipeline.article import Pipeline
    from service.registry import Registry, ResolvedModel
    from service.settings import Settings

__all__ = [
    "SUMMARY_DECODING",
    "BenchDevice",
    "Engine",
    "RunSpec",
    "articles_of",
    "bench_registry",
    "ct2_compute_type",
    "forced_backend",
    "peak_gpu_mb",
    "peak_rss_mb",
    "quiet_libraries",
    "resolve_model",
    "repeat_timed",
    "run_settings",
    "torch_dtype",
    "wired_pipeline",
]

Engine = Literal["transformers", "ctranslate2"]

# The summariser's own decoding settings (distilbart-cnn-12-6), the same for every run.
SUMMARY_DECODING: dict[str, Any] = {"no_repeat_ngram_size": 3, "length_penalty": 2.0}

# Where the benchmark runs (`passeur bench --device`). Not the settings' "auto": a report
# must say what it measured, and a GPU run must fail at once where there is none.
BenchDevice = Literal["cpu", "cuda"]


def ct2_compute_type(device: str) -> Literal["int8", "float16"]:
    """The CTranslate2 compute type of every CTranslate2 run on ``device``: int8 on the CPU,
    float16 on a GPU (the product's own defaults for each, ``compute_type`` auto)."""
    return "float16" if device == "cuda" else "int8"


def torch_dtype(device: str) -> Literal["float32", "float16"]:
    """The precision of the transformers runs on ``device``: float32 on the CPU (where
    float16 is slower), float16 on a GPU, as an expert runs it there."""
    return "float16" if device == "cuda" else "float32"


@dataclass(frozen=True)
class RunSpec:
    """What one run needs; written as JSON for the child process."""

    run: str
    marian: str
    bart: str
    cache_dir: str
    articles: list[str]
    threads: int
    beam: int = 4
    repeat: int = 1
    batch_articles: int = DEFAULT_BATCH_ARTICLES  # the service's own defaults
    batch_tokens: int = DEFAULT_BATCH_TOKENS
    summary_batch_tokens: int = DEFAULT_SUMMARY_BATCH_TOKENS
    max_segment_tokens: int = 256
    engine_batch_size: int = 0  # 0: the fastest of a few, tried first
    engine_batch_type: str = "examples"
    baseline_budget: int = 0  # padded tokens per transformers batch; 0: swept first
    scaling_lengths: tuple[int, ...] | list[int] = ()  # article lengths (words) for scaling
    short_sweep: bool = False  # --quick: two points per sweep, not the whole range
    plan: dict[str, Any] | None = None  # the plan run's output, for engine_limit
    device: BenchDevice = "cpu"

    @property
    def compute_type(self) -> Literal["int8", "float16"]:
        """The CTranslate2 compute type of this run (:func:`ct2_compute_type`)."""
        return ct2_compute_type(self.device)


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


def _no_sync() -> None:
    pass


def repeat_timed(
    spec: RunSpec,
    backends: Sequence[ForcedLength],
    process: Callable[[Sequence[str], Callable[[int], None]], None],
    *,
    warm_up: bool = True,
    synchronise: Callable[[], None] = _no_sync,
) -> list[dict[str, Any]]:
    """Warm up (unless the run did), then run ``process(articles, done)`` ``spec.repeat``
    times; ``done(k)`` marks the next ``k`` articles finished. ``synchronise()`` is called
    before the clock is read (:func:`device_synchroniser`)."""
    from service.measure.bench_report import machine_busy

    if warm_up:
        process([_warmup_text(spec.articles)], lambda k: None)
    repeats = []
    for r in range(spec.repeat):
        before = [b.stats.to_dict() for b in backends]
        latencies: list[float] = []
        busy = machine_busy()
        synchronise()
        started = time.perf_counter()

        def done(k: int, started: float = started, latencies: list[float] = latencies) -> None:
            synchronise()
            latencies.extend([time.perf_counter() - started] * k)

        process(spec.articles, done)
        synchronise()
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
                "busy_before": busy,
            }
        )
        log.info("%s: repeat %d/%d in %.1f s", spec.run, r + 1, spec.repeat, wall)
    return repeats


def device_synchroniser(spec: RunSpec, engine: Engine) -> Callable[[], None]:
    """What to call before reading the clock in a run of ``engine``: on a GPU, torch's
    ``cuda.synchronize`` (its kernels run after the call that queues them returns);
    nothing on the CPU, nor for CTranslate2, whose calls return their results."""
    if spec.device != "cuda" or engine != "transformers":
        return _no_sync
    import torch

    return torch.cuda.synchronize


def peak_gpu_mb() -> float | None:
    """The most GPU memory torch's allocator held in this process, in MB (None when torch
    has not been imported or sees no GPU). CTranslate2 allocates outside torch: it has no
    such figure."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def run_settings(spec: RunSpec, backend: Engine = "ctranslate2") -> Settings:
    """The settings a worker would be given for this run: the two random models, abstractive
    summaries, ``backend`` on the run's device (CTranslate2 in int8 on the CPU, float16 on
    a GPU: :func:`ct2_compute_type`)."""
    from service.settings import Settings

    return Settings(
        translation_model=spec.marian,
        summary_model=spec.bart,
        summary_mode="abstractive",
        backend=backend,
        compute_type=spec.compute_type,
        device=spec.device,
        threads=spec.threads,
        beam=spec.beam,
        batch_articles=spec.batch_articles,
        batch_tokens=spec.batch_tokens,
        summary_batch_tokens=spec.summary_batch_tokens,
        max_segment_tokens=spec.max_segment_tokens,
        cache_dir=Path(spec.cache_dir),
        fallback_model="none",  # French articles only: no multilingual model to load
    )


def bench_registry(spec: RunSpec) -> Registry:
    """An empty registry over the run's cache: the benchmark names its models by folder."""
    from service.registry import Registry

    return Registry([], Path(spec.cache_dir))


def resolve_model(spec: RunSpec, task: str) -> ResolvedModel:
    """The run's model for ``task`` (``translation`` or ``summarisation``)."""
    path = spec.marian if task == "translation" else spec.bart
    return bench_registry(spec).resolve(path, task)


def forced_backend(
    spec: RunSpec, backend: Engine, task: str, max_source_tokens: int | None
) -> ForcedLength:
    """The run's model for ``task`` on ``backend``, built as the product builds it, with
    forced output lengths; loaded. transformers on a GPU runs in float16 (:func:`torch_dtype`):
    the product's backend loads float32, which no one runs on a GPU for speed."""
    from service.engines.build import make_backend

    inner = make_backend(
        resolve_model(spec, task), run_settings(spec, backend), max_source_tokens=max_source_tokens
    )
    forced = ForcedLength(inner)
    forced.load()
    if backend == "transformers" and torch_dtype(spec.device) == "float16":
        forced.inner._model = forced.inner._model.half()  # loaded on the GPU already
    return forced


def wired_pipeline(spec: RunSpec, wrap: Callable[[Any], Any]) -> Pipeline:
    """The pipeline a CTranslate2 worker would run for this spec, every backend decorated by
    ``wrap`` (:func:`service.wiring.load_pipeline`, the one place that wires a pipeline)."""
    from service.wiring import load_pipeline, plan_models

    settings = run_settings(spec)
    registry = bench_registry(spec)
    return load_pipeline(settings, plan_models(settings, registry), registry, wrap=wrap)


def articles_of(texts: Sequence[str], first: int = 0) -> list[Article]:
    """French articles ``a<first>``, ``a<first + 1>``, ... of ``texts``."""
    from service.articles import Article

    return [Article(f"a{first + i}", text, None, "fr") for i, text in enumerate(texts)]


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a process (``VmHWM``), in MB; None where /proc is missing."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def quiet_libraries() -> None:
    """Whole articles are counted in tokens on purpose: not worth a warning each time."""
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # read at its first import
    logging.getLogger("transformers").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
