"""The rules every store applies, written once: state transitions, lease fencing, backoff
with jitter, dead-lettering and the priority choice that keeps a share for batch jobs.

Each transition takes a :class:`Job` read inside the store's write transaction (or under
its lock), changes it in place and says whether it applied; the store then writes the job
back. A store never decides a transition itself, so memory, SQLite and Redis agree.
"""

from __future__ import annotations

import logging
import random
import secrets
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from service.errors import ConfigError
from service.jobs.store.base import (
    IdempotencyConflict,
    Job,
    JobNotFound,
    JobState,
    Priority,
    QueueBounds,
    QueueFull,
    StoreOptions,
    TenantQueueFull,
)

log = logging.getLogger(__name__)

TOMBSTONE_TTL_S = 7 * 24 * 3600.0  # purged ids answer 410 (not 404) for this long
_CREDIT_EPSILON = 1e-9  # 5 * 0.2 must reach a whole batch claim despite float rounding


def validate_options(options: StoreOptions) -> None:
    """Raise :class:`ConfigError` for options no store can honour."""
    problems = []
    if options.lease_s <= 0:
        problems.append(f"lease_s must be > 0 (got {options.lease_s})")
    if options.max_deliveries < 1:
        problems.append(f"max_deliveries must be >= 1 (got {options.max_deliveries})")
    if options.max_retries < 0:
        problems.append(f"max_retries must be >= 0 (got {options.max_retries})")
    if options.backoff_base_s < 0 or options.backoff_max_s < options.backoff_base_s:
        problems.append(
            "need 0 <= backoff_base_s <= backoff_max_s "
            f"(got {options.backoff_base_s}, {options.backoff_max_s})"
        )
    if not 0.0 <= options.batch_share <= 1.0:
        problems.append(f"batch_share must be between 0 and 1 (got {options.batch_share})")
    if options.result_ttl_s < 0:
        problems.append(f"result_ttl_s must be >= 0 (got {options.result_ttl_s})")
    if problems:
        raise ConfigError("invalid job store options: " + "; ".join(problems))


def new_job_id() -> str:
    """A random, unguessable job id."""
    return uuid.uuid4().hex


def new_lease_token() -> str:
    """A random lease token; only the worker holding it may write the job."""
    return secrets.token_hex(16)


def new_job(
    payload: dict[str, Any],
    priority: Priority,
    idempotency_key: str | None,
    body_hash: str | None,
    now: float,
    tenant: str = "",
) -> Job:
    """A fresh queued job owned by ``tenant``."""
    return Job(
        id=new_job_id(),
        state=JobState.QUEUED,
        priority=Priority(priority),
        payload=payload,
        created_at=now,
        updated_at=now,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
        tenant=tenant,
    )


def check_owner(job_id: str, owner: str | None, tenant: str | None) -> None:
    """Raise :class:`JobNotFound` when ``tenant`` (None: anyone) may not see a job owned
    by ``owner`` (None: unknown, e.g. a tombstone older than tenancy). Another tenant's
    job answers exactly as an unknown id does."""
    if tenant is not None and owner is not None and owner != tenant:
        raise JobNotFound(f"no job {job_id}")


def check_bounds(bounds: QueueBounds | None, queued: int, tenant_queued: int) -> None:
    """Raise when a new job would pass ``bounds``: the tenant's own bound first (429, that
    client waits), then the whole store's (503, everyone waits)."""
    if bounds is None:
        return
    limit = bounds.max_queued_per_tenant
    if limit is not None and tenant_queued >= limit:
        raise TenantQueueFull(
            f"{tenant_queued} jobs of this tenant (its API keys; without keys, every client) "
            "are queued, the most it may have: retry once some have started",
            limit=limit,
            size=tenant_queued,
        )
    limit = bounds.max_queued
    if limit is not None and queued >= limit:
        raise QueueFull(
            f"the service already has {queued} jobs queued, the most it accepts; retry later",
            limit=limit,
            size=queued,
        )


def check_same_body(existing: Job, body_hash: str | None) -> None:
    """Raise :class:`IdempotencyConflict` when a key is reused for another body."""
    if existing.body_hash != body_hash:
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} was used for another request "
            f"(job {existing.id}); use a new key for a new body",
            job_id=existing.id,
        )


def is_expired(job: Job, now: float) -> bool:
    """A terminal job past its retention: gone for the API (410) even before a purge."""
    return job.state.terminal and job.expires_at is not None and job.expires_at <= now


def is_runnable(job: Job, now: float) -> bool:
    """Queued and past its backoff."""
    return job.state is JobState.QUEUED and job.not_before <= now


def lease_expired(job: Job, now: float) -> bool:
    """A running job whose worker stopped renewing (crashed or hung)."""
    return (
        job.state is JobState.RUNNING
        and job.lease_expires_at is not None
        and job.lease_expires_at <= now
    )


def backoff_delay(
    retry: int, options: StoreOptions, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Wait before retry ``retry`` (1-based): base * 2**(retry-1), +-50 % jitter, capped."""
    nominal = options.backoff_base_s * 2 ** (retry - 1)
    return min(nominal * uniform(0.5, 1.5), options.backoff_max_s)


def _finish(job: Job, state: JobState, now: float, options: StoreOptions) -> None:
    job.state = state
    job.finished_at = now
    job.expires_at = now + options.result_ttl_s
    job.lease_token = None
    job.lease_expires_at = None
    job.updated_at = now


def _requeue(job: Job, now: float, not_before: float) -> None:
    job.state = JobState.QUEUED
    job.lease_token = None
    job.lease_expires_at = None
    job.worker = None
    job.not_before = not_before
    job.updated_at = now


def settle_expired_lease(job: Job, now: float, options: StoreOptions) -> None:
    """A running job whose lease expired: ``dead`` once workers died on it
    ``max_deliveries`` times, ``cancelled`` if a cancel was waiting, else queued again
    (its old token is void, so the vanished worker can no longer write it)."""
    # Deliveries that ended in a transient failure were not crashes; released ones were
    # never counted.
    crashes = job.deliveries - job.retries
    if crashes >= options.max_deliveries:
        job.error = {
            "code": "worker_died",
            "message": f"the lease expired after {crashes} deliveries: the worker running "
            "this job died or hung each time, so it is not retried again",
        }
        _finish(job, JobState.DEAD, now, options)
        log.warning("job %s is dead: its lease expired after %d deliveries", job.id, crashes)
    elif job.cancel_requested:
        _finish(job, JobState.CANCELLED, now, options)
    else:
        log.info("job %s: lease of worker %s expired, queued again", job.id, job.worker)
        _requeue(job, now, now)


def plan_claims(
    interactive: Sequence[Job],
    batch: Sequence[Job],
    limit: int,
    credit: float,
    batch_share: float,
) -> tuple[list[Job], float]:
    """Choose up to ``limit`` jobs from two claim-ordered candidate lists.

    Interactive goes first, but every pick made while *both* kinds wait adds
    ``batch_share`` to a credit; once the credit reaches one whole claim, batch takes the
    pick and the credit drops by one. With a share of 0.2 that is one batch job in every
    five contended picks, whatever the supply of interactive jobs. Picks made while only
    one kind waits leave the credit alone, so batch cannot bank a burst. Returns the
    picks and the new credit, which the store keeps durably between claims.
    """
    picked: list[Job] = []
    i = b = 0
    while len(picked) < limit and (i < len(interactive) or b < len(batch)):
        if i < len(interactive) and b < len(batch):
            credit += batch_share
            take_batch = credit >= 1.0 - _CREDIT_EPSILON
            if take_batch:
                credit = max(credit - 1.0, 0.0)
        else:
            take_batch = i >= len(interactive)
        if take_batch:
            picked.append(batch[b])
            b += 1
        else:
            picked.append(interactive[i])
            i += 1
    return picked, credit


def grant_lease(job: Job, worker: str, token: str, now: float, options: StoreOptions) -> None:
    """queued -> running under a new lease; counts a delivery."""
    job.state = JobState.RUNNING
    job.deliveries += 1
    job.lease_token = token
    job.lease_expires_at = now + options.lease_s
    job.worker = worker
    job.started_at = now
    job.updated_at = now


def holds_lease(job: Job, token: str) -> bool:
    """The caller's token is the job's current lease."""
    return job.state is JobState.RUNNING and job.lease_token == token


def renew(job: Job, token: str, now: float, options: StoreOptions) -> bool:
    """Extend the lease; refused once cancel is requested so the worker stops."""
    if not holds_lease(job, token) or job.cancel_requested:
        return False
    job.lease_expires_at = now + options.lease_s
    job.updated_at = now
    return True


def set_progress(job: Job, token: str, stage: str, done: int, total: int, now: float) -> bool:
    """Record progress under the lease."""
    if not holds_lease(job, token) or job.cancel_requested:
        return False
    job.progress = {"stage": stage, "done": done, "total": total}
    job.updated_at = now
    return True


def complete(
    job: Job, token: str, result: dict[str, Any], now: float, options: StoreOptions
) -> bool:
    """running -> succeeded; refused after a cancel request (the job ends cancelled)."""
    if not holds_lease(job, token) or job.cancel_requested:
        return False
    job.result = result
    job.error = None
    _finish(job, JobState.SUCCEEDED, now, options)
    return True


def fail(
    job: Job,
    token: str,
    error: dict[str, Any],
    transient: bool,
    now: float,
    options: StoreOptions,
    uniform: Callable[[float, float], float] = random.uniform,
) -> bool:
    """A transient error re-queues after a backoff until ``max_retries`` retries were
    spent, then fails; a non-transient error fails at once."""
    if not holds_lease(job, token) or job.cancel_requested:
        return False
    job.error = error
    if transient and job.retries < options.max_retries:
        job.retries += 1
        _requeue(job, now, now + backoff_delay(job.retries, options, uniform))
    else:
        _finish(job, JobState.FAILED, now, options)
    return True


def release(job: Job, token: str, now: float, options: StoreOptions) -> bool:
    """Give the job back without counting the delivery (cancelled if a cancel waits)."""
    if not holds_lease(job, token):
        return False
    job.deliveries -= 1
    if job.cancel_requested:
        _finish(job, JobState.CANCELLED, now, options)
    else:
        _requeue(job, now, job.not_before)
    return True


def cancel(job: Job, now: float, options: StoreOptions) -> bool:
    """queued -> cancelled; running -> cancel requested; terminal: unchanged (False)."""
    if job.state is JobState.QUEUED:
        _finish(job, JobState.CANCELLED, now, options)
        return True
    if job.state is JobState.RUNNING and not job.cancel_requested:
        job.cancel_requested = True
        job.updated_at = now
        return True
    return False


def finish_cancelled(job: Job, token: str, now: float, options: StoreOptions) -> bool:
    """The worker stopped a job whose cancel was requested: running -> cancelled."""
    if not holds_lease(job, token) or not job.cancel_requested:
        return False
    _finish(job, JobState.CANCELLED, now, options)
    return True


def empty_counts() -> dict[str, int]:
    """Every state with zero jobs, so /metrics always shows each series."""
    return {state.value: 0 for state in JobState}
