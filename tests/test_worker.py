"""The worker loop against a real store, with an exact fake at the model seam."""

from __future__ import annotations

import threading
import time

import pytest
from fakes import FakeBackend, pseudo_english

from service.jobs.store import MemoryJobStore, StoreOptions
from service.jobs.store.base import JobExpired, JobState, Priority
from service.jobs.worker import Worker
from service.pipeline.article import Pipeline


def _payload(text: str, **options) -> dict:
    return {"article": {"title": None, "text": text, "source_lang": "fr"}, "options": options}


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore(StoreOptions(lease_s=1.0, backoff_base_s=0.01, backoff_max_s=0.05))


def _worker(store, settings, backend=None, **kw) -> Worker:
    pipeline = Pipeline({"fr": backend or FakeBackend()}, None, settings)
    return Worker(store, lambda: pipeline, heartbeat_s=0.1, progress_every_s=0.0, **kw)


def _run_until(worker: Worker, done, timeout: float = 10.0) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    assert done(), "worker did not get there in time"


def test_job_succeeds_with_result_and_progress(store, settings) -> None:
    job, _ = store.submit(_payload("Première phrase. Deuxième phrase."))
    worker = _worker(store, settings)
    _run_until(worker, lambda: store.get(job.id).state.terminal)
    done = store.get(job.id)
    assert done.state == JobState.SUCCEEDED
    assert done.result["id"] == job.id
    assert [s["translation"] for s in done.result["sentences"]] == [
        pseudo_english("Première phrase."),
        pseudo_english("Deuxième phrase."),
    ]
    assert done.progress["stage"] in ("translation", "summarisation")
    assert worker.stats.jobs_succeeded == 1
    assert store.workers(60)[worker.name]["ready"] is False  # it said goodbye when it stopped


def test_bad_job_fails_without_retry_and_worker_goes_on(store, settings) -> None:
    bad, _ = store.submit(_payload("   "))
    good, _ = store.submit(_payload("Une phrase."))
    _run_until(_worker(store, settings), lambda: store.get(good.id).state.terminal)
    failed = store.get(bad.id)
    assert failed.state == JobState.FAILED and failed.error["code"] == "empty_text"
    assert failed.deliveries == 1
    assert store.get(good.id).state == JobState.SUCCEEDED


def test_crashing_model_is_retried_with_backoff_then_failed(store, settings) -> None:
    def boom(text, options):
        raise RuntimeError("model exploded")

    job, _ = store.submit(_payload("Une phrase."))
    _run_until(
        _worker(store, settings, FakeBackend(boom)), lambda: store.get(job.id).state.terminal
    )
    failed = store.get(job.id)
    assert failed.state == JobState.FAILED
    assert (
        failed.retries == store.options.max_retries
        and failed.deliveries == store.options.max_retries + 1
    )
    assert "model exploded" in failed.error["message"]


def test_cancel_stops_a_running_job_within_one_batch(store, settings) -> None:
    started = threading.Event()
    calls = []

    def slow(text, options):
        calls.append(text)
        started.set()
        time.sleep(0.05)
        return pseudo_english(text)

    settings.batch_tokens = 64  # one short sentence per batch
    text = " ".join(f"Phrase numéro {i} de l'article." for i in range(60))
    job, _ = store.submit(_payload(text))
    worker = _worker(store, settings, FakeBackend(slow))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert started.wait(5)
    store.cancel(job.id)
    deadline = time.monotonic() + 5
    while not store.get(job.id).state.terminal and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    assert store.get(job.id).state == JobState.CANCELLED
    assert len(calls) < 60


def test_interactive_jobs_run_first(store, settings) -> None:
    order = []
    batch = [store.submit(_payload(f"Lot {i}."), priority=Priority.BATCH)[0] for i in range(3)]
    urgent, _ = store.submit(_payload("Urgent."), priority=Priority.INTERACTIVE)
    backend = FakeBackend(lambda t, o: order.append(t) or pseudo_english(t))
    _run_until(
        _worker(store, settings, backend),
        lambda: all(store.get(j.id).state.terminal for j in [*batch, urgent]),
    )
    assert order[0] == "Urgent."


def test_an_interactive_job_leased_with_batch_jobs_does_not_wait_for_them(store, settings) -> None:
    batch = [store.submit(_payload(f"Lot {i}."), priority=Priority.BATCH)[0] for i in range(3)]
    urgent, _ = store.submit(_payload("Urgent."), priority=Priority.INTERACTIVE)
    backend = FakeBackend()
    worker = _worker(store, settings, backend, claim_limit=4)
    worker.pipeline = worker._load_pipeline()
    leases = store.claim(worker.name, limit=4)
    assert len(leases) == 4  # one claim holds both kinds
    worker.execute(leases)
    # The interactive job in a batch of its own, first; then the batch jobs together.
    assert [texts for texts, _ in backend.calls] == [["Urgent."], ["Lot 0.", "Lot 1.", "Lot 2."]]
    done = [store.get(j.id) for j in (urgent, *batch)]
    assert all(j.state == JobState.SUCCEEDED for j in done)
    assert done[0].finished_at <= min(j.finished_at for j in done[1:])


def test_late_writes_of_a_worker_that_lost_its_lease_are_rejected(settings) -> None:
    now = [1000.0]
    store = MemoryJobStore(StoreOptions(lease_s=10), clock=lambda: now[0])
    job, _ = store.submit(_payload("Une phrase."))
    [first] = store.claim("paused", limit=1)
    now[0] += 11  # the first worker paused past its lease
    worker = _worker(store, settings)
    worker.pipeline = worker._load_pipeline()
    [second] = store.claim(worker.name, limit=1)
    worker.execute([second])
    assert store.complete(job.id, first.token, {"id": "late"}) is False
    assert store.get(job.id).result["id"] == job.id


def test_jobs_leased_together_share_batches_and_redelivered_ones_run_alone(store, settings) -> None:
    backend = FakeBackend()
    jobs = [store.submit(_payload(f"Phrase {i}. Autre phrase {i}."))[0] for i in range(3)]
    [crashed] = store.claim("dead-worker", limit=1)  # this delivery's worker "dies"
    store.options = StoreOptions(lease_s=0.05)
    time.sleep(0.1)
    worker = _worker(store, settings, backend, claim_limit=4)
    _run_until(worker, lambda: all(store.get(j.id).state.terminal for j in jobs))
    assert all(store.get(j.id).state == JobState.SUCCEEDED for j in jobs)
    sizes = sorted(len(texts) for texts, _ in backend.calls)
    assert sizes == [2, 4], "the re-delivered job alone, the two fresh ones together"
    assert crashed.job.id in {j.id for j in jobs}


def test_cancelling_one_of_several_batched_jobs_leaves_the_others(store, settings) -> None:
    settings.batch_tokens = 8  # one sentence per batch
    texts = [" ".join(f"Phrase {k} du texte {i}." for k in range(20)) for i in range(2)]
    doomed, kept = (store.submit(_payload(t))[0] for t in texts)
    cancelled = threading.Event()

    def cancel_once(text, options):
        if not cancelled.is_set():
            store.cancel(doomed.id)
            cancelled.set()
        return pseudo_english(text)

    worker = _worker(store, settings, FakeBackend(cancel_once), claim_limit=2)
    _run_until(
        worker, lambda: store.get(kept.id).state.terminal and store.get(doomed.id).state.terminal
    )
    assert store.get(doomed.id).state == JobState.CANCELLED
    assert store.get(kept.id).state == JobState.SUCCEEDED


def test_worker_purges_results_past_their_retention(settings) -> None:
    now = [1000.0]
    store = MemoryJobStore(StoreOptions(result_ttl_s=5), clock=lambda: now[0])
    job, _ = store.submit(_payload("Une phrase."))
    worker = _worker(store, settings)
    worker.pipeline = worker._load_pipeline()
    worker.execute(store.claim(worker.name, limit=1))
    assert store.get(job.id).state == JobState.SUCCEEDED
    now[0] += 10
    worker._purge()
    with pytest.raises(JobExpired):
        store.get(job.id)


def test_interactive_job_runs_between_two_batches_of_a_long_job(store, settings) -> None:
    settings.batch_tokens = 8  # one sentence per batch
    finished: dict[str, float] = {}
    started = threading.Event()

    def slow(text, options):
        started.set()
        time.sleep(0.05)
        return pseudo_english(text)

    long_job, _ = store.submit(_payload(" ".join(f"Phrase {k} du long texte." for k in range(40))))
    worker = _worker(store, settings, FakeBackend(slow), peek_every_s=0.0)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert started.wait(5)
    urgent, _ = store.submit(_payload("Urgent."), priority=Priority.INTERACTIVE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(finished) < 2:
        for job in (long_job, urgent):
            if job.id not in finished and store.get(job.id).state.terminal:
                finished[job.id] = time.monotonic()
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert store.get(urgent.id).state == JobState.SUCCEEDED
    assert store.get(long_job.id).state == JobState.SUCCEEDED
    assert finished[urgent.id] < finished[long_job.id], "the interactive job waited for the batch"
    assert store.get(long_job.id).deliveries == 1


def test_interactive_only_worker_leaves_batch_jobs_queued(store, settings) -> None:
    batch, _ = store.submit(_payload("Un article en lot."))
    urgent, _ = store.submit(_payload("Urgent."), priority=Priority.INTERACTIVE)
    lane = _worker(store, settings, interactive_only=True, idle_max_s=0.01)
    # Done once the urgent job succeeded and the lane has looked for work ten more times.
    claims = []
    claim = store.claim
    store.claim = lambda *a, **kw: claims.append(kw) or claim(*a, **kw)
    _run_until(lane, lambda: store.get(urgent.id).state.terminal and len(claims) > 10)
    assert store.get(urgent.id).state == JobState.SUCCEEDED
    assert store.get(batch.id).state == JobState.QUEUED and store.get(batch.id).deliveries == 0
    assert all(kw.get("interactive_only") for kw in claims)


def test_run_returns_only_once_its_keeper_thread_has_stopped(
    store, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store is closed as soon as run() returns: a keeper thread still writing a
    heartbeat then crashed the worker (SIGSEGV inside SQLite, on SIGTERM)."""
    in_heartbeat = threading.Event()
    heartbeat = store.heartbeat

    def slow_heartbeat(name, info) -> None:
        if threading.current_thread().name.startswith("keeper-"):
            in_heartbeat.set()
            time.sleep(0.5)
            in_heartbeat.clear()
        heartbeat(name, info)

    monkeypatch.setattr(store, "heartbeat", slow_heartbeat)
    worker = _worker(store, settings)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    assert in_heartbeat.wait(5)  # the keeper is inside a heartbeat
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert not in_heartbeat.is_set()
    assert not [t for t in threading.enumerate() if t.name == f"keeper-{worker.name}"]
