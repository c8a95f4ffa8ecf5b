"""Named dependencies, so that routes read as sentences (``store: StoreDep``), and the
guard every job route passes before its body is read (:class:`GuardedRoute`).

Everything a route needs hangs off ``app.state``, put there by
:func:`service.api.create_app`; nothing is built at import time.

Who is calling (:class:`Caller`): with API keys configured, the key names a tenant; the
jobs a tenant submits are its own, and it sees no other tenant's (another's job id is a
404). The admin key sees every tenant's jobs. Without keys the API is open: one tenant
(``""``) that sees everything.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from service.api.admission import Admission, Overloaded, RateLimited, ShuttingDown, admission
from service.api.errors import InvalidBody, Unauthorized, UnsupportedMediaType, error_response
from service.errors import PasseurError
from service.jobs.store import JobStore, QueueFull, TenantQueueFull
from service.settings import Settings

__all__ = [
    "AdmissionDep",
    "Caller",
    "CallerDep",
    "GuardedRoute",
    "ModelsInfoDep",
    "SettingsDep",
    "StoreDep",
    "authenticate",
    "get_caller",
    "get_models_info",
    "get_settings",
    "get_store",
    "json_body",
    "require_api_key",
]

# Refusals answered with Retry-After (and counted for /metrics).
REFUSALS = (RateLimited, TenantQueueFull, QueueFull, Overloaded, ShuttingDown)


def get_store(request: Request) -> JobStore:
    """The job store the app was built with."""
    return request.app.state.store


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


def get_models_info(request: Request) -> Callable[[], dict[str, Any]]:
    """The function that describes the registry's models (``create_app(models_info=...)``)."""
    return request.app.state.models_info


StoreDep = Annotated[JobStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ModelsInfoDep = Annotated[Callable[[], dict[str, Any]], Depends(get_models_info)]


@dataclass(frozen=True)
class Caller:
    """Who sent the request: the ``tenant`` its jobs belong to, and whether it sees every
    tenant's jobs (the admin key, or an API without keys)."""

    tenant: str
    sees_all: bool

    @property
    def scope(self) -> str | None:
        """The tenant a store read is limited to (None: every tenant)."""
        return None if self.sees_all else self.tenant


OPEN = Caller("", sees_all=True)


def _offered_key(request: Request) -> str | None:
    """The key a request offers. Both headers follow one rule: surrounding blanks are not
    part of the key, and an empty value offers nothing. ``Authorization`` counts only with
    the Bearer scheme (any case, any blanks after it). Two different keys are refused: a
    wrong ``X-API-Key`` can neither override nor ride along a right Bearer token."""
    header = (request.headers.get("x-api-key") or "").strip()
    authorization = (request.headers.get("authorization") or "").split(None, 1)
    bearer = ""
    if len(authorization) == 2 and authorization[0].lower() == "bearer":
        bearer = authorization[1].strip()
    if header and bearer and not hmac.compare_digest(header.encode(), bearer.encode()):
        raise Unauthorized(
            "X-API-Key and Authorization: Bearer carry different keys: send one key, once"
        )
    return header or bearer or None


def authenticate(request: Request) -> Caller:
    """The request's :class:`Caller`, or 401 when keys are configured and it offers none
    of them. Every key is compared in constant time, and all of them each time, so the
    answer's timing says nothing about which keys exist."""
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    settings: Settings = request.app.state.settings
    if not settings.keys_required:
        caller = OPEN
    else:
        offered = _offered_key(request)
        if offered is None:
            raise Unauthorized(
                "a valid API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
            )
        found: Caller | None = None
        for key, tenant, sees_all in admission(request.app).credentials():
            if hmac.compare_digest(offered.encode(), key.encode()):
                found = Caller(tenant, sees_all)
        if found is None:
            raise Unauthorized("the API key is not valid")
        caller = found
    request.state.caller = caller
    return caller


def require_api_key(request: Request) -> None:
    """Refuse the request (401) when keys are configured and it carries none of them."""
    authenticate(request)


def get_caller(request: Request) -> Caller:
    """The request's caller (authenticated by :class:`GuardedRoute` before the body)."""
    return authenticate(request)


def get_admission(request: Request) -> Admission:
    """The app's admission state: rate windows, run-time estimate, refusal counts."""
    return admission(request.app)


CallerDep = Annotated[Caller, Depends(get_caller)]
AdmissionDep = Annotated[Admission, Depends(get_admission)]


async def refusal_response(request: Request, exc: PasseurError) -> Response:
    """A refusal as the one error handler writes it, plus ``Retry-After`` (also in the
    body, as ``retry_after_s``); counted by reason for /metrics."""
    state = admission(request.app)
    retry = state.retry_after_s(exc)
    exc.details["retry_after_s"] = retry
    state.refused(exc.code)
    response = await error_response(request, exc)
    response.headers["Retry-After"] = str(retry)
    return response


class GuardedRoute(APIRoute):
    """A job route whose key is checked before its body is read (invalid JSON without a
    key is a 401, not a 400), whose submissions (``POST``) count against the tenant's
    rate at the same point, and whose refusals carry ``Retry-After``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            caller = authenticate(request)
            try:
                if request.method == "POST":
                    admission(request.app).rate.admit(caller.tenant)
                return await handler(request)
            except REFUSALS as exc:
                return await refusal_response(request, exc)

        return guarded


async def json_body(request: Request) -> None:
    """Insist on a UTF-8 JSON body: 415 for another content type, 400 for other bytes.

    Requiring ``application/json`` also keeps cross-site HTML forms out: a browser only
    sends that content type to another origin after a CORS preflight, which we never grant.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json` "
            f"(got {media or 'none'!r})",
            content_type=media or None,
        )
    try:
        (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBody(f"the request body is not UTF-8 (byte {exc.start} is invalid)") from exc
