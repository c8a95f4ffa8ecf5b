"""Building the pipeline from settings: resolve the models first (no network, no torch:
a missing model fails in well under a second), then load them once.

Translation models beyond the ones named up front are loaded on first use, per source
language (:class:`TranslatorPool`), so a worker that only ever sees French never pays for
German; a language whose model is not pulled fails that article with the pull command.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from service.backends import make_backend as build_backend
from service.errors import ModelNotAvailable, PasseurError, UnsupportedLanguage
from service.registry import Registry, ResolvedModel
from service.settings import Settings

log = logging.getLogger(__name__)

TARGET_LANG = "en"


@dataclass(frozen=True)
class ModelPlan:
    """The models a process loads at start: translation per source language, and the summariser."""

    translation: dict[str, ResolvedModel]
    summarisation: ResolvedModel | None


def load_registry(settings: Settings) -> Registry:
    return Registry.load(settings.registry_path, settings.model_cache)


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


def make_backend(model: ResolvedModel, settings: Settings, *, max_source_tokens: int | None) -> Any:
    """The backend the settings ask for, not loaded; ``bench_force_lengths`` (benchmarks
    only) forces its output lengths, see :mod:`service.bench_support`."""
    backend = build_backend(model, settings, max_source_tokens=max_source_tokens)
    if settings.bench_force_lengths:
        from service.bench_support import ForcedLength

        backend = ForcedLength(backend)
    return backend


def _translation_budget(settings: Settings, model: ResolvedModel) -> int:
    return min(settings.max_segment_tokens, int(model.generation.get("max_source_tokens", 10**6)))


class TranslatorPool:
    """Translation backends by source language, loaded once each, on first use.

    Behaves as a read-only mapping for the pipeline: ``lang in pool`` says whether a
    model is known for the pair (registry entry or override), ``pool[lang]`` loads it,
    raising :class:`ModelNotAvailable` with the pull command when it is not on disk.
    ``items()`` lists the loaded ones.
    """

    def __init__(self, settings: Settings, registry: Registry, preloaded: dict[str, Any]) -> None:
        self.settings = settings
        self.registry = registry
        self._loaded = dict(preloaded)
        self._lock = threading.Lock()

    def pairs(self) -> list[str]:
        langs = {
            *self.registry.pairs("translation"),
            *(f"{s}-{TARGET_LANG}" for s in self.settings.translation_overrides()),
        }
        return sorted(p for p in langs if p.endswith(f"-{TARGET_LANG}"))

    def __contains__(self, lang: object) -> bool:
        return isinstance(lang, str) and f"{lang}-{TARGET_LANG}" in self.pairs()

    def __getitem__(self, lang: str) -> Any:
        with self._lock:
            if lang not in self._loaded:
                if lang not in self:
                    raise UnsupportedLanguage(
                        f"no translation model for {lang}->{TARGET_LANG}; "
                        f"supported: {', '.join(self.pairs())}",
                        supported=self.pairs(),
                    )
                model = resolve_translation(self.settings, self.registry, lang)
                backend = make_backend(
                    model,
                    self.settings,
                    max_source_tokens=_translation_budget(self.settings, model),
                )
                backend.load()
                self._loaded[lang] = backend
            return self._loaded[lang]

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self._loaded.items()))

    def values(self) -> Iterator[Any]:
        return iter(list(self._loaded.values()))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._loaded))


def load_pipeline(
    settings: Settings, plan: ModelPlan, registry: Registry | None = None
):  # -> Pipeline
    """Load every planned model (this imports torch) and wire the pipeline."""
    from service.pipeline import Pipeline
    from service.summarisation import build_summariser

    registry = registry or load_registry(settings)
    preloaded = {}
    for lang, model in plan.translation.items():
        backend = make_backend(
            model, settings, max_source_tokens=_translation_budget(settings, model)
        )
        backend.load()
        preloaded[lang] = backend
    summary_backend = None
    if plan.summarisation is not None:
        model = plan.summarisation
        summary_backend = make_backend(
            model, settings, max_source_tokens=model.generation.get("max_source_tokens")
        )
        summary_backend.load()
    summariser = build_summariser(settings, summary_backend)
    translators = TranslatorPool(settings, registry, preloaded)
    return Pipeline(translators, summariser, settings, target_lang=TARGET_LANG)
