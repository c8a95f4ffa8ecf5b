"""``/v1/translate``: one short article, answered in the same request.

The article goes through the same job queue as ``/v1/jobs`` (so the same workers and the
same pipeline), with interactive priority; the route waits for the job without blocking the
event loop. Nothing runs for a client that is no longer waiting: past the timeout the answer
is 504 with the job id and the job is cancelled (a queued job never starts, a running one
stops within one batch); so is the job of a client that hung up, or of a request still
waiting when the server stops (503 ``shutting_down``). A request that would wait longer than
its timeout behind the interactive jobs already queued is refused at once (503
``overloaded``, see :mod:`service.api.admission`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import anyio
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from service.api.admission import Admission, Overloaded, ShuttingDown
from service.api.deps import AdmissionDep, CallerDep, GuardedRoute, SettingsDep, StoreDep, json_body
from service.api.errors import TRANSLATE_ERRORS, SyncTimeout
from service.api.jobs import IdempotencyKey, job_links, job_view, submit_article
from service.api.payloads import ArticleRequest
from service.errors import TextTooLong, UnsupportedLanguage
from service.jobs.store import Job, JobState, JobStore, Priority
from service.settings import Settings

__all__ = ["router", "wait_for_job"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["translate"], route_class=GuardedRoute)

_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.05


async def wait_for_job(
    store: JobStore,
    job_id: str,
    timeout_s: float,
    give_up: Callable[[], Awaitable[bool]] | None = None,
) -> Job:
    """Poll the store until the job is terminal, ``timeout_s`` passes or ``give_up()`` says
    so; returns the job as last read.

    Store calls run in the thread pool (a SQLite read may wait on a lock); the pause between
    polls starts short, since short texts finish in a fraction of a second, and grows.
    """
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_POLL_S
    while True:
        job = await run_in_threadpool(store.get, job_id)
        left = deadline - time.monotonic()
        if job.state.terminal or left <= 0 or (give_up is not None and await give_up()):
            return job
        await anyio.sleep(min(pause, left))
        pause = min(pause * 2, _MAX_POLL_S)


async def _check_wait(store: JobStore, settings: Settings, admission: Admission) -> None:
    """Refuse (503) a request that would wait past its timeout behind the interactive jobs
    already queued, or that comes while the server stops."""
    if admission.stopping:
        raise ShuttingDown("the server is stopping: retry in a moment")
    timeout, run_time = settings.sync_timeout_s, admission.run_time
    # Enough jobs to tell "over the timeout" apart, and no more: counting stops there.
    cap = min(10_000, settings.claim_limit * (math.ceil(timeout / run_time.job_s) + 1))
    waiting = await run_in_threadpool(store.waiting, Priority.INTERACTIVE, cap)
    wait_s = run_time.wait_s(waiting, settings.claim_limit)
    if wait_s > timeout:
        raise Overloaded(
            f"{waiting} interactive jobs are waiting, about {wait_s:.0f} s of work, longer "
            f"than the {timeout:g} s this request may wait: retry later, or submit to "
            "POST /v1/jobs and poll",
            limit=timeout,
            size=round(wait_s, 1),
            waiting=waiting,
            retry_after_s=max(1, math.ceil(wait_s - timeout)),
        )


@router.post(
    "/translate",
    dependencies=[Depends(json_body)],
    responses=TRANSLATE_ERRORS,
)
async def translate(
    article: ArticleRequest,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: CallerDep,
    admission: AdmissionDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Translate a short article and answer with its finished job (``state`` says whether it
    succeeded; the result or the error is inside). Longer texts go to ``POST /v1/jobs``."""
    limit = min(settings.sync_max_chars, settings.max_article_chars)
    await _check_wait(store, settings, admission)
    try:
        job, _ = await run_in_threadpool(
            lambda: submit_article(
                store,
                settings,
                article,
                priority=Priority.INTERACTIVE,
                idempotency_key=idempotency_key,
                caller=caller,
                bounds=admission.bounds,
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

    async def give_up() -> bool:
        return admission.stopping or await request.is_disconnected()

    job = await wait_for_job(store, job.id, settings.sync_timeout_s, give_up)
    if not job.state.terminal:
        # Nobody will read the result: cancel the job (unless it finished meanwhile).
        job = await run_in_threadpool(store.cancel, job.id)
        if job.state in (JobState.RUNNING, JobState.CANCELLED):
            _give_up_on(job, admission, settings)
    if job.started_at is not None and job.finished_at is not None:
        admission.run_time.observe(job.finished_at - job.started_at)
    view = job_view(job)
    error = view.get("error") or {}
    if view["state"] == "failed" and error.get("code") == UnsupportedLanguage.code:
        # Detected by the worker (source_lang "auto"): the same 422 as an explicit code.
        details = {k: v for k, v in error.items() if k not in ("code", "message")}
        raise UnsupportedLanguage(
            error.get("message", "unsupported language"), job_id=job.id, **details
        )
    return view


def _give_up_on(job: Job, admission: Admission, settings: Settings) -> NoReturn:
    """Raise the answer for a job cancelled unfinished: the server stops, or the wait
    timed out (a client that hung up gets the same 504, which nobody reads)."""
    if admission.stopping:
        raise ShuttingDown(
            f"the server is stopping; job {job.id} was cancelled: retry in a moment",
            job_id=job.id,
        )
    if job.started_at is not None:  # it ran at least this long: the estimate learns it
        admission.run_time.observe(max(0.0, time.time() - job.started_at))
    admission.refused("timeout")
    log.info("job %s: /v1/translate gave up waiting, job cancelled", job.id)
    raise SyncTimeout(
        f"job {job.id} did not finish within {settings.sync_timeout_s:g} s and was cancelled: "
        "retry later, or submit it to POST /v1/jobs and poll",
        job_id=job.id,
        timeout_s=settings.sync_timeout_s,
        links=job_links(job.id),
    )
