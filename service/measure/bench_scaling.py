"""``passeur bench --scaling``: how cost grows with the article, and where the queue stops.

- **Article length.** Articles of 100 to 10,000 words (OrangeSum articles joined, paragraph
  after paragraph, and cut at the last sentence end within the length) go one at a time
  through the batch script's pipeline (CTranslate2 int8, forced lengths, abstractive
  summaries), ``repeat`` times; the report gives, per length, the segments and summary
  windows made, the median seconds, the seconds per 1,000 words and each stage's share.
  Cost should grow linearly (segments and windows), so the seconds per 1,000 words should
  stay flat; the report says how far the longest is from the shortest-but-one.
- **The queue's ceiling.** ``passeur serve`` with 1 to 4 workers whose engines answer at
  once (:class:`~service.measure.bench_support.InstantBackend`: no model, outputs of the
  forced lengths), on SQLite and on Redis: N short jobs posted over HTTP and timed until
  all have succeeded. Jobs per second here is what the API, the store and the pipeline's
  own work allow; a real model's worker does a few articles a minute on a CPU, so the
  store is far from the limit until a deployment has many fast (GPU) workers.

A PNG plot of the first (seconds against words, with the straight line through the
second-shortest article's cost per word) is written beside the JSON report when matplotlib is
installed (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from service.measure.bench_setup import RunSpec, articles_of, wired_pipeline
from service.measure.bench_support import ForcedLength
from service.measure.bench_worker import INSTANT_ENV

__all__ = [
    "LENGTHS",
    "build_article",
    "format_scaling",
    "length_scaling",
    "plot_scaling",
    "queue_ceiling",
]

log = logging.getLogger("passeur.bench")

LENGTHS = (100, 300, 1000, 3000, 10000)
QUEUE_WORKERS = (1, 2, 3, 4)
QUEUE_JOBS = 200
QUEUE_WORDS = 120


def build_article(texts: Sequence[str], words: int) -> str:
    """An article of about ``words`` words: ``texts`` joined as paragraphs until long
    enough, cut after the last sentence end within ``words`` (or at ``words`` when none)."""
    paragraphs: list[str] = []
    count = 0
    for text in texts:
        paragraphs.append(text.strip())
        count += len(text.split())
        if count >= words:
            break
    if count < words:
        raise ValueError(f"the articles given hold {count} words, fewer than {words}")
    kept, total = [], 0
    for paragraph in paragraphs:
        tokens = paragraph.split()
        if total + len(tokens) <= words:
            kept.append(paragraph)
            total += len(tokens)
            continue
        head = " ".join(tokens[: words - total])
        end = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
        kept.append(head[: end + 1] if end > 0 else head)
        break
    return "\n\n".join(p for p in kept if p)


def length_scaling(
    spec: RunSpec, texts: Sequence[str], lengths: Sequence[int] = LENGTHS
) -> dict[str, Any]:
    """Per article length: segments, windows, median seconds and the stages' seconds."""
    forced: dict[str, ForcedLength] = {}

    def wrap(backend: Any) -> ForcedLength:
        forced[backend.model.task] = ForcedLength(backend)
        return forced[backend.model.task]

    pipeline = wired_pipeline(spec, wrap)
    [warm] = pipeline.run_many(articles_of([build_article(texts, 60)]))
    if warm.error:
        raise RuntimeError(f"the warm-up article failed: {warm.error}")
    rows: list[dict[str, Any]] = []
    for words in lengths:
        article = build_article(texts, words)
        times, stages = [], []
        result = None
        for _ in range(spec.repeat):
            began = time.perf_counter()
            [result] = pipeline.run_many(articles_of([article]))
            times.append(time.perf_counter() - began)
            if result.error:
                raise RuntimeError(f"the {words}-word article failed: {result.error}")
            stages.append(result.timings)
        assert result is not None
        seconds = statistics.median(times)
        rows.append(
            {
                "words": len(article.split()),
                "characters": len(article),
                "segments": result.work["segments"],
                "summary_windows": result.work["summary_windows"],
                "target_tokens": result.work["translated_tokens"] + result.work["summary_tokens"],
                "seconds": round(seconds, 3),
                "seconds_per_1000_words": round(seconds / len(article.split()) * 1000, 3),
                "stages_s": {
                    key: round(statistics.median(s.get(key, 0.0) for s in stages), 3)
                    for key in ("segmentation_s", "translation_s", "summarisation_s")
                },
                "repeats_s": [round(t, 3) for t in times],
            }
        )
        log.info("scaling: %d words in %.1f s", rows[-1]["words"], seconds)
    per_k = [r["seconds_per_1000_words"] for r in rows]
    # The smallest article pays fixed costs (a call per stage): compare from the second.
    growth = round(per_k[-1] / per_k[1], 3) if len(per_k) > 2 else None
    return {"rows": rows, "per_1000_words_longest_over_second": growth}


def plot_scaling(scaling: dict[str, Any], path: Path) -> Path | None:
    """Seconds against words as a PNG at ``path``; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("no plot: matplotlib is not installed (pip install -e '.[bench]')")
        return None
    rows = scaling["rows"]
    words = [r["words"] for r in rows]
    seconds = [r["seconds"] for r in rows]
    per_word = rows[1]["seconds"] / rows[1]["words"] if len(rows) > 1 else 0
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(words, seconds, "o-", label="measured (median)")
    ax.plot(words, [w * per_word for w in words], "--", label="linear from the 2nd point")
    ax.set_xlabel("article length (words)")
    ax.set_ylabel("seconds per article")
    ax.set_title("passeur: cost against article length")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class QueueSpec:
    marian: str
    bart: str
    cache_dir: str
    texts: list[str]
    workers: int
    store: str  # "sqlite" or a redis:// URL
    timeout_s: float = 600.0


def _redis_url() -> tuple[str | None, subprocess.Popen[bytes] | None]:
    """A Redis to measure on: PASSEUR_TEST_REDIS_URL, else a redis-server started on a free
    port for the run, else none."""
    url = os.environ.get("PASSEUR_BENCH_REDIS_URL") or os.environ.get("PASSEUR_TEST_REDIS_URL")
    if url:
        return url, None
    binary = shutil.which("redis-server")
    if not binary:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0", proc


def _one_queue_run(spec: QueueSpec) -> dict[str, Any]:
    import httpx

    from service.measure.bench_service import ServiceSpec, _serve, _wait, _wait_jobs

    service = ServiceSpec(
        marian=spec.marian,
        bart=spec.bart,
        cache_dir=spec.cache_dir,
        articles=spec.texts,
        interactive_texts=[],
        threads=1,
        job_timeout_s=spec.timeout_s,
    )
    with tempfile.TemporaryDirectory(prefix="passeur-queue-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "serve.log"
        extra = {INSTANT_ENV: "1", "PASSEUR_WORKERS": str(spec.workers)}
        if spec.store != "sqlite":
            extra["PASSEUR_STORE"] = spec.store
        with (
            _serve(service, workdir, extra) as (base, proc),
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            _wait("readyz", 300, lambda: client.get("/readyz").status_code == 200, proc, log_path)
            began = time.perf_counter()
            ids = [
                client.post(
                    "/v1/jobs", json={"text": t, "options": {"summary_mode": "abstractive"}}
                ).json()["id"]
                for t in spec.texts
            ]
            posted = time.perf_counter() - began
            jobs = _wait_jobs(client, ids, service, proc, log_path)
            wall = time.perf_counter() - began
    failed = [j for j in jobs if j["state"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} queue job(s) failed, first: {failed[0].get('error')}")
    return {
        "workers": spec.workers,
        "jobs": len(ids),
        "seconds": round(wall, 2),
        "jobs_per_s": round(len(ids) / wall, 2),
        "post_s": round(posted, 2),
    }


def queue_ceiling(
    marian: str,
    bart: str,
    cache_dir: str,
    texts: Sequence[str],
    jobs: int = QUEUE_JOBS,
    workers: Sequence[int] = QUEUE_WORKERS,
    stores: Sequence[str] = ("sqlite", "redis"),
) -> dict[str, Any]:
    """Jobs per second through the API and the store with instant engines."""
    short = [" ".join(texts[i % len(texts)].split()[:QUEUE_WORDS]) for i in range(jobs)]
    base = QueueSpec(marian, bart, cache_dir, short, workers=1, store="sqlite")
    out: dict[str, Any] = {"jobs": jobs, "words_per_job": QUEUE_WORDS, "sqlite": [], "redis": []}
    url, server = _redis_url() if "redis" in stores else (None, None)
    try:
        for store in stores:
            if store == "redis" and url is None:
                out["redis"] = {"skipped": "no Redis: set PASSEUR_TEST_REDIS_URL or install one"}
                continue
            for count in workers:
                # Each run on a fresh store: its own key prefix on Redis, touching nothing else.
                where = "sqlite" if store == "sqlite" else _with_prefix(str(url))
                row = _one_queue_run(replace(base, workers=count, store=where))
                out[store].append(row)
                log.info("queue %s, %d worker(s): %.1f jobs/s", store, count, row["jobs_per_s"])
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    return out


def _with_prefix(url: str) -> str:
    import uuid

    join = "&" if "?" in url else "?"
    return f"{url}{join}prefix=passeur-bench-{uuid.uuid4().hex[:12]}"


def format_scaling(report: dict[str, Any]) -> str:
    """The scaling report as two plain-text tables."""
    lines = ["words  segments  windows  seconds  s/1k words  segmentation  translation  summary"]
    for r in report["lengths"]["rows"]:
        st = r["stages_s"]
        lines.append(
            f"{r['words']:>5}  {r['segments']:>8}  {r['summary_windows']:>7}  "
            f"{r['seconds']:>7.2f}  {r['seconds_per_1000_words']:>10.2f}  "
            f"{st['segmentation_s']:>12.3f}  {st['translation_s']:>11.2f}  "
            f"{st['summarisation_s']:>7.2f}"
        )
    growth = report["lengths"].get("per_1000_words_longest_over_second")
    if growth is not None:
        lines.append(
            f"seconds per 1,000 words, longest over the second shortest: {growth:.2f}x "
            "(1.00 = linear)"
        )
    queue = report["queue"]
    lines.append("")
    lines.append(
        f"queue ceiling, engines answering at once ({queue['jobs']} jobs of "
        f"{queue['words_per_job']} words):"
    )
    for store in ("sqlite", "redis"):
        rows = queue[store]
        if isinstance(rows, dict):
            lines.append(f"  {store}: skipped ({rows['skipped']})")
            continue
        cells = ", ".join(f"{r['workers']} worker(s) {r['jobs_per_s']:.1f} jobs/s" for r in rows)
        lines.append(f"  {store}: {cells}")
    return "\n".join(lines)
