"""The web page at ``/``: paste or drop an article, follow its job, read the translation
beside the source with the bullets. Plain HTML, CSS and JavaScript modules from ``static/``,
no build step and nothing fetched from elsewhere; the page is open, its API calls carry the
key the user typed (kept in the browser's localStorage).

``/page/config`` tells the page, before any key is typed, what it checks before sending an
article: the size limits and whether the API wants a key. None of it is secret: an
oversized or keyless request is told the same in its error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from service.api.deps import SettingsDep

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "router", "static_files"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The page inserts all data as text; this policy is the second line of defence: no inline
# script or style, no third-party origin, no framing. Downloads are made in the page as
# Blob URLs; following a link is navigation, which this policy does not govern.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)


@router.get("/page/config")
def page_config(settings: SettingsDep) -> dict[str, Any]:
    """What the page checks before it sends an article: the characters an article (text
    and title) may hold, the bytes a request body may hold, and whether a key is needed."""
    return {
        "max_article_chars": settings.max_article_chars,
        "max_body_bytes": settings.max_body_bytes,
        "api_key_required": settings.keys_required,
    }


class _RevalidatedStaticFiles(StaticFiles):
    """Static files the browser checks again (ETag, 304) before each use: after an upgrade
    the page's modules are never a mix of two versions."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def static_files() -> StaticFiles:
    """The page's scripts and style sheet, mounted at ``/static``."""
    return _RevalidatedStaticFiles(directory=STATIC_DIR)
