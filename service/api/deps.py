"""Named dependencies, so that routes read as sentences (``store: StoreDep``).

Everything a route needs hangs off ``app.state``, put there by
:func:`service.api.create_app`; nothing is built at import time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from service.api.errors import InvalidBody, Unauthorized, UnsupportedMediaType
from service.jobs.store import JobStore
from service.settings import Settings

__all__ = [
    "ModelsInfoDep",
    "SettingsDep",
    "StoreDep",
    "get_models_info",
    "get_settings",
    "get_store",
    "json_body",
    "require_api_key",
]


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


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """Refuse the request (401) when keys are configured and it carries none of them.

    The key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; every configured
    key is compared in constant time, so the answer's timing says nothing about the keys.
    """
    keys = settings.api_key_list
    if not keys:
        return
    offered = request.headers.get("x-api-key", "")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if not offered and scheme.lower() == "bearer":
        offered = credentials.strip()
    given = offered.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    if not matched:
        raise Unauthorized(
            "a valid API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`"
            if not offered
            else "the API key is not valid"
        )


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
