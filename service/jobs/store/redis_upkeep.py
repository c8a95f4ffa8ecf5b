"""Upkeep of the Redis job store: expired leases settled, retries whose backoff has passed
queued again, deliveries no lease accounts for swept, terminal jobs purged past retention,
and the worker heartbeats and state counts the API reads.

A mixin of :class:`service.jobs.store.redis.RedisJobStore`, apart because none of it is on
the path of a job's own writes.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable
from typing import Any

import redis

from service.jobs.store import rules
from service.jobs.store.base import Job, JobState, Priority, StoreOptions
from service.jobs.store.redis_scripts import GROUP, Keys, tomb_value

SCAN_BATCH = 100  # expired leases, due retries or purges handled per round trip
CONSUMER_IDLE_MS = 24 * 3600 * 1000  # a stream consumer idle this long with nothing pending


class RedisUpkeep:
    """What a store's claims run now and then, and what the API asks of the whole store."""

    options: StoreOptions
    _r: Any
    _keys: Keys
    _last_sweep: float
    _discard_script: Any
    _purge_script: Any
    _peek: Any

    def _now(self) -> float:
        raise NotImplementedError

    def _read(self, job_id: str) -> Any:
        raise NotImplementedError

    def _read_many(self, job_ids: builtins.list[str]) -> builtins.list[Any]:
        raise NotImplementedError

    def _ensure_groups(self) -> None:
        raise NotImplementedError

    def _transition(
        self,
        job_id: str,
        rule: Callable[[Job, float], bool],
        *,
        token: str | None = None,
        renew: bool = False,
    ) -> bool:
        raise NotImplementedError

    def _settle_and_enqueue(self) -> None:
        """Running jobs whose deadline passed on the store's clock are settled by
        :func:`rules.settle_expired_lease` (queued again, dead or cancelled); queued jobs
        whose backoff has passed get their stream entry back."""
        k = self._keys
        now = repr(self._now())
        pipe = self._r.pipeline(transaction=False)
        pipe.zrangebyscore(k.leased, "-inf", now, 0, SCAN_BATCH)
        pipe.zrangebyscore(k.delayed, "-inf", now, 0, SCAN_BATCH)
        expired, due = pipe.execute()
        for job_id in expired:
            self._transition_or_forget(job_id, self._settle)
        for job_id in due:
            self._transition_or_forget(job_id, lambda job, now: rules.is_runnable(job, now))

    def _settle(self, job: Job, now: float) -> bool:
        if not rules.lease_expired(job, now):
            return False
        rules.settle_expired_lease(job, now, self.options)
        return True

    def _transition_or_forget(self, job_id: str, rule: Callable[[Job, float], bool]) -> None:
        """Apply ``rule``; a job gone meanwhile (its hash expired) leaves the indexes."""
        if not self._transition(job_id, rule) and not self._r.exists(self._keys.job(job_id)):
            self._r.zrem(self._keys.leased, job_id)
            self._r.zrem(self._keys.delayed, job_id)

    def _sweep_pending(self, consumer: str) -> None:
        """``XAUTOCLAIM`` entries idle for a whole lease: a live lease is renewed (its
        idle time reset) every third of a lease, so these are deliveries no lease
        accounts for. Settle them by the rules, drop orphans, give live ones back."""
        if time.monotonic() - self._last_sweep < self.options.lease_s / 2:
            return
        self._last_sweep = time.monotonic()
        min_idle = int(self.options.lease_s * 1000)
        for queue in self._keys.queues.values():
            try:
                _, entries, *_ = self._r.xautoclaim(
                    queue, GROUP, consumer, min_idle, "0-0", count=SCAN_BATCH
                )
            except redis.ResponseError:
                self._ensure_groups()
                continue
            for entry, fields in entries:
                job_id = (fields or {}).get("job", "")
                stored = self._read(job_id) if job_id else None
                if stored is None or stored.entry != entry:
                    self._discard_script(keys=[queue, self._keys.job(job_id)], args=[GROUP, entry])
                elif stored.job.state is JobState.RUNNING and stored.job.worker:
                    if rules.lease_expired(stored.job, self._now()):
                        self._transition(job_id, self._settle)
                    else:  # clocks disagree: the lease still holds, give the entry back
                        self._r.xclaim(
                            queue,
                            GROUP,
                            stored.job.worker,
                            0,
                            [entry],
                            idle=0,
                            retrycount=stored.job.deliveries,
                            justid=True,
                        )

    def list(
        self, state: JobState | None = None, limit: int = 50, *, tenant: str | None = None
    ) -> builtins.list[Job]:
        """Newest first, optionally one state or one tenant only; expired jobs are left
        out. A tenant's list reads its own index (and filters it by state)."""
        now = self._now()
        k = self._keys
        if tenant is not None:
            index = k.tenant_order(tenant)
        else:
            index = k.order if state is None else k.indexes[JobState(state)]
        jobs: builtins.list[Job] = []
        page = max(limit, 1) * 2
        start = 0
        while len(jobs) < limit:
            ids = self._r.zrevrange(index, start, start + page - 1)
            if not ids:
                break
            start += page
            gone = []
            for job_id, stored in zip(ids, self._read_many(ids), strict=True):
                if stored is None:
                    gone.append(job_id)  # its hash outlived its TTL (nobody purged it)
                elif not rules.is_expired(stored.job, now) and (
                    state is None or stored.job.state is JobState(state)
                ):
                    jobs.append(stored.job)
            if gone:
                self._r.zrem(index, *gone)
                start -= len(gone)
        return jobs[: max(limit, 0)]

    def waiting(self, priority: Priority, cap: int) -> int:
        """Entries of the priority's stream not yet delivered (queued jobs past their
        backoff), up to ``cap``: read as a claim's peek reads them."""
        k = self._keys
        queues = [k.queues[Priority.INTERACTIVE], k.queues[Priority.BATCH]]
        try:
            _, entries_i, _, entries_b, _ = self._peek(
                keys=[*queues, k.credit], args=[GROUP, max(cap, 0)]
            )
        except redis.ResponseError:
            self._ensure_groups()
            return 0
        return len(entries_i if priority is Priority.INTERACTIVE else entries_b)

    def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        """Note that ``worker`` is alive."""
        record = {"seen_at": self._now(), "info": info}
        self._r.hset(self._keys.workers, worker, json.dumps(record, ensure_ascii=False))

    def workers(self, max_age_s: float) -> dict[str, dict[str, Any]]:
        """Workers seen within ``max_age_s``, each with its info and ``last_seen``."""
        now = self._now()
        live = {}
        for name, raw in self._r.hgetall(self._keys.workers).items():
            record = json.loads(raw)
            if now - record["seen_at"] <= max_age_s:
                live[name] = {**record["info"], "last_seen": record["seen_at"]}
        return live

    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present."""
        pipe = self._r.pipeline(transaction=False)
        for state in JobState:
            pipe.zcard(self._keys.indexes[state])
        counts = rules.empty_counts()
        for state, n in zip(JobState, pipe.execute(), strict=True):
            counts[state.value] = int(n)
        return counts

    def purge_expired(self) -> int:
        """Forget terminal jobs past retention; keep their ids as tombstones for a while.
        Also drops tombstones, heartbeats and stream consumers idle for as long."""
        now = self._now()
        k = self._keys
        purged = 0
        for _ in range(1000):  # SCAN_BATCH at a time, 100,000 per call at most
            due = self._r.zrangebyscore(k.expiry, "-inf", repr(now), 0, SCAN_BATCH)
            for job_id in due:
                purged += self._purge(job_id, self._read(job_id), now)
            if len(due) < SCAN_BATCH:
                break
        cutoff = now - rules.TOMBSTONE_TTL_S
        old = self._r.zrangebyscore(k.tombs, "-inf", repr(cutoff), 0, SCAN_BATCH * 10)
        if old:
            self._r.delete(*[k.tomb(job_id) for job_id in old])
            self._r.zrem(k.tombs, *old)
        for name, raw in self._r.hgetall(k.workers).items():
            if json.loads(raw)["seen_at"] <= cutoff:
                self._r.hdel(k.workers, name)
        for queue in k.queues.values():  # one consumer per worker process ever started
            for consumer in self._r.xinfo_consumers(queue, GROUP):
                if consumer["pending"] == 0 and consumer["idle"] > CONSUMER_IDLE_MS:
                    self._r.xgroup_delconsumer(queue, GROUP, consumer["name"])
        return purged

    # -- helpers -----------------------------------------------------------------------

    def _purge(self, job_id: str, stored: Any, now: float) -> int:
        k = self._keys
        job = stored.job if stored else None
        keys = [
            k.job(job_id),
            k.idem(job.idempotency_key, job.tenant) if job else k.idem(None),
            k.order,
            k.expiry,
            k.leased,
            k.delayed,
            k.tomb(job_id),
            k.tombs,
            k.queues[job.priority if job else Priority.BATCH],
            *k.indexes.values(),
        ]
        if job is not None:
            keys += [k.tenant_order(job.tenant), k.tenant_queued(job.tenant)]
        args: builtins.list[Any] = [
            job_id,
            stored.version if stored else "",
            repr(now),
            int(rules.TOMBSTONE_TTL_S),
            GROUP,
            stored.entry if stored else "",
            tomb_value(job),
        ]
        return int(self._purge_script(keys=keys, args=args))
