"""The scale-out job store: Redis Streams deliver jobs to the workers of many hosts, hashes
hold the job records, and every state change is one Lua script fenced by the job's version
and lease token.

How the lease model maps onto Redis:

- A queued job has one *entry* in the stream of its priority (``...:queue:interactive``,
  ``...:queue:batch``), read by the consumer group ``workers``. :meth:`claim` leases new
  entries with ``XREADGROUP ... COUNT k`` (the worker is the consumer), inside the script
  that grants the leases, so delivery and lease are one atomic step.
- The lease itself (token, deadline) lives in the job's hash; a sorted set of running jobs
  by deadline finds the expired ones. Deadlines are read on the store's clock: by default
  the Redis server's ``TIME``, so every host judges leases by one clock and the deadlines
  agree with the idle times Redis keeps for the stream entries.
- Renewing is the owner's ``XCLAIM ... IDLE 0 JUSTID`` on its entry (plus the new deadline
  in the hash), so a live lease never looks idle. ``XAUTOCLAIM`` with min-idle = the lease
  time sweeps the pending entries for any whose lease the hashes no longer account for.
- Ending a delivery (completion, failure, release, an expired lease) is ``XACK`` + ``XDEL``
  of the entry; a job queued again gets a new entry at the back of its stream (or waits
  in a sorted set until its backoff has passed). Each grant sets the entry's delivery
  count (``XCLAIM ... RETRYCOUNT``) to the job's deliveries, so ``XPENDING`` shows the
  count that dead-lettering (:func:`rules.settle_expired_lease`) goes by.
- Idempotency keys are plain keys, set only if absent inside the submit script, so every
  API replica sees the same key; they expire with their job.
- Terminal jobs get a TTL (retention plus the tombstone time) as a backstop; purging
  leaves a tombstone so a purged id answers 410, not 404.

The transitions themselves are :mod:`service.jobs.store.rules`, run here in Python: a write
reads the job, applies the rule, and the script stores it only if the job's version (and
the caller's lease token) are still what was read; otherwise the rule runs again on the
fresh job. Every key shares one hash tag, so the scripts also run on Redis Cluster.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import redis

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
)
from service.jobs.store.redis_connect import StoreUnavailable, connect, split_url, submit_durably
from service.jobs.store.redis_scripts import (
    DISCARD,
    GRANT,
    GROUP,
    PEEK,
    PURGE,
    SUBMIT,
    WRITE,
    Keys,
    decode_job,
    encode_job,
    tomb_owner,
)
from service.jobs.store.redis_upkeep import RedisUpkeep

__all__ = ["RedisJobStore", "StoreUnavailable"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 200  # optimistic retries of one write under contention (each one is fast)


@dataclasses.dataclass
class _Stored:
    job: Job
    version: str
    entry: str
    seq: str


def _check_id(job_id: str) -> None:
    if not (len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)):
        raise JobNotFound(f"no job {job_id}")


class RedisJobStore(RedisUpkeep):
    """A :class:`~service.jobs.store.base.JobStore` on Redis (>= 6.2; 7.2 adds WAITAOF).

    ``clock`` None (the default) reads the Redis server's ``TIME``: one clock for every
    host, whatever their skew. ``prefix`` separates several Passeur deployments (or test
    runs) on one database.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        options: StoreOptions | None = None,
        *,
        clock: Clock | None = None,
        prefix: str = "passeur",
        wait_aof_timeout_s: float = 5.0,
    ) -> None:
        self.options = options or StoreOptions()
        rules.validate_options(self.options)
        url, prefix = split_url(url, prefix)
        self.url = url
        self.prefix = prefix
        self._clock = clock
        self._keys = Keys(prefix)
        self._wait_aof_ms = int(wait_aof_timeout_s * 1000)
        self._aof: bool | None = None  # unknown until the first submit
        self._last_sweep = 0.0
        self._r: Any = connect(url)
        self._submit = self._r.register_script(SUBMIT)
        self._write_script = self._r.register_script(WRITE)
        self._peek = self._r.register_script(PEEK)
        self._grant = self._r.register_script(GRANT)
        self._discard_script = self._r.register_script(DISCARD)
        self._purge_script = self._r.register_script(PURGE)
        self._ensure_groups()

    # -- plumbing ----------------------------------------------------------------------

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        seconds, micros = self._r.time()
        return seconds + micros / 1e6

    def _ensure_groups(self) -> None:
        for queue in self._keys.queues.values():
            try:
                self._r.xgroup_create(queue, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _read(self, job_id: str) -> _Stored | None:
        raw = self._r.hgetall(self._keys.job(job_id))
        return _stored(raw)

    def _read_many(self, job_ids: builtins.list[str]) -> builtins.list[_Stored | None]:
        pipe = self._r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self._keys.job(job_id))
        return [_stored(raw) for raw in pipe.execute()]

    def _write(
        self, before: JobState, stored: _Stored, now: float, token: str | None, renew: bool
    ) -> int:
        """Store ``stored.job`` if its version (and ``token``) still hold: 1 written,
        0 changed meanwhile, -1 gone. Works out the stream and index changes the move
        from ``before`` implies."""
        job, k = stored.job, self._keys
        after = job.state
        waiting = after is JobState.QUEUED and job.not_before > now
        keep = (before is after is JobState.RUNNING) or (
            before is after is JobState.QUEUED and not waiting
        )
        newly_terminal = after.terminal and not before.terminal
        ttl_ms = int((self.options.result_ttl_s + rules.TOMBSTONE_TTL_S) * 1000)
        args: builtins.list[Any] = [
            stored.version,
            json.dumps(token) if token is not None else "",
            job.id,
            stored.seq,
            "0" if keep else "1",
            "1" if after is JobState.QUEUED and not waiting else "0",
            job.worker if renew and job.worker else "",
            repr(job.lease_expires_at) if after is JobState.RUNNING else "",
            repr(job.not_before) if waiting else "",
            repr(job.expires_at) if newly_terminal else "",
            max(ttl_ms, 1),
            GROUP,
            "1" if after is JobState.QUEUED else "0",
            *encode_job(job),
        ]
        keys = [
            k.job(job.id),
            k.queues[job.priority],
            k.leased,
            k.delayed,
            k.expiry,
            k.indexes[before],
            k.indexes[after],
            k.idem(job.idempotency_key, job.tenant),
            k.tenant_queued(job.tenant),
        ]
        return int(self._write_script(keys=keys, args=args))

    def _transition(
        self,
        job_id: str,
        rule: Callable[[Job, float], bool],
        *,
        token: str | None = None,
        renew: bool = False,
    ) -> bool:
        """Apply ``rule`` to the job and store the outcome atomically; a rule that
        refuses writes nothing (False)."""
        for _ in range(MAX_ATTEMPTS):
            now = self._now()
            stored = self._read(job_id)
            if stored is None:
                return False
            before = stored.job.state
            if not rule(stored.job, now):
                return False
            outcome = self._write(before, stored, now, token, renew)
            if outcome == 1:
                return True
            if outcome == -1:
                return False
            again = self._read(job_id)  # a retried script may have landed after all
            if again and again.job == stored.job and int(again.version) == int(stored.version) + 1:
                return True
            _pause()
        raise StoreUnavailable(f"job {job_id}: too many concurrent writes, try again")

    # -- the JobStore protocol ---------------------------------------------------------

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
        """Record a queued job and its stream entry in one script (which also checks the
        bounds), or return the job already submitted under the tenant's idempotency key.
        With AOF on, waits until the write is fsynced (``WAITAOF``, Redis >= 7.2)."""
        k = self._keys
        idem = k.idem(idempotency_key, tenant)
        limits = (bounds.max_queued, bounds.max_queued_per_tenant) if bounds else (None, None)
        for _ in range(MAX_ATTEMPTS):
            now = self._now()
            if idempotency_key is not None:
                existing_id = self._r.get(idem)
                if existing_id is not None:
                    stored = self._read(existing_id)
                    if stored is None or rules.is_expired(stored.job, now):
                        self._purge(existing_id, stored, now)  # the key is free again
                        continue
                    rules.check_same_body(stored.job, body_hash)
                    return stored.job, False
            job = rules.new_job(payload, priority, idempotency_key, body_hash, now, tenant)
            keys = [k.job(job.id), idem, k.queues[job.priority], k.order]
            keys += [k.indexes[JobState.QUEUED], k.seq, k.tenant_order(tenant)]
            keys.append(k.tenant_queued(tenant))
            args = [job.id, "1" if idempotency_key is not None else "0"]
            args += ["" if n is None else str(n) for n in limits]
            outcome, self._aof = submit_durably(
                self._r,
                self._submit,
                keys,
                [*args, *encode_job(job)],
                aof=self._aof,
                wait_ms=self._wait_aof_ms,
            )
            if int(outcome[0]) == -1:
                rules.check_bounds(bounds, int(outcome[1]), int(outcome[2]))
            if int(outcome[0]) == 1:
                return job, True
        raise StoreUnavailable("too many concurrent submissions under one idempotency key")

    def get(self, job_id: str, *, tenant: str | None = None) -> Job:
        """The job; JobNotFound if unknown or another tenant's, JobExpired once past
        retention."""
        _check_id(job_id)
        now = self._now()
        stored = self._read(job_id)
        expired = f"job {job_id} has expired and its result was deleted"
        if stored is None:
            tomb = self._r.get(self._keys.tomb(job_id))
            if tomb is not None:
                rules.check_owner(job_id, tomb_owner(tomb), tenant)
                raise JobExpired(expired)
            raise JobNotFound(f"no job {job_id}")
        rules.check_owner(job_id, stored.job.tenant, tenant)
        if rules.is_expired(stored.job, now):
            raise JobExpired(expired)
        return stored.job

    def claim(
        self, worker: str, *, limit: int = 1, interactive_only: bool = False
    ) -> builtins.list[Lease]:
        """Lease up to ``limit`` runnable jobs (see :func:`rules.plan_claims`): expired
        leases are settled first, due retries enter their stream, then new entries are
        read with ``XREADGROUP`` inside the script that grants their leases."""
        self._settle_and_enqueue()
        self._sweep_pending(worker)
        if limit < 1:
            return []
        for _ in range(MAX_ATTEMPTS):
            leases = self._try_claim(worker, limit, interactive_only)
            if leases is not None:
                return leases
            _pause()
        log.warning("worker %s: claim gave up after %d contended attempts", worker, MAX_ATTEMPTS)
        return []

    def _try_claim(
        self, worker: str, limit: int, interactive_only: bool = False
    ) -> builtins.list[Lease] | None:
        """One optimistic attempt: None when another claim got there first."""
        k = self._keys
        queues = [k.queues[Priority.INTERACTIVE], k.queues[Priority.BATCH]]
        now = self._now()
        try:
            last_i, entries_i, last_b, entries_b, credit_raw = self._peek(
                keys=[*queues, k.credit], args=[GROUP, limit]
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                raise
            self._ensure_groups()  # the streams were lost (Redis without persistence)
            return None
        if interactive_only:
            entries_b = []
        candidates: builtins.list[builtins.list[_Stored]] = []
        for queue, entries in zip(queues, (entries_i, entries_b), strict=True):
            ids = [
                dict(zip(flat[::2], flat[1::2], strict=True)).get("job", "") for _, flat in entries
            ]
            found = self._read_many(ids) if ids else []
            for (entry, _), job_id, s in zip(entries, ids, found, strict=True):
                if s is None or s.entry != entry or not rules.is_runnable(s.job, now):
                    self._discard_script(keys=[queue, k.job(job_id)], args=[GROUP, entry])
                    return None
            candidates.append([s for s in found if s is not None])
        by_id = {s.job.id: s for group in candidates for s in group}
        picked, credit = rules.plan_claims(
            [s.job for s in candidates[0]],
            [s.job for s in candidates[1]],
            limit,
            float(credit_raw or 0.0),
            self.options.batch_share,
        )
        if not picked:
            return []
        counts = [sum(1 for j in picked if j.priority is p) for p in Priority]
        leases = []
        keys = [
            k.credit,
            *queues,
            k.leased,
            k.indexes[JobState.QUEUED],
            k.indexes[JobState.RUNNING],
        ]
        args: builtins.list[Any] = [GROUP, worker, credit_raw, repr(credit)]
        args += [last_i, counts[0], last_b, counts[1]]
        for job in picked:
            stored = by_id[job.id]
            token = rules.new_lease_token()
            rules.grant_lease(job, worker, token, now, self.options)
            fields = encode_job(job)
            keys += [k.job(job.id), k.tenant_queued(job.tenant)]
            args += [job.id, stored.version, stored.entry, 1 + int(job.priority)]
            args += [repr(job.lease_expires_at), job.deliveries, stored.seq, len(fields) // 2]
            args += fields
            leases.append(Lease(job, token))
        if not int(self._grant(keys=keys, args=args)):
            return None
        return leases

    def renew(self, job_id: str, token: str) -> bool:
        """Extend the lease (and ``XCLAIM`` the entry with IDLE 0); False when lost or
        cancel was requested."""
        return self._transition(
            job_id,
            lambda job, now: rules.renew(job, token, now, self.options),
            token=token,
            renew=True,
        )

    def set_progress(self, job_id: str, token: str, stage: str, done: int, total: int) -> bool:
        """Record progress under the lease."""
        return self._transition(
            job_id,
            lambda job, now: rules.set_progress(job, token, stage, done, total, now),
            token=token,
        )

    def complete(self, job_id: str, token: str, result: dict[str, Any]) -> bool:
        """running -> succeeded (``XACK``); False if the lease is lost."""
        return self._transition(
            job_id,
            lambda job, now: rules.complete(job, token, result, now, self.options),
            token=token,
        )

    def fail(self, job_id: str, token: str, error: dict[str, Any], *, transient: bool) -> bool:
        """Retry with backoff (transient) or fail; False if the lease is lost."""
        return self._transition(
            job_id,
            lambda job, now: rules.fail(job, token, error, transient, now, self.options),
            token=token,
        )

    def release(self, job_id: str, token: str) -> bool:
        """Give the job back without counting the delivery."""
        return self._transition(
            job_id, lambda job, now: rules.release(job, token, now, self.options), token=token
        )

    def cancel(self, job_id: str, *, tenant: str | None = None) -> Job:
        """Cancel (queued) or request a cancel (running); terminal jobs are unchanged."""
        self.get(job_id, tenant=tenant)  # JobNotFound / JobExpired
        seen: builtins.list[Job] = []

        def cancel(job: Job, now: float) -> bool:
            changed = rules.cancel(job, now, self.options)
            seen.append(job)
            return changed

        self._transition(job_id, cancel)
        if not seen:
            return self.get(job_id)
        return seen[-1]

    def finish_cancelled(self, job_id: str, token: str) -> bool:
        """The worker stopped a job whose cancel was requested."""
        return self._transition(
            job_id,
            lambda job, now: rules.finish_cancelled(job, token, now, self.options),
            token=token,
        )

    def close(self) -> None:
        """Close the connections; the store cannot be used afterwards."""
        self._r.close()

    # -- helpers -----------------------------------------------------------------------


def _stored(raw: dict[str, str]) -> _Stored | None:
    if not raw or "v" not in raw:
        return None
    return _Stored(decode_job(raw), raw["v"], raw.get("entry", ""), raw.get("seq", "0"))


def _pause() -> None:
    time.sleep(random.uniform(0, 0.002))  # let a contending writer finish
