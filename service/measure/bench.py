"""``passeur bench``: Passeur against the alternatives, side by side, on random-weight
models with the exact shapes of the real ones (a benchmark, not a test).

The runs share the articles, the thread count, the beam (4), the forced lengths and the
work: the segments and summary windows the pipeline makes (the ``plan``), token for token;
a run that decodes other work is refused (:func:`service.measure.bench_report.check_work`).

- ``baseline``: transformers float32 as an expert writes it for throughput (everything
  sorted by length, batched under a swept token budget);
- ``baseline-int8``: the same after torch's dynamic int8 quantisation;
- ``naive``: transformers float32, one article at a time, in article order;
- ``peer``: CTranslate2 int8, one article at a time;
- ``inprocess``: the batch script's path (``Pipeline.run_many``), CTranslate2 int8;
- ``service``: ``passeur serve`` with one worker, N jobs over HTTP;
- ``engine_limit``: the same work in the fewest CTranslate2 calls, batch size and thread
  layout swept per model.

With ``device`` cuda (``passeur bench --device cuda``, :func:`cuda_missing` first) every
CTranslate2 run is float16 on the GPU, the transformers runs float16 too, the batch budgets
larger (:func:`device_budgets`), and ``baseline-int8`` is skipped: torch's dynamic int8
quantisation has CPU kernels only.

Output lengths are forced (:mod:`service.measure.bench_support`) by the benchmark's own
wrapping of the backends the product builds. In-process runs each get a fresh process
(:mod:`service.measure.bench_runs`), so each peak memory is its own; the service run is in
:mod:`service.measure.bench_service`, the report in :mod:`service.measure.bench_report`.
This process imports neither torch nor CTranslate2.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.errors import ConfigError, InputError
from service.measure.bench_baseline import int8_unsupported
from service.measure.bench_profile import profile_summary
from service.measure.bench_report import (
    BUSY_SAMPLE_S,
    IDLE_BUSY_CORES,
    brief,
    check_work,
    format_table,
    machine,
    machine_busy,
    ratios,
    summarise_run,
)
from service.measure.bench_setup import BenchDevice, RunSpec, quiet_libraries, torch_dtype
from service.measure.data import EVAL_DATA_ENV, eval_data_dir
from service.measure.devmodels import Size
from service.settings import (
    DEFAULT_BATCH_ARTICLES,
    DEFAULT_BATCH_TOKENS,
    DEFAULT_SUMMARY_BATCH_TOKENS,
    default_models_dir,
)

if TYPE_CHECKING:
    from service.measure.bench_service import ServiceSpec

# format_table comes with the report (bench_report); `passeur bench` prints it from here.
__all__ = [
    "GPU_BATCH_TOKENS",
    "GPU_SUMMARY_BATCH_TOKENS",
    "RUN_NAMES",
    "BenchOptions",
    "CudaVisibility",
    "bench_models",
    "cuda_missing",
    "cuda_missing_reason",
    "device_budgets",
    "format_table",
    "load_articles",
    "run_bench",
    "run_spec",
    "service_spec",
    "unsupported",
]

log = logging.getLogger("passeur.bench")

# The runs the targets compare come first: a long run stopped half-way keeps them.
RUN_NAMES = (
    "service",
    "engine_limit",
    "baseline",
    "baseline-int8",
    "inprocess",
    "peer",
    "naive",
)
# Runs kept for context only (no target compares them): repeated at most ``context_repeat``
# times. The naive loop takes about 24 minutes a repeat on 50 articles on 2 cores, so three
# repeats of it would push the default run past three hours.
CONTEXT_RUNS = frozenset({"naive"})
PLANNED = frozenset(RUN_NAMES) - {"inprocess", "service"}  # runs that decode the plan
IDLE_WAIT_S = 60.0  # how long a run waits for the machine to become idle
QUICK_IDLE_WAIT_S = 5.0
QUICK_ARTICLES = 3
QUICK_WORDS = 150  # quick articles are cut to their first words: a smoke check, not figures
QUICK_INTERACTIVE = 2
ORANGESUM = Path("fr_news_orangesum") / "summaries_abstracts_source_documents.txt"
_TOKENIZER_ARTICLES_FROM = 1000  # OrangeSum articles used to train the tokenizers: the tail
# The service's and inprocess's batch budgets on a GPU when none is given: four times the
# CPU defaults, which are sized for two cores' memory and caches. A starting point for the
# first GPU run, not measured.
GPU_BATCH_TOKENS = 4 * DEFAULT_BATCH_TOKENS
GPU_SUMMARY_BATCH_TOKENS = 4 * DEFAULT_SUMMARY_BATCH_TOKENS
CUDA_PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class BenchOptions:
    """What ``passeur bench`` runs; see ``passeur bench --help``."""

    articles: int = 50
    repeat: int = 3
    context_repeat: int = 1  # repeats of the runs kept for context (CONTEXT_RUNS)
    threads: int = 0  # 0: every core this process may use
    runs: tuple[str, ...] = RUN_NAMES
    size: Size = "full"
    models_dir: Path = field(default_factory=lambda: default_models_dir() / "bench")
    data: Path | None = None
    beam: int = 4
    max_words: int | None = None  # cut every article to its first words
    interactive: int = 40  # requests: a p95 over 10 is their maximum
    backlog: int = 50
    batch_articles: int = DEFAULT_BATCH_ARTICLES  # the service's own defaults
    batch_tokens: int = DEFAULT_BATCH_TOKENS
    summary_batch_tokens: int = DEFAULT_SUMMARY_BATCH_TOKENS
    engine_batch_size: int = 0  # 0: tried on a sample of the segments
    engine_batch_type: str = "examples"
    baseline_budget: int = 0  # 0: swept on a sample first
    isolate: bool = True  # each in-process run in a fresh process
    profile: Path | None = None  # a folder: the service's workers are profiled into it
    idle_wait_s: float = IDLE_WAIT_S  # how long each run waits for an idle machine
    short_sweep: bool = False  # two points per sweep (--quick)
    # cuda: CTranslate2 and transformers in float16 on the GPU. The budgets above stay the
    # CPU's unless given: device_budgets() has the GPU's (`passeur bench` applies them).
    device: BenchDevice = "cpu"

    @classmethod
    def quick(cls, **overrides: Any) -> BenchOptions:
        """A smoke check: a few short articles, one repeat, a short interactive check
        (behind one queued job)."""
        articles = overrides.pop("articles", None) or QUICK_ARTICLES
        return cls(
            articles=articles,
            repeat=1,
            max_words=QUICK_WORDS,
            interactive=QUICK_INTERACTIVE,
            backlog=1,
            short_sweep=True,
            idle_wait_s=overrides.pop("idle_wait_s", QUICK_IDLE_WAIT_S),
            **overrides,
        )


def device_budgets(device: str) -> dict[str, int]:
    """The batch budgets a run on ``device`` takes when none is given, as BenchOptions
    fields: none on the CPU (the service's own defaults), larger ones on a GPU."""
    if device != "cuda":
        return {}
    return {"batch_tokens": GPU_BATCH_TOKENS, "summary_batch_tokens": GPU_SUMMARY_BATCH_TOKENS}


def unsupported(run: str, device: str) -> str | None:
    """Why ``run`` cannot run on ``device`` (it is reported skipped), or None."""
    return int8_unsupported(device) if run == "baseline-int8" else None


@dataclass(frozen=True)
class CudaVisibility:
    """What the libraries see: whether torch has a CUDA device, how many CTranslate2 has
    (None: the library is not installed), and what went wrong asking."""

    torch: bool | None
    ctranslate2: int | None
    error: str | None = None
    gpu: str | None = None  # torch's name for device 0, for the report


_CUDA_PROBE = """
import json
seen = {"torch": None, "ctranslate2": None, "error": None, "gpu": None}
try:
    import torch
    seen["torch"] = bool(torch.cuda.is_available())
    if seen["torch"]:
        seen["gpu"] = torch.cuda.get_device_name(0)
except ImportError:
    pass
except Exception as exc:
    seen["torch"], seen["error"] = False, f"torch: {exc}"
try:
    import ctranslate2
    seen["ctranslate2"] = int(ctranslate2.get_cuda_device_count())
except ImportError:
    pass
except Exception as exc:
    seen["ctranslate2"], seen["error"] = 0, f"ctranslate2: {exc}"
print(json.dumps(seen))
"""


@functools.lru_cache(maxsize=1)
def cuda_visibility() -> CudaVisibility:
    """Ask torch and CTranslate2 whether they see a CUDA device, in a child process: this
    one imports neither (module doc). Asked once per process."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CUDA_PROBE],
            capture_output=True,
            text=True,
            timeout=CUDA_PROBE_TIMEOUT_S,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        return CudaVisibility(False, 0, f"asking them failed: {exc}")
    try:
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        return CudaVisibility(seen["torch"], seen["ctranslate2"], seen["error"], seen["gpu"])
    except (ValueError, IndexError, KeyError, TypeError):
        tail = done.stderr.strip()[-300:] or f"exit {done.returncode}"
        return CudaVisibility(False, 0, f"asking them failed: {tail}")


def cuda_missing_reason(seen: CudaVisibility) -> str | None:
    """Why ``--device cuda`` cannot run given what the libraries see, naming what is missing
    and the fix; None when both torch and CTranslate2 see a CUDA device."""
    missing = []
    if seen.torch is None:
        missing.append("torch is not installed")
    elif not seen.torch:
        missing.append("torch sees no CUDA device (torch.cuda.is_available() is False)")
    if seen.ctranslate2 is None:
        missing.append("ctranslate2 is not installed")
    elif seen.ctranslate2 < 1:
        missing.append("CTranslate2 sees no CUDA device (ctranslate2.get_cuda_device_count() is 0)")
    if not missing:
        return None
    return (
        "--device cuda needs a CUDA device visible to both torch and CTranslate2: "
        + "; ".join(missing)
        + (f" ({seen.error})" if seen.error else "")
        + ". Fix: run on a machine with an NVIDIA GPU whose driver works (nvidia-smi lists "
        "it; CUDA_VISIBLE_DEVICES does not hide it), with the CUDA build of torch (`make gpu`) "
        "and a ctranslate2 wheel built with CUDA; or leave out --device cuda to run on the CPU"
    )


def cuda_missing() -> str | None:
    """Why ``--device cuda`` cannot run on this machine, or None when it can."""
    return cuda_missing_reason(cuda_visibility())


def load_articles(path: Path, count: int, *, skip: int = 0) -> list[str]:
    """Articles ``skip`` to ``skip + count`` of ``path``: one article a line, or JSONL
    objects with a ``text`` field."""
    if not path.is_file():
        raise InputError(
            f"no such file: {path}; pass --data FILE (one article a line, or JSONL with "
            f"`text`) or set {EVAL_DATA_ENV} to the folder holding {ORANGESUM}"
        )
    texts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                text = json.loads(line).get("text")
            except (ValueError, AttributeError) as exc:
                raise InputError(f"{path} line {number}: not a JSON object with `text`") from exc
            if not isinstance(text, str):
                raise InputError(f"{path} line {number}: `text` must be a string")
            line = text
        texts.append(line.strip())
    texts = texts[skip : skip + count]
    if len(texts) < count and skip == 0:
        raise InputError(f"{path} holds {len(texts)} articles, fewer than the {count} asked for")
    return texts


def _lines(path: Path, start: int = 0, stop: int | None = None) -> list[str]:
    if not path.is_file():
        return []
    return [t for t in path.read_text(encoding="utf-8").splitlines()[start:stop] if t.strip()]


def _english_documents(path: Path) -> list[str]:
    if not path.is_file():
        return []
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line)
    return [str(row.get("document", "")) for row in rows if row.get("document")]


def bench_models(models_dir: Path, size: Size, data_dir: Path) -> tuple[Path, Path]:
    """The random Marian and BART folders (built on the first call, then reused).

    Full-size tokenizers are trained on in-domain text so that token counts per sentence
    are realistic: FLORES-200 French and the tail of OrangeSum for the source side,
    FLORES-200 English and XSum documents for the English side. Tiny ones use the built-in
    sample (fast, for tests).
    """
    from service.measure.devmodels import build_bart, build_marian

    folder = models_dir.resolve() / size
    french = english = None
    if size == "full":
        french = _lines(data_dir / "flores200_devtest" / "fra_Latn.devtest") + _lines(
            data_dir / ORANGESUM, _TOKENIZER_ARTICLES_FROM
        )
        english = _lines(data_dir / "flores200_devtest" / "eng_Latn.devtest") + (
            _english_documents(data_dir / "en_summaries" / "xsum_test_1000.jsonl")
        )
        if not french or not english:
            log.warning(
                "no training text under %s: tokenizers trained on the built-in sample split "
                "words about twice as finely as the real ones (set %s)",
                data_dir,
                EVAL_DATA_ENV,
            )
            french = english = None
    started = time.perf_counter()
    marian = build_marian(
        folder / "opus-mt-fr-en", size=size, source_texts=french, target_texts=english
    )
    bart = build_bart(folder / "distilbart-cnn-12-6", size=size, texts=english)
    log.info("bench models ready in %.1f s under %s", time.perf_counter() - started, folder)
    return marian, bart


def _child(spec: RunSpec, isolate: bool) -> dict[str, Any]:
    """One run, in a fresh process (``isolate``) or in this one."""
    if not isolate:
        from service.measure.bench_runs import execute

        return execute(spec)
    with tempfile.TemporaryDirectory(prefix="passeur-bench-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(asdict(spec), ensure_ascii=False), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSEUR_")}
        env["PASSEUR_BENCH_LOG_LEVEL"] = logging.getLevelName(logging.getLogger().level)
        cmd = [sys.executable, "-m", "service.measure.bench_runs", str(spec_path), str(out_path)]
        done = subprocess.run(cmd, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the {spec.run} run failed (exit {done.returncode}); see above")
        result: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
        return result


def _wait_for_idle(limit_s: float = IDLE_WAIT_S) -> dict[str, Any]:
    """Wait until the machine is idle (others use under ``IDLE_BUSY_CORES``), at most
    ``limit_s``; what was seen, for the report."""
    waited = 0.0
    busy = machine_busy()
    while busy is not None and busy > IDLE_BUSY_CORES and waited < limit_s:
        waited += BUSY_SAMPLE_S
        busy = machine_busy()
    idle = busy is None or busy <= IDLE_BUSY_CORES
    if not idle:
        log.warning(
            "the machine is busy (%.2f cores used by others after %.0f s): the next run's "
            "figures will be low",
            busy,
            waited,
        )
    return {"idle": idle, "busy_cores": busy, "waited_s": waited, "load_average": os.getloadavg()}


def run_spec(options: BenchOptions, articles: list[str], marian: Path, bart: Path) -> RunSpec:
    """The spec every run of these options shares, as ``plan``, for models already built."""
    return RunSpec(
        run="plan",
        marian=str(marian),
        bart=str(bart),
        cache_dir=str(options.models_dir.resolve() / "cache"),
        articles=articles,
        threads=options.threads or len(os.sched_getaffinity(0)),
        beam=options.beam,
        repeat=options.repeat,
        batch_articles=options.batch_articles,
        batch_tokens=options.batch_tokens,
        summary_batch_tokens=options.summary_batch_tokens,
        engine_batch_size=options.engine_batch_size,
        engine_batch_type=options.engine_batch_type,
        baseline_budget=options.baseline_budget,
        short_sweep=options.short_sweep,
        device=options.device,
    )


def _base_spec(options: BenchOptions, articles: list[str], data_dir: Path) -> RunSpec:
    """The spec every run of these options shares (the models built first), as ``plan``."""
    marian, bart = bench_models(options.models_dir, options.size, data_dir)
    return run_spec(options, articles, marian, bart)


def service_spec(options: BenchOptions, base: RunSpec, interactive: Sequence[str]) -> ServiceSpec:
    """The service run's spec: ``base``'s models, articles, threads and device, the options'
    batch budgets, ``interactive`` texts for the interactive check."""
    from service.measure.bench_service import ServiceSpec, interactive_texts

    return ServiceSpec(
        marian=base.marian,
        bart=base.bart,
        cache_dir=base.cache_dir,
        articles=base.articles,
        interactive_texts=interactive_texts(interactive, options.interactive),
        threads=base.threads,
        beam=options.beam,
        repeat=options.repeat,
        batch_articles=options.batch_articles,
        batch_tokens=options.batch_tokens,
        summary_batch_tokens=options.summary_batch_tokens,
        backlog=options.backlog,
        profile_dir=str(options.profile.resolve()) if options.profile else None,
        device=options.device,
    )


def run_scaling(options: BenchOptions, lengths: Sequence[int], queue_jobs: int) -> dict[str, Any]:
    """``passeur bench --scaling``: cost against article length, and the queue's ceiling
    (:mod:`service.measure.bench_scaling`); the plot is written by the caller."""
    from service.measure.bench_scaling import queue_ceiling

    if options.device != "cpu":
        raise ConfigError("--scaling measures the CPU only: leave out --device cuda")
    quiet_libraries()
    started = time.perf_counter()
    data_dir = eval_data_dir()
    data = options.data or data_dir / ORANGESUM
    needed = max(lengths)
    texts: list[str] = []
    skip = 0
    while sum(len(t.split()) for t in texts) < needed + 100:
        batch = load_articles(data, 50, skip=skip)
        if not batch:
            raise InputError(f"{data} holds fewer than {needed} words of articles")
        texts += batch
        skip += len(batch)
    spec = replace(
        _base_spec(options, texts, data_dir), run="scaling", scaling_lengths=tuple(lengths)
    )
    threads, marian, bart, cache = spec.threads, spec.marian, spec.bart, spec.cache_dir
    report: dict[str, Any] = {"machine": machine()}
    report["config"] = {
        "data": str(data),
        "size": options.size,
        "threads": threads,
        "beam": options.beam,
        "repeat": options.repeat,
        "lengths": list(lengths),
    }
    report["idle_before"] = _wait_for_idle(options.idle_wait_s)
    report["lengths"] = _child(spec, options.isolate)
    report["queue"] = queue_ceiling(marian, bart, cache, texts, jobs=queue_jobs)
    report["duration_s"] = round(time.perf_counter() - started, 1)
    return report


def run_bench(
    options: BenchOptions, on_run: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Build the models, run the chosen runs, return the report (see the README).

    ``on_run(report)`` gets the report so far after each run (``"partial": true``), so a
    long benchmark stopped half-way keeps the runs it finished."""
    from service.measure.bench_service import run_service, service_support

    unknown = [r for r in options.runs if r not in RUN_NAMES]
    if unknown:
        raise InputError(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUN_NAMES)}")
    if options.device == "cuda":  # before anything is built
        why = cuda_missing()
        if why:
            raise ConfigError(why)
    quiet_libraries()
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": machine()}
    if options.device == "cuda":
        report["machine"]["gpu"] = cuda_visibility().gpu
    data_dir = eval_data_dir()
    data = options.data or data_dir / ORANGESUM
    articles = load_articles(data, options.articles)
    if options.max_words:
        articles = [" ".join(text.split()[: options.max_words]) for text in articles]
    extra = load_articles(data, options.interactive, skip=options.articles) or articles
    base = _base_spec(options, articles, data_dir)
    threads = base.threads
    config = {k: v for k, v in asdict(base).items() if k not in ("run", "articles", "plan")}
    context_repeat = min(options.repeat, options.context_repeat)
    report["config"] = {
        **config,
        "compute_type": base.compute_type,  # CTranslate2's, on this device
        "transformers_dtype": torch_dtype(base.device),
        "articles": len(articles),
        "data": str(data),
        "size": options.size,
        "max_words": options.max_words,
        "runs": list(options.runs),
        "context_runs": sorted(CONTEXT_RUNS & set(options.runs)),
        "context_repeat": context_repeat,
        "forced_lengths": "translation ceil(1.2 x source tokens), summary 70 per window",
    }
    log.info("planning %d articles", len(articles))
    plan = _child(base, options.isolate)
    report["plan"] = {k: v for k, v in plan.items() if k not in ("segments", "windows")}
    runs: dict[str, Any] = {}
    for name in options.runs:
        why = unsupported(name, options.device)
        if why:  # reported, as a run the machine lacks something for
            log.warning("%s run skipped: %s", name, why)
            runs[name] = {"skipped": why}
            continue
        idle = _wait_for_idle(options.idle_wait_s)
        repeat = context_repeat if name in CONTEXT_RUNS else options.repeat
        log.info("run %s: %d articles x %d, %d threads", name, len(articles), repeat, threads)
        if name == "service":
            why = service_support(options.device)
            if why:
                log.warning("service run skipped: %s", why)
                runs[name] = {"skipped": why}
                continue
            spec = service_spec(options, base, extra)
            if options.profile:
                options.profile.mkdir(parents=True, exist_ok=True)
            raw = run_service(spec)
            if options.profile:
                raw["profile"] = profile_summary(options.profile)
        else:
            spec_plan = plan if name in PLANNED else None
            raw = _child(replace(base, run=name, plan=spec_plan, repeat=repeat), options.isolate)
        check_work(name, raw, plan)
        raw["idle_before_run"] = idle
        runs[name] = summarise_run(raw, len(articles))
        log.info("run %s done: %s", name, brief(runs[name]))
        if on_run and len(runs) < len(options.runs):
            on_run({**report, "runs": dict(runs), "partial": True})
    report["runs"] = runs
    report["ratios"] = ratios(runs)
    report["duration_s"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_average_at_end"] = list(os.getloadavg())
    return report
