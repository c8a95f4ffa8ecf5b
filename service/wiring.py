"""The composition of the product: the pipeline built from the settings and the registry
(resolve the models first, with no network and no torch, so a missing model fails in well
under a second; then load them once), and the service's processes wired from it: a worker
(store + worker loop + pipeline factory) and ``serve`` (the API + supervised workers).

Translation models beyond the ones named up front are loaded on first use, per source
language (:class:`TranslatorPool`), so a worker that only ever sees French never pays for
German; a language whose model is not pulled fails that article with the pull command.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.engines.build import make_backend
from service.engines.protocol import Seq2SeqBackend
from service.errors import ConfigError, ModelNotAvailable, PasseurError, UnsupportedLanguage
from service.registry import (
    TARGET_LANG,
    ModelEntry,
    Registry,
    ResolvedModel,
    fallback_entry,
    load_registry,
    translation_sources,
)
from service.settings import Settings

if TYPE_CHECKING:
    from service.pipeline.article import Pipeline

__all__ = [
    "ModelPlan",
    "TranslatorPool",
    "Wrap",
    "load_pipeline",
    "plan_models",
    "resolve_translation",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelPlan:
    """The models a process loads at start: translation per source language, and the summariser."""

    translation: dict[str, ResolvedModel]
    summarisation: ResolvedModel | None


def resolve_translation(settings: Settings, registry: Registry, lang: str) -> ResolvedModel:
    """The translation model for ``lang`` -> English: the settings' override, else the
    registry's entry for the pair."""
    spec = settings.translation_overrides().get(lang)
    if spec is None:
        spec = registry.for_pair("translation", lang, TARGET_LANG).name
    return registry.resolve(spec, "translation")


def plan_models(settings: Settings, registry: Registry) -> ModelPlan:
    """Resolve French and every pair the settings name, and the summariser when the mode
    is abstractive. Every missing model is named in one error."""
    translation: dict[str, ResolvedModel] = {}
    summarisation: ResolvedModel | None = None
    missing: list[PasseurError] = []
    for lang in dict.fromkeys(["fr", *settings.translation_overrides()]):
        try:
            translation[lang] = resolve_translation(settings, registry, lang)
        except ModelNotAvailable as exc:
            missing.append(exc)
    if settings.summary_mode in ("auto", "abstractive"):
        spec = (
            settings.summary_model
            or registry.for_pair("summarisation", TARGET_LANG, TARGET_LANG).name
        )
        try:
            summarisation = registry.resolve(spec, "summarisation")
        except ModelNotAvailable as exc:
            missing.append(exc)
    if len(missing) == 1:
        raise missing[0]
    if missing:
        names = [str(e.details.get("model")) for e in missing]
        raise ModelNotAvailable(
            f"models {', '.join(names)} are not in the cache folder {registry.cache_dir}; "
            f"download them with `passeur models pull {' '.join(names)}` on a machine with access "
            "to the Hugging Face hub (serving never downloads), or pass local folders with "
            "--translation-model/--summary-model DIR",
            models=names,
            cache_dir=str(registry.cache_dir),
        )
    return ModelPlan(translation, summarisation)


Wrap = Callable[[Seq2SeqBackend], Seq2SeqBackend]
"""A decorator for every backend the pipeline gets: a measurement's own, never the product's."""


def _loaded(
    model: ResolvedModel, settings: Settings, max_source_tokens: int | None, wrap: Wrap | None
) -> Seq2SeqBackend:
    backend = make_backend(model, settings, max_source_tokens=max_source_tokens)
    if wrap is not None:
        backend = wrap(backend)
    backend.load()
    return backend


def _translation_budget(settings: Settings, model: ResolvedModel) -> int:
    return min(settings.max_segment_tokens, int(model.generation.get("max_source_tokens", 10**6)))


class TranslatorPool(Mapping[str, Any]):
    """Translation backends by source language, loaded once each, on first use.

    Behaves as a read-only mapping for the pipeline: ``lang in pool`` says whether a
    model is known for the language (a pair's registry entry or override, else the
    multilingual fallback when it covers the language), ``pool[lang]`` loads it, raising
    :class:`ModelNotAvailable` with the pull command when it is not on disk. The fallback
    is loaded once and serves every language it covers (:meth:`route` says which languages
    go to it). ``items()`` lists the loaded ones, the fallback under ``"fallback"``.
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        preloaded: dict[str, Any],
        wrap: Wrap | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.wrap = wrap
        self._loaded = dict(preloaded)
        self._fallback: Any = None
        self.fallback: ModelEntry | None = fallback_entry(registry, settings)
        self._lock = threading.Lock()

    def sources(self) -> list[str]:
        """The languages with a pair into English (:func:`service.registry.translation_sources`)."""
        return translation_sources(self.registry, self.settings.translation_overrides())

    def route(self, lang: str) -> str | None:
        """``"pair"`` when ``lang`` has its own model, ``"fallback"`` when the multilingual
        fallback covers it, None when nothing translates it."""
        if lang in self.sources():
            return "pair"
        if self.fallback is not None and self.fallback.covers(lang):
            return "fallback"
        return None

    def pairs(self) -> list[str]:
        """What is supported, for error messages: ``fr-en``, ... and each language the
        fallback covers."""
        covered = self.fallback.languages if self.fallback else ()
        return [f"{source}-{TARGET_LANG}" for source in sorted({*self.sources(), *covered})]

    def __contains__(self, lang: object) -> bool:
        return isinstance(lang, str) and self.route(lang) is not None

    def __getitem__(self, lang: str) -> Any:
        with self._lock:
            if lang in self._loaded:
                return self._loaded[lang]
            if lang == "fallback" and self._fallback is not None:  # as listed by __iter__
                return self._fallback
            route = self.route(lang)
            if route is None:
                raise UnsupportedLanguage(
                    f"no translation model for {lang}->{TARGET_LANG}; "
                    f"supported: {', '.join(self.pairs())}",
                    supported=self.pairs(),
                )
            if route == "fallback":
                return self._fallback_backend()
            model = resolve_translation(self.settings, self.registry, lang)
            backend = _loaded(
                model, self.settings, _translation_budget(self.settings, model), self.wrap
            )
            self._loaded[lang] = backend
            return backend

    def _fallback_backend(self) -> Any:
        if self._fallback is None and self.fallback is not None:
            model = self.registry.resolve(self.fallback.name, "translation")
            self._fallback = _loaded(
                model, self.settings, _translation_budget(self.settings, model), self.wrap
            )
        return self._fallback

    def __iter__(self) -> Iterator[str]:
        return iter([*self._loaded, *(["fallback"] if self._fallback is not None else [])])

    def __len__(self) -> int:
        return len(self._loaded) + (self._fallback is not None)


def load_pipeline(
    settings: Settings,
    plan: ModelPlan,
    registry: Registry | None = None,
    *,
    wrap: Wrap | None = None,
) -> Pipeline:
    """Load every planned model (this imports torch or CTranslate2) and wire the pipeline:
    the one place that does. ``wrap`` decorates each backend (see :data:`Wrap`)."""
    from service.pipeline.article import Pipeline
    from service.pipeline.summaries import build_summariser

    registry = registry or load_registry(settings)
    preloaded = {
        lang: _loaded(model, settings, _translation_budget(settings, model), wrap)
        for lang, model in plan.translation.items()
    }
    summary_backend = None
    if plan.summarisation is not None:
        model = plan.summarisation
        summary_backend = _loaded(model, settings, model.generation.get("max_source_tokens"), wrap)
    summariser = build_summariser(settings, summary_backend)
    translators = TranslatorPool(settings, registry, preloaded, wrap)
    return Pipeline(translators, summariser, settings, target_lang=TARGET_LANG)


# -- the service's processes ---------------------------------------------------


def store_options(settings: Settings):  # -> StoreOptions (jobs/ imported when used)
    from service.jobs.store import StoreOptions

    return StoreOptions(lease_s=settings.lease_s, result_ttl_s=settings.result_ttl_s)


INTERACTIVE_IDLE_S = 0.05  # longest pause between two claims of an idle interactive worker
# A stopping worker finishes its jobs for this share of the grace period, then hands back
# what is still running, so that it is gone before the supervisor's kill at the end.
HANDBACK_SHARE = 2 / 3


def run_worker(settings: Settings, wrap: Wrap | None = None) -> int:
    """One worker process: check the models, load them, run jobs until SIGTERM.

    ``wrap`` decorates every backend (a measurement's own worker entry passes one; the
    product never does)."""
    import faulthandler

    from service.jobs.store import open_store
    from service.jobs.worker import Worker

    # A crash in native code (an engine, the C library) leaves every thread's Python stack
    # in the worker's log instead of a bare exit status.
    faulthandler.enable()
    plan = plan_models(settings, load_registry(settings))  # a missing model fails here, fast
    if not settings.interactive_only and settings.worker_nice:
        # Batch work yields the cores to interactive workers (and to the API) at once.
        os.nice(settings.worker_nice)
    store = open_store(settings.store_url, store_options(settings))
    worker = Worker(
        store,
        lambda: load_pipeline(settings, plan, wrap=wrap),
        heartbeat_s=settings.heartbeat_s,
        claim_limit=settings.claim_limit,
        interactive_only=settings.interactive_only,
        # An interactive worker looks for work often: its jobs are someone waiting.
        idle_max_s=INTERACTIVE_IDLE_S if settings.interactive_only else 0.5,
        handback_after_s=settings.stop_grace_s * HANDBACK_SHARE,
    )
    stop = threading.Event()
    loading = True

    def on_signal(signum: int, frame: object) -> None:
        if loading:  # nothing leased yet: stop now rather than after loading the models
            raise SystemExit(0)
        if stop.is_set():  # second signal: give the current job back now
            worker.release_now.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker %s on %s", worker.name, settings.store_url)
    try:
        worker.load()
        loading = False
        worker.run(stop)
    finally:
        worker.stop_keeper()  # stopped while loading, run() did not stop it
        store.close()
    return 0


def serve(settings: Settings, worker_command: list[str] | None = None) -> int:
    """The API on ``host:port`` and ``settings.workers`` worker processes on one store, each
    running ``worker_command`` (default: ``python -m service.cli worker``).

    SIGTERM or SIGINT stops it cleanly, and it returns 0: the API stops accepting
    connections and answers those in flight (a ``/v1/translate`` still waiting gets 503
    and its job is cancelled), while the workers finish or hand back their jobs within
    ``stop_grace_s``; what still runs then is killed, and every worker is reaped before
    this returns. A second signal makes the workers hand their jobs back at once.
    """
    import uvicorn

    from service.api import create_app
    from service.api.admission import admission
    from service.jobs.store import open_store
    from service.jobs.supervisor import Supervisor, worker_envs

    registry = load_registry(settings)
    if settings.workers and settings.store_url.startswith("memory:"):
        raise ConfigError(
            "memory:// lives in one process and workers are processes: use a sqlite:/// store "
            "(the default) or --workers 0"
        )
    settings.api_tenants  # noqa: B018 - a malformed PASSEUR_API_KEYS fails before anything starts
    if settings.workers:
        plan_models(settings, registry)  # fail before starting anything
    store = open_store(settings.store_url, store_options(settings))
    app = create_app(settings, store)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        http="h11",  # not httptools: only h11 bounds what a request's head may buffer
        timeout_keep_alive=settings.keep_alive_s,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_graceful_shutdown=max(1, math.ceil(settings.stop_grace_s)),
    )
    server = _server(config)
    state = admission(app)
    supervisor = None
    if settings.workers:
        supervisor = Supervisor(worker_envs(settings), worker_command, settings.stop_grace_s)

    def on_signal(signum: int, frame: object) -> None:
        # Flags only (no lock, no I/O): the server's loop, the routes and the supervisor
        # thread each look at theirs within 0.1 s.
        if server.should_exit:
            server.force_exit = True  # a second signal: close connections now
        server.should_exit = True
        state.stopping = True
        if supervisor:
            supervisor.request_stop()

    # Ours for the whole life of serve (the server leaves them alone, see _server), so a
    # signal during start-up or during the workers' stop is handled the same way.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if supervisor:
        supervisor.start()
    log.info(
        "API on http://%s:%d, store %s, %d worker(s) and %d interactive worker(s)",
        settings.host,
        settings.port,
        settings.store_url,
        settings.workers,
        settings.interactive_workers if settings.workers else 0,
    )
    try:
        server.run()
    finally:
        state.stopping = True
        if supervisor:
            supervisor.stop()
        store.close()
    log.info("stopped")
    return 0


def _server(config: Any) -> Any:
    """A uvicorn server that leaves signals to :func:`serve`: uvicorn's own handling
    re-raises the signal once it has shut down, which would end this process before its
    workers are stopped and reaped."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # serve() installed its handlers, for its whole life

    return Server(config)
