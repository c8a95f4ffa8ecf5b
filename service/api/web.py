"""The web page at ``/``: paste or drop an article, follow its job, read the translation
beside the source with the bullets. Plain HTML, CSS and JavaScript from ``static/``, no
build step and nothing fetched from elsewhere; the page is open, its API calls carry the
key the user typed (kept in the browser's localStorage)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "router", "static_files"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The page inserts all data as text; this policy is the second line of defence: no inline
# script, no third-party origin, no framing.
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


def static_files() -> StaticFiles:
    """The page's script and style sheet, mounted at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)
