"""Converting a pulled Hugging Face folder for CTranslate2, once per model, revision and
compute type, into ``<cache>/ct2/<model>/<revision>/<compute type>/``.

:func:`ensure_converted` is called by ``passeur models pull`` and, when the copy is missing,
by the first :meth:`~service.engines.ct2.CTranslate2Seq2Seq.load`. The copy is published
atomically (:func:`service.files.publish_folder`) with a stamp saying what it was made from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path

from service.errors import ConfigError, ModelNotAvailable
from service.files import publish_folder
from service.registry import ResolvedModel
from service.settings import COMPUTE_TYPES

__all__ = [
    "CONVERTED_MARKER",
    "check_compute_type",
    "converted_path",
    "ensure_converted",
    "is_converted",
    "resolve_compute_type",
    "resolve_device",
]

log = logging.getLogger(__name__)

CONVERTED_MARKER = ".passeur-converted"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def resolve_device(device: str) -> str:
    """``auto`` is ``cuda`` when CTranslate2 sees a GPU, else ``cpu`` (no torch import)."""
    if device != "auto":
        return device
    import ctranslate2  # type: ignore[import-untyped]

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def check_compute_type(compute_type: str) -> None:
    """Refuse a compute type CTranslate2 does not have, naming the ones it has."""
    if compute_type not in COMPUTE_TYPES:
        raise ConfigError(
            f"unknown CTranslate2 compute type {compute_type!r}; use one of "
            + ", ".join(COMPUTE_TYPES)
        )


def resolve_compute_type(compute_type: str, device: str = "auto") -> str:
    """A concrete compute type: ``auto`` is int8 on CPU and float16 on CUDA."""
    check_compute_type(compute_type)
    if compute_type != "auto":
        return compute_type
    return "float16" if resolve_device(device) == "cuda" else "int8"


def converted_path(model: ResolvedModel, cache_root: Path, compute_type: str) -> Path:
    """Where the CTranslate2 copy of ``model`` for ``compute_type`` (a concrete one) lives."""
    if model.is_local:
        # A folder's name is its absolute path: keep the last part, tell namesakes apart.
        digest = hashlib.sha256(model.name.encode("utf-8")).hexdigest()[:8]
        name = f"{Path(model.name).name}-{digest}"
    else:
        name = model.name
    folder = cache_root / "ct2" / _UNSAFE.sub("-", name) / _UNSAFE.sub("-", model.revision)
    return folder / compute_type


def is_converted(model: ResolvedModel, cache_root: Path, compute_type: str) -> bool:
    """True when a complete conversion for this model, revision and compute type exists."""
    concrete = resolve_compute_type(compute_type)
    return (converted_path(model, cache_root, concrete) / CONVERTED_MARKER).is_file()


def ensure_converted(
    model: ResolvedModel, cache_root: Path, compute_type: str = "auto", *, force: bool = False
) -> Path:
    """The CTranslate2 copy of ``model``, converting it first if it is missing.

    Idempotent (a complete copy is reused unless ``force``) and atomic: the converter writes
    into a temporary sibling that is renamed into place once complete, so an interrupted
    conversion never leaves a folder that looks usable. ``compute_type`` ``auto`` means the
    default for the device of this machine. Takes seconds (imports torch and transformers).
    """
    concrete = resolve_compute_type(compute_type)
    target = converted_path(model, cache_root, concrete)
    if (target / CONVERTED_MARKER).is_file() and not force:
        return target
    if not (model.path / "config.json").is_file():
        raise ModelNotAvailable(
            f"model {model.name} has no Hugging Face folder at {model.path} to convert; "
            f"pull it with `passeur models pull {model.name}`",
            model=model.name,
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import warnings

    import ctranslate2  # type: ignore[import-untyped]
    from ctranslate2.converters import TransformersConverter  # type: ignore[import-untyped]

    warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.converting-{uuid.uuid4().hex[:8]}")
    log.info("converting %s (%s) to CTranslate2 %s", model.name, model.revision, concrete)
    started = time.perf_counter()
    try:
        try:
            TransformersConverter(str(model.path), low_cpu_mem_usage=True).convert(
                str(tmp), quantization=concrete, force=True
            )
        except (OSError, ValueError, NotImplementedError) as exc:
            raise ModelNotAvailable(
                f"model {model.name} could not be converted for CTranslate2 {concrete}: {exc}. "
                'Run it with the transformers backend (backend = "transformers" in the '
                "registry entry, or PASSEUR_BACKEND=transformers)",
                model=model.name,
            ) from exc
        stamp = {
            "source": str(model.path),
            "revision": model.revision,
            "compute_type": concrete,
            "ctranslate2": ctranslate2.__version__,
        }
        (tmp / CONVERTED_MARKER).write_text(json.dumps(stamp) + "\n", encoding="utf-8")
        # A complete copy published meanwhile by a concurrent conversion is kept (ours is
        # deleted) unless this one is forced; an unfinished one is replaced.
        publish_folder(
            tmp, target, keep_existing=lambda t: not force and (t / CONVERTED_MARKER).is_file()
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.1f s -> %s", model.name, time.perf_counter() - started, target)
    return target
