"""The application factory: settings and store in, FastAPI app out. Nothing at import time."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import __version__
from service.api import jobs, meta, translate, web
from service.api.body_limit import BodyLimitMiddleware
from service.api.deps import require_api_key
from service.api.errors import KEYED_ERRORS, ErrorBody, error_response
from service.errors import PasseurError
from service.jobs.store import JobStore
from service.settings import Settings

__all__ = ["HTML_CSP", "SWAGGER_ASSETS", "SecurityHeadersMiddleware", "create_app"]

# The policy of every HTML answer that brings none of its own (the page at / and /docs
# bring theirs): nothing loads, nothing runs, nothing frames it.
HTML_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

DESCRIPTION = """\
French→English news translation with bullet summaries.

Submit an article to `POST /v1/jobs` and poll `GET /v1/jobs/{id}`, or send a short one to
`POST /v1/translate` and get the result in the answer. Errors are JSON
`{"error": {"code", "message", ...}}` with stable codes.

When API keys are configured (`PASSEUR_API_KEYS`), every `/v1` route needs
`Authorization: Bearer KEY` or `X-API-Key: KEY`; `/healthz`, `/readyz`, `/metrics`, the web
page at `/` and these docs stay open.
"""


def create_app(
    settings: Settings,
    store: JobStore,
    *,
    models_info: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """Build the HTTP API over ``store``.

    ``models_info`` describes the registry's models for ``/v1/models`` and ``/v1/languages``
    (default: read the registry named by ``settings``, see
    :func:`service.api.meta.registry_models_info`). The caller owns ``store``: the app
    never closes it.
    """
    app = FastAPI(
        title="Passeur",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served below, with its own Content-Security-Policy
        redoc_url=None,
        # "/v1/jobs/" is a 404, not a redirect to an absolute URL built from the Host header.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.models_info = models_info or meta.registry_models_info(settings)

    for kind in (PasseurError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, error_response)

    keyed = [Depends(require_api_key)]
    for router in (jobs.router, translate.router, meta.router):
        app.include_router(router, dependencies=keyed, responses=KEYED_ERRORS)
    app.include_router(meta.probes)
    app.include_router(web.router)
    app.add_api_route("/docs", _docs_page(app), include_in_schema=False)
    app.mount(SWAGGER_ASSETS, StaticFiles(directory=_SWAGGER_DIR), name="docs-assets")
    app.mount("/static", web.static_files(), name="static")
    app.openapi = _openapi_with_error_schema(app)  # type: ignore[method-assign]

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Added last, so outermost: it also sees the body limit's 413.
    app.add_middleware(SecurityHeadersMiddleware)
    return app


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every answer, and :data:`HTML_CSP` on every
    HTML answer that has no ``Content-Security-Policy`` of its own.

    A 500 is answered by Starlette outside every middleware: the error handler sets
    ``nosniff`` itself (:func:`service.api.errors.error_response`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").lower().startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", HTML_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Swagger UI's script and style sheet, vendored (docs_assets/README.md) and served by the app
# itself: the docs work offline and load nothing from a third site.
SWAGGER_ASSETS = "/docs/assets"
_SWAGGER_DIR = Path(__file__).resolve().parent / "docs_assets"


def _docs_page(app: FastAPI) -> Callable[[], HTMLResponse]:
    """``/docs``: FastAPI's Swagger UI page with its assets from :data:`SWAGGER_ASSETS`, under
    a policy that allows those and its one inline script (by its hash, taken from the page
    this FastAPI writes) and no more."""
    page = get_swagger_ui_html(
        openapi_url=str(app.openapi_url),
        title=f"{app.title} - API",
        swagger_js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        swagger_favicon_url="data:,",
    )
    html = bytes(page.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; "
        # Swagger UI sets inline styles and draws its icons as data: images.
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )

    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    return docs


def _openapi_with_error_schema(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with FastAPI's own 422 schema (``{"detail": [...]}``, which this API
    never answers) replaced by :class:`ErrorBody` wherever FastAPI added it by itself."""
    build = app.openapi
    ref = {"$ref": f"#/components/schemas/{ErrorBody.__name__}"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                answer = operation.get("responses", {}).get("422")
                content = (answer or {}).get("content", {}).get("application/json", {})
                if "HTTPValidationError" in str(content.get("schema", "")):
                    answer["description"] = "invalid_request: a parameter is not valid"
                    content["schema"] = ref
        # ErrorBody is there: KEYED_ERRORS names it on every /v1 route.
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        return schema

    return openapi
