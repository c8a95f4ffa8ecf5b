"""`passeur serve` as a user runs it: a real process with tiny models on a SQLite file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from conftest import ROOT, SAMPLES, WorkerModels

from service.articles import sources_cover_text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    models: WorkerModels, db: Path, port: int, **env_extra: str
) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "PASSEUR_LEASE_S": "3",
        "PASSEUR_HEARTBEAT_S": "0.5",
        "PASSEUR_BEAM": "1",
        "PASSEUR_THREADS": "1",
        "PASSEUR_LOG_LEVEL": "WARNING",
        **models.env,
        **env_extra,
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
        str(models.translation),
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
    """Child pids of ``pid``, whichever of its threads started them (a worker restarted
    by the supervisor thread is that thread's child)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return sorted(found)


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state first."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _nice(pid: int) -> int:
    return int(_stat(pid)[16])


def _identity(pid: int) -> tuple[int, str]:
    return pid, _stat(pid)[19]  # the start time tells a reused pid apart


def _running(process: tuple[int, str]) -> bool:
    """True while the process runs: not gone, not a zombie, its pid not reused."""
    pid, started = process
    try:
        fields = _stat(pid)
    except OSError:
        return False
    return fields[19] == started and fields[0] not in ("Z", "X")


def _workers(proc: subprocess.Popen, count: int = 2) -> list[int]:
    """The server's worker processes (one general, one interactive), once all started."""
    return _wait(lambda: len(pids := _children(proc.pid)) == count and pids, 30, "the workers")


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
    worker_models: WorkerModels, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(worker_models, tmp_path / "jobs.db", port) as proc:
        # The workers start before the API; held stopped from their first milliseconds,
        # they cannot load their models, so the answer below does not hang on timing.
        workers = _workers(proc)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30, "healthz")
        early = httpx.get(f"{base}/readyz")
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        # Models load in a worker process after the API is up: readiness says so meanwhile.
        assert early.status_code == 503, early.text
        assert early.json()["ready"] is False and early.json()["reason"]
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
            19,
        ]
        answer = httpx.post(f"{base}/v1/translate", json={"text": "Il fait beau."}, timeout=60)
        assert answer.status_code == 200 and answer.json()["state"] == "succeeded"


def _job_succeeds(base: str, text: str, timeout: float) -> dict:
    job_id = httpx.post(f"{base}/v1/jobs", json={"text": text}).json()["id"]
    return _wait(
        lambda: (j := httpx.get(f"{base}/v1/jobs/{job_id}").json())["state"] == "succeeded" and j,
        timeout,
        f"job {job_id} to succeed",
    )


def test_a_worker_that_dies_is_restarted_and_jobs_go_on(
    worker_models: WorkerModels, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(worker_models, tmp_path / "jobs.db", port) as proc:
        _wait(lambda: httpx.get(f"{base}/readyz").status_code == 200, 60, "readyz")
        workers = _workers(proc)
        # The general worker (niced) is the only one that runs jobs posted to /v1/jobs.
        [general] = [pid for pid in workers if _nice(pid) > os.nice(0)]
        os.kill(general, signal.SIGKILL)
        replacement = _wait(
            lambda: [p for p in _children(proc.pid) if p not in workers and _nice(p) > os.nice(0)],
            30,
            "a new general worker",
        )
        assert len(replacement) == 1 and proc.poll() is None
        text = "Le trafic reprend ce matin sur la ligne B après une panne de signalisation."
        job = _job_succeeds(base, text, 90)
        assert job["result"]["sentences"][0]["source"] == text


def test_workers_exit_when_the_server_is_killed_alone(
    worker_models: WorkerModels, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(worker_models, tmp_path / "jobs.db", port) as proc:
        _wait(lambda: httpx.get(f"{base}/readyz").status_code == 200, 60, "readyz")
        workers = [_identity(pid) for pid in _workers(proc)]
        assert all(_running(w) for w in workers)
        os.kill(proc.pid, signal.SIGKILL)  # the server alone: nothing tells its workers
        proc.wait(10)
        deadline = time.monotonic() + 15
        while any(_running(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid, started in workers if _running((pid, started))]
        assert not left, f"worker processes {left} outlived their server by 15 s"


def test_kill_9_mid_job_loses_nothing(worker_models: WorkerModels, tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    text = " ".join((SAMPLES / "sncf-trafic.txt").read_text(encoding="utf-8").split()[:120])
    with serve(worker_models, db, port) as first:
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
    with serve(worker_models, db, port):
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


def _exists(process: tuple[int, str]) -> bool:
    """True while the process exists in any state, a zombie too (its pid not reused)."""
    pid, started = process
    try:
        return _stat(pid)[19] == started
    except OSError:
        return False


def test_sigterm_stops_workers_within_the_grace_and_no_job_is_lost_or_run_twice(
    worker_models: WorkerModels, tmp_path: Path
) -> None:
    """SIGTERM during work: the server exits 0 within the grace period, after its workers
    finished or handed back their jobs and were reaped (none left running, none a zombie);
    restarted, it finishes every job well within a lease, each delivered once."""
    db = tmp_path / "jobs.db"
    lease_s, grace_s = 60, 6
    timing = {
        "PASSEUR_LEASE_S": str(lease_s),
        "PASSEUR_STOP_GRACE_S": str(grace_s),
        # One short job at a time: each ends (or reaches a batch boundary, where it can be
        # handed back) well within the grace, whatever the machine's load.
        "PASSEUR_CLAIM_LIMIT": "1",
    }
    # A whole article a job, eight of them: on CTranslate2 a 40-word job ends before a poll
    # can see it running.
    text = (SAMPLES / "sncf-trafic.txt").read_text(encoding="utf-8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(worker_models, db, port, **timing) as first:
        _wait(lambda: httpx.get(f"{base}/readyz").status_code == 200, 60, "readyz")
        workers = [_identity(pid) for pid in _workers(first)]
        ids = [httpx.post(f"{base}/v1/jobs", json={"text": text}).json()["id"] for _ in range(8)]
        _wait(
            lambda: any(httpx.get(f"{base}/v1/jobs/{i}").json()["state"] == "running" for i in ids),
            30,
            "a running job",
        )
        asked = time.monotonic()
        first.send_signal(signal.SIGTERM)
        code = first.wait(lease_s)
        stopped_in = time.monotonic() - asked
        left = [pid for pid, started in workers if _exists((pid, started))]
    assert code == 0
    assert not left, f"worker processes {left} outlived their server"
    assert stopped_in < grace_s + 3, f"the stop took {stopped_in:.1f} s"
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    assert states.get("running", 0) == 0, states  # finished, or handed back to the queue

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(worker_models, db, port, **timing):
        restarted = time.monotonic()
        _wait(
            lambda: all(
                httpx.get(f"{base}/v1/jobs/{i}").json()["state"] in ("succeeded", "failed", "dead")
                for i in ids
            ),
            lease_s,
            "every job to finish within a lease of the restart",
        )
        finished_in = time.monotonic() - restarted
        jobs = [httpx.get(f"{base}/v1/jobs/{i}").json() for i in ids]
    assert [j["state"] for j in jobs] == ["succeeded"] * len(ids)
    # A job given back is not a delivery: once each means none waited for a lost lease.
    assert [j["deliveries"] for j in jobs] == [1] * len(ids)
    assert finished_in < lease_s
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == len(ids)
