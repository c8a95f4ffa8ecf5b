"""The job ledger and queue: one protocol, several stores (memory, SQLite, Redis), one
contract test suite.

States: queued -> running -> succeeded | failed | cancelled | dead; terminal states never
change. A worker *leases* a job for a set time and renews the lease while it works; every
write a worker makes carries the lease token and is refused (returns False) when the lease
is no longer its own, so a worker that lost its lease cannot overwrite a newer attempt.
"""

from __future__ import annotations

import builtins  # inside JobStore, "list" names a method: later annotations use builtins.list
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Protocol

from service.errors import PasseurError

Clock = Callable[[], float]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    @property
    def terminal(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.DEAD})


class Priority(IntEnum):
    """Lower runs first. Interactive requests (``/v1/translate``) go before batch jobs."""

    INTERACTIVE = 0
    BATCH = 1


@dataclass(frozen=True)
class StoreOptions:
    lease_s: float = 60.0
    max_deliveries: int = 3  # a job whose worker died this many times is dead
    max_retries: int = 3  # transient errors retried this many times, then failed
    backoff_base_s: float = 1.0  # retry n waits base * 2**(n-1), with +-50 % jitter
    backoff_max_s: float = 60.0
    batch_share: float = 0.2  # at least this share of claims go to batch jobs when both wait
    result_ttl_s: float = 24 * 3600.0  # terminal jobs are kept this long, then gone (410)


@dataclass
class Job:
    id: str
    state: JobState
    priority: Priority
    payload: dict[str, Any]
    created_at: float
    updated_at: float
    deliveries: int = 0
    retries: int = 0
    progress: dict[str, Any] = field(default_factory=dict)  # {"stage", "done", "total"}
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    idempotency_key: str | None = None
    body_hash: str | None = None
    lease_token: str | None = None
    lease_expires_at: float | None = None
    worker: str | None = None
    not_before: float = 0.0
    cancel_requested: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    tenant: str = ""  # who submitted it (the API key's tenant; "" when the API is open)

    def public(self) -> dict[str, Any]:
        """What the API shows: no lease tokens, no payload text."""
        return {
            "id": self.id,
            "state": self.state.value,
            "priority": self.priority.name.lower(),
            "progress": self.progress,
            "deliveries": self.deliveries,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "expires_at": self.expires_at,
            "result": self.result,
            "error": self.error,
        }


@dataclass(frozen=True)
class QueueBounds:
    """Admission bounds :meth:`JobStore.submit` checks in the same write as the insert, so
    concurrent submissions cannot overshoot them. None: no bound."""

    max_queued: int | None = None  # queued jobs in the whole store
    max_queued_per_tenant: int | None = None  # queued jobs of the submitting tenant


@dataclass(frozen=True)
class Lease:
    job: Job
    token: str


class JobNotFound(PasseurError):
    code = "job_not_found"
    http_status = 404


class JobExpired(PasseurError):
    code = "job_expired"
    http_status = 410


class IdempotencyConflict(PasseurError):
    code = "idempotency_conflict"
    http_status = 409


class QueueFull(PasseurError):
    """The whole store holds ``max_queued`` queued jobs: the service is busy (503)."""

    code = "queue_full"
    http_status = 503


class StoreUnavailable(PasseurError):
    """The store did not take a write in time: Redis did not confirm it (down, or the AOF
    not on disk in time), or the SQLite file stayed locked past its busy timeout (503)."""

    code = "store_unavailable"
    http_status = 503


class TenantQueueFull(PasseurError):
    """The tenant holds ``max_queued_per_tenant`` queued jobs: that client must wait (429)."""

    code = "tenant_queue_full"
    http_status = 429


class JobStore(Protocol):
    """The contract every store keeps (tests/test_store_contract.py holds them to it).

    Tenancy: every job belongs to the ``tenant`` that submitted it. The API's reads pass a
    ``tenant`` to see only that tenant's jobs (another tenant's job is :class:`JobNotFound`),
    or None to see every job (an admin, an open API, the workers).
    """

    options: StoreOptions

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
        """Durably record a queued job owned by ``tenant``; returns (job, created). The
        same idempotency key of the same tenant with the same body hash returns the
        existing job (created False); with another body it raises
        :class:`IdempotencyConflict`. Keys of two tenants never meet. A new job past
        ``bounds`` raises :class:`QueueFull` or :class:`TenantQueueFull` (with ``limit``
        and ``size``) and records nothing; a replayed key is answered whatever the bounds."""
        ...

    def get(self, job_id: str, *, tenant: str | None = None) -> Job:
        """The job; :class:`JobNotFound` if unknown (or another tenant's),
        :class:`JobExpired` once purged."""
        ...

    def list(
        self, state: JobState | None = None, limit: int = 50, *, tenant: str | None = None
    ) -> builtins.list[Job]:
        """Newest first; only ``tenant``'s jobs unless it is None."""
        ...

    def waiting(self, priority: Priority, cap: int) -> int:
        """Queued jobs of ``priority`` whose backoff has passed (ready for a worker),
        counted up to ``cap``: the queue a new job of that priority waits behind."""
        ...

    def claim(
        self, worker: str, *, limit: int = 1, interactive_only: bool = False
    ) -> builtins.list[Lease]:
        """Lease up to ``limit`` runnable jobs: queued ones whose backoff has passed, and
        running ones whose lease expired (a crashed worker). A job delivered
        ``max_deliveries`` times whose lease expired again becomes ``dead`` instead.
        Interactive before batch, keeping ``batch_share`` for batch; ``interactive_only``
        leases no batch job (an interactive worker) and leaves the batch share alone."""
        ...

    def renew(self, job_id: str, token: str) -> bool:
        """Extend the lease; False when the lease is lost or the job was cancelled."""
        ...

    def set_progress(self, job_id: str, token: str, stage: str, done: int, total: int) -> bool: ...

    def complete(self, job_id: str, token: str, result: dict[str, Any]) -> bool:
        """running -> succeeded with its result; False (and nothing written) if the lease
        is lost."""
        ...

    def fail(self, job_id: str, token: str, error: dict[str, Any], *, transient: bool) -> bool:
        """A transient error re-queues with exponential backoff and jitter until
        ``max_retries``, then fails; a non-transient one fails at once."""
        ...

    def release(self, job_id: str, token: str) -> bool:
        """Give a leased job back to the queue (a worker shutting down) without counting
        a delivery against it."""
        ...

    def cancel(self, job_id: str, *, tenant: str | None = None) -> Job:
        """queued -> cancelled at once; running -> cancel requested (the worker stops within
        one batch and calls :meth:`finish_cancelled`); terminal jobs are returned unchanged.
        Another tenant's job is :class:`JobNotFound`."""
        ...

    def finish_cancelled(self, job_id: str, token: str) -> bool: ...

    def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        """A worker is alive (and says e.g. whether its models are loaded)."""
        ...

    def workers(self, max_age_s: float) -> dict[str, dict[str, Any]]:
        """Workers with a heartbeat younger than ``max_age_s``."""
        ...

    def counts(self) -> dict[str, int]:
        """Jobs per state (for /metrics and queue depth)."""
        ...

    def purge_expired(self) -> int:
        """Forget terminal jobs past their retention (get() answers JobExpired after)."""
        ...

    def close(self) -> None: ...


def wall_clock() -> float:
    return time.time()
