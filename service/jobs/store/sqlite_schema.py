"""The SQLite job store's tables, and the steps that bring an older file up to date.

A file records its schema version in ``PRAGMA user_version``; opening it runs the steps
from that version to :data:`SCHEMA_VERSION` in the same write transaction that checks it,
so processes opening one file at once migrate it exactly once.
"""

from __future__ import annotations

__all__ = ["FROM_V1", "SCHEMA", "SCHEMA_VERSION"]

SCHEMA_VERSION = 2  # 2: jobs have a tenant; idempotency keys are unique per tenant

_JOBS_TABLE = """CREATE TABLE {name} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        deliveries INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        progress TEXT NOT NULL DEFAULT '{{}}',
        result TEXT,
        error TEXT,
        idempotency_key TEXT,
        body_hash TEXT,
        lease_token TEXT,
        lease_expires_at REAL,
        worker TEXT,
        not_before REAL NOT NULL DEFAULT 0,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        started_at REAL,
        finished_at REAL,
        expires_at REAL,
        tenant TEXT NOT NULL DEFAULT ''
    )"""

_JOB_INDEXES = [
    "CREATE INDEX jobs_claim ON jobs (state, priority, created_at, seq)",
    "CREATE INDEX jobs_lease ON jobs (state, lease_expires_at)",
    "CREATE INDEX jobs_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE INDEX jobs_newest ON jobs (created_at, seq)",
    "CREATE INDEX jobs_state_newest ON jobs (state, created_at, seq)",
    "CREATE INDEX jobs_tenant_newest ON jobs (tenant, created_at, seq)",
    "CREATE INDEX jobs_tenant_state ON jobs (tenant, state, created_at, seq)",
    "CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) "
    "WHERE idempotency_key IS NOT NULL",
]

SCHEMA = [
    _JOBS_TABLE.format(name="jobs"),
    *_JOB_INDEXES,
    "CREATE TABLE tombstones (id TEXT PRIMARY KEY, purged_at REAL NOT NULL, tenant TEXT) "
    "WITHOUT ROWID",
    "CREATE TABLE workers (name TEXT PRIMARY KEY, seen_at REAL NOT NULL, info TEXT NOT NULL)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value REAL NOT NULL)",
]

# Version 1 had no tenant and one idempotency key per store (a column UNIQUE, which only a
# new table can drop): its rows move to a version 2 table, owned by the open API's "".
_V1_COLUMNS = (
    "seq, id, state, priority, payload, created_at, updated_at, deliveries, retries, "
    "progress, result, error, idempotency_key, body_hash, lease_token, lease_expires_at, "
    "worker, not_before, cancel_requested, started_at, finished_at, expires_at"
)
FROM_V1 = [
    _JOBS_TABLE.format(name="jobs_v2"),
    f"INSERT INTO jobs_v2 ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM jobs",
    "DROP TABLE jobs",
    "ALTER TABLE jobs_v2 RENAME TO jobs",
    *_JOB_INDEXES,
    "ALTER TABLE tombstones ADD COLUMN tenant TEXT",
]
