"""``passeur translate``: the batch script, run in this process or on a service
(``--server``); both go through :func:`service.batch.run.run_batch`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

from service.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    UsageError,
    add_beam,
    add_bullets,
    add_compute_flags,
    add_glossary,
    add_model_flags,
    check_glossary,
    input_files,
    settings_from,
    translation_models,
)
from service.settings import DEFAULT_SOURCE_LANG, Settings

if TYPE_CHECKING:
    from service.batch.run import Translate

# Flags that set up an in-process run; the service's workers have their own.
IN_PROCESS_ONLY = (
    "translation_model",
    "summary_model",
    "device",
    "threads",
    "backend",
    "compute_type",
    "batch_articles",
    "max_chars",
    "glossary",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("translate", help="translate and summarise articles (the batch script)")
    tr.add_argument(
        "paths",
        nargs="*",
        help=".txt, .jsonl, .md or .html files, folders, or - for stdin (default)",
    )
    tr.add_argument("--out", help="write records here (default: stdout)")
    tr.add_argument(
        "--input-format",
        choices=("text", "markdown", "html"),
        help="what every input holds (default: by suffix: .md markdown, .html/.htm html, "
        "else text); the records carry the translated document (docs/documents.md)",
    )
    tr.add_argument("--format", choices=("jsonl", "markdown"), default="jsonl")
    tr.add_argument("--resume", action="store_true", help="skip ids already in --out")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_model_flags(tr)
    add_bullets(tr)
    add_beam(tr)
    tr.add_argument(
        "--source-lang",
        default=DEFAULT_SOURCE_LANG,
        help="language of the input without its own source_lang: a code, or auto to detect "
        f"it per article and paragraph (default {DEFAULT_SOURCE_LANG})",
    )
    add_compute_flags(tr)
    add_glossary(tr)
    tr.add_argument("--batch-articles", type=int, help="articles whose sentences share batches")
    tr.add_argument("--max-chars", type=int, help="longest article accepted, in characters")
    tr.add_argument(
        "--server",
        help="submit to a running service (http://HOST:PORT) instead of translating here",
    )
    tr.add_argument(
        "--max-in-flight", type=int, default=32, help="with --server: jobs submitted at once"
    )
    tr.add_argument(
        "--api-key",
        default=os.environ.get("PASSEUR_API_KEY"),
        help="with --server: the service's API key (default: $PASSEUR_API_KEY)",
    )
    tr.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    tr.set_defaults(func=cmd_translate)


def cmd_translate(args: argparse.Namespace) -> int:
    from service.batch.io import JsonlWriter, MarkdownWriter, count_articles, done_ids
    from service.batch.run import run_batch

    settings = settings_from(
        translation_model=translation_models(args),
        summary_model=args.summary_model,
        beam=args.beam,
        bullets=args.bullets,
        summary_mode=args.summary_mode,
        device=args.device,
        threads=args.threads,
        batch_articles=args.batch_articles,
        max_article_chars=args.max_chars,
        backend=args.backend,
        compute_type=args.compute_type,
        glossary=args.glossary,
    )
    check_glossary(settings)
    out = Path(args.out) if args.out else None
    if args.resume and (out is None or args.format != "jsonl"):
        raise UsageError("--resume needs --out FILE with --format jsonl")
    if out and out.exists() and out.stat().st_size and not (args.resume or args.overwrite):
        raise UsageError(
            f"{out} already exists: pass --resume to continue it or --overwrite to replace it"
        )
    files = input_files(args.paths, args.input_format)
    translate = _on_server(args) if args.server else _in_process(settings)
    skip = done_ids(out) if (out and args.resume) else set()

    fh: IO[str]
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        fh = out.open("a" if args.resume else "w", encoding="utf-8")
    else:
        fh = sys.stdout
    writer = (JsonlWriter if args.format == "jsonl" else MarkdownWriter)(
        fh, durable=out is not None
    )
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    try:
        counts = run_batch(
            files,
            translate,
            writer,
            skip=skip,
            source_lang=args.source_lang,
            show=show,
            total=count_articles(files),
            input_format=args.input_format,
        )
    except KeyboardInterrupt:
        print(
            "\ninterrupted; the records written so far are complete: rerun with --resume",
            file=sys.stderr,
        )
        return 130
    finally:
        if fh is not sys.stdout:
            fh.close()
    print(
        f"{counts.ok} translated, {counts.failed} failed, {counts.skipped} skipped"
        + (f" -> {out}" if out else ""),
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED if counts.failed else EXIT_OK


def _in_process(settings: Settings) -> Translate:
    from service.batch.local import in_process
    from service.wiring import load_pipeline, load_registry, plan_models

    plan = plan_models(settings, load_registry(settings))  # fails fast, before torch
    # Loaded by the run, as its first stage, once an input worth translating is found.
    return in_process(
        lambda: load_pipeline(settings, plan), settings.batch_articles, settings.max_article_chars
    )


def _on_server(args: argparse.Namespace) -> Translate:
    """``--server``: the service's workers translate; this process submits and collects."""
    from service.batch.remote import RemoteOptions, on_server

    given = [f"--{name.replace('_', '-')}" for name in IN_PROCESS_ONLY if getattr(args, name)]
    if given:
        raise UsageError(
            f"{', '.join(given)} set up an in-process run; with --server the service's "
            "workers use their own models and limits"
        )
    asked = {"beam": args.beam, "bullets": args.bullets, "summary_mode": args.summary_mode}
    return on_server(
        RemoteOptions(
            args.server,
            api_key=args.api_key,
            max_in_flight=args.max_in_flight,
            article_options={k: v for k, v in asked.items() if v is not None},
        )
    )
