"""Stopping cleanly: a stopping worker hands back what it cannot finish in time, and the
supervisor of ``passeur serve`` ends and reaps every worker within the grace period (the
whole server under SIGTERM is tested as a process in tests/test_serve.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from fakes import FakeBackend, pseudo_english

from service.jobs.store import JobState, MemoryJobStore, StoreOptions
from service.jobs.supervisor import Supervisor
from service.jobs.worker import Worker
from service.pipeline.article import Pipeline

LONG = " ".join(f"Phrase {k} du long texte." for k in range(60))


def _slow_worker(store: MemoryJobStore, settings, **kw) -> tuple[Worker, threading.Event]:
    started = threading.Event()

    def slow(text: str, options: object) -> str:
        started.set()
        time.sleep(0.02)
        return pseudo_english(text)

    pipeline = Pipeline({"fr": FakeBackend(slow)}, None, settings)
    worker = Worker(store, lambda: pipeline, heartbeat_s=0.1, progress_every_s=0.0, **kw)
    return worker, started


def _stop_while_busy(store: MemoryJobStore, settings, **kw) -> tuple[str, float]:
    """Run one long job, set the stop flag once it runs; (job id, seconds until the worker
    returned)."""
    job, _ = store.submit({"article": {"title": None, "text": LONG, "source_lang": "fr"}})
    worker, started = _slow_worker(store, settings, **kw)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert started.wait(10)
    asked = time.monotonic()
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    return job.id, time.monotonic() - asked


def test_a_stopping_worker_hands_back_what_it_has_not_finished_in_time(settings) -> None:
    store = MemoryJobStore(StoreOptions(lease_s=60))
    job_id, took = _stop_while_busy(store, settings, handback_after_s=0.3)
    job = store.get(job_id)
    # Back in the queue at once, with no delivery counted: the next worker takes it now,
    # not one lease later.
    assert job.state is JobState.QUEUED and job.deliveries == 0 and job.lease_token is None
    assert took < 2.0
    assert store.claim("next")[0].job.id == job_id


def test_a_stopping_worker_finishes_its_jobs_within_the_time_it_has(settings) -> None:
    store = MemoryJobStore(StoreOptions(lease_s=60))
    job_id, _ = _stop_while_busy(store, settings, handback_after_s=30.0)
    assert store.get(job_id).state is JobState.SUCCEEDED


_CHILD = """
import os, signal, sys, time
mode, ready = os.environ["MODE"], os.environ["READY"]
seen = []
def on_term(signum, frame):
    seen.append(signum)
    if mode == "polite" or (mode == "second" and len(seen) == 2):
        sys.exit(7 if mode == "second" else 0)
signal.signal(signal.SIGTERM, on_term)
open(ready, "w").close()
while True:
    time.sleep(0.05)
"""


def _supervised(tmp_path: Path, modes: list[str], grace_s: float) -> Supervisor:
    envs = [
        {**os.environ, "MODE": mode, "READY": str(tmp_path / f"ready-{i}")}
        for i, mode in enumerate(modes)
    ]
    supervisor = Supervisor(envs, [sys.executable, "-c", _CHILD], grace_s=grace_s)
    supervisor.start()
    deadline = time.monotonic() + 20
    while not all((tmp_path / f"ready-{i}").exists() for i in range(len(modes))):
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.05)
    return supervisor


def _reaped(proc: subprocess.Popen[bytes]) -> bool:
    """The child has exited and been waited for: no process, not even a zombie, is left."""
    return proc.returncode is not None and not Path(f"/proc/{proc.pid}").exists()


def test_stop_kills_what_outlives_the_grace_and_reaps_every_worker(tmp_path: Path) -> None:
    supervisor = _supervised(tmp_path, ["polite", "deaf"], grace_s=1.0)
    polite, deaf = supervisor.procs
    assert polite is not None and deaf is not None
    started = time.monotonic()
    supervisor.stop()
    took = time.monotonic() - started
    assert polite.returncode == 0 and deaf.returncode == -9
    assert _reaped(polite) and _reaped(deaf)
    assert 1.0 <= took < 3.0


def test_a_second_stop_request_sends_a_second_sigterm(tmp_path: Path) -> None:
    supervisor = _supervised(tmp_path, ["second"], grace_s=10.0)
    [child] = supervisor.procs
    assert child is not None
    supervisor.request_stop()
    time.sleep(0.5)
    assert child.poll() is None  # one SIGTERM: it goes on (a worker finishing its jobs)
    supervisor.request_stop()  # what a second Ctrl-C does: hand back now
    started = time.monotonic()
    supervisor.stop()
    assert child.returncode == 7 and _reaped(child)
    assert time.monotonic() - started < 3.0
