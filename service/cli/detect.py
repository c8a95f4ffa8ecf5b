"""``passeur detect``: the language of each article and paragraph, as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys

from service.cli.common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    add_language_flags,
    input_files,
    language_codes,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    det = sub.add_parser("detect", help="language of each article and paragraph (JSON lines)")
    det.add_argument(
        "paths", nargs="*", help=".txt or .jsonl files, folders, - for stdin (default)"
    )
    add_language_flags(det)
    det.set_defaults(func=cmd_detect)


def cmd_detect(args: argparse.Namespace) -> int:
    from service.batch.io import iter_inputs
    from service.engines.langid import LanguageIdentifier

    identifier = LanguageIdentifier(language_codes(args.languages), default=args.default)
    files = input_files(args.paths)
    failed = 0
    for item in iter_inputs(files, sys.stdin.buffer, default_lang=identifier.default):
        if item.article is None:
            record = {"id": item.id, "error": item.error}
            failed += 1
        else:
            record = {"id": item.id, **identifier.detect_article(item.article.text).to_dict()}
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return EXIT_SOME_FAILED if failed else EXIT_OK
