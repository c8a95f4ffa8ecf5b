"""What the service knows about itself: models, languages, liveness, readiness, metrics.

``/healthz``, ``/readyz`` and ``/metrics`` stay open when API keys are configured (probes
and scrapers carry no key); ``/v1/models`` and ``/v1/languages`` need one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import AdmissionDep, ModelsInfoDep, SettingsDep, StoreDep
from service.api.metrics import CONTENT_TYPE, render_metrics
from service.jobs.store import JobStore
from service.registry import load_registry
from service.settings import Settings

__all__ = ["probes", "registry_models_info", "router"]

router = APIRouter(prefix="/v1", tags=["models"])
probes = APIRouter(tags=["probes"])


def registry_models_info(settings: Settings) -> Callable[[], dict[str, Any]]:
    """The default ``models_info`` of :func:`create_app`: the registry's entries, each with
    whether it is in the model cache. The registry file is parsed again when it changes and
    the cache looked at on each call, so a ``passeur models pull`` shows up without a restart."""

    def models_info() -> dict[str, Any]:
        registry = load_registry(settings, cached=True)
        models = []
        for name in registry.names():
            entry = registry.entries[name]
            models.append(
                {
                    "name": name,
                    "task": entry.task,
                    "source": entry.source,
                    "target": entry.target,
                    "hub_id": entry.hub_id,
                    "revision": entry.revision,
                    "backend": entry.backend,
                    "licence": entry.licence,
                    "cached": registry.is_cached(entry),
                }
            )
        return {"models": models, "cache_dir": str(registry.cache_dir)}

    return models_info


def _workers(store: JobStore, max_age_s: float) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "ready": info.get("ready") is True,
            "models": info.get("models", {}),
            "jobs_running": info.get("jobs_running"),
            "last_seen": info.get("last_seen"),
        }
        for name, info in sorted(store.workers(max_age_s).items())
    ]


@router.get("/models")
async def list_models(
    store: StoreDep, settings: SettingsDep, models_info: ModelsInfoDep
) -> dict[str, Any]:
    """Registry models (``cached``: downloaded, ready to load) and the live workers with the
    models each has loaded."""
    info = await run_in_threadpool(models_info)
    workers = await run_in_threadpool(_workers, store, settings.heartbeat_max_age_s)
    return {**info, "workers": workers}


@router.get("/languages")
async def list_languages(models_info: ModelsInfoDep) -> dict[str, Any]:
    """Translation pairs, each with its models and whether they are cached, and the
    languages summaries are written in."""
    info = await run_in_threadpool(models_info)
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    summaries: set[str] = set()
    for model in info.get("models", []):
        if model.get("task") == "translation":
            pair = pairs.setdefault(
                (model["source"], model["target"]),
                {
                    "source": model["source"],
                    "target": model["target"],
                    "models": [],
                    "cached": False,
                },
            )
            pair["models"].append({"name": model["name"], "cached": bool(model.get("cached"))})
            pair["cached"] = pair["cached"] or bool(model.get("cached"))
        elif model.get("task") == "summarisation":
            summaries.add(model["target"])
    return {"pairs": [pairs[k] for k in sorted(pairs)], "summary_languages": sorted(summaries)}


@probes.get("/healthz")
def healthz() -> dict[str, str]:
    """200 while the process is up; says nothing about models or workers (see /readyz)."""
    return {"status": "ok"}


@probes.get("/readyz", responses={503: {"description": "no live worker has its models loaded"}})
def readyz(store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """200 once a worker with a fresh heartbeat reports its models loaded, else 503 with why."""
    workers = store.workers(settings.heartbeat_max_age_s)
    ready = [name for name, info in workers.items() if info.get("ready") is True]
    if ready:
        return JSONResponse({"ready": True, "workers": len(workers), "workers_ready": len(ready)})
    if workers:
        reason = f"{len(workers)} worker(s) alive, none has its models loaded yet"
    else:
        reason = (
            f"no worker has sent a heartbeat in the last {settings.heartbeat_max_age_s:g} s: "
            "start one with `passeur worker` (or `passeur serve` with at least one worker)"
        )
    return JSONResponse(
        {"ready": False, "reason": reason, "workers": len(workers)}, status_code=503
    )


@probes.get("/metrics", response_class=PlainTextResponse)
def metrics(store: StoreDep, settings: SettingsDep, admission: AdmissionDep) -> PlainTextResponse:
    """Prometheus text: jobs by state, queue depth, workers, jobs done, tokens generated
    (translations, summaries) and time per pipeline stage (the last three summed over the
    live workers), and this process's refusals by reason."""
    text = render_metrics(
        store.counts(), store.workers(settings.heartbeat_max_age_s), admission.refusals()
    )
    return PlainTextResponse(text, media_type=CONTENT_TYPE)
