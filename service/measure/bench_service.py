"""The service run of ``passeur bench``: ``passeur serve`` as a subprocess on a temporary
SQLite store, one worker owning the threads (and the interactive worker), jobs posted over
HTTP. The server is the benchmark's own entry, :mod:`service.measure.bench_server`: the
product's ``serve`` whose workers run :mod:`service.measure.bench_worker`, the product's
worker with every backend wrapped in :class:`~service.measure.bench_support.ForcedLength`.

Throughput: ``repeat`` times, N jobs asking for abstractive summaries (the baseline's work)
are posted at once and timed until all have succeeded; a job's latency is its store
timestamps' ``finished_at - created_at``. The work of a repeat is read back from the jobs'
results (each result's ``work``: segments translated, summary windows summarised, their
target tokens), and must match what the workers report they generated meanwhile
(``/metrics``: tokens translated and summarised, read once the heartbeats count the
repeat's jobs); a figure missing from either is an error, never the plan's figure. The
decoding steps (padding included) and the forced-cost factor come from the files the bench
workers write (:mod:`service.measure.bench_worker`). Then the interactive check: a backlog of batch
jobs is queued and 100-word ``POST /v1/translate`` requests in the default summary mode are
sent one after the other; the rest of the backlog is cancelled afterwards.

The worker runs what :func:`service.engines.build.make_backend` builds from the settings
(CTranslate2 int8 here, through ``PASSEUR_BACKEND`` and ``PASSEUR_COMPUTE_TYPE``; float16 on
a GPU, ``PASSEUR_DEVICE=cuda``, with the spec's ``device``);
:func:`service_support` says what is missing before anything starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.jobs.store.base import FINAL_STATES
from service.measure.bench_setup import BenchDevice, ct2_compute_type, peak_rss_mb
from service.measure.bench_worker import PROFILE_ENV, STATS_EVERY_S, STATS_PREFIX
from service.settings import (
    DEFAULT_BATCH_ARTICLES,
    DEFAULT_BATCH_TOKENS,
    DEFAULT_SUMMARY_BATCH_TOKENS,
)

__all__ = ["ServiceSpec", "run_service", "service_support"]

log = logging.getLogger("passeur.bench")

INTERACTIVE_WORDS = 100
POLL_S = 0.5
SERVER_MODULE = "service.measure.bench_server"  # `passeur serve` with the bench's workers


@dataclass(frozen=True)
class ServiceSpec:
    marian: str
    bart: str
    cache_dir: str
    articles: list[str]
    interactive_texts: list[str]
    threads: int
    beam: int = 4
    repeat: int = 1
    batch_articles: int = DEFAULT_BATCH_ARTICLES  # the service's own defaults
    batch_tokens: int = DEFAULT_BATCH_TOKENS
    summary_batch_tokens: int = DEFAULT_SUMMARY_BATCH_TOKENS
    max_segment_tokens: int = 256
    backlog: int = 50
    profile_dir: str | None = None  # the workers run under cProfile, their stats land here
    startup_timeout_s: float = 900.0
    job_timeout_s: float = 3600.0
    device: BenchDevice = "cpu"  # cuda: the workers run CTranslate2 float16 on the GPU


def _environment(spec: ServiceSpec, workdir: Path, port: int) -> dict[str, str]:
    """The settings of the server and its workers (``PASSEUR_*``); nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSEUR_")}
    env.update(
        {
            "PASSEUR_PORT": str(port),
            "PASSEUR_WORKERS": "1",
            "PASSEUR_STORE": f"sqlite:///{workdir / 'jobs.db'}",
            "PASSEUR_TRANSLATION_MODEL": spec.marian,
            "PASSEUR_SUMMARY_MODEL": spec.bart,
            # The default: batch jobs ask for abstractive (_job), interactive ones do not.
            "PASSEUR_SUMMARY_MODE": "auto",
            "PASSEUR_BACKEND": "ctranslate2",
            "PASSEUR_COMPUTE_TYPE": ct2_compute_type(spec.device),
            "PASSEUR_DEVICE": spec.device,
            "PASSEUR_THREADS": str(spec.threads),
            "PASSEUR_BEAM": str(spec.beam),
            "PASSEUR_BATCH_TOKENS": str(spec.batch_tokens),
            "PASSEUR_SUMMARY_BATCH_TOKENS": str(spec.summary_batch_tokens),
            "PASSEUR_BATCH_ARTICLES": str(spec.batch_articles),
            "PASSEUR_CLAIM_LIMIT": str(spec.batch_articles),
            "PASSEUR_MAX_SEGMENT_TOKENS": str(spec.max_segment_tokens),
            "PASSEUR_CACHE_DIR": spec.cache_dir,
            "PASSEUR_FALLBACK_MODEL": "none",  # French articles only
            "PASSEUR_DATA_DIR": str(workdir),
            "PASSEUR_LOG_LEVEL": "WARNING",
            "PASSEUR_HEARTBEAT_S": "0.5",  # the token counts are read from heartbeats
            "HF_HUB_OFFLINE": "1",
        }
    )
    if spec.profile_dir:
        env[PROFILE_ENV] = spec.profile_dir
    return env


def service_support(device: str = "cpu") -> str | None:
    """Why a worker started with the bench environment would not run CTranslate2 (int8 on
    the CPU, float16 on a GPU), or None when it would. Constructs a backend; loads nothing."""
    import importlib.util

    if importlib.util.find_spec("ctranslate2") is None:
        return "ctranslate2 is not installed (pip install ctranslate2)"
    from service.engines.build import make_backend
    from service.engines.ct2 import CTranslate2Seq2Seq
    from service.registry import ResolvedModel
    from service.settings import Settings

    settings = Settings(backend="ctranslate2", compute_type=ct2_compute_type(device))
    probe = ResolvedModel(name="probe", task="translation", revision="0", path=Path("."))
    if not isinstance(make_backend(probe, settings, max_source_tokens=64), CTranslate2Seq2Seq):
        return "service.engines.build.make_backend does not build CTranslate2 backends"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@contextlib.contextmanager
def _serve(
    spec: ServiceSpec, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    cmd = [sys.executable, "-m", SERVER_MODULE]
    logfile = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        cmd,
        env={**_environment(spec, workdir, port), **(extra_env or {})},
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        logfile.close()


def _wait(what: str, timeout_s: float, check: Any, proc: subprocess.Popen[bytes], log_path: Path):
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"passeur serve exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            value = check()
            if value:
                return value
        time.sleep(POLL_S)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


FINAL_STATE_NAMES = frozenset(state.value for state in FINAL_STATES)


def _wait_jobs(
    client: Any, ids: Sequence[str], spec: ServiceSpec, proc: Any, log_path: Path
) -> list[dict[str, Any]]:
    """Every job of ``ids`` once terminal. Jobs run oldest first, so the last one is
    polled alone (one small request per poll: the API shares the cores with the worker)."""
    if not ids:
        return []
    _wait(
        "the jobs",
        spec.job_timeout_s,
        lambda: client.get(f"/v1/jobs/{ids[-1]}").json()["state"] in FINAL_STATE_NAMES,
        proc,
        log_path,
    )
    jobs = [client.get(f"/v1/jobs/{i}").json() for i in ids]
    while any(j["state"] not in FINAL_STATE_NAMES for j in jobs):
        time.sleep(POLL_S)
        jobs = [client.get(f"/v1/jobs/{i}").json() for i in ids]
    return jobs


_COUNTERS = {
    "succeeded": 'passeur_worker_jobs_total{outcome="succeeded"}',
    "translated": "passeur_tokens_translated_total",
    "summarised": "passeur_tokens_summarised_total",
}


def _counters(text: str) -> dict[str, float]:
    """Jobs succeeded and tokens generated, summed over the live workers, from the
    ``/metrics`` text; a figure the service does not report is an error."""
    samples = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name and not line.startswith("#"):
            samples[name] = float(value)
    missing = [name for name in _COUNTERS.values() if name not in samples]
    if missing:
        raise RuntimeError(
            f"/metrics reports no {', '.join(missing)}: the service does not say what it "
            "decoded, so its target tokens cannot be counted"
        )
    return {key: samples[name] for key, name in _COUNTERS.items()}


def _decoded_after(
    client: Any, succeeded: int, spec: ServiceSpec, proc: Any, log_path: Path
) -> dict[str, float]:
    """The counters once the workers' heartbeats count ``succeeded`` jobs (a heartbeat
    counts a job only after all its tokens)."""
    counters: dict[str, float] = {}

    def check() -> bool:
        counters.update(_counters(client.get("/metrics").text))
        return counters["succeeded"] >= succeeded

    _wait(f"heartbeats counting {succeeded} job(s)", 60.0, check, proc, log_path)
    return counters


def _run_jobs(
    client: Any,
    texts: Sequence[str],
    spec: ServiceSpec,
    proc: Any,
    log_path: Path,
    succeeded_before: int,
) -> dict[str, Any]:
    """Post ``texts`` as jobs and time them; ``succeeded_before``: jobs the workers have
    finished so far (the warm-up, earlier repeats)."""
    from service.measure.bench_report import machine_busy

    before = _decoded_after(client, succeeded_before, spec, proc, log_path)
    steps_before = _worker_stats(log_path.parent)
    busy = machine_busy()
    ids = [client.post("/v1/jobs", json=_job(t)).json()["id"] for t in texts]
    jobs = _wait_jobs(client, ids, spec, proc, log_path)
    failed = [j for j in jobs if j["state"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} job(s) did not succeed, first: {failed[0]['error']}")
    after = _decoded_after(client, succeeded_before + len(ids), spec, proc, log_path)
    if after["succeeded"] != before["succeeded"] + len(ids):
        raise RuntimeError(
            f"the workers counted {after['succeeded'] - before['succeeded']:.0f} jobs for the "
            f"{len(ids)} posted (a worker restarted?): their token counts do not add up"
        )
    reported = sum(after[k] - before[k] for k in ("translated", "summarised"))
    per_article, tokens = _work_of(jobs)
    if reported != tokens:
        raise RuntimeError(
            f"the jobs' results say {tokens} target tokens were generated, the workers' "
            f"counters {reported:.0f}: one of the two does not count what was decoded"
        )
    time.sleep(2 * STATS_EVERY_S)  # the workers' last decoding written down
    steps = {k: v - steps_before.get(k, 0) for k, v in _worker_stats(log_path.parent).items()}
    start = min(j["created_at"] for j in jobs)
    flags = [f["code"] for j in jobs for f in j["result"]["flags"]]
    return {
        "wall_s": round(max(j["finished_at"] for j in jobs) - start, 3),
        "latencies_s": [round(j["finished_at"] - j["created_at"], 3) for j in jobs],
        "target_tokens": tokens,
        "per_article": per_article,
        "decoded_tokens": steps.get("decoded_tokens"),
        "forced_cost_ratio": round(steps["forced_cost"] / max(steps["natural_cost"], 1), 3)
        if steps
        else None,
        "redecoded_rows": sum(code.startswith("repetition") for code in flags),
        "busy_before": busy,
    }


def _work_of(jobs: Sequence[dict[str, Any]]) -> tuple[list[dict[str, int]], int]:
    """Each job's segments and summary windows, and the target tokens of them all, from
    the results' ``work``; a result that does not say is an error."""
    per_article, tokens = [], 0
    for job in jobs:
        work = (job.get("result") or {}).get("work") or {}
        keys = ("segments", "translated_tokens", "summary_windows", "summary_tokens")
        if any(not isinstance(work.get(k), int) for k in keys):
            raise RuntimeError(
                f"job {job['id']}'s result does not say what was decoded (`work`: {work}): "
                "the service's work cannot be checked"
            )
        per_article.append({"segments": work["segments"], "windows": work["summary_windows"]})
        tokens += work["translated_tokens"] + work["summary_tokens"]
    return per_article, tokens


def _worker_stats(folder: Path) -> dict[str, float]:
    """What the bench workers' wrapped backends decoded so far, summed over the workers."""
    total: dict[str, float] = {}
    for path in folder.glob(f"{STATS_PREFIX}*.json"):
        with contextlib.suppress(OSError, ValueError):
            for key, value in json.loads(path.read_text(encoding="utf-8")).items():
                total[key] = total.get(key, 0) + value
    return total


def _job(text: str) -> dict[str, Any]:
    """A batch job doing the baseline's work: an abstractive summary whatever the length
    (the default, auto, gives a short article extractive bullets)."""
    return {"text": text, "options": {"summary_mode": "abstractive"}}


def _interactive(
    client: Any, spec: ServiceSpec, proc: Any, log_path: Path
) -> tuple[list[float], int, int]:
    """Latencies of the interactive requests with ``spec.backlog`` batch jobs queued, how
    many of those jobs were still queued at the end, and how many requests timed out."""
    backlog = [spec.articles[i % len(spec.articles)] for i in range(spec.backlog)]
    ids = [client.post("/v1/jobs", json=_job(t)).json()["id"] for t in backlog]
    latencies, timeouts = [], 0
    for text in spec.interactive_texts:
        started = time.perf_counter()
        answer = client.post("/v1/translate", json={"text": text}, timeout=600)
        # 504: not done within the sync timeout, and cancelled; its wait counts as it was.
        timeouts += answer.status_code == 504
        if answer.status_code not in (200, 504):
            raise RuntimeError(f"POST /v1/translate answered {answer.status_code}: {answer.text}")
        latencies.append(round(time.perf_counter() - started, 3))
    queued = sum(client.get(f"/v1/jobs/{i}").json()["state"] == "queued" for i in ids)
    for job_id in ids:
        client.delete(f"/v1/jobs/{job_id}")
    _wait_jobs(client, ids, spec, proc, log_path)
    return latencies, queued, timeouts


def run_service(spec: ServiceSpec) -> dict[str, Any]:
    """Start ``passeur serve``, time N jobs ``repeat`` times, then the interactive check."""
    import httpx

    with tempfile.TemporaryDirectory(prefix="passeur-bench-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "serve.log"
        started = time.perf_counter()
        with (
            _serve(spec, workdir) as (base, proc),
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            _wait(
                "readyz",
                spec.startup_timeout_s,
                lambda: client.get("/readyz").status_code == 200,
                proc,
                log_path,
            )
            load_s = time.perf_counter() - started
            workers = _children(proc.pid)
            warm_up = [" ".join(spec.articles[0].split()[:40])]
            _run_jobs(client, warm_up, spec, proc, log_path, succeeded_before=0)
            succeeded = len(warm_up)
            repeats = []
            for r in range(spec.repeat):
                repeats.append(_run_jobs(client, spec.articles, spec, proc, log_path, succeeded))
                succeeded += len(spec.articles)
                log.info(
                    "service: repeat %d/%d in %.1f s", r + 1, spec.repeat, repeats[-1]["wall_s"]
                )
            interactive, still_queued, timeouts = _interactive(client, spec, proc, log_path)
            peaks = [p for p in (peak_rss_mb(pid) for pid in workers) if p is not None]
            api_peak = peak_rss_mb(proc.pid)
    return {
        "load_s": round(load_s, 2),
        "repeats": repeats,
        "peak_rss_mb": max(peaks) if peaks else None,
        "api_peak_rss_mb": api_peak,
        "interactive_latencies_s": interactive,
        "interactive_backlog": spec.backlog,
        "interactive_backlog_left_queued": still_queued,
        "interactive_timeouts": timeouts,
    }


def interactive_texts(articles: Sequence[str], count: int) -> list[str]:
    """``count`` texts of 100 words, from ``articles`` in turn."""
    texts = []
    for i in range(count):
        words = articles[i % len(articles)].split()
        texts.append(" ".join(words[:INTERACTIVE_WORDS]))
    return texts
