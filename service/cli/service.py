"""``passeur worker`` (one worker process) and ``passeur serve`` (the API plus supervised
worker processes on one store): the commands; the processes are wired in `service.wiring`.
"""

from __future__ import annotations

import argparse

from service.cli.common import (
    add_compute_flags,
    add_glossary,
    add_model_flags,
    check_glossary,
    settings_from,
    translation_models,
)
from service.settings import Settings
from service.wiring import run_worker, serve

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    wk = sub.add_parser("worker", help="run a worker process on a job store")
    _service_flags(wk)
    wk.add_argument(
        "--interactive-only",
        action="store_true",
        help="lease only interactive jobs (/v1/translate), at normal CPU priority",
    )
    wk.set_defaults(func=cmd_worker)

    sv = sub.add_parser("serve", help="the HTTP API plus worker processes (zero set-up)")
    _service_flags(sv)
    sv.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default 8000)")
    sv.add_argument(
        "--workers", type=int, help="worker processes to start (0: API only; default 1)"
    )
    sv.add_argument(
        "--interactive-workers",
        type=int,
        help="extra worker processes for interactive jobs only (/v1/translate; default 1)",
    )
    sv.set_defaults(func=cmd_serve)


def _service_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        help="job store URL: sqlite:///PATH (default: data/jobs.db), "
        "redis://HOST:PORT/DB (several hosts), memory://",
    )
    add_model_flags(p, summary_mode_help="default for jobs that do not say")
    add_compute_flags(p, threads_help="threads per worker (default: cores / workers)")
    add_glossary(p)


def _service_settings(args: argparse.Namespace, **extra: object) -> Settings:
    settings = settings_from(
        store=args.store,
        translation_model=translation_models(args),
        summary_model=args.summary_model,
        summary_mode=args.summary_mode,
        device=args.device,
        threads=args.threads,
        backend=args.backend,
        compute_type=args.compute_type,
        glossary=args.glossary,
        **extra,
    )
    check_glossary(settings)
    return settings


def cmd_worker(args: argparse.Namespace) -> int:
    return run_worker(_service_settings(args, interactive_only=args.interactive_only or None))


def cmd_serve(args: argparse.Namespace) -> int:
    return serve(
        _service_settings(
            args,
            host=args.host,
            port=args.port,
            workers=args.workers,
            interactive_workers=args.interactive_workers,
        )
    )
