"""An in-memory job store: the twin of the SQLite store for tests and one-process runs.

Thread-safe (one lock); nothing survives the process. Jobs handed out are copies, so a
caller cannot change the store's state except through its methods.
"""

from __future__ import annotations

import builtins
import copy
import itertools
import threading
from typing import Any

from service.jobs.store import rules
from service.jobs.store.base import (
    Clock,
    Job,
    JobExpired,
    JobNotFound,
    JobState,
    Lease,
    Priority,
    QueueBounds,
    StoreOptions,
    wall_clock,
)


class MemoryJobStore:
    """A :class:`~service.jobs.store.base.JobStore` held in dictionaries."""

    def __init__(self, options: StoreOptions | None = None, *, clock: Clock = wall_clock) -> None:
        self.options = options or StoreOptions()
        rules.validate_options(self.options)
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._seq: dict[str, int] = {}  # claim and list order when clocks tie
        self._counter = itertools.count()
        self._by_key: dict[tuple[str, str], str] = {}  # (tenant, idempotency key) -> id
        self._tombstones: dict[str, tuple[float, str]] = {}  # id -> (purged at, tenant)
        self._workers: dict[str, tuple[float, dict[str, Any]]] = {}
        self._batch_credit = 0.0

    def submit(
        self,
        payload: dict[str, Any],
        *,
        priority: Priority = Priority.BATCH,
        idempotency_key: str | None = None,
        body_hash: str | None = None,
        tenant: str = "",
        bounds: QueueBounds | None = None,
    ) -> tuple[Job, bool]:
        """Record a queued job, or return the one already submitted under the key."""
        with self._lock:
            now = self._clock()
            key = (tenant, idempotency_key) if idempotency_key is not None else None
            if key is not None and key in self._by_key:
                existing = self._jobs[self._by_key[key]]
                if rules.is_expired(existing, now):
                    self._purge(existing, now)  # the key is free again once its job is gone
                else:
                    rules.check_same_body(existing, body_hash)
                    return copy.deepcopy(existing), False
            if bounds is not None:
                queued = [j for j in self._jobs.values() if j.state is JobState.QUEUED]
                mine = sum(1 for j in queued if j.tenant == tenant)
                rules.check_bounds(bounds, len(queued), mine)
            job = rules.new_job(
                copy.deepcopy(payload), priority, idempotency_key, body_hash, now, tenant
            )
            self._jobs[job.id] = job
            self._seq[job.id] = next(self._counter)
            if key is not None:
                self._by_key[key] = job.id
            return copy.deepcopy(job), True

    def get(self, job_id: str, *, tenant: str | None = None) -> Job:
        """The job; JobNotFound if unknown or another tenant's, JobExpired once past
        retention."""
        with self._lock:
            return copy.deepcopy(self._live(job_id, self._clock(), tenant))

    def list(
        self, state: JobState | None = None, limit: int = 50, *, tenant: str | None = None
    ) -> builtins.list[Job]:
        """Newest first, optionally one state or one tenant only; expired jobs are left out."""
        with self._lock:
            now = self._clock()
            jobs = [
                job
                for job in self._jobs.values()
                if (state is None or job.state is state)
                and (tenant is None or job.tenant == tenant)
                and not rules.is_expired(job, now)
            ]
            jobs.sort(key=lambda job: (job.created_at, self._seq[job.id]), reverse=True)
            return [copy.deepcopy(job) for job in jobs[: max(limit, 0)]]

    def waiting(self, priority: Priority, cap: int) -> int:
        """Runnable queued jobs of ``priority``, up to ``cap``."""
        with self._lock:
            now = self._clock()
            n = sum(
                1
                for job in self._jobs.values()
                if job.priority is priority and rules.is_runnable(job, now)
            )
            return min(n, cap)

    def claim(
        self, worker: str, *, limit: int = 1, interactive_only: bool = False
    ) -> builtins.list[Lease]:
        """Lease up to ``limit`` runnable jobs (see :func:`rules.plan_claims`)."""
        with self._lock:
            now = self._clock()
            for job in self._jobs.values():
                if rules.lease_expired(job, now):
                    rules.settle_expired_lease(job, now, self.options)
            runnable = sorted(
                (job for job in self._jobs.values() if rules.is_runnable(job, now)),
                key=lambda job: (job.created_at, self._seq[job.id]),
            )
            interactive = [job for job in runnable if job.priority is Priority.INTERACTIVE]
            batch = [
                job for job in runnable if job.priority is Priority.BATCH and not interactive_only
            ]
            picked, self._batch_credit = rules.plan_claims(
                interactive, batch, limit, self._batch_credit, self.options.batch_share
            )
            leases = []
            for job in picked:
                token = rules.new_lease_token()
                rules.grant_lease(job, worker, token, now, self.options)
                leases.append(Lease(copy.deepcopy(job), token))
            return leases

    def renew(self, job_id: str, token: str) -> bool:
        """Extend the lease; False when lost or cancel was requested."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job is not None and rules.renew(job, token, self._clock(), self.options)

    def set_progress(self, job_id: str, token: str, stage: str, done: int, total: int) -> bool:
        """Record progress under the lease."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job is not None and rules.set_progress(
                job, token, stage, done, total, self._clock()
            )

    def complete(self, job_id: str, token: str, result: dict[str, Any]) -> bool:
        """running -> succeeded; False if the lease is lost."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job is not None and rules.complete(
                job, token, copy.deepcopy(result), self._clock(), self.options
            )

    def fail(self, job_id: str, token: str, error: dict[str, Any], *, transient: bool) -> bool:
        """Retry with backoff (transient) or fail; False if the lease is lost."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job is not None and rules.fail(
                job, token, copy.deepcopy(error), transient, self._clock(), self.options
            )

    def release(self, job_id: str, token: str) -> bool:
        """Give the job back without counting the delivery."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job is not None and rules.release(job, token, self._clock(), self.options)

    def cancel(self, job_id: str, *, tenant: str | None = None) -> Job:
        """Cancel (queued) or request a cancel (running); terminal jobs are unchanged."""
        with self._lock:
            now = self._clock()
            job = self._live(job_id, now, tenant)
            rules.cancel(job, now, self.options)
            return copy.deepcopy(job)

    def finish_cancelled(self, job_id: str, token: str) -> bool:
        """The worker stopped a job whose cancel was requested."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job is not None and rules.finish_cancelled(
                job, token, self._clock(), self.options
            )

    def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        """Note that ``worker`` is alive."""
        with self._lock:
            self._workers[worker] = (self._clock(), copy.deepcopy(info))

    def workers(self, max_age_s: float) -> dict[str, dict[str, Any]]:
        """Workers seen within ``max_age_s``, each with its info and ``last_seen``."""
        with self._lock:
            now = self._clock()
            return {
                name: {**copy.deepcopy(info), "last_seen": seen}
                for name, (seen, info) in self._workers.items()
                if now - seen <= max_age_s
            }

    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present."""
        with self._lock:
            counts = rules.empty_counts()
            for job in self._jobs.values():
                counts[job.state.value] += 1
            return counts

    def purge_expired(self) -> int:
        """Forget terminal jobs past retention; keep their ids as tombstones for a while."""
        with self._lock:
            now = self._clock()
            expired = [job for job in self._jobs.values() if rules.is_expired(job, now)]
            for job in expired:
                self._purge(job, now)
            cutoff = now - rules.TOMBSTONE_TTL_S
            self._tombstones = {k: t for k, t in self._tombstones.items() if t[0] > cutoff}
            self._workers = {k: v for k, v in self._workers.items() if v[0] > cutoff}
            return len(expired)

    def close(self) -> None:
        """Nothing to release."""

    def _live(self, job_id: str, now: float, tenant: str | None = None) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            if job_id in self._tombstones:
                rules.check_owner(job_id, self._tombstones[job_id][1], tenant)
                raise JobExpired(f"job {job_id} has expired and its result was deleted")
            raise JobNotFound(f"no job {job_id}")
        rules.check_owner(job_id, job.tenant, tenant)
        if rules.is_expired(job, now):
            raise JobExpired(f"job {job_id} has expired and its result was deleted")
        return job

    def _purge(self, job: Job, now: float) -> None:
        del self._jobs[job.id]
        del self._seq[job.id]
        if job.idempotency_key is not None:
            self._by_key.pop((job.tenant, job.idempotency_key), None)
        self._tombstones[job.id] = (now, job.tenant)
