"""The embedded job store: one SQLite file shared by the API (threads) and workers
(other processes) on one host.

WAL with ``synchronous=FULL``: a commit is on disk before ``submit`` returns, and the file
stays consistent under ``kill -9``. Every write is one ``BEGIN IMMEDIATE`` transaction
that reads the job, applies a rule from :mod:`service.jobs.store.rules` and writes it back, so
two writers never interleave. Each thread gets its own connection.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.errors import ConfigError
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
    StoreUnavailable,
    wall_clock,
)
from service.jobs.store.sqlite_schema import FROM_V1, SCHEMA, SCHEMA_VERSION

BUSY_TIMEOUT_S = 10.0

_JSON = ("payload", "progress", "result", "error")
_COLUMNS = tuple(f.name for f in dataclasses.fields(Job))  # the jobs table, less seq
_INSERT = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_UPDATE = f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in _COLUMNS[1:])} WHERE id = ?"
_RUNNABLE = (
    "SELECT * FROM jobs WHERE state = 'queued' AND priority = ? AND not_before <= ? "
    "ORDER BY created_at, seq LIMIT ?"
)
_COUNT_RUNNABLE = (
    "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE state = 'queued' AND priority = ? "
    "AND not_before <= ? LIMIT ?)"
)


def _to_job(row: sqlite3.Row) -> Job:
    values = {c: row[c] for c in _COLUMNS}
    for column in _JSON:
        if values[column] is not None:
            values[column] = json.loads(values[column])
    values["state"] = JobState(values["state"])
    values["priority"] = Priority(values["priority"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Job(**values)


def _to_row(job: Job) -> list[Any]:
    values = []
    for column in _COLUMNS:
        value = getattr(job, column)
        if column in _JSON and value is not None:
            value = json.dumps(value, ensure_ascii=False)
        elif column == "state":
            value = job.state.value
        elif column in ("priority", "cancel_requested"):
            value = int(value)
        values.append(value)
    return values


class SQLiteJobStore:
    """A :class:`~service.jobs.store.base.JobStore` in one SQLite file (WAL, fsync on commit)."""

    def __init__(
        self,
        path: str | Path,
        options: StoreOptions | None = None,
        *,
        clock: Clock = wall_clock,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.options = options or StoreOptions()
        rules.validate_options(self.options)
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        try:
            self._open_schema()
        except ConfigError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise ConfigError(
                f"cannot open the job store {self.path}: {exc}; check that the path is a "
                "writable SQLite file (or a new file in a writable folder)",
                path=str(self.path),
            ) from exc

    # -- connections and transactions ------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise sqlite3.ProgrammingError(f"job store {self.path} is closed")
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            # check_same_thread=False only so close() can close every thread's connection.
            db = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            db.execute("PRAGMA synchronous = FULL")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; takes the write lock up front so reads inside it are
        what gets updated (no lost updates between processes)."""
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # Another connection held the write lock past the busy timeout: the store is
            # overloaded, not broken (503, as when Redis does not confirm a write).
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise StoreUnavailable(
                f"job store {self.path} stayed locked by other writers for "
                f"{self._busy_timeout_s:g} s; try again"
            ) from exc
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # some errors (disk full) already rolled it back
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _open_schema(self) -> None:
        db = self._db()
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise ConfigError(
                f"cannot use WAL journaling for {self.path} (got {mode!r}); put the job store "
                "on a local disk, not a network share"
            )
        with self._write():
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"{self.path} has job store schema {version}, newer than this Passeur "
                    f"({SCHEMA_VERSION}); upgrade Passeur or point it at another file"
                )
            if version < SCHEMA_VERSION:
                for statement in SCHEMA if version == 0 else FROM_V1:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _load(self, db: sqlite3.Connection, job_id: str) -> Job | None:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _to_job(row)

    def _save(self, db: sqlite3.Connection, job: Job) -> None:
        values = _to_row(job)
        db.execute(_UPDATE, [*values[1:], job.id])

    def _fenced(self, job_id: str, rule: Callable[[Job, float], bool]) -> bool:
        """Apply a worker's write under its lease; nothing is written when refused."""
        with self._write() as db:
            job = self._load(db, job_id)
            if job is None or not rule(job, self._clock()):
                return False
            self._save(db, job)
            return True

    def _live(
        self, db: sqlite3.Connection, job_id: str, now: float, tenant: str | None = None
    ) -> Job:
        job = self._load(db, job_id)
        expired = f"job {job_id} has expired and its result was deleted"
        if job is None:
            tomb = db.execute("SELECT tenant FROM tombstones WHERE id = ?", (job_id,)).fetchone()
            if tomb:
                rules.check_owner(job_id, tomb[0], tenant)
                raise JobExpired(expired)
            raise JobNotFound(f"no job {job_id}")
        rules.check_owner(job_id, job.tenant, tenant)
        if rules.is_expired(job, now):
            raise JobExpired(expired)
        return job

    def _purge(self, db: sqlite3.Connection, job_id: str, now: float) -> None:
        owner = db.execute("SELECT tenant FROM jobs WHERE id = ?", (job_id,)).fetchone()
        db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        db.execute(
            "INSERT OR REPLACE INTO tombstones (id, purged_at, tenant) VALUES (?, ?, ?)",
            (job_id, now, owner[0] if owner else None),
        )

    # -- the JobStore protocol -------------------------------------------------------

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
        """Record a queued job (committed and fsynced before returning), or return the
        one already submitted under the tenant's idempotency key."""
        with self._write() as db:
            now = self._clock()
            if idempotency_key is not None:
                row = db.execute(
                    "SELECT * FROM jobs WHERE tenant = ? AND idempotency_key = ?",
                    (tenant, idempotency_key),
                ).fetchone()
                if row is not None:
                    existing = _to_job(row)
                    if rules.is_expired(existing, now):
                        self._purge(db, existing.id, now)  # the key is free once its job is gone
                    else:
                        rules.check_same_body(existing, body_hash)
                        return existing, False
            if bounds is not None:
                queued = "SELECT COUNT(*) FROM jobs WHERE state = 'queued'"
                rules.check_bounds(
                    bounds,
                    db.execute(queued).fetchone()[0],
                    db.execute(f"{queued} AND tenant = ?", (tenant,)).fetchone()[0],
                )
            job = rules.new_job(payload, priority, idempotency_key, body_hash, now, tenant)
            db.execute(_INSERT, _to_row(job))
            return job, True

    def get(self, job_id: str, *, tenant: str | None = None) -> Job:
        """The job; JobNotFound if unknown or another tenant's, JobExpired once past
        retention."""
        return self._live(self._db(), job_id, self._clock(), tenant)

    def list(
        self, state: JobState | None = None, limit: int = 50, *, tenant: str | None = None
    ) -> builtins.list[Job]:
        """Newest first, optionally one state or one tenant only; expired jobs are left out."""
        now = self._clock()
        where = "(expires_at IS NULL OR expires_at > ?)"
        params: builtins.list[Any] = [now]
        if state is not None:
            where += " AND state = ?"
            params.append(JobState(state).value)
        if tenant is not None:
            where += " AND tenant = ?"
            params.append(tenant)
        rows = self._db().execute(
            f"SELECT * FROM jobs WHERE {where} ORDER BY created_at DESC, seq DESC LIMIT ?",
            [*params, max(limit, 0)],
        )
        return [_to_job(row) for row in rows]

    def waiting(self, priority: Priority, cap: int) -> int:
        """Runnable queued jobs of ``priority``, up to ``cap``."""
        row = self._db().execute(_COUNT_RUNNABLE, (int(priority), self._clock(), max(cap, 0)))
        return int(row.fetchone()[0])

    def claim(
        self, worker: str, *, limit: int = 1, interactive_only: bool = False
    ) -> builtins.list[Lease]:
        """Lease up to ``limit`` runnable jobs (see :func:`rules.plan_claims`)."""
        with self._write() as db:
            now = self._clock()
            expired = db.execute(
                "SELECT * FROM jobs WHERE state = 'running' AND lease_expires_at <= ?", (now,)
            ).fetchall()
            for row in expired:
                job = _to_job(row)
                rules.settle_expired_lease(job, now, self.options)
                self._save(db, job)
            if limit < 1:
                return []
            interactive = [
                _to_job(r) for r in db.execute(_RUNNABLE, (Priority.INTERACTIVE, now, limit))
            ]
            batch = (
                []
                if interactive_only
                else [_to_job(r) for r in db.execute(_RUNNABLE, (Priority.BATCH, now, limit))]
            )
            row = db.execute("SELECT value FROM meta WHERE key = 'batch_credit'").fetchone()
            picked, credit = rules.plan_claims(
                interactive, batch, limit, row[0] if row else 0.0, self.options.batch_share
            )
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('batch_credit', ?)", (credit,)
            )
            leases = []
            for job in picked:
                token = rules.new_lease_token()
                rules.grant_lease(job, worker, token, now, self.options)
                self._save(db, job)
                leases.append(Lease(job, token))
            return leases

    def renew(self, job_id: str, token: str) -> bool:
        """Extend the lease; False when lost or cancel was requested."""
        return self._fenced(job_id, lambda job, now: rules.renew(job, token, now, self.options))

    def set_progress(self, job_id: str, token: str, stage: str, done: int, total: int) -> bool:
        """Record progress under the lease."""
        return self._fenced(
            job_id, lambda job, now: rules.set_progress(job, token, stage, done, total, now)
        )

    def complete(self, job_id: str, token: str, result: dict[str, Any]) -> bool:
        """running -> succeeded; False if the lease is lost."""
        return self._fenced(
            job_id, lambda job, now: rules.complete(job, token, result, now, self.options)
        )

    def fail(self, job_id: str, token: str, error: dict[str, Any], *, transient: bool) -> bool:
        """Retry with backoff (transient) or fail; False if the lease is lost."""
        return self._fenced(
            job_id, lambda job, now: rules.fail(job, token, error, transient, now, self.options)
        )

    def release(self, job_id: str, token: str) -> bool:
        """Give the job back without counting the delivery."""
        return self._fenced(job_id, lambda job, now: rules.release(job, token, now, self.options))

    def cancel(self, job_id: str, *, tenant: str | None = None) -> Job:
        """Cancel (queued) or request a cancel (running); terminal jobs are unchanged."""
        with self._write() as db:
            now = self._clock()
            job = self._live(db, job_id, now, tenant)
            if rules.cancel(job, now, self.options):
                self._save(db, job)
            return job

    def finish_cancelled(self, job_id: str, token: str) -> bool:
        """The worker stopped a job whose cancel was requested."""
        return self._fenced(
            job_id, lambda job, now: rules.finish_cancelled(job, token, now, self.options)
        )

    def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        """Note that ``worker`` is alive."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO workers (name, seen_at, info) VALUES (?, ?, ?)",
                (worker, self._clock(), json.dumps(info, ensure_ascii=False)),
            )

    def workers(self, max_age_s: float) -> dict[str, dict[str, Any]]:
        """Workers seen within ``max_age_s``, each with its info and ``last_seen``."""
        rows = self._db().execute(
            "SELECT name, seen_at, info FROM workers WHERE seen_at >= ?",
            (self._clock() - max_age_s,),
        )
        return {name: {**json.loads(info), "last_seen": seen} for name, seen, info in rows}

    def counts(self) -> dict[str, int]:
        """Jobs per state, every state present."""
        counts = rules.empty_counts()
        for state, n in self._db().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            counts[state] = n
        return counts

    def purge_expired(self) -> int:
        """Forget terminal jobs past retention; keep their ids as tombstones for a while."""
        with self._write() as db:
            now = self._clock()
            ids = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
                )
            ]
            for job_id in ids:
                self._purge(db, job_id, now)
            cutoff = now - rules.TOMBSTONE_TTL_S
            db.execute("DELETE FROM tombstones WHERE purged_at <= ?", (cutoff,))
            db.execute("DELETE FROM workers WHERE seen_at <= ?", (cutoff,))
            return len(ids)

    def close(self) -> None:
        """Close every thread's connection; the store cannot be used afterwards."""
        self._closed = True
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()
