"""Errors of the HTTP edge, and the one handler that turns every error into JSON.

Every error answer has the same shape, ``{"error": {"code", "message", ...details}}``,
whatever raised it: a domain error (:class:`~service.errors.PasseurError`, which carries its
own ``code`` and ``http_status``), FastAPI's request validation, or Starlette's own HTTP
errors (unknown route, wrong method).

The OpenAPI document lists the error answers of each route from the dicts here
(:data:`SUBMIT_ERRORS` and the others, passed as a route's ``responses=``), all with the
:class:`ErrorBody` schema.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from service.errors import PasseurError

log = logging.getLogger(__name__)

__all__ = [
    "JOB_ERRORS",
    "KEYED_ERRORS",
    "LIST_ERRORS",
    "SUBMIT_ERRORS",
    "TRANSLATE_ERRORS",
    "BodyTooLarge",
    "ErrorBody",
    "InvalidBody",
    "SyncTimeout",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_body",
    "error_response",
    "error_responses",
]


class InvalidBody(PasseurError):
    """The body is not JSON, or not UTF-8."""

    code = "invalid_body"
    http_status = 400


class Unauthorized(PasseurError):
    """API keys are configured and the request carried none of them."""

    code = "unauthorized"
    http_status = 401


class BodyTooLarge(PasseurError):
    """The body is over ``max_body_bytes`` (answered by the body-limit middleware)."""

    code = "body_too_large"
    http_status = 413


class UnsupportedMediaType(PasseurError):
    """The body is sent as something other than JSON."""

    code = "unsupported_media_type"
    http_status = 415


class SyncTimeout(PasseurError):
    """``/v1/translate`` gave up waiting; the job goes on and can be polled."""

    code = "timeout"
    http_status = 504


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a message for people and, for limits, the
    ``limit`` and the ``size``; other details by code (``job_id``, ``field``, ``position``...)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


# What each status means wherever it is listed: the codes a client can rely on.
_STATUS_NOTES = {
    400: "invalid_body: the body is not JSON, or not UTF-8",
    401: "unauthorized: API keys are configured and the request carried none of them",
    404: "job_not_found: no job has this id",
    409: "idempotency_conflict: the Idempotency-Key was used for another body",
    410: "job_expired: the job's result was kept its time and is gone",
    413: "body_too_large: the body is over the size limit (with limit and size)",
    415: "unsupported_media_type: the body is not sent as application/json",
    422: "invalid_request (fields, with errors), invalid_text (a lone surrogate, with field "
    "and position), empty_text, text_too_long (with limit and size), unsupported_language, "
    "unknown_format (with accepted), empty_document (markup with no text), "
    "document_too_deep (with limit and line)",
    429: "rate_limited (the key's submissions per minute) or tenant_queue_full (its queued "
    "jobs): retry after Retry-After",
    503: "queue_full, overloaded (/v1/translate would wait past its timeout), "
    "store_unavailable (the job store did not take the write in time: retry in a few "
    "seconds) or shutting_down: retry after Retry-After",
    504: "timeout: not finished in time; the job goes on: poll the job_id in the error",
}


def error_responses(
    *statuses: int, notes: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with the error schema and what it means
    (``notes`` replace a status's default description)."""
    notes = {**_STATUS_NOTES, **(notes or {})}
    return {status: {"model": ErrorBody, "description": notes[status]} for status in statuses}


# Every /v1 route (app.py adds it to the keyed routers).
KEYED_ERRORS = error_responses(401)
# POST /v1/jobs.
SUBMIT_ERRORS = error_responses(400, 409, 413, 415, 422, 429, 503)
# POST /v1/translate: a submission that also waits.
TRANSLATE_ERRORS = error_responses(
    400,
    409,
    413,
    415,
    422,
    429,
    503,
    504,
    notes={422: _STATUS_NOTES[422] + "; text_too_long also over the synchronous limit"},
)
# GET and DELETE /v1/jobs/{job_id}.
JOB_ERRORS = error_responses(404, 410)
# GET /v1/jobs: a bad state or limit.
LIST_ERRORS = error_responses(422)

# Sent with every error: a browser never guesses another type for the JSON (the
# security-headers middleware cannot add it to a 500, which Starlette answers outside it).
_ERROR_HEADERS = {"X-Content-Type-Options": "nosniff"}

_HTTP_CODES = {
    400: "invalid_body",  # the only 400 FastAPI raises itself: a body it could not parse
    404: "not_found",
    405: "method_not_allowed",
}


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    """The JSON every error answer carries."""
    return {"error": {"code": code, "message": message, **details}}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Neither the input (it may be the whole article) nor pydantic's ctx (it may hold
    # exception objects) goes back to the client.
    return [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path (None under a mount, which answers for
    itself). Starlette's own ``Allow`` names the methods of the first route that matched
    the path only: GET but not DELETE on ``/v1/jobs/{id}``."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed) or None


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: any error raised while serving becomes JSON."""
    headers = dict(_ERROR_HEADERS)
    if isinstance(exc, PasseurError):
        status, body = exc.http_status, {"error": exc.to_dict()}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, RequestValidationError):
        errors = _field_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            status = 400
            body = error_body("invalid_body", "the request body is not valid JSON", errors=errors)
        else:
            status = 422
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
            body = error_body("invalid_request", f"invalid request: {problems}", errors=errors)
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        code = _HTTP_CODES.get(status, "http_error")
        message = str(exc.detail)
        if code == "invalid_body":
            message = "the request body could not be read as JSON: send it UTF-8 encoded"
        body = error_body(code, message)
        headers.update(exc.headers or {})
        if status == 405 and (allowed := _allowed_methods(request)):
            headers["Allow"] = allowed
    else:
        # Starlette re-raises the exception after this answer, so the server logs its
        # traceback once.
        status = 500
        body = error_body("internal_error", "internal error; the server log has the details")
    if isinstance(exc, PasseurError) and status >= 500 and not isinstance(exc, SyncTimeout):
        log.error("%s %s answered %d: %s", request.method, request.url.path, status, body["error"])
    return JSONResponse(body, status_code=status, headers=headers)
