"""Connecting to Redis for the job store: the URL's key prefix, a first ping with the fix in
the error, a client that rides out a restart, and whether the server fsyncs its AOF."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from service.errors import ConfigError
from service.jobs.store.base import StoreUnavailable

log = logging.getLogger(__name__)

RECONNECT = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=12)  # rides out ~20 s


def connect(url: str) -> Any:
    """A client for ``url`` (replies decoded to str), after a ping that names the fix."""
    try:
        probe = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        probe.ping()
        probe.close()
    except (redis.ConnectionError, redis.TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"cannot reach the Redis job store at {url}: {exc}; start Redis there "
            "(e.g. `redis-server --appendonly yes --appendfsync always`) or fix the URL",
            url=url,
        ) from exc
    # Typed Any: redis-py types every reply as bytes | str | Awaitable, while with
    # decode_responses each one here is a str (or a list or dict of them).
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=30,
        retry=RECONNECT,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=30,
    )


def aof_enabled(client: redis.Redis) -> bool:
    try:
        return client.config_get("appendonly").get("appendonly") == "yes"
    except redis.ResponseError:  # CONFIG disabled (managed Redis): ask INFO instead
        try:
            return bool(int(client.info("persistence").get("aof_enabled", 0)))
        except redis.ResponseError:
            return False


def split_url(url: str, prefix: str) -> tuple[str, str]:
    """Take ``?prefix=NAME`` out of the URL (redis-py does not know it)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "prefix" in query:
        prefix = query.pop("prefix")[-1]
    if not prefix or any(c in prefix for c in "{}*?[] "):
        raise ConfigError(f"invalid Redis key prefix {prefix!r}: use letters, digits, - or _")
    rest = urlencode({k: v[-1] for k, v in query.items()})
    return urlunsplit(parts._replace(query=rest)), prefix


def submit_durably(
    client: Any, script: Any, keys: list[str], args: list[Any], *, aof: bool | None, wait_ms: int
) -> tuple[list[Any], bool]:
    """Run the submit script; with AOF on, follow it on the same connection with
    ``WAITAOF 1 0 timeout`` (Redis >= 7.2) so the job is fsynced before a 202. Older
    servers answer "unknown command", and then ``appendfsync always`` is the promise.
    Returns (the script's answer, whether to wait for the AOF next time)."""
    if aof is None:
        aof = aof_enabled(client)
    if not aof:
        return script(keys=keys, args=args), False
    pipe = client.pipeline(transaction=False)
    script(keys=keys, args=args, client=pipe)
    pipe.execute_command("WAITAOF", 1, 0, wait_ms)
    outcome, waited = pipe.execute(raise_on_error=False)
    if isinstance(outcome, Exception):
        raise outcome
    if isinstance(waited, redis.ResponseError):
        log.info("WAITAOF unavailable (%s); relying on appendfsync", waited)
        return outcome, False
    if isinstance(waited, Exception):
        raise waited
    if int(waited[0]) < 1:
        raise StoreUnavailable(
            f"Redis did not fsync the job within {wait_ms} ms, so it was not "
            "acknowledged: retry with the same Idempotency-Key"
        )
    return outcome, True
