"""The ``passeur`` command: a thin layer over typed functions, one module per command group
(``translate``, ``service``: worker and serve, ``models``, ``detect``, ``evals``, ``bench``).

Logging is configured once here; heavy imports (torch, transformers) happen only inside
the commands, after the arguments, the settings and the model cache have been checked, so
a mistake costs well under a second.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from service import __version__
from service.cli import bench, detect, evals, models, translate
from service.cli import service as service_commands
from service.cli.common import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, UsageError
from service.errors import PasseurError

__all__ = ["EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="passeur", description="French→English news translation with bullet summaries"
    )
    parser.add_argument("--version", action="version", version=f"passeur {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True)
    translate.add_parser(sub)
    service_commands.add_parsers(sub)
    models.add_parser(sub)
    detect.add_parser(sub)
    evals.add_parser(sub)
    bench.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from service.log import configure_logging

    args = build_parser().parse_args(argv)
    # The batch script draws a progress bar; INFO lines would tear it.
    default_level = "WARNING" if args.command == "translate" else "INFO"
    configure_logging(args.log_level or default_level)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"passeur: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PasseurError as exc:
        print(f"passeur: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `passeur ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
