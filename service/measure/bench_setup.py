"""What every in-process run of ``passeur bench`` shares: its spec, and its models built
and wired the product's way.

A backend comes from :func:`service.engines.build.make_backend` and a pipeline from
:func:`service.wiring.load_pipeline`, as in a worker; the benchmark adds only its own
wrapping (:class:`~service.measure.bench_support.ForcedLength`), through ``wrap=``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from service.measure.bench_support import ForcedLength

if TYPE_CHECKING:
    from service.articles import Article
    from service.pipeline.article import Pipeline
    from service.registry import Registry, ResolvedModel
    from service.settings import Settings

__all__ = [
    "SUMMARY_DECODING",
    "Engine",
    "RunSpec",
    "articles_of",
    "bench_registry",
    "forced_backend",
    "peak_rss_mb",
    "quiet_libraries",
    "resolve_model",
    "run_settings",
    "wired_pipeline",
]

Engine = Literal["transformers", "ctranslate2"]

# The summariser's own decoding settings (distilbart-cnn-12-6), the same for every run.
SUMMARY_DECODING: dict[str, Any] = {"no_repeat_ngram_size": 3, "length_penalty": 2.0}


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
    batch_articles: int = 8
    batch_tokens: int = 4096
    max_segment_tokens: int = 256
    engine_batch_size: int = 0  # 0: the fastest of a few, tried first
    engine_batch_type: str = "examples"
    plan: dict[str, Any] | None = None  # the plan run's output, for engine_limit


def run_settings(spec: RunSpec, backend: Engine = "ctranslate2") -> Settings:
    """The settings a worker would be given for this run: the two random models, abstractive
    summaries, ``backend`` on the CPU (CTranslate2 in int8)."""
    from service.settings import Settings

    return Settings(
        translation_model=spec.marian,
        summary_model=spec.bart,
        summary_mode="abstractive",
        backend=backend,
        compute_type="int8",
        device="cpu",
        threads=spec.threads,
        beam=spec.beam,
        batch_articles=spec.batch_articles,
        batch_tokens=spec.batch_tokens,
        max_segment_tokens=spec.max_segment_tokens,
        cache_dir=Path(spec.cache_dir),
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
    forced output lengths; loaded."""
    from service.engines.build import make_backend

    inner = make_backend(
        resolve_model(spec, task), run_settings(spec, backend), max_source_tokens=max_source_tokens
    )
    forced = ForcedLength(inner)
    forced.load()
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
