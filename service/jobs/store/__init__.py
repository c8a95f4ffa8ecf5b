"""Job stores behind one :class:`JobStore` protocol, and :func:`open_store` to pick one
from a URL. Importing this package uses the standard library only."""

from __future__ import annotations

from pathlib import Path

from service.errors import ConfigError
from service.jobs.store.base import (
    Clock,
    IdempotencyConflict,
    Job,
    JobExpired,
    JobNotFound,
    JobState,
    JobStore,
    Lease,
    Priority,
    QueueBounds,
    QueueFull,
    StoreOptions,
    TenantQueueFull,
    wall_clock,
)
from service.jobs.store.memory import MemoryJobStore
from service.jobs.store.sqlite import SQLiteJobStore

__all__ = [
    "Clock",
    "IdempotencyConflict",
    "Job",
    "JobExpired",
    "JobNotFound",
    "JobState",
    "JobStore",
    "Lease",
    "MemoryJobStore",
    "Priority",
    "QueueBounds",
    "QueueFull",
    "SQLiteJobStore",
    "StoreOptions",
    "TenantQueueFull",
    "open_store",
    "wall_clock",
]

ACCEPTED_URLS = (
    "memory:// (in this process only, for tests)",
    "sqlite:///relative/path/jobs.db or sqlite:////absolute/path/jobs.db",
    "redis://host:port/db (several hosts; ?prefix=NAME to share a database)",
)


def open_store(url: str, options: StoreOptions, *, clock: Clock = wall_clock) -> JobStore:
    """Open the job store a URL names.

    ``memory://`` keeps jobs in this process. ``sqlite:///`` is followed by the file's
    path, relative to the working directory or absolute (``sqlite:////var/lib/jobs.db``);
    its folder is created now if missing. ``redis://`` (or ``rediss://``) opens a
    :class:`~service.jobs.store.redis.RedisJobStore`; unless a ``clock`` is given, leases are
    judged on the Redis server's clock. Anything else raises :class:`ConfigError` naming
    the accepted forms.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "memory" and rest == "":
        return MemoryJobStore(options, clock=clock)
    if sep and scheme == "sqlite" and rest.startswith("/") and not rest.endswith("/"):
        path = Path(rest[1:])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteJobStore(path, options, clock=clock)
    if sep and scheme in ("redis", "rediss") and rest:
        # Imported here so that this package stays standard-library only.
        from service.jobs.store.redis import RedisJobStore

        return RedisJobStore(url, options, clock=None if clock is wall_clock else clock)
    raise ConfigError(
        f"unsupported job store URL {url!r}; use one of: " + "; ".join(ACCEPTED_URLS),
        url=url,
    )
