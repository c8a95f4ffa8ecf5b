"""Admission control at the HTTP edge: what this API process decides before work is queued.

- **Rate**: each tenant may submit (``POST`` under ``/v1``) at most ``rate_per_minute``
  requests in any 60 s; the next one is refused with 429 ``rate_limited`` and a
  ``Retry-After`` that says when the oldest of them leaves the window. The count is kept
  per API process: with several API replicas each one allows the rate.
- **Queues**: the bounds on queued jobs (the whole store's and each tenant's) are checked
  by the store in the same write as the insert (:class:`~service.jobs.store.QueueBounds`),
  so they hold across replicas; this module only turns them into settings.
- **/v1/translate's wait**: before queueing, the interactive jobs already waiting are
  counted, and the request is refused at once (503 ``overloaded``) when they would take
  longer than its timeout: ``ceil(waiting / claim_limit) * job_s``, since a worker leases up
  to ``claim_limit`` jobs and runs them together, and ``job_s`` is the recent run time of
  an interactive job (started to finished, a moving average over the jobs this process
  waited for, ``sync_job_s`` until it has seen one). The batch in hand is not counted: it
  is the estimate's known optimism.
- **Stopping**: once the server is asked to stop, requests still waiting in
  ``/v1/translate`` are answered 503 ``shutting_down`` and their jobs cancelled.

Every refusal is counted by reason for ``/metrics`` (:data:`REFUSAL_REASONS`, a fixed set).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.errors import PasseurError
from service.jobs.store import QueueBounds
from service.settings import ADMIN_TENANT, Settings

__all__ = [
    "REFUSAL_REASONS",
    "Admission",
    "Overloaded",
    "RateLimited",
    "ShuttingDown",
    "admission",
]

# The reasons /metrics counts; each is the error code of the answer (504 for a timeout).
REFUSAL_REASONS = (
    "rate_limited",
    "tenant_queue_full",
    "queue_full",
    "overloaded",
    "shutting_down",
    "timeout",
)
QUEUE_RETRY_S = 5  # Retry-After for a full queue: jobs leave it as workers take them
STOP_RETRY_S = 5  # Retry-After while stopping: another replica, or this one restarted
_EWMA_WEIGHT = 0.3  # the newest run time's share of the moving average


class RateLimited(PasseurError):
    """The tenant sent its submissions of the minute (429)."""

    code = "rate_limited"
    http_status = 429


class Overloaded(PasseurError):
    """``/v1/translate`` would wait longer than its timeout for the jobs ahead of it (503)."""

    code = "overloaded"
    http_status = 503


class ShuttingDown(PasseurError):
    """The server is stopping (503)."""

    code = "shutting_down"
    http_status = 503


class RateWindow:
    """Submissions per tenant in a sliding 60 s window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def admit(self, tenant: str) -> None:
        """Count a submission, or raise :class:`RateLimited` (nothing counted)."""
        if not self.per_minute:
            return
        with self._lock:
            now = self._clock()
            seen = self._seen.setdefault(tenant, deque())
            while seen and seen[0] <= now - 60.0:
                seen.popleft()
            if len(seen) >= self.per_minute:
                retry = max(1, math.ceil(seen[0] + 60.0 - now))
                raise RateLimited(
                    f"this API key sent {len(seen)} submissions in the last minute, the most "
                    f"it may; retry in {retry} s",
                    limit=self.per_minute,
                    size=len(seen),
                    retry_after_s=retry,
                )
            seen.append(now)


class RunTime:
    """A moving average of interactive jobs' run times (seconds), seeded by a setting."""

    def __init__(self, seed_s: float) -> None:
        self.job_s = seed_s
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        if seconds >= 0 and math.isfinite(seconds):
            with self._lock:
                self.job_s += _EWMA_WEIGHT * (seconds - self.job_s)

    def wait_s(self, waiting: int, per_claim: int) -> float:
        """The estimated wait behind ``waiting`` jobs leased ``per_claim`` at a time."""
        return math.ceil(waiting / max(per_claim, 1)) * self.job_s


@dataclass
class Admission:
    """The admission state of one app: built from its settings on first use."""

    settings: Settings
    tenants: dict[str, str] = field(init=False)  # API key -> tenant
    admin_key: str = field(init=False)
    bounds: QueueBounds = field(init=False)
    rate: RateWindow = field(init=False)
    run_time: RunTime = field(init=False)
    # Set once the server is asked to stop; a plain flag, so a signal handler may set it.
    stopping: bool = False
    _refusals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REFUSAL_REASONS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        s = self.settings
        self.tenants = s.api_tenants
        self.admin_key = s.admin_key.strip()
        self.bounds = QueueBounds(s.max_queued or None, s.max_queued_per_tenant or None)
        self.rate = RateWindow(s.rate_per_minute)
        self.run_time = RunTime(s.sync_job_s)

    def credentials(self) -> list[tuple[str, str, bool]]:
        """(key, tenant, sees every tenant) for every key the API accepts."""
        keys = [(key, tenant, False) for key, tenant in self.tenants.items()]
        if self.admin_key:
            keys.append((self.admin_key, ADMIN_TENANT, True))
        return keys

    def refused(self, reason: str) -> None:
        """Count a refusal; a reason outside :data:`REFUSAL_REASONS` is not counted."""
        with self._lock:
            if reason in self._refusals:
                self._refusals[reason] += 1

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._refusals)

    def retry_after_s(self, exc: PasseurError) -> int:
        """The ``Retry-After`` of a refusal (also put in its details)."""
        given = exc.details.get("retry_after_s")
        if isinstance(given, int):
            return given
        return STOP_RETRY_S if isinstance(exc, ShuttingDown) else QUEUE_RETRY_S


_attach = threading.Lock()


def admission(app: Any) -> Admission:
    """The app's :class:`Admission`, made from ``app.state.settings`` the first time."""
    state = app.state
    found = getattr(state, "admission", None)
    if found is None:
        with _attach:
            found = getattr(state, "admission", None)
            if found is None:
                found = state.admission = Admission(state.settings)
    return found
