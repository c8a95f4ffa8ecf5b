"""Errors of the HTTP edge, and the one handler that turns every error into JSON.

Every error answer has the same shape, ``{"error": {"code", "message", ...details}}``,
whatever raised it: a domain error (:class:`~service.errors.PasseurError`, which carries its
own ``code`` and ``http_status``), FastAPI's request validation, or Starlette's own HTTP
errors (unknown route, wrong method).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import PasseurError

log = logging.getLogger(__name__)

__all__ = [
    "BodyTooLarge",
    "InvalidBody",
    "SyncTimeout",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_body",
    "error_response",
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


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: any error raised while serving becomes JSON."""
    headers: dict[str, str] | None = None
    if isinstance(exc, PasseurError):
        status, body = exc.http_status, {"error": exc.to_dict()}
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": "Bearer"}
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
        headers = dict(exc.headers) if exc.headers else None
    else:
        # Starlette re-raises the exception after this answer, so the server logs its
        # traceback once.
        status = 500
        body = error_body("internal_error", "internal error; the server log has the details")
    if isinstance(exc, PasseurError) and status >= 500 and not isinstance(exc, SyncTimeout):
        log.error("%s %s answered %d: %s", request.method, request.url.path, status, body["error"])
    return JSONResponse(body, status_code=status, headers=headers)
