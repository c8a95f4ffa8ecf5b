"""Fault tests: real `passeur worker` and `passeur serve` processes with tiny models, on
SQLite and on Redis, killed, paused, poisoned and restarted, to show that nothing the
service promised is lost: a 202 is durable, every job ends once, one result is visible.

Everything runs on loopback with a 3 s lease and one-word articles (the faults are about
the queue, not the model), and every wait is bounded. The Redis cases need a server at
``PASSEUR_TEST_REDIS_URL`` (``.ci/run`` starts one) and skip without it; the store-restart
case starts a private ``redis-server`` of its own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, WorkerModels

from service.jobs.store import JobState, JobStore, StoreOptions, open_store

LEASE_S = 3.0
SHORT = "Oui."  # a few tokens: these tests are about the queue, not the model
POISON = "Ce texte tue le processus qui le traduit."
POISON_EXIT = 86
REDIS_URL = os.environ.get("PASSEUR_TEST_REDIS_URL", "redis://127.0.0.1:6390/0")

# Test-only: a worker started with this folder on PYTHONPATH dies (os._exit) when a batch
# holds the poison text, the way a segfault in a native library would take it down.
SITECUSTOMIZE = f"""
import os
from service.pipeline.article import Pipeline
_run_jobs = Pipeline.run_jobs
def run_jobs(self, items):
    if any({POISON!r} in article.text for article, _, _ in items):
        os._exit({POISON_EXIT})
    return _run_jobs(self, items)
Pipeline.run_jobs = run_jobs
"""


def payload(text: str = SHORT) -> dict[str, Any]:
    return {"article": {"title": None, "text": text, "source_lang": "fr"}, "options": {}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll until ``predicate`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, OSError):
            value = predicate()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def redis_available() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2).ping()
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    return True


def drop_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    with contextlib.suppress(redis.ConnectionError):
        keys = list(client.scan_iter(match=f"{{{prefix}}}*", count=1000))
        if keys:
            client.delete(*keys)
    client.close()


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path
    name: str = ""  # the worker's name in the store, once it said it is ready

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Cluster:
    """Processes on one store URL; every one is killed (by its pid) at the end."""

    url: str
    models: WorkerModels
    tmp: Path
    procs: list[Proc] = field(default_factory=list)
    _store: JobStore | None = None

    @property
    def store(self) -> JobStore:
        """The store, opened in the test process, to submit and inspect jobs."""
        if self._store is None:
            self._store = open_store(self.url, StoreOptions(lease_s=LEASE_S))
        return self._store

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "PASSEUR_LEASE_S": str(LEASE_S),
            "PASSEUR_HEARTBEAT_S": "0.5",
            "PASSEUR_BEAM": "1",
            "PASSEUR_THREADS": "1",
            "PASSEUR_LOG_LEVEL": "INFO",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **self.models.env,
        }
        return {**env, **extra}

    def _spawn(self, args: list[str], env: dict[str, str], tag: str) -> Proc:
        log = self.tmp / f"{tag}-{len(self.procs)}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen(
                [sys.executable, "-m", "service.cli", *args],
                cwd=ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(popen, log)
        self.procs.append(proc)
        return proc

    def worker(self, **env: str) -> Proc:
        args = ["worker", "--store", self.url, "--translation-model", str(self.models.translation)]
        return self._spawn([*args, "--summary-mode", "none"], self.env(**env), "worker")

    def api(self, *, workers: int = 0) -> tuple[Proc, str]:
        port = free_port()
        args = ["serve", "--workers", str(workers), "--store", self.url, "--port", str(port)]
        args += ["--translation-model", str(self.models.translation), "--summary-mode", "none"]
        proc = self._spawn(args, self.env(), "api")
        return proc, f"http://127.0.0.1:{port}"

    def ready(self, *workers: Proc, timeout: float = 90) -> None:
        """Wait until each worker process heartbeats as ready; note its name."""

        def names() -> bool:
            for proc in workers:
                assert proc.popen.poll() is None, f"worker exited:\n{proc.text()[-3000:]}"
            by_pid = {
                info.get("pid"): name
                for name, info in self.store.workers(30).items()
                if info.get("ready")
            }
            for proc in workers:
                proc.name = by_pid.get(proc.pid, "")
            return all(proc.name for proc in workers)

        wait_for(names, timeout, "the workers to load their models", every=0.25)

    def up(self, base: str, timeout: float = 60) -> None:
        wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200, timeout, "the API")

    def submit(self, n: int, text: str = SHORT) -> list[str]:
        return [self.store.submit(payload(text))[0].id for _ in range(n)]

    def states(self, ids: list[str]) -> dict[str, Any]:
        return {job_id: self.store.get(job_id) for job_id in ids}

    def settle(self, ids: list[str], timeout: float) -> dict[str, Any]:
        """Wait until every job is terminal; return them."""

        def done() -> dict[str, Any] | None:
            jobs = self.states(ids)
            return jobs if all(j.state.terminal for j in jobs.values()) else None

        return wait_for(done, timeout, f"{len(ids)} jobs to finish", every=0.2)

    def holder(self, name: str) -> list[str]:
        """Ids of the jobs a worker holds a lease on now."""
        return [j.id for j in self.store.list(JobState.RUNNING, 1000) if j.worker == name]

    def close(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                    os.kill(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(10)
        if self._store is not None:
            self._store.close()


@contextlib.contextmanager
def make_cluster(kind: str, tmp_path: Path, models: WorkerModels) -> Iterator[Cluster]:
    """A store of one kind (Redis: a key prefix of its own) and the processes on it."""
    prefix = ""
    if kind == "redis":
        if not redis_available():
            pytest.skip(
                f"no Redis at {REDIS_URL}; start one with `redis-server --port 6390 --save '' "
                "--daemonize yes` or set PASSEUR_TEST_REDIS_URL"
            )
        prefix = f"passeur-fault-{uuid.uuid4().hex[:12]}"
        url = f"{REDIS_URL}?prefix={prefix}"
    else:
        url = f"sqlite:///{tmp_path}/jobs.db"
    c = Cluster(url, models, tmp_path)
    try:
        yield c
    finally:
        c.close()
        if prefix:
            drop_prefix(REDIS_URL, prefix)


@pytest.fixture(params=["sqlite", "redis"])
def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, worker_models: WorkerModels
) -> Iterator[Cluster]:
    with make_cluster(request.param, tmp_path, worker_models) as c:
        yield c


@pytest.fixture
def redis_cluster(tmp_path: Path, worker_models: WorkerModels) -> Iterator[Cluster]:
    with make_cluster("redis", tmp_path, worker_models) as c:
        yield c


def succeeded_lines(*procs: Proc) -> Counter[str]:
    """Jobs each worker logged as completed (its complete() was accepted)."""
    found: Counter[str] = Counter()
    for proc in procs:
        found.update(re.findall(r"job ([0-9a-f]{32}): succeeded", proc.text()))
    return found


def post_all(bases: list[str], n: int, concurrency: int, rate: float | None = None):
    """POST n one-word jobs round-robin to the APIs, ``rate`` a second at most, from
    ``concurrency`` threads; [(status or exception, job id, seconds)]."""
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=concurrency))

    def post(i: int) -> tuple[Any, str, float]:
        started = time.monotonic()
        try:
            r = client.post(f"{bases[i % len(bases)]}/v1/jobs", json={"text": SHORT})
        except httpx.HTTPError as exc:
            return exc, "", time.monotonic() - started
        job_id = r.json().get("id", "") if r.status_code in (200, 202) else ""
        return r.status_code, job_id, time.monotonic() - started

    with client, ThreadPoolExecutor(concurrency) as pool:
        futures = []
        for i in range(n):
            futures.append(pool.submit(post, i))
            if rate:
                time.sleep(1 / rate)
        return [f.result() for f in futures]


# -- the faults -------------------------------------------------------------------------


def test_worker_killed_mid_batch(cluster: Cluster) -> None:
    """kill -9 a worker holding leases: every job succeeds within lease + 15 s, once."""
    a, b = cluster.worker(), cluster.worker()
    cluster.ready(a, b)
    ids = cluster.submit(100)
    held = wait_for(lambda: cluster.holder(a.name), 30, "worker a to hold leases", every=0.02)
    os.kill(a.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    a.popen.wait(10)
    held = cluster.holder(a.name) or held  # what it held when it died
    jobs = cluster.settle(ids, LEASE_S + 15)
    took = time.monotonic() - killed_at
    print(
        f"\n[{cluster.url.split(':')[0]}] killed worker held {len(held)} leases; "
        f"all 100 jobs done {took:.1f} s after the kill"
    )
    assert Counter(j.state.value for j in jobs.values()) == {"succeeded": 100}
    assert all(j.result["id"] == j.id for j in jobs.values())
    assert all(jobs[i].deliveries == 2 for i in held)  # the dead worker's jobs ran again
    assert max(succeeded_lines(a, b).values()) == 1  # no job completed twice


def test_paused_worker_loses_its_lease_and_its_late_writes(cluster: Cluster) -> None:
    """SIGSTOP past the lease, another worker takes the job, SIGCONT: the late writes are
    refused and the visible result is the second worker's."""
    slow = {"PASSEUR_BATCH_TOKENS": "64", "PASSEUR_CLAIM_LIMIT": "1"}  # many small batches
    a, b = cluster.worker(**slow), cluster.worker(**slow)
    cluster.ready(a, b)
    text = " ".join(f"Le train numéro {n} part à l'heure ce matin." for n in range(24))
    [job_id] = cluster.submit(1, text)
    first_name = wait_for(
        lambda: (j := cluster.store.get(job_id)).state is JobState.RUNNING and j.worker,
        30,
        "the job to start",
        every=0.02,
    )
    first, second = (a, b) if first_name == a.name else (b, a)
    os.kill(first.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    wait_for(
        lambda: cluster.store.get(job_id).worker == second.name,
        LEASE_S + 10,
        "the second worker to take the job",
        every=0.05,
    )
    taken_after = time.monotonic() - stopped_at
    os.kill(first.pid, signal.SIGCONT)
    [job] = cluster.settle([job_id], 60).values()
    late = wait_for(
        lambda: re.search(rf"job {job_id}: (lease lost|result discarded)", first.text()),
        15,
        "the first worker to find its lease lost",
    )
    print(
        f"\n[{cluster.url.split(':')[0]}] taken over {taken_after:.1f} s after SIGSTOP; "
        f"first worker: {late.group(1)!r}"
    )
    assert job.state is JobState.SUCCEEDED and job.worker == second.name
    assert job.deliveries == 2 and job.result["id"] == job_id
    assert succeeded_lines(first)[job_id] == 0 and succeeded_lines(second)[job_id] == 1
    assert first.popen.poll() is None  # it survived and goes on with other jobs


def test_poison_job_is_dead_after_three_deliveries(cluster: Cluster) -> None:
    """An input that kills its worker: dead after exactly 3 deliveries with the reason;
    the 20 jobs batched beside it succeed."""
    hooks = cluster.tmp / "poison-hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    [poison] = cluster.submit(1, POISON)
    healthy = cluster.submit(20)  # queued with it, so the first claim batches them together
    workers = [cluster.worker(PYTHONPATH=f"{hooks}{os.pathsep}{ROOT}") for _ in range(4)]
    started = time.monotonic()
    jobs = cluster.settle([poison, *healthy], 4 * (LEASE_S + 2) + 90)
    took = time.monotonic() - started
    exits = [w.popen.poll() for w in workers]
    print(f"\n[{cluster.url.split(':')[0]}] poison settled in {took:.1f} s; worker exits {exits}")
    dead = jobs[poison]
    assert dead.state is JobState.DEAD and dead.deliveries == 3
    assert dead.error["code"] == "worker_died" and "3 deliveries" in dead.error["message"]
    assert Counter(jobs[i].state.value for i in healthy) == {"succeeded": 20}
    assert exits.count(POISON_EXIT) == 3


def test_redis_restart_loses_no_accepted_job(tmp_path: Path, worker_models: WorkerModels) -> None:
    """kill -9 redis-server during 50 submissions per second, start it again: every job
    that got a 202 exists and ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    port, data = free_port(), tmp_path / "redis-data"
    data.mkdir()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", "always"]

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), 0.2).close() or True,
            10,
            "redis-server",
        )
        return proc

    server = start()
    try:
        c = Cluster(f"redis://127.0.0.1:{port}/0", worker_models, tmp_path / "restart")
        c.tmp.mkdir()
        try:
            _restart_under_load(c, server, start)
        finally:
            c.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGKILL)


def _restart_under_load(c: Cluster, server: subprocess.Popen[bytes], start) -> None:
    api, base = c.api()
    worker = c.worker()
    c.up(base)
    c.ready(worker)
    results: list[Any] = []
    poster = threading.Thread(target=lambda: results.extend(post_all([base], 150, 16, rate=50)))
    poster.start()
    time.sleep(1.0)
    os.kill(server.pid, signal.SIGKILL)
    server.wait(10)
    time.sleep(1.0)
    restarted = start()
    poster.join(60)
    try:
        accepted = [job_id for status, job_id, _ in results if status == 202]
        refused = Counter(str(s) for s, _, _ in results if s != 202)
        waited = sum(1 for _, _, seconds in results if seconds > 0.5)
        jobs = c.settle(accepted, 90)
        print(
            f"\n[redis restart] {len(accepted)} of {len(results)} posts got 202 "
            f"(others: {dict(refused)}), {waited} of them waited out the outage; all "
            f"{len(jobs)} accepted jobs ended"
        )
        assert len(results) == 150 and len(accepted) >= 100
        assert Counter(j.state.value for j in jobs.values()) == {"succeeded": len(accepted)}
        assert api.popen.poll() is None and worker.popen.poll() is None  # rode it out
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(restarted.pid, signal.SIGKILL)


def test_sqlite_kill_9_everything_during_submissions(
    tmp_path: Path, worker_models: WorkerModels
) -> None:
    """kill -9 the API and its worker during submissions: the file is intact and every
    job that got a 202 is in it."""
    db = tmp_path / "jobs.db"
    c = Cluster(f"sqlite:///{db}", worker_models, tmp_path)
    try:
        api, base = c.api(workers=1)
        wait_for(lambda: httpx.get(f"{base}/readyz").status_code == 200, 90, "a ready worker")
        children = [info["pid"] for info in c.store.workers(30).values()]
        results: list[Any] = []
        poster = threading.Thread(target=lambda: results.extend(post_all([base], 100, 16, rate=50)))
        poster.start()
        time.sleep(1.0)
        for pid in [*children, api.pid]:
            os.kill(pid, signal.SIGKILL)
        poster.join(60)
    finally:
        c.close()
    accepted = [job_id for status, job_id, _ in results if status == 202]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT id FROM jobs")}
    print(f"\n[sqlite kill -9] {len(accepted)} accepted before the kill, all in the file")
    assert accepted and set(accepted) <= stored


def test_idempotent_submit_across_two_api_processes(cluster: Cluster) -> None:
    """50 concurrent posts with one Idempotency-Key over two API processes: one job."""
    apis = [cluster.api() for _ in range(2)]
    for _, base in apis:
        cluster.up(base)
    bases = [base for _, base in apis]
    barrier = threading.Barrier(50)

    def post(i: int) -> tuple[int, str]:
        barrier.wait(30)
        r = httpx.post(
            f"{bases[i % 2]}/v1/jobs",
            json={"text": "Bonjour à tous."},
            headers={"Idempotency-Key": "one-key"},
            timeout=30,
        )
        return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(post, range(50)))
    assert Counter(status for status, _ in answers) == {202: 1, 200: 49}
    assert len({job_id for _, job_id in answers}) == 1
    assert len(cluster.store.list(limit=100)) == 1


def test_rolling_restart_under_load(cluster: Cluster) -> None:
    """SIGTERM each worker in turn (starting its replacement) while jobs keep coming:
    none fails, none runs twice."""
    old = [cluster.worker(), cluster.worker()]
    cluster.ready(*old)
    ids: list[str] = []
    feeding = threading.Event()
    feeding.set()

    def feed() -> None:
        for _ in range(400):  # at most 400 jobs, 8 a second
            if not feeding.is_set():
                return
            ids.append(cluster.store.submit(payload())[0].id)
            time.sleep(0.125)

    feeder = threading.Thread(target=feed)
    feeder.start()
    new: list[Proc] = []
    try:
        for proc in old:
            wait_for(lambda p=proc: cluster.holder(p.name), 30, "a held lease", every=0.02)
            os.kill(proc.pid, signal.SIGTERM)
            replacement = cluster.worker()
            new.append(replacement)
            assert proc.popen.wait(30) == 0  # it finished its jobs and left
            cluster.ready(replacement)
    finally:
        feeding.clear()
        feeder.join(30)
    jobs = cluster.settle(ids, 60)
    print(f"\n[{cluster.url.split(':')[0]}] rolling restart: {len(jobs)} jobs")
    assert Counter(j.state.value for j in jobs.values()) == {"succeeded": len(ids)}
    assert all(j.deliveries == 1 for j in jobs.values())  # none was run twice
    assert max(succeeded_lines(*old, *new).values()) == 1


@pytest.mark.load
def test_load_two_apis_two_workers(redis_cluster: Cluster) -> None:
    """500 jobs through two API processes to two workers: all succeed; prints jobs per
    second and the p95 latency (submit to finish)."""
    c = redis_cluster
    apis = [c.api() for _ in range(2)]
    workers = [c.worker(), c.worker()]
    for _, base in apis:
        c.up(base)
    c.ready(*workers)
    started = time.monotonic()
    results = post_all([base for _, base in apis], 500, 8)
    accepted = [job_id for status, job_id, _ in results if status == 202]
    assert len(accepted) == 500
    jobs = c.settle(accepted, 180)
    wall = time.monotonic() - started
    latencies = sorted(j.finished_at - j.created_at for j in jobs.values())
    p95 = statistics.quantiles(latencies, n=20)[-1]
    post_p95 = statistics.quantiles([s for _, _, s in results], n=20)[-1]
    p50 = statistics.median(latencies)
    print(
        f"\n[load] 500 jobs in {wall:.1f} s = {500 / wall:.1f} jobs/s; latency p50 {p50:.2f} s, "
        f"p95 {p95:.2f} s; POST p95 {post_p95 * 1000:.0f} ms"
    )
    assert Counter(j.state.value for j in jobs.values()) == {"succeeded": 500}
