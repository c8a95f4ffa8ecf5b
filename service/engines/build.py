"""Which backend runs a model: the registry entry's choice, or the settings' for all models.

Importing this module imports neither torch nor CTranslate2; :func:`make_backend` builds a
backend cheaply (nothing loaded) and the caller calls its ``load()``.
"""

from __future__ import annotations

from pathlib import Path

from service.engines.protocol import Seq2SeqBackend
from service.errors import ConfigError
from service.registry import ResolvedModel
from service.settings import BACKEND_SETTINGS, Settings

__all__ = ["BACKEND_SETTINGS", "backend_for", "make_backend", "prepare_backend"]


def backend_for(model: ResolvedModel, setting: str | None = "registry") -> str:
    """The backend that runs ``model``: ``setting`` unless it is ``registry`` (or None),
    then the registry entry's (``transformers`` for a local folder)."""
    choice = setting or "registry"
    if choice not in BACKEND_SETTINGS:
        raise ConfigError(f"unknown backend {choice!r}; use one of {', '.join(BACKEND_SETTINGS)}")
    return model.backend if choice == "registry" else choice


def make_backend(
    model: ResolvedModel, settings: Settings, *, max_source_tokens: int | None
) -> Seq2SeqBackend:
    """A backend for ``model`` as the settings ask (``backend``, ``device``, ``threads``,
    ``compute_type``, ``inter_threads``, the task's batch budget); not loaded yet: call
    its ``load()``."""
    name = backend_for(model, settings.backend)
    if name == "ctranslate2":
        from service.engines.ct2 import CTranslate2Seq2Seq

        return CTranslate2Seq2Seq(
            model,
            device=settings.device,
            threads=settings.threads,
            max_source_tokens=max_source_tokens,
            compute_type=settings.compute_type,
            inter_threads=settings.inter_threads,
            cache_root=Path(settings.model_cache),
            batch_tokens=(
                settings.summary_batch_tokens
                if model.task == "summarisation"
                else settings.batch_tokens
            ),
        )
    from service.engines.hf import TransformersSeq2Seq

    return TransformersSeq2Seq(
        model, device=settings.device, threads=settings.threads, max_source_tokens=max_source_tokens
    )


def prepare_backend(
    model: ResolvedModel,
    cache_root: Path,
    *,
    backend: str | None = "registry",
    compute_type: str = "auto",
    force: bool = False,
) -> tuple[Path | None, bool]:
    """What ``passeur models pull`` runs after downloading ``model``: convert it when its
    backend is CTranslate2. Returns ``(converted folder or None, whether it was converted
    now)``; a transformers model needs nothing and gives ``(None, False)``."""
    if backend_for(model, backend) != "ctranslate2":
        return None, False
    from service.engines.convert import ensure_converted, is_converted

    done = is_converted(model, cache_root, compute_type) and not force
    path = ensure_converted(model, cache_root, compute_type, force=force)
    return path, not done
