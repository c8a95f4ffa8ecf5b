"""The application factory: settings and store in, FastAPI app out. Nothing at import time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import __version__
from service.api import jobs, meta, translate, web
from service.api.body_limit import BodyLimitMiddleware
from service.api.deps import require_api_key
from service.api.errors import error_response
from service.errors import PasseurError
from service.jobs.store import JobStore
from service.settings import Settings

__all__ = ["create_app"]

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
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.models_info = models_info or meta.registry_models_info(settings)

    for kind in (PasseurError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(kind, error_response)

    keyed = [Depends(require_api_key)]
    app.include_router(jobs.router, dependencies=keyed)
    app.include_router(translate.router, dependencies=keyed)
    app.include_router(meta.router, dependencies=keyed)
    app.include_router(meta.probes)
    app.include_router(web.router)
    app.mount("/static", web.static_files(), name="static")

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app
