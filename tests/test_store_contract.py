"""One contract suite for every job store, parametrised over the backends by
``store_factory``; then what only the SQLite store promises (files shared across threads
and processes, durability under ``kill -9``) and ``open_store``.

Time is a fake clock, so leases, backoff and retention are tested without sleeping.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.errors import ConfigError
from service.jobs.store import (
    IdempotencyConflict,
    JobExpired,
    JobNotFound,
    JobState,
    JobStore,
    MemoryJobStore,
    Priority,
    QueueBounds,
    QueueFull,
    SQLiteJobStore,
    StoreOptions,
    TenantQueueFull,
    open_store,
    rules,
)

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = StoreOptions(lease_s=60.0, backoff_base_s=10.0, backoff_max_s=1000.0, result_ttl_s=3600.0)
BATCH, INTERACTIVE = Priority.BATCH, Priority.INTERACTIVE


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


StoreFactory = Callable[..., JobStore]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


REDIS_URL = os.environ.get("PASSEUR_TEST_REDIS_URL", "redis://127.0.0.1:6390/0")


def redis_or_skip() -> str:
    """The test Redis URL, or a skip that says how to start one."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2).ping()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        pytest.skip(
            f"no Redis at {REDIS_URL} ({exc}); start one with `redis-server --port 6390 "
            "--save '' --daemonize yes` or set PASSEUR_TEST_REDIS_URL"
        )
    return REDIS_URL


def drop_redis_prefix(url: str, prefix: str) -> None:
    """Delete every key a test store made (each test store has its own prefix)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{{{prefix}}}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[StoreFactory]:
    """Builds fresh, empty stores of one backend on the fake clock. A new backend joins
    the suite with one more param and one more branch here."""
    stores: list[JobStore] = []
    redis_url = redis_or_skip() if request.param == "redis" else ""
    prefixes: list[str] = []

    def make(options: StoreOptions = OPTIONS) -> JobStore:
        store: JobStore
        if request.param == "memory":
            store = MemoryJobStore(options, clock=clock)
        elif request.param == "sqlite":
            store = SQLiteJobStore(tmp_path / f"jobs-{len(stores)}.db", options, clock=clock)
        elif request.param == "redis":
            from service.jobs.store.redis import RedisJobStore

            prefixes.append(f"passeur-test-{uuid.uuid4().hex[:12]}")
            store = RedisJobStore(redis_url, options, clock=clock, prefix=prefixes[-1])
        else:
            raise AssertionError(f"no store for {request.param}")
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()
    for prefix in prefixes:
        drop_redis_prefix(redis_url, prefix)


@pytest.fixture
def store(store_factory: StoreFactory) -> JobStore:
    return store_factory()


def claim_one(store: JobStore, worker: str = "w1"):
    leases = store.claim(worker)
    assert len(leases) == 1, f"expected one job to claim, got {len(leases)}"
    return leases[0]


# -- submit, get, list ---------------------------------------------------------------


def test_submit_get_and_list_newest_first(store: JobStore, clock: FakeClock) -> None:
    ids = []
    for n in range(4):
        job, created = store.submit({"n": n}, priority=BATCH)
        assert created and job.state is JobState.QUEUED and job.created_at == clock.now
        ids.append(job.id)
        clock.advance(1)
    assert len(set(ids)) == 4
    assert store.get(ids[2]).payload == {"n": 2}
    assert [j.id for j in store.list()] == ids[::-1]
    assert [j.id for j in store.list(limit=2)] == [ids[3], ids[2]]
    store.cancel(ids[1])
    assert [j.id for j in store.list(state=JobState.CANCELLED)] == [ids[1]]
    assert [j.id for j in store.list(state=JobState.QUEUED)] == [ids[3], ids[2], ids[0]]


def test_jobs_handed_out_are_snapshots(store: JobStore) -> None:
    job, _ = store.submit({"text": "Bonjour"})
    job.payload["text"] = "changed"
    job.state = JobState.FAILED
    again = store.get(job.id)
    assert again.payload == {"text": "Bonjour"} and again.state is JobState.QUEUED


def test_unknown_job_is_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        store.get("0" * 32)
    with pytest.raises(JobNotFound):
        store.cancel("0" * 32)


def test_idempotency_key_with_same_body_returns_same_job(store: JobStore) -> None:
    first, created = store.submit({"n": 1}, idempotency_key="k1", body_hash="h1")
    again, created_again = store.submit({"n": 1}, idempotency_key="k1", body_hash="h1")
    assert created and not created_again and again.id == first.id
    assert store.counts()["queued"] == 1


def test_idempotency_key_with_other_body_conflicts(store: JobStore) -> None:
    store.submit({"n": 1}, idempotency_key="k1", body_hash="h1")
    with pytest.raises(IdempotencyConflict):
        store.submit({"n": 2}, idempotency_key="k1", body_hash="h2")
    assert store.counts()["queued"] == 1


def test_invalid_options_are_refused(store_factory: StoreFactory) -> None:
    with pytest.raises(ConfigError, match="batch_share"):
        store_factory(StoreOptions(batch_share=1.5))


# -- claim and leases ----------------------------------------------------------------


def test_claim_leases_up_to_limit(store: JobStore, clock: FakeClock) -> None:
    ids = [store.submit({"n": n})[0].id for n in range(3)]
    leases = store.claim("w1", limit=2)
    assert [lease.job.id for lease in leases] == ids[:2]  # oldest first
    assert leases[0].token != leases[1].token
    for lease in leases:
        job = store.get(lease.job.id)
        assert job.state is JobState.RUNNING and job.deliveries == 1 and job.worker == "w1"
        assert job.started_at == clock.now and job.lease_expires_at == clock.now + OPTIONS.lease_s
        assert job.lease_token == lease.token
    assert store.get(ids[2]).state is JobState.QUEUED


def test_leased_job_is_not_claimed_again_while_lease_is_valid(
    store: JobStore, clock: FakeClock
) -> None:
    store.submit({})
    claim_one(store, "w1")
    clock.advance(OPTIONS.lease_s - 1)
    assert store.claim("w2") == []


def test_renew_extends_the_lease(store: JobStore, clock: FakeClock) -> None:
    store.submit({})
    lease = claim_one(store)
    clock.advance(50)
    assert store.renew(lease.job.id, lease.token)
    clock.advance(50)  # past the first lease, within the renewed one
    assert store.claim("w2") == []
    assert store.get(lease.job.id).lease_expires_at == clock.now - 50 + OPTIONS.lease_s


def test_expired_lease_goes_to_another_worker_and_fences_the_first(
    store: JobStore, clock: FakeClock
) -> None:
    store.submit({})
    old = claim_one(store, "w1")
    clock.advance(OPTIONS.lease_s + 1)
    new = claim_one(store, "w2")
    assert new.job.id == old.job.id and new.job.deliveries == 2 and new.token != old.token
    before = store.get(old.job.id)
    job_id = old.job.id
    assert not store.complete(job_id, old.token, {"text": "late"})
    assert not store.set_progress(job_id, old.token, "translate", 1, 2)
    assert not store.fail(job_id, old.token, {"code": "x"}, transient=False)
    assert not store.renew(job_id, old.token)
    assert not store.release(job_id, old.token)
    assert store.get(job_id) == before
    assert store.complete(job_id, new.token, {"text": "on time"})
    assert store.get(job_id).result == {"text": "on time"}


def test_concurrent_claims_never_share_a_job(store: JobStore) -> None:
    ids = {store.submit({"n": n})[0].id for n in range(40)}
    claimed: list[list[str]] = [[], []]

    def work(i: int) -> None:
        for _ in range(20):
            claimed[i].extend(lease.job.id for lease in store.claim(f"t{i}"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(claimed[0] + claimed[1]) == Counter(ids)


def test_complete_records_result_and_retention(store: JobStore, clock: FakeClock) -> None:
    store.submit({})
    lease = claim_one(store)
    clock.advance(5)
    assert store.complete(lease.job.id, lease.token, {"translation": "Hello"})
    job = store.get(lease.job.id)
    assert job.state is JobState.SUCCEEDED and job.result == {"translation": "Hello"}
    assert job.finished_at == clock.now
    assert job.expires_at == clock.now + OPTIONS.result_ttl_s
    assert job.lease_token is None and "lease_token" not in job.public()


def test_terminal_states_never_change(store: JobStore) -> None:
    store.submit({})
    lease = claim_one(store)
    store.cancel(lease.job.id)
    assert store.finish_cancelled(lease.job.id, lease.token)
    assert not store.complete(lease.job.id, lease.token, {"text": "too late"})
    assert store.get(lease.job.id).state is JobState.CANCELLED
    assert store.get(lease.job.id).result is None

    store.submit({})
    done = claim_one(store)
    assert store.complete(done.job.id, done.token, {"text": "ok"})
    before = store.get(done.job.id)
    assert store.cancel(done.job.id) == before
    assert store.get(done.job.id) == before
    assert not store.fail(done.job.id, done.token, {"code": "x"}, transient=True)


def test_job_whose_workers_died_three_times_is_dead(store: JobStore, clock: FakeClock) -> None:
    job, _ = store.submit({})
    for delivery in range(1, OPTIONS.max_deliveries + 1):
        lease = claim_one(store, f"w{delivery}")
        assert lease.job.deliveries == delivery
        clock.advance(OPTIONS.lease_s + 1)  # the worker died: no renew, no complete
    assert store.claim("w4") == []  # never a 4th delivery
    dead = store.get(job.id)
    assert dead.state is JobState.DEAD and dead.deliveries == OPTIONS.max_deliveries
    assert dead.error is not None and dead.error["code"] == "worker_died"
    assert "3 deliveries" in dead.error["message"]
    assert dead.finished_at == clock.now


# -- failures, retries, release ------------------------------------------------------


def test_transient_failure_backs_off_then_runs_again(store: JobStore, clock: FakeClock) -> None:
    store.submit({})
    lease = claim_one(store)
    assert store.fail(lease.job.id, lease.token, {"code": "oom"}, transient=True)
    job = store.get(lease.job.id)
    assert job.state is JobState.QUEUED and job.retries == 1 and job.error == {"code": "oom"}
    base = OPTIONS.backoff_base_s
    assert clock.now + 0.5 * base <= job.not_before <= clock.now + 1.5 * base
    clock.now = job.not_before - 0.01
    assert store.claim("w2") == []
    clock.now = job.not_before
    second = claim_one(store, "w2")
    assert second.job.deliveries == 2
    assert store.fail(second.job.id, second.token, {"code": "oom"}, transient=True)
    delay = store.get(job.id).not_before - clock.now
    assert 0.5 * 2 * base <= delay <= 1.5 * 2 * base


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    opts = StoreOptions(backoff_base_s=2.0, backoff_max_s=30.0)
    assert rules.backoff_delay(3, opts, uniform=lambda lo, hi: lo) == 4.0
    assert rules.backoff_delay(3, opts, uniform=lambda lo, hi: hi) == 12.0
    assert rules.backoff_delay(10, opts, uniform=lambda lo, hi: hi) == 30.0
    delays = {rules.backoff_delay(1, opts) for _ in range(20)}
    assert len(delays) > 1 and all(1.0 <= d <= 3.0 for d in delays)


def test_transient_failures_fail_after_max_retries(
    store_factory: StoreFactory, clock: FakeClock
) -> None:
    store = store_factory(StoreOptions(max_retries=2, backoff_base_s=1.0, backoff_max_s=5.0))
    job, _ = store.submit({})
    for attempt in range(1, 4):
        lease = claim_one(store)
        assert store.fail(job.id, lease.token, {"code": "busy", "n": attempt}, transient=True)
        clock.advance(10)
    failed = store.get(job.id)
    assert failed.state is JobState.FAILED and failed.retries == 2 and failed.deliveries == 3
    assert failed.error == {"code": "busy", "n": 3}
    assert store.claim("w1") == []


def test_permanent_failure_fails_at_once(store: JobStore) -> None:
    store.submit({})
    lease = claim_one(store)
    assert store.fail(lease.job.id, lease.token, {"code": "empty_text"}, transient=False)
    job = store.get(lease.job.id)
    assert job.state is JobState.FAILED and job.error == {"code": "empty_text"}
    assert job.retries == 0 and job.finished_at is not None
    assert store.claim("w2") == []


def test_release_requeues_without_counting_the_delivery(store: JobStore) -> None:
    job, _ = store.submit({})
    for _ in range(OPTIONS.max_deliveries + 2):  # releases never lead to dead
        lease = claim_one(store)
        assert store.release(job.id, lease.token)
        released = store.get(job.id)
        assert released.state is JobState.QUEUED and released.deliveries == 0
        assert released.worker is None and not store.renew(job.id, lease.token)
    assert claim_one(store).job.deliveries == 1


# -- priorities ----------------------------------------------------------------------


def test_interactive_before_batch(store: JobStore) -> None:
    batch, _ = store.submit({}, priority=BATCH)
    interactive, _ = store.submit({}, priority=INTERACTIVE)
    assert claim_one(store).job.id == interactive.id
    assert claim_one(store).job.id == batch.id


def test_batch_keeps_its_share_under_continuous_interactive_load(store: JobStore) -> None:
    for n in range(60):
        store.submit({"n": n}, priority=BATCH)
    store.submit({}, priority=INTERACTIVE)
    claimed: Counter[Priority] = Counter()
    for _ in range(50):
        store.submit({}, priority=INTERACTIVE)  # interactive never runs out
        claimed[claim_one(store).job.priority] += 1
    assert claimed[BATCH] >= 50 * OPTIONS.batch_share
    assert claimed[BATCH] <= 50 * OPTIONS.batch_share + 1  # a share, not a takeover


def test_claim_limit_spans_priorities(store: JobStore) -> None:
    batch = [store.submit({"b": n}, priority=BATCH)[0].id for n in range(3)]
    inter = [store.submit({"i": n}, priority=INTERACTIVE)[0].id for n in range(2)]
    leases = store.claim("w1", limit=4)
    assert [lease.job.id for lease in leases] == inter + batch[:2]
    assert [lease.job.id for lease in store.claim("w1", limit=4)] == batch[2:]


def test_interactive_only_claims_leave_batch_jobs_and_their_share(store: JobStore) -> None:
    batch = [store.submit({"b": n}, priority=BATCH)[0].id for n in range(3)]
    inter = [store.submit({"i": n}, priority=INTERACTIVE)[0].id for n in range(4)]
    leases = store.claim("lane", limit=8, interactive_only=True)
    assert [lease.job.id for lease in leases] == inter  # no batch job, although it waited
    assert store.claim("lane", limit=8, interactive_only=True) == []
    assert all(store.get(job_id).state is JobState.QUEUED for job_id in batch)
    # The interactive-only picks did not bank batch credit: with a share of 0.2, five
    # contended picks give one batch job, counted from here.
    more = [store.submit({"i": n}, priority=INTERACTIVE)[0].id for n in range(5)]
    picks = [claim_one(store).job.id for _ in range(5)]
    assert picks == more[:4] + batch[:1]


# -- cancel --------------------------------------------------------------------------


def test_cancel_queued_job_never_starts(store: JobStore, clock: FakeClock) -> None:
    job, _ = store.submit({})
    cancelled = store.cancel(job.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.finished_at == clock.now
    assert store.claim("w1") == []


def test_cancel_running_job_is_finished_by_its_worker(store: JobStore) -> None:
    store.submit({})
    lease = claim_one(store)
    requested = store.cancel(lease.job.id)
    assert requested.state is JobState.RUNNING and requested.cancel_requested
    assert not store.renew(lease.job.id, lease.token)
    assert not store.complete(lease.job.id, lease.token, {"text": "x"})
    assert store.finish_cancelled(lease.job.id, lease.token)
    assert store.get(lease.job.id).state is JobState.CANCELLED


def test_cancelled_job_whose_worker_died_ends_cancelled(store: JobStore, clock: FakeClock) -> None:
    store.submit({})
    lease = claim_one(store)
    store.cancel(lease.job.id)
    clock.advance(OPTIONS.lease_s + 1)
    assert store.claim("w2") == []
    assert store.get(lease.job.id).state is JobState.CANCELLED


def test_cancel_of_failed_job_leaves_it(store: JobStore) -> None:
    store.submit({})
    lease = claim_one(store)
    store.fail(lease.job.id, lease.token, {"code": "bad"}, transient=False)
    assert store.cancel(lease.job.id).state is JobState.FAILED


# -- progress, workers, counts, retention --------------------------------------------


def test_progress_is_visible(store: JobStore) -> None:
    store.submit({})
    lease = claim_one(store)
    assert store.set_progress(lease.job.id, lease.token, "translate", 3, 10)
    assert store.get(lease.job.id).progress == {"stage": "translate", "done": 3, "total": 10}


def test_heartbeats_list_live_workers(store: JobStore, clock: FakeClock) -> None:
    store.heartbeat("old", {"models_loaded": False})
    clock.advance(30)
    store.heartbeat("new", {"models_loaded": True})
    live = store.workers(max_age_s=10)
    assert set(live) == {"new"} and live["new"]["models_loaded"] is True
    assert set(store.workers(max_age_s=60)) == {"old", "new"}


def test_counts_per_state(store: JobStore) -> None:
    for _ in range(3):
        store.submit({})
    lease = claim_one(store)
    store.complete(lease.job.id, lease.token, {})
    claim_one(store)
    counts = store.counts()
    assert counts["queued"] == 1 and counts["running"] == 1 and counts["succeeded"] == 1
    assert counts["dead"] == 0 and sum(counts.values()) == 3


def test_purge_expired_leaves_tombstones(store: JobStore, clock: FakeClock) -> None:
    store.submit({}, idempotency_key="k", body_hash="h")
    done = claim_one(store)
    store.complete(done.job.id, done.token, {"text": "ok"})
    waiting, _ = store.submit({})
    clock.advance(OPTIONS.result_ttl_s - 1)
    assert store.purge_expired() == 0 and store.get(done.job.id).result == {"text": "ok"}
    clock.advance(2)
    with pytest.raises(JobExpired):
        store.get(done.job.id)  # expired even before the purge runs
    assert store.purge_expired() == 1
    with pytest.raises(JobExpired):
        store.get(done.job.id)
    assert store.get(waiting.id).state is JobState.QUEUED  # only terminal jobs expire
    again, created = store.submit({}, idempotency_key="k", body_hash="other")
    assert created and again.id != done.job.id  # the key is free once its job is gone
    clock.advance(rules.TOMBSTONE_TTL_S + 1)
    store.purge_expired()
    with pytest.raises(JobNotFound):
        store.get(done.job.id)


# -- tenants and admission bounds ------------------------------------------------------


def test_a_tenant_sees_gets_and_cancels_only_its_own_jobs(store: JobStore) -> None:
    alice = [store.submit({"n": n}, tenant="alice")[0] for n in range(2)]
    bob, _ = store.submit({"n": 9}, tenant="bob")
    assert store.get(alice[0].id).tenant == "alice"  # no tenant given: every job (workers)
    assert store.get(alice[0].id, tenant="alice").payload == {"n": 0}
    with pytest.raises(JobNotFound):
        store.get(alice[0].id, tenant="bob")
    with pytest.raises(JobNotFound):
        store.cancel(alice[0].id, tenant="bob")
    assert store.get(alice[0].id).state is JobState.QUEUED  # the refused cancel did nothing
    assert [j.id for j in store.list(tenant="alice")] == [alice[1].id, alice[0].id]
    assert [j.id for j in store.list(tenant="bob")] == [bob.id]
    assert store.list(tenant="carol") == []
    assert len(store.list()) == 3
    assert store.cancel(bob.id, tenant="bob").state is JobState.CANCELLED
    assert [j.id for j in store.list(JobState.QUEUED, tenant="alice")] == [
        alice[1].id,
        alice[0].id,
    ]
    assert store.list(JobState.QUEUED, tenant="bob") == []
    assert [j.id for j in store.list(JobState.CANCELLED, tenant="bob")] == [bob.id]


def test_idempotency_keys_are_scoped_to_their_tenant(store: JobStore) -> None:
    alice, created_a = store.submit({"n": 1}, idempotency_key="k", body_hash="h1", tenant="alice")
    bob, created_b = store.submit({"n": 2}, idempotency_key="k", body_hash="h2", tenant="bob")
    assert created_a and created_b and alice.id != bob.id  # no conflict, no shared job
    again, created = store.submit({"n": 2}, idempotency_key="k", body_hash="h2", tenant="bob")
    assert not created and again.id == bob.id
    with pytest.raises(IdempotencyConflict):
        store.submit({"n": 3}, idempotency_key="k", body_hash="h3", tenant="alice")
    opened, created = store.submit({"n": 4}, idempotency_key="k", body_hash="h4")
    assert created and opened.tenant == "" and store.counts()["queued"] == 3


def test_a_purged_job_of_another_tenant_is_not_found(store: JobStore, clock: FakeClock) -> None:
    store.submit({}, tenant="alice")
    lease = claim_one(store)
    store.complete(lease.job.id, lease.token, {})
    clock.advance(OPTIONS.result_ttl_s + 1)
    assert store.purge_expired() == 1
    with pytest.raises(JobExpired):
        store.get(lease.job.id, tenant="alice")
    with pytest.raises(JobNotFound):
        store.get(lease.job.id, tenant="bob")


def test_queue_bounds_refuse_new_jobs_and_record_nothing(store: JobStore) -> None:
    bounds = QueueBounds(max_queued=3, max_queued_per_tenant=2)
    store.submit({}, tenant="alice", bounds=bounds, idempotency_key="a1", body_hash="h")
    store.submit({}, tenant="alice", bounds=bounds)
    with pytest.raises(TenantQueueFull) as tenant_full:
        store.submit({}, tenant="alice", bounds=bounds)
    assert tenant_full.value.details == {"limit": 2, "size": 2}
    # A replay of an accepted request is answered whatever the bounds.
    replay, created = store.submit(
        {}, tenant="alice", bounds=bounds, idempotency_key="a1", body_hash="h"
    )
    assert not created and replay.tenant == "alice"
    store.submit({}, tenant="bob", bounds=bounds)
    with pytest.raises(QueueFull) as full:
        store.submit({}, tenant="carol", bounds=bounds)
    assert full.value.details == {"limit": 3, "size": 3}
    assert store.counts()["queued"] == 3 and store.list(tenant="carol") == []
    # Running jobs are no longer queued: their room goes to new ones.
    store.claim("w1", limit=2)
    store.submit({}, tenant="alice", bounds=bounds)
    store.submit({}, tenant="carol", bounds=bounds)
    assert store.counts()["queued"] == 3


def test_a_job_queued_again_counts_against_its_tenant_again(
    store: JobStore, clock: FakeClock
) -> None:
    bounds = QueueBounds(max_queued_per_tenant=1)
    store.submit({}, tenant="alice", bounds=bounds)
    lease = claim_one(store)
    store.submit({}, tenant="alice", bounds=bounds)  # the first one runs
    store.claim("w2")
    assert store.release(lease.job.id, lease.token)  # back in the queue
    with pytest.raises(TenantQueueFull):
        store.submit({}, tenant="alice", bounds=bounds)
    store.cancel(lease.job.id)
    store.submit({}, tenant="alice", bounds=bounds)


def test_waiting_counts_runnable_jobs_of_one_priority(store: JobStore) -> None:
    for _ in range(3):
        store.submit({}, priority=INTERACTIVE)
    store.submit({}, priority=BATCH)
    assert store.waiting(INTERACTIVE, 10) == 3 and store.waiting(BATCH, 10) == 1
    assert store.waiting(INTERACTIVE, 2) == 2
    store.claim("w1", limit=1, interactive_only=True)
    assert store.waiting(INTERACTIVE, 10) == 2


# -- SQLite only ---------------------------------------------------------------------


def test_sqlite_file_is_wal_and_versioned(tmp_path: Path) -> None:
    SQLiteJobStore(tmp_path / "jobs.db").close()
    db = sqlite3.connect(tmp_path / "jobs.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="newer"):
        SQLiteJobStore(tmp_path / "jobs.db")


# The jobs table of schema 1 (before tenants), as Passeur 1 wrote it.
_V1_JOBS = """CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL, priority INTEGER NOT NULL, payload TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, deliveries INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0, progress TEXT NOT NULL DEFAULT '{}', result TEXT,
    error TEXT, idempotency_key TEXT UNIQUE, body_hash TEXT, lease_token TEXT,
    lease_expires_at REAL, worker TEXT, not_before REAL NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0, started_at REAL, finished_at REAL,
    expires_at REAL)"""


def test_sqlite_file_of_schema_1_is_migrated_with_its_jobs(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "jobs.db")
    db.executescript(
        f"""{_V1_JOBS};
        CREATE TABLE tombstones (id TEXT PRIMARY KEY, purged_at REAL NOT NULL) WITHOUT ROWID;
        CREATE TABLE workers (name TEXT PRIMARY KEY, seen_at REAL NOT NULL, info TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
        INSERT INTO jobs (id, state, priority, payload, created_at, updated_at, idempotency_key,
                          body_hash)
        VALUES ('{"a" * 32}', 'queued', 1, '{{"n": 1}}', 1, 1, 'k', 'h');
        INSERT INTO tombstones VALUES ('{"b" * 32}', 1);
        PRAGMA user_version = 1;"""
    )
    db.close()
    store = SQLiteJobStore(tmp_path / "jobs.db")
    old = store.get("a" * 32)
    assert old.payload == {"n": 1} and old.tenant == "" and old.state is JobState.QUEUED
    again, created = store.submit({"n": 1}, idempotency_key="k", body_hash="h")
    assert not created and again.id == old.id  # its key still holds for the open API
    mine, created = store.submit({"n": 2}, idempotency_key="k", body_hash="x", tenant="t")
    assert created and store.list(tenant="t") == [mine]
    with pytest.raises(JobExpired):
        store.get("b" * 32, tenant="t")  # a tombstone without an owner: expired for anyone
    assert [lease.job.id for lease in store.claim("w", limit=5)] == [old.id, mine.id]
    store.close()
    assert sqlite3.connect(tmp_path / "jobs.db").execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_sqlite_file_locked_past_the_busy_timeout_refuses_with_503(tmp_path: Path) -> None:
    """Another writer holding the lock is overload, not a crash: StoreUnavailable (503
    store_unavailable, as Redis answers), not sqlite3's 'database is locked' as a 500."""
    from service.jobs.store.base import StoreUnavailable

    store = SQLiteJobStore(tmp_path / "jobs.db", busy_timeout_s=0.2)
    holder = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable, match="stayed locked by other writers") as refused:
            store.submit({"n": 1})
        assert refused.value.http_status == 503 and refused.value.code == "store_unavailable"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.submit({"n": 1})[1]  # the lock given back, the write goes through
    store.close()


def test_sqlite_stores_on_one_file_share_jobs(tmp_path: Path, clock: FakeClock) -> None:
    api = SQLiteJobStore(tmp_path / "jobs.db", OPTIONS, clock=clock)
    worker = SQLiteJobStore(tmp_path / "jobs.db", OPTIONS, clock=clock)
    job, _ = api.submit({"text": "Bonjour"})
    lease = claim_one(worker)
    assert lease.job.id == job.id and api.get(job.id).state is JobState.RUNNING
    assert api.claim("w2") == []
    worker.complete(job.id, lease.token, {"text": "Hello"})
    assert api.get(job.id).result == {"text": "Hello"}
    api.close()
    worker.close()


def test_sqlite_two_threads_never_claim_the_same_job(tmp_path: Path) -> None:
    stores = [SQLiteJobStore(tmp_path / "jobs.db") for _ in range(2)]
    ids = {stores[0].submit({"n": n})[0].id for n in range(100)}
    claimed: list[list[str]] = [[], []]

    def work(i: int) -> None:
        for _ in range(50):
            claimed[i].extend(lease.job.id for lease in stores[i].claim(f"t{i}"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed[0]) == len(claimed[1]) == 50
    assert Counter(claimed[0] + claimed[1]) == Counter(ids)
    for store in stores:
        store.close()


_WORKER = """
import sys
from service.jobs.store import SQLiteJobStore, StoreOptions
store = SQLiteJobStore(sys.argv[1], StoreOptions(lease_s=300))
while True:
    leases = store.claim(sys.argv[2], limit=2)
    if not leases and store.counts()["queued"] == 0:
        break
    for lease in leases:
        if store.complete(lease.job.id, lease.token, {"by": sys.argv[2]}):
            print(lease.job.id, flush=True)
"""


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sqlite_three_processes_complete_each_job_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path)
    ids = {store.submit({"n": n})[0].id for n in range(60)}
    procs = [_python(_WORKER, str(path), f"p{i}") for i in range(3)]
    completed: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        completed += out.split()
    assert Counter(completed) == Counter(ids)
    assert store.counts()["succeeded"] == 60
    assert all(job.deliveries == 1 for job in store.list(limit=100))
    store.close()


_SUBMITTER = """
import sys
from service.jobs.store import SQLiteJobStore
store = SQLiteJobStore(sys.argv[1])
n = 0
while True:
    job, _ = store.submit({"n": n})
    print(job.id, flush=True)
    n += 1
"""


def test_sqlite_submitted_jobs_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    proc = _python(_SUBMITTER, str(path))
    assert proc.stdout is not None
    printed: list[str] = []
    while len(printed) < 25:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"submitter stopped: {proc.communicate()[1]}")
        printed.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    printed += proc.stdout.read().split()  # ids it printed before dying count too
    store = SQLiteJobStore(path)
    for job_id in printed:
        assert store.get(job_id).state is JobState.QUEUED
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


# -- open_store ----------------------------------------------------------------------


def test_open_store_reads_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory://", OPTIONS), MemoryJobStore)
    absolute = open_store(f"sqlite:///{tmp_path}/abs/jobs.db", OPTIONS)
    assert isinstance(absolute, SQLiteJobStore) and (tmp_path / "abs" / "jobs.db").is_file()
    absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel/dir/jobs.db", OPTIONS)
    assert (tmp_path / "rel" / "dir" / "jobs.db").is_file()
    relative.close()


@pytest.mark.parametrize("url", ["postgres://db/jobs", "sqlite://", "jobs.db", "memory://x"])
def test_open_store_refuses_unknown_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="memory://.*sqlite:///"):
        open_store(url, OPTIONS)


def test_importing_the_store_stays_light() -> None:
    heavy = "{'torch', 'transformers', 'pydantic'}"
    code = f"import sys, service.jobs.store; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# -- Redis only ----------------------------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """A test Redis URL and a key prefix of its own, dropped afterwards."""
    url = redis_or_skip()
    prefix = f"passeur-test-{uuid.uuid4().hex[:12]}"
    yield url, prefix
    drop_redis_prefix(url, prefix)


def _raw(url: str):
    import redis

    return redis.Redis.from_url(url, decode_responses=True)


def test_redis_leases_are_stream_deliveries(redis_prefix, clock: FakeClock) -> None:
    from service.jobs.store.redis import RedisJobStore

    url, prefix = redis_prefix
    store = RedisJobStore(url, OPTIONS, clock=clock, prefix=prefix)
    raw, queue = _raw(url), f"{{{prefix}}}:queue:batch"
    job, _ = store.submit({"n": 1})
    other, _ = store.submit({"n": 2})
    first = claim_one(store, "w1")
    assert first.job.id == job.id
    [pending] = raw.xpending_range(queue, "workers", "-", "+", 10)
    assert pending["consumer"] == "w1" and pending["times_delivered"] == 1
    assert store.renew(job.id, first.token)  # the owner's XCLAIM: still w1's
    assert raw.xpending_range(queue, "workers", "-", "+", 10)[0]["consumer"] == "w1"
    clock.advance(OPTIONS.lease_s + 1)
    second = claim_one(store, "w2")  # the expired job was queued again, behind `other`
    assert second.job.id == other.id
    third = claim_one(store, "w2")
    assert third.job.id == job.id and third.job.deliveries == 2
    by_entry = {p["message_id"]: p for p in raw.xpending_range(queue, "workers", "-", "+", 10)}
    assert sorted(p["times_delivered"] for p in by_entry.values()) == [1, 2]
    assert {p["consumer"] for p in by_entry.values()} == {"w2"}
    assert not store.complete(job.id, first.token, {"by": "w1"})
    assert store.complete(job.id, third.token, {"by": "w2"})
    assert store.complete(other.id, second.token, {"by": "w2"})
    assert raw.xpending(queue, "workers")["pending"] == 0 and raw.xlen(queue) == 0
    store.close()


def test_redis_sweep_drops_deliveries_no_lease_accounts_for(redis_prefix) -> None:
    from service.jobs.store.redis import RedisJobStore

    url, prefix = redis_prefix
    store = RedisJobStore(url, StoreOptions(lease_s=0.2), prefix=prefix)  # server clock
    raw, queue = _raw(url), f"{{{prefix}}}:queue:batch"
    raw.xadd(queue, {"job": "f" * 32})  # a delivery whose job record is gone
    raw.xreadgroup("workers", "ghost", {queue: ">"}, count=1)
    time.sleep(0.3)
    assert store.claim("w1") == []
    assert raw.xpending(queue, "workers")["pending"] == 0 and raw.xlen(queue) == 0
    store.close()


def test_redis_stores_share_jobs_and_fence_on_the_server_clock(redis_prefix) -> None:
    url, prefix = redis_prefix
    options = StoreOptions(lease_s=0.5)
    api, w1, w2 = (open_store(f"{url}?prefix={prefix}", options) for _ in range(3))
    job, _ = api.submit({"text": "Bonjour"})
    first = claim_one(w1, "w1")
    assert w2.claim("w2") == []
    time.sleep(0.6)  # w1 paused past its lease
    second = claim_one(w2, "w2")
    assert second.job.id == job.id and second.job.deliveries == 2
    assert not w1.complete(job.id, first.token, {"by": "w1"})
    assert w2.complete(job.id, second.token, {"by": "w2"})
    assert api.get(job.id).result == {"by": "w2"}
    for store in (api, w1, w2):
        store.close()


def test_redis_idempotency_key_is_shared_by_stores(redis_prefix) -> None:
    url, prefix = redis_prefix
    stores = [open_store(f"{url}?prefix={prefix}", OPTIONS) for _ in range(2)]
    ids: list[str] = []

    def post(i: int) -> None:
        job, _ = stores[i % 2].submit({"n": 1}, idempotency_key="same", body_hash="h")
        ids.append(job.id)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 20 and len(set(ids)) == 1
    assert stores[0].counts()["queued"] == 1
    for store in stores:
        store.close()


def test_redis_unreachable_fails_fast_with_the_fix() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match="start Redis"):
        open_store("redis://127.0.0.1:1/0", OPTIONS)
    assert time.monotonic() - started < 5
