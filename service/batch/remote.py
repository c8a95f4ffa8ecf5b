"""The batch script on a cluster: ``passeur translate ... --server URL`` submits each
article as a batch-priority job to a running service, keeps a bounded number in flight,
and gives back the same records as an in-process run (the job's result, its ``id`` the
article's); the shared loop (:mod:`service.batch.run`) writes them, so ``--resume`` works
the same way.

Each submission carries ``Idempotency-Key: <article id>:<hash of the request>``
(:func:`service.idempotency.idempotency_key`): a run resumed after a crash, or a request
retried after a lost answer, finds the job already submitted instead of making a second
one. Records come back as jobs finish, not in input order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from service.articles import (
    Article,
    ArticleResult,
    Bullet,
    Flag,
    ParagraphResult,
    SentenceResult,
    TitleResult,
)
from service.batch.io import InputItem
from service.batch.run import Status, Translate
from service.errors import ConfigError, PasseurError
from service.idempotency import idempotency_key
from service.jobs.store.base import FINAL_STATES

__all__ = ["RemoteOptions", "ServerUnavailable", "on_server", "result_from_dict"]

log = logging.getLogger(__name__)

FINAL_STATE_NAMES = frozenset(state.value for state in FINAL_STATES)


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
    retries: int = 8  # connection errors, 5xx and 429, with backoff from 0.25 s to 8 s
    poll_min_s: float = 0.2
    poll_max_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.server.startswith(("http://", "https://")):
            raise ConfigError(f"--server must be an http:// or https:// URL, not {self.server!r}")
        if self.max_in_flight < 1:
            raise ConfigError(f"--max-in-flight must be at least 1 (got {self.max_in_flight})")


def _terms_body(article: Article) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if article.glossary:
        body["glossary"] = [{"source": s, "target": t} for s, t in article.glossary]
    if article.do_not_translate:
        body["do_not_translate"] = list(article.do_not_translate)
    return body


def request_body(article: Article, article_options: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /v1/jobs`` body for one article."""
    return {
        "title": article.title,
        "text": article.text,
        "source_lang": article.source_lang,
        **({"format": article.format} if article.format != "text" else {}),
        **_terms_body(article),
        "options": article_options,
    }


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
        work=data.get("work", {}),
        format=data.get("format", "text"),
        document=data.get("document"),
    )


@dataclass
class _InFlight:
    item: InputItem
    body: dict[str, Any]
    submissions: int = 1


class _Client:
    """``httpx`` with the API key, retries on connection errors, 5xx and 429 (the
    service's admission limits, waiting what its ``Retry-After`` says), and the
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
            after: float | None = None
            try:
                response = self.http.request(method, path, **kw)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code in (401, 403):
                        raise ConfigError(
                            f"{self.options.server} refused the request "
                            f"({response.status_code}): pass a valid key with --api-key"
                        )
                    return response
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                after = _retry_after(response)
            if attempt < self.options.retries:
                wait = delay if after is None else after
                log.warning("%s %s: %s; retrying in %.1f s", method, path, problem, wait)
                time.sleep(wait)
                delay = min(delay * 2, 8.0)
        raise ServerUnavailable(
            f"{self.options.server} did not answer {method} {path} after "
            f"{self.options.retries + 1} tries ({problem}); the records written so far are "
            "complete: rerun with --resume once the service is back"
        )

    def close(self) -> None:
        self.http.close()


def _retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks for (at most a minute), if it gives some."""
    try:
        return min(max(float(response.headers["retry-after"]), 0.0), 60.0)
    except (KeyError, ValueError):
        return None


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except ValueError:
        error = None
    if isinstance(error, dict) and "code" in error:
        return error
    return {"code": f"http_{response.status_code}", "message": response.text[:500]}


def _job_result(
    item: InputItem, job: dict[str, Any] | None, response: httpx.Response
) -> ArticleResult:
    """The record of a job that ended (``job`` None: the service could not show it)."""
    if job is not None and job["state"] == "succeeded":
        return result_from_dict({**job["result"], "id": item.id})
    error = (job or {}).get("error") or (
        _error(response)
        if job is None
        else {"code": job["state"], "message": f"the job ended {job['state']}"}
    )
    return ArticleResult.failed(item.id, item.source_lang, error)


class _Jobs:
    """The jobs of one run on the service: submitted, polled, submitted again if lost."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.in_flight: dict[str, _InFlight] = {}  # job id -> article

    def submit(self, entry: _InFlight) -> ArticleResult | None:
        """Submit ``entry``; a refusal (too long, empty, bad language...) is its result at
        once, since retrying cannot help."""
        response = self.client.call(
            "POST",
            "/v1/jobs",
            json=entry.body,
            headers={"Idempotency-Key": idempotency_key(entry.item.id, entry.body)},
        )
        if response.status_code in (200, 202):
            self.in_flight[response.json()["id"]] = entry
            return None
        return ArticleResult.failed(entry.item.id, entry.item.source_lang, _error(response))

    def poll(self) -> list[ArticleResult]:
        """The results of the jobs that ended since the last poll."""
        finished = []
        for job_id, entry in list(self.in_flight.items()):
            response = self.client.call("GET", f"/v1/jobs/{job_id}")
            if response.status_code in (404, 410) and entry.submissions < 3:
                del self.in_flight[job_id]  # lost or expired before we read it: submit again
                entry.submissions += 1
                refused = self.submit(entry)
                if refused is not None:
                    finished.append(refused)
                continue
            job = response.json() if response.status_code == 200 else None
            if job is not None and job.get("state") not in FINAL_STATE_NAMES:
                continue
            del self.in_flight[job_id]
            finished.append(_job_result(entry.item, job, response))
        return finished


def on_server(options: RemoteOptions) -> Translate:
    """A :class:`~service.batch.run.Translate` that runs each article as a job on the
    service, at most ``options.max_in_flight`` at a time, polling with backoff."""

    def translate(
        items: Iterator[InputItem], status: Status
    ) -> Generator[ArticleResult, None, None]:
        jobs = _Jobs(_Client(options))
        exhausted = False
        wait = options.poll_min_s
        try:
            while not exhausted or jobs.in_flight:
                while not exhausted and len(jobs.in_flight) < options.max_in_flight:
                    item = next(items, None)
                    if item is None:
                        exhausted = True
                    elif item.article is None:
                        yield item.failed_result()
                    else:
                        body = request_body(item.article, options.article_options)
                        refused = jobs.submit(_InFlight(item, body))
                        if refused is not None:
                            yield refused
                status(f"{len(jobs.in_flight)} in flight on the server")
                if not jobs.in_flight:
                    continue
                finished = jobs.poll()
                yield from finished
                if finished:
                    wait = options.poll_min_s
                else:
                    time.sleep(wait)
                    wait = min(wait * 1.5, options.poll_max_s)
        finally:
            jobs.client.close()

    return translate
