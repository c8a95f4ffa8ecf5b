"""The batch script on a cluster: ``passeur translate ... --server URL`` submits each
article as a batch-priority job to a running service, keeps a bounded number in flight,
and writes the same records as an in-process run (the job's result, its ``id`` the
article's), so ``--resume`` works the same way.

Each submission carries ``Idempotency-Key: <article id>:<sha256 of the request>``: a run
resumed after a crash, or a request retried after a lost answer, finds the job already
submitted instead of making a second one. Records are written as jobs finish, not in
input order.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from service.batch import InputItem, iter_inputs
from service.errors import ConfigError, PasseurError
from service.schemas import (
    Article,
    ArticleResult,
    Bullet,
    Flag,
    ParagraphResult,
    SentenceResult,
    TitleResult,
)

__all__ = ["RemoteOptions", "ServerUnavailable", "idempotency_key", "run_remote"]

log = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "dead"})
MAX_KEY = 200  # the API's limit on Idempotency-Key


class ServerUnavailable(PasseurError):
    """The service did not answer, or kept answering 5xx, through every retry."""

    code = "server_unavailable"
    http_status = 503


@dataclass(frozen=True)
class RemoteOptions:
    """How to reach the service and what to ask of it."""

    server: str
    api_key: str | None = None
    max_in_flight: int = 32
    article_options: dict[str, Any] = field(default_factory=dict)  # beam, bullets, summary_mode
    timeout_s: float = 30.0  # one HTTP request
    retries: int = 8  # connection errors and 5xx, with backoff from 0.25 s to 8 s
    poll_min_s: float = 0.2
    poll_max_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.server.startswith(("http://", "https://")):
            raise ConfigError(f"--server must be an http:// or https:// URL, not {self.server!r}")
        if self.max_in_flight < 1:
            raise ConfigError(f"--max-in-flight must be at least 1 (got {self.max_in_flight})")


class Writer(Protocol):
    def write(self, result: ArticleResult) -> None: ...


def request_body(article: Article, article_options: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /v1/jobs`` body for one article."""
    return {
        "title": article.title,
        "text": article.text,
        "source_lang": article.source_lang,
        "options": article_options,
    }


def idempotency_key(article_id: str, body: dict[str, Any]) -> str:
    """``<article id>:<sha256 of the canonical body>``; a long id is hashed to fit."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    if len(article_id) + 1 + len(digest) > MAX_KEY:
        article_id = hashlib.sha256(article_id.encode("utf-8")).hexdigest()
    return f"{article_id}:{digest}"


def result_from_dict(data: dict[str, Any]) -> ArticleResult:
    """An :class:`ArticleResult` from its JSON (fields this version does not know are
    left out)."""
    title = data.get("title")
    return ArticleResult(
        id=data["id"],
        source_lang=data.get("source_lang", ""),
        target_lang=data.get("target_lang", "en"),
        title=TitleResult(**title) if title else None,
        paragraphs=[ParagraphResult(**p) for p in data.get("paragraphs", [])],
        sentences=[SentenceResult(**s) for s in data.get("sentences", [])],
        bullets=[Bullet(**b) for b in data.get("bullets", [])],
        models=data.get("models", {}),
        flags=[Flag(**f) for f in data.get("flags", [])],
        timings=data.get("timings", {}),
        error=data.get("error"),
        language=data.get("language"),
    )


@dataclass
class _InFlight:
    item: InputItem
    body: dict[str, Any]
    submissions: int = 1


class _Client:
    """``httpx`` with the API key, retries on connection errors and 5xx, and the
    service's JSON errors turned into dicts."""

    def __init__(self, options: RemoteOptions) -> None:
        headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
        self.options = options
        self.http = httpx.Client(
            base_url=options.server.rstrip("/"), headers=headers, timeout=options.timeout_s
        )

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        delay = 0.25
        for attempt in range(self.options.retries + 1):
            try:
                response = self.http.request(method, path, **kw)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    if response.status_code in (401, 403):
                        raise ConfigError(
                            f"{self.options.server} refused the request "
                            f"({response.status_code}): pass a valid key with --api-key"
                        )
                    return response
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            if attempt < self.options.retries:
                log.warning("%s %s: %s; retrying in %.1f s", method, path, problem, delay)
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
        raise ServerUnavailable(
            f"{self.options.server} did not answer {method} {path} after "
            f"{self.options.retries + 1} tries ({problem}); the records written so far are "
            "complete: rerun with --resume once the service is back"
        )

    def close(self) -> None:
        self.http.close()


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if isinstance(error, dict) and "code" in error:
        return error
    return {"code": f"http_{response.status_code}", "message": response.text[:500]}


def run_remote(
    files: list[Path | None],
    writer: Writer,
    options: RemoteOptions,
    *,
    skip: Iterable[str] = (),
    source_lang: str = "fr",
    show: bool = False,
    total: int | None = None,
) -> dict[str, int]:
    """Translate every article of ``files`` on the service; returns the counts
    (``ok``, ``failed``, ``skipped``) as :func:`service.cli` reports them."""
    from tqdm import tqdm

    skip = set(skip)
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    seen = set(skip)
    client = _Client(options)
    bar = tqdm(total=total, unit="article", file=sys.stderr, disable=not show, dynamic_ncols=True)
    in_flight: dict[str, _InFlight] = {}  # job id -> article

    def record(result: ArticleResult) -> None:
        writer.write(result)
        counts["failed" if result.error else "ok"] += 1
        if result.error:
            log.warning("article %s failed: %s", result.id, result.error.get("message"))
        bar.update(1)

    def submit(entry: _InFlight) -> None:
        item = entry.item
        response = client.call(
            "POST",
            "/v1/jobs",
            json=entry.body,
            headers={"Idempotency-Key": idempotency_key(item.id, entry.body)},
        )
        if response.status_code in (200, 202):
            in_flight[response.json()["id"]] = entry
        else:  # refused (too long, empty, bad language...): retrying cannot help
            record(ArticleResult.failed(item.id, item.source_lang, _error(response)))

    def poll() -> int:
        finished = 0
        for job_id, entry in list(in_flight.items()):
            response = client.call("GET", f"/v1/jobs/{job_id}")
            if response.status_code in (404, 410) and entry.submissions < 3:
                del in_flight[job_id]  # lost or expired before we read it: submit again
                entry.submissions += 1
                submit(entry)
                continue
            job = response.json() if response.status_code == 200 else None
            if job is not None and job.get("state") not in TERMINAL:
                continue
            del in_flight[job_id]
            finished += 1
            item = entry.item
            if job is not None and job["state"] == "succeeded":
                record(result_from_dict({**job["result"], "id": item.id}))
            else:
                error = (job or {}).get("error") or (
                    _error(response)
                    if job is None
                    else {"code": job["state"], "message": f"the job ended {job['state']}"}
                )
                record(ArticleResult.failed(item.id, item.source_lang, error))
        return finished

    items = iter_inputs(files, sys.stdin.buffer, default_lang=source_lang)
    exhausted = False
    wait = options.poll_min_s
    try:
        while not exhausted or in_flight:
            while not exhausted and len(in_flight) < options.max_in_flight:
                item = next(items, None)
                if item is None:
                    exhausted = True
                    break
                if item.id in seen:
                    if item.id in skip:
                        counts["skipped"] += 1
                        bar.update(1)
                        continue
                    item.article, item.error = (
                        None,
                        {
                            "code": "duplicate_id",
                            "message": f"id {item.id!r} appears more than once in the input",
                        },
                    )
                seen.add(item.id)
                if item.article is None:
                    record(ArticleResult.failed(item.id, item.source_lang, item.error or {}))
                    continue
                submit(_InFlight(item, request_body(item.article, options.article_options)))
            bar.set_postfix_str(f"{len(in_flight)} in flight on the server", refresh=False)
            if not in_flight:
                continue
            if poll():
                wait = options.poll_min_s
            else:
                time.sleep(wait)
                wait = min(wait * 1.5, options.poll_max_s)
    finally:
        bar.close()
        client.close()
    return counts
