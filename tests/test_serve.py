"""`passeur serve` as a user runs it: a real process with tiny models on a SQLite file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from conftest import ROOT, SAMPLES

from service.schemas import sources_cover_text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(tiny_marian: Path, db: Path, port: int) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "PASSEUR_CACHE_DIR": str(db.parent / "cache"),
        "PASSEUR_LEASE_S": "3",
        "PASSEUR_HEARTBEAT_S": "0.5",
        "PASSEUR_BEAM": "1",
        "PASSEUR_THREADS": "1",
        "PASSEUR_LOG_LEVEL": "WARNING",
    }
    cmd = [
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        "--port",
        str(port),
        "--store",
        f"sqlite:///{db}",
        "--translation-model",
        str(tiny_marian),
        "--summary-mode",
        "none",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the server and its worker processes
        proc.wait(10)


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            value = predicate()
            if value:
                return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_answers_jobs_and_readyz_follows_the_models(
    tiny_marian: Path, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(tiny_marian, tmp_path / "jobs.db", port) as proc:
        _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30, "healthz")
        early = httpx.get(f"{base}/readyz")
        _wait(lambda: httpx.get(f"{base}/readyz").status_code == 200, 60, "readyz 200")
        text = (SAMPLES / "terrorisme-tourcoing.txt").read_text(encoding="utf-8")
        accepted = httpx.post(f"{base}/v1/jobs", json={"text": text})
        assert accepted.status_code == 202
        job_id = accepted.json()["id"]
        job = _wait(
            lambda: (
                (j := httpx.get(f"{base}/v1/jobs/{job_id}").json())["state"] == "succeeded" and j
            ),
            60,
            "the job to succeed",
        )
        assert job["result"]["id"] == job_id
        assert sources_cover_text(job["result"], text)
        # One worker for all jobs, niced, and one for interactive jobs at normal priority.
        assert sorted(_nice(pid) for pid in _children(proc.pid)) == [
            os.nice(0),
            min(os.nice(0) + 10, 19),
        ]
        answer = httpx.post(f"{base}/v1/translate", json={"text": "Il fait beau."}, timeout=60)
        assert answer.status_code == 200 and answer.json()["state"] == "succeeded"
    # Models load in a worker process after the API is up: readiness says so meanwhile.
    assert early.status_code in (200, 503)


def test_kill_9_mid_job_loses_nothing(tiny_marian: Path, tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    text = " ".join((SAMPLES / "sncf-trafic.txt").read_text(encoding="utf-8").split()[:120])
    with serve(tiny_marian, db, port) as first:
        _wait(lambda: httpx.get(f"{base}/readyz").status_code == 200, 60, "readyz")
        ids = [httpx.post(f"{base}/v1/jobs", json={"text": text}).json()["id"] for _ in range(8)]
        _wait(
            lambda: any(httpx.get(f"{base}/v1/jobs/{i}").json()["state"] == "running" for i in ids),
            30,
            "a running job",
        )
        first.send_signal(signal.SIGKILL)  # the server only: its workers notice on their own
        first.wait(10)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(tiny_marian, db, port):
        _wait(
            lambda: all(
                httpx.get(f"{base}/v1/jobs/{i}").json()["state"] in ("succeeded", "failed", "dead")
                for i in ids
            ),
            120,
            "every job to finish",
        )
        jobs = [httpx.get(f"{base}/v1/jobs/{i}").json() for i in ids]
    assert [j["state"] for j in jobs] == ["succeeded"] * len(ids)
    assert all(j["result"]["id"] == j["id"] for j in jobs)
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
    assert rows == len(ids)
