"""Building the pipeline from settings: resolve every model first (no network, no torch:
a missing model fails in well under a second), then load them once."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.errors import ModelNotAvailable, PasseurError
from service.registry import Registry, ResolvedModel
from service.settings import Settings

log = logging.getLogger(__name__)

TARGET_LANG = "en"


@dataclass(frozen=True)
class ModelPlan:
    """Which models a process will load: translation per source language, and the summariser."""

    translation: dict[str, ResolvedModel]
    summarisation: ResolvedModel | None


def load_registry(settings: Settings) -> Registry:
    return Registry.load(settings.registry_path, settings.model_cache)


def plan_models(
    settings: Settings, registry: Registry, *, source_langs: tuple[str, ...] = ("fr",)
) -> ModelPlan:
    """Resolve the models the settings ask for. Every missing model is named in one error."""
    translation: dict[str, ResolvedModel] = {}
    summarisation: ResolvedModel | None = None
    missing: list[PasseurError] = []
    for lang in source_langs:
        spec = (
            settings.translation_model or registry.for_pair("translation", lang, TARGET_LANG).name
        )
        try:
            translation[lang] = registry.resolve(spec, "translation")
        except ModelNotAvailable as exc:
            missing.append(exc)
    if settings.summary_mode == "abstractive":
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


def load_pipeline(settings: Settings, plan: ModelPlan):  # -> Pipeline (import kept lazy)
    """Load every planned model (this imports torch) and wire the pipeline."""
    from service.pipeline import Pipeline
    from service.seq2seq import TransformersSeq2Seq
    from service.summarisation import build_summariser

    translators = {}
    for lang, model in plan.translation.items():
        budget = min(
            settings.max_segment_tokens, int(model.generation.get("max_source_tokens", 10**6))
        )
        backend = TransformersSeq2Seq(
            model, device=settings.device, threads=settings.threads, max_source_tokens=budget
        )
        backend.load()
        translators[lang] = backend
    summary_backend = None
    if plan.summarisation is not None:
        model = plan.summarisation
        summary_backend = TransformersSeq2Seq(
            model,
            device=settings.device,
            threads=settings.threads,
            max_source_tokens=model.generation.get("max_source_tokens"),
        )
        summary_backend.load()
    summariser = build_summariser(settings, summary_backend)
    return Pipeline(translators, summariser, settings, target_lang=TARGET_LANG)
