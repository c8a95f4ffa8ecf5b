"""What the command groups share: exit codes, the usage error, the settings built from
flags, the batch inputs, and the flags several commands take (written once, their
choices taken from :mod:`service.settings`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.settings import (
    BACKEND_SETTINGS,
    BULLETS_DEFAULT,
    BULLETS_MAX,
    BULLETS_MIN,
    COMPUTE_TYPES,
    DEFAULT_LANGUAGES,
    DEFAULT_SOURCE_LANG,
    DEVICES,
    SUMMARY_MODES,
    Settings,
)

__all__ = [
    "EXIT_OK",
    "EXIT_SOME_FAILED",
    "EXIT_USAGE",
    "UsageError",
    "add_beam",
    "add_bullets",
    "add_compute_flags",
    "add_device",
    "add_language_flags",
    "add_model_flags",
    "input_files",
    "language_codes",
    "settings_from",
    "translation_models",
]

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

TRANSLATION_MODEL_HELP = (
    "registry name, hub id or local folder for French, or PAIR=MODEL for another pair "
    "(de-en=DIR); repeatable"
)
MODEL_HELP = "registry name, hub id or local folder"
BACKEND_HELP = "registry: each model's entry; or one backend for every model (default registry)"
COMPUTE_TYPE_HELP = (
    f"CTranslate2 compute type: {', '.join(COMPUTE_TYPES)} "
    "(default auto: int8 on CPU, float16 on CUDA)"
)


class UsageError(Exception):
    """A mistake in the command line or the set-up: message printed, exit code 2."""


def settings_from(**fields: Any) -> Settings:
    """The settings, with the flags that were given (not None) over the environment's."""
    overrides = {k: v for k, v in fields.items() if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"invalid settings: {problems}") from exc


def translation_models(args: argparse.Namespace) -> str | None:
    """The repeated ``--translation-model`` as the setting's comma-separated value."""
    return ",".join(args.translation_model) if args.translation_model else None


def input_files(paths: list[str], input_format: str | None = None) -> list[Path | None]:
    """The batch inputs (None: stdin), or a usage error naming what is missing."""
    from service.batch.io import expand_paths

    try:
        files = expand_paths(paths or ["-"], input_format)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    if not files:
        raise UsageError(f"no .txt or .jsonl files under {' '.join(paths)}")
    return files


def language_codes(raw: str | None) -> list[str]:
    """``--languages`` as a list, or the default languages."""
    codes = [code for code in raw.split(",") if code.strip()] if raw else []
    return codes or list(DEFAULT_LANGUAGES)


# -- flags ----------------------------------------------------------------------


def add_model_flags(
    p: argparse.ArgumentParser,
    *,
    translation: bool = True,
    summary: bool = True,
    summary_mode_help: str | None = None,
) -> None:
    """``--translation-model`` (repeatable), ``--summary-model``, ``--summary-mode``."""
    if translation:
        p.add_argument("--translation-model", action="append", help=TRANSLATION_MODEL_HELP)
    if summary:
        p.add_argument("--summary-model", help=MODEL_HELP)
        p.add_argument("--summary-mode", choices=SUMMARY_MODES, help=summary_mode_help)


def add_compute_flags(
    p: argparse.ArgumentParser,
    *,
    threads_help: str | None = "threads (0: the library's default)",
    backend_help: str = BACKEND_HELP,
    compute_type_help: str = COMPUTE_TYPE_HELP,
    device: bool = True,
) -> None:
    """Where and how models run: ``--device``, ``--threads`` (unless ``threads_help`` is
    None), ``--backend``, ``--compute-type``."""
    if device:
        add_device(p)
    if threads_help is not None:
        p.add_argument("--threads", type=int, help=threads_help)
    p.add_argument("--backend", choices=BACKEND_SETTINGS, help=backend_help)
    p.add_argument("--compute-type", choices=COMPUTE_TYPES, metavar="TYPE", help=compute_type_help)


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=DEVICES, help="auto: cuda when available (default)")


def add_beam(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=int, help="beam size (default: the registry's)")


def add_bullets(p: argparse.ArgumentParser, default: int | None = None) -> None:
    shown = BULLETS_DEFAULT if default is None else default
    p.add_argument(
        "--bullets",
        type=int,
        default=default,
        help=f"bullets per article ({BULLETS_MIN}-{BULLETS_MAX}, default {shown})",
    )


def add_glossary(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--glossary",
        metavar="FILE",
        help="the deployment's glossary: TSV or CSV, `source<TAB>target` or `source,target` a "
        "line, a source alone not to translate (docs/glossary.md; default $PASSEUR_GLOSSARY)",
    )


def check_glossary(settings: Settings) -> None:
    """Read the settings' glossary file now, so that a bad line stops the command with its
    number before any model loads (a :class:`~service.errors.ConfigError`)."""
    if settings.glossary is not None:
        from service.text.terms import load_glossary

        load_glossary(settings.glossary)


def add_language_flags(p: argparse.ArgumentParser) -> None:
    """``--languages`` and ``--default``, for language identification."""
    p.add_argument(
        "--languages",
        help=f"comma-separated ISO 639-1 codes (default {','.join(DEFAULT_LANGUAGES)})",
    )
    p.add_argument(
        "--default",
        default=DEFAULT_SOURCE_LANG,
        help=f"language of text too short to judge (default {DEFAULT_SOURCE_LANG})",
    )
