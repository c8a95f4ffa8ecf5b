"""``/v1/translate``: one short article, answered in the same request.

The article goes through the same job queue as ``/v1/jobs`` (so the same workers and the
same pipeline), with interactive priority; the route waits for the job without blocking the
event loop. Past the timeout it answers 504 with the job id: the job goes on, and the client
polls ``GET /v1/jobs/{id}``.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from service.api.deps import SettingsDep, StoreDep, json_body
from service.api.errors import SyncTimeout
from service.api.jobs import IdempotencyKey, job_links, job_view, submit_article
from service.api.payloads import ArticleRequest
from service.errors import TextTooLong, UnsupportedLanguage
from service.jobs.store import JobStore, Priority

__all__ = ["router", "wait_for_job"]

router = APIRouter(prefix="/v1", tags=["translate"])

_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.1


async def wait_for_job(store: JobStore, job_id: str, timeout_s: float) -> dict[str, Any] | None:
    """Poll the store until the job is terminal (its view) or ``timeout_s`` passes (None).

    Store calls run in the thread pool (a SQLite read may wait on a lock); the pause between
    polls starts short, since short texts finish in a fraction of a second, and grows.
    """
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while True:
        job = await run_in_threadpool(store.get, job_id)
        if job.state.terminal:
            return job_view(job)
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        await anyio.sleep(min(pause, left))
        pause = min(pause * 2, _MAX_POLL_S)


@router.post(
    "/translate",
    dependencies=[Depends(json_body)],
    responses={
        422: {"description": "invalid fields, or a text over the synchronous size limit"},
        504: {"description": "not finished in time: poll the job id in the error"},
    },
)
async def translate(
    article: ArticleRequest,
    store: StoreDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Translate a short article and answer with its finished job (``state`` says whether it
    succeeded; the result or the error is inside). Longer texts go to ``POST /v1/jobs``."""
    limit = min(settings.sync_max_chars, settings.max_article_chars)
    try:
        job, _ = await run_in_threadpool(
            lambda: submit_article(
                store,
                settings,
                article,
                priority=Priority.INTERACTIVE,
                idempotency_key=idempotency_key,
                max_chars=limit,
            )
        )
    except TextTooLong as exc:  # refused before anything is stored: say where it fits
        size = exc.details["size"]
        raise TextTooLong(
            f"the article has {size} characters (text and title); /v1/translate takes at most "
            f"{limit}: submit longer articles to POST /v1/jobs and poll GET /v1/jobs/{{id}}",
            limit=limit,
            size=size,
        ) from None
    view = await wait_for_job(store, job.id, settings.sync_timeout_s)
    if view is None:
        raise SyncTimeout(
            f"job {job.id} did not finish within {settings.sync_timeout_s:g} s; it goes on: "
            f"poll GET /v1/jobs/{job.id}",
            job_id=job.id,
            timeout_s=settings.sync_timeout_s,
            links=job_links(job.id),
        )
    error = view.get("error") or {}
    if view["state"] == "failed" and error.get("code") == UnsupportedLanguage.code:
        # Detected by the worker (source_lang "auto"): the same 422 as an explicit code.
        details = {k: v for k, v in error.items() if k not in ("code", "message")}
        raise UnsupportedLanguage(
            error.get("message", "unsupported language"), job_id=job.id, **details
        )
    return view
