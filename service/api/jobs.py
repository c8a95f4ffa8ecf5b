"""``/v1/jobs``: submit an article, follow it, list jobs, cancel one.

A job belongs to the tenant (API key) that submitted it: other tenants get 404 for it and
do not see it in lists, and Idempotency-Keys are the tenant's own (see
:mod:`service.api.deps`). A submission past the queue bounds is refused before anything
is stored (:mod:`service.api.admission`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status

from service.api.deps import (
    AdmissionDep,
    Caller,
    CallerDep,
    GuardedRoute,
    SettingsDep,
    StoreDep,
    json_body,
)
from service.api.errors import JOB_ERRORS, LIST_ERRORS, SUBMIT_ERRORS
from service.api.payloads import ArticleRequest, JobAccepted, body_hash, job_payload
from service.errors import UnsupportedLanguage
from service.idempotency import MAX_KEY_CHARS
from service.jobs.store import Job, JobState, JobStore, Priority, QueueBounds
from service.registry import supported_sources
from service.settings import Settings

__all__ = ["IdempotencyKey", "job_links", "job_view", "router", "submit_article"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=GuardedRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_CHARS,
        description="retrying with the same key and body returns the same job; "
        "another body under the same key is refused with 409",
    ),
]


def job_links(job_id: str) -> dict[str, str]:
    """Where to poll (GET) or cancel (DELETE) a job."""
    return {"self": f"/v1/jobs/{job_id}"}


def job_view(job: Job) -> dict[str, Any]:
    """A job as the API shows it: :meth:`Job.public` plus whether a cancel is pending and
    its tenant (null when the API is open), and the terms it was sent with, when any
    (``glossary``, ``do_not_translate``: part of the job record, docs/glossary.md)."""
    article = (job.payload or {}).get("article") or {}
    terms = {k: article[k] for k in ("glossary", "do_not_translate") if article.get(k)}
    return {
        **job.public(),
        **terms,
        "cancel_requested": job.cancel_requested,
        "tenant": job.tenant or None,
        "links": job_links(job.id),
    }


def check_language(settings: Settings, code: str) -> None:
    """422 for an explicit language no model translates (``auto`` is decided by the worker).

    The languages come from :func:`service.registry.supported_sources`, which parses the
    registry file again only when it has changed.
    """
    if code == "auto":
        return
    supported = supported_sources(settings)
    if code not in supported:
        raise UnsupportedLanguage(
            f"no translation model for source_lang {code!r}; supported: "
            f"{', '.join(supported)}, or auto",
            supported=supported,
            language=code,
        )


def submit_article(
    store: JobStore,
    settings: Settings,
    article: ArticleRequest,
    *,
    priority: Priority,
    idempotency_key: str | None,
    caller: Caller,
    bounds: QueueBounds | None,
    max_chars: int | None = None,
) -> tuple[Job, bool]:
    """Validate ``article`` and record its job durably for the caller's tenant; returns
    (job, created).

    The same idempotency key of the same tenant with the same canonical body returns the
    job already recorded (created False); another body under that key raises
    ``IdempotencyConflict`` (409). Past ``bounds`` the store raises ``TenantQueueFull``
    (429) or ``QueueFull`` (503) and records nothing.
    """
    payload = job_payload(article, max_chars=max_chars or settings.max_article_chars)
    check_language(settings, article.source_lang)
    return store.submit(
        payload,
        priority=priority,
        idempotency_key=idempotency_key,
        body_hash=body_hash(payload, priority.name.lower()) if idempotency_key else None,
        tenant=caller.tenant,
        bounds=bounds,
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(json_body)],
    responses={
        200: {"description": "the job already submitted under this Idempotency-Key"},
        **SUBMIT_ERRORS,
    },
)
def create_job(
    article: ArticleRequest,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    caller: CallerDep,
    admission: AdmissionDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """Queue one article. The 202 comes only once the job is committed to the store."""
    job, created = submit_article(
        store,
        settings,
        article,
        priority=Priority.BATCH,
        idempotency_key=idempotency_key,
        caller=caller,
        bounds=admission.bounds,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = job_links(job.id)["self"]
    return JobAccepted(id=job.id, state=job.state.value, links=job_links(job.id))


@router.get("/{job_id}", responses=JOB_ERRORS)
def get_job(job_id: str, store: StoreDep, caller: CallerDep) -> dict[str, Any]:
    """State, progress, timestamps and, once succeeded, the result (404 unknown or another
    tenant's, 410 expired)."""
    return job_view(store.get(job_id, tenant=caller.scope))


@router.get("", responses=LIST_ERRORS)
def list_jobs(
    store: StoreDep,
    caller: CallerDep,
    state: Annotated[JobState | None, Query(description="only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, list[dict[str, Any]]]:
    """The caller's jobs (every tenant's for the admin key), newest first, without their
    results (fetch one job for its result)."""
    jobs = []
    for job in store.list(state, limit, tenant=caller.scope):
        view = job_view(job)
        view.pop("result")
        jobs.append(view)
    return {"jobs": jobs}


@router.delete("/{job_id}", responses=JOB_ERRORS)
def cancel_job(job_id: str, store: StoreDep, caller: CallerDep) -> dict[str, Any]:
    """Cancel: a queued job never starts; a running one stops within one batch
    (``cancel_requested`` is true until it does); a finished job is returned unchanged.
    Another tenant's job is 404, untouched."""
    return job_view(store.cancel(job_id, tenant=caller.scope))
