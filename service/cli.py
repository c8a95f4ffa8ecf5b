"""The ``passeur`` command: a thin layer over typed functions.

Logging is configured once here; heavy imports (torch, transformers) happen only after
the arguments, the settings and the model cache have been checked, so a mistake costs
well under a second.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from service import __version__
from service.errors import PasseurError
from service.evaldata import eval_data_dir
from service.settings import SUMMARY_MODES_CLI, Settings

log = logging.getLogger("passeur")

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


TRANSLATION_MODEL_HELP = (
    "registry name, hub id or local folder for French, or PAIR=MODEL for another pair "
    "(de-en=DIR); repeatable"
)


class UsageError(Exception):
    """A mistake in the command line or the set-up: message printed, exit code 2."""


def _settings(args: argparse.Namespace, **fields: object) -> Settings:
    overrides = {k: v for k, v in fields.items() if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"invalid settings: {problems}") from exc


def _input_files(paths: list[str]) -> list[Path | None]:
    """The batch inputs (None: stdin), or a usage error naming what is missing."""
    from service.batch import expand_paths

    try:
        files = expand_paths(paths or ["-"])
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    if not files:
        raise UsageError(f"no .txt or .jsonl files under {' '.join(paths)}")
    return files


# -- passeur translate --------------------------------------------------------


def cmd_translate(args: argparse.Namespace) -> int:
    from service.batch import JsonlWriter, MarkdownWriter, count_articles, done_ids
    from service.runtime import load_pipeline, load_registry, plan_models

    settings = _settings(
        args,
        translation_model=",".join(args.translation_model) if args.translation_model else None,
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
    )
    out = Path(args.out) if args.out else None
    if args.resume and (out is None or args.format != "jsonl"):
        raise UsageError("--resume needs --out FILE with --format jsonl")
    if out and out.exists() and out.stat().st_size and not (args.resume or args.overwrite):
        raise UsageError(
            f"{out} already exists: pass --resume to continue it or --overwrite to replace it"
        )
    files = _input_files(args.paths)

    if args.server:
        run = _remote_batch(args, files)
    else:
        plan = plan_models(settings, load_registry(settings))  # fails fast, before torch
        pipeline = load_pipeline(settings, plan)

        def run(writer, skip, show, total):
            lang = args.source_lang
            return _run_batch(pipeline, files, writer, settings, skip, lang, show, total)

    skip = done_ids(out) if (out and args.resume) else set()

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
        summary = run(writer, skip, show, count_articles(files))
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
        f"{summary['ok']} translated, {summary['failed']} failed, {summary['skipped']} skipped"
        + (f" -> {out}" if out else ""),
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED if summary["failed"] else EXIT_OK


def _remote_batch(args: argparse.Namespace, files: list[Path | None]):
    """``--server``: the service's workers translate; this process submits and collects."""
    from service.remote import RemoteOptions, run_remote

    in_process = ("translation_model", "summary_model", "device", "threads", "backend")
    in_process += ("compute_type", "batch_articles", "max_chars")
    given = [f"--{name.replace('_', '-')}" for name in in_process if getattr(args, name, None)]
    if given:
        raise UsageError(
            f"{', '.join(given)} set up an in-process run; with --server the service's "
            "workers use their own models and limits"
        )
    asked = {"beam": args.beam, "bullets": args.bullets, "summary_mode": args.summary_mode}
    options = RemoteOptions(
        args.server,
        api_key=args.api_key,
        max_in_flight=args.max_in_flight,
        article_options={k: v for k, v in asked.items() if v is not None},
    )

    def run(writer, skip, show, total):
        return run_remote(
            files, writer, options, skip=skip, source_lang=args.source_lang, show=show, total=total
        )

    return run


def _run_batch(pipeline, files, writer, settings, skip, source_lang, show, total) -> dict[str, int]:
    from tqdm import tqdm

    from service.batch import InputItem, iter_inputs
    from service.schemas import ArticleResult

    counts = {"ok": 0, "failed": 0, "skipped": 0, "sentences": 0}
    seen = set(skip)
    bar = tqdm(total=total, unit="article", file=sys.stderr, disable=not show, dynamic_ncols=True)

    def flush(group: list[InputItem]) -> None:
        articles = [item.article for item in group if item.article is not None]
        base = counts["sentences"]

        def progress(stage: str, done: int, of: int) -> None:
            bar.set_postfix_str(f"{stage}: {base + done} sentences", refresh=True)

        results = iter(pipeline.run_many(articles, progress=progress) if articles else [])
        for item in group:
            result = (
                next(results)
                if item.article is not None
                else ArticleResult.failed(item.id, item.source_lang, item.error or {})
            )
            writer.write(result)
            counts["failed" if result.error else "ok"] += 1
            counts["sentences"] += len(result.sentences)
            if result.error:
                log.warning("article %s failed: %s", result.id, result.error.get("message"))
            bar.update(1)

    group: list[InputItem] = []
    for item in iter_inputs(files, sys.stdin.buffer, default_lang=source_lang):
        if item.id in seen:
            if item.id in skip:
                counts["skipped"] += 1
                bar.update(1)
                continue
            item.article = None
            item.error = {
                "code": "duplicate_id",
                "message": f"id {item.id!r} appears more than once in the input",
            }
        seen.add(item.id)
        group.append(item)
        if sum(1 for g in group if g.article) >= settings.batch_articles:
            flush(group)
            group = []
    if group:
        flush(group)
    bar.close()
    return counts


# -- passeur worker / serve ---------------------------------------------------


def _service_settings(args: argparse.Namespace, **extra: object) -> Settings:
    return _settings(
        args,
        store=args.store,
        translation_model=",".join(args.translation_model) if args.translation_model else None,
        summary_model=args.summary_model,
        summary_mode=args.summary_mode,
        device=args.device,
        threads=args.threads,
        backend=args.backend,
        compute_type=args.compute_type,
        **extra,
    )


def cmd_worker(args: argparse.Namespace) -> int:
    from service.serve import run_worker

    return run_worker(_service_settings(args, interactive_only=args.interactive_only or None))


def cmd_serve(args: argparse.Namespace) -> int:
    from service.serve import serve

    return serve(
        _service_settings(
            args,
            host=args.host,
            port=args.port,
            workers=args.workers,
            interactive_workers=args.interactive_workers,
        )
    )


# -- passeur models -----------------------------------------------------------


def cmd_models_list(args: argparse.Namespace) -> int:
    from service.runtime import load_registry

    registry = load_registry(_settings(args))
    rows = [("name", "task", "pair", "hub id @ revision", "cached")]
    for name in registry.names():
        e = registry.entries[name]
        rows.append(
            (
                name,
                e.task,
                e.pair,
                f"{e.hub_id}@{e.revision[:12] if e.pinned else '(unpinned)'}",
                "yes" if registry.is_cached(e) else "no",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"cache folder: {registry.cache_dir}")
    return EXIT_OK


def _entries(registry, names: list[str]) -> list:
    from service.errors import UnknownModel

    entries = []
    for name in names:
        entry = registry.lookup(name)
        if entry is None:
            raise UnknownModel(
                f"unknown model {name!r}; registry names: {', '.join(registry.names())}"
            )
        entries.append(entry)
    return entries


def cmd_models_pull(args: argparse.Namespace) -> int:
    from service.backends import prepare_backend
    from service.registry import pull
    from service.runtime import load_registry

    settings = _settings(args)
    registry = load_registry(settings)
    entries = _entries(registry, args.names or registry.names())
    failed = 0
    for entry in entries:
        if not entry.pinned and not args.names:
            print(f"skipped {entry.name}: no pinned revision (`passeur models pin {entry.name}`)")
            continue
        try:
            report = pull(registry, entry, force=args.force)
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            print(f"failed {entry.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if report.skipped:
            print(f"skipped {entry.name}: already in {report.path} (--force to download again)")
        else:
            print(f"pulled {entry.name}: {', '.join(report.downloaded)} -> {report.path}")
        try:
            path, now = prepare_backend(
                registry.resolve(entry.name, entry.task),
                registry.cache_dir,
                backend=args.backend or settings.backend,
                compute_type=args.compute_type or settings.compute_type,
                force=args.force,
            )
        except PasseurError as exc:
            print(f"failed to convert {entry.name}: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        if path is not None:
            done = "converted" if now else "skipped conversion of"
            print(f"{done} {entry.name} for CTranslate2 -> {path}")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def cmd_models_pin(args: argparse.Namespace) -> int:
    from service.registry import pin
    from service.runtime import load_registry

    settings = _settings(args)
    registry = load_registry(settings)
    for entry in _entries(registry, args.names):
        sha = pin(settings.registry_path, entry)
        print(f"pinned {entry.name} to {entry.hub_id}@{sha} in {settings.registry_path}")
    return EXIT_OK


# -- passeur detect -----------------------------------------------------------


LANGUAGES_HELP = "comma-separated ISO 639-1 codes (default fr,en,de,es,it,pt,nl,ca,ro)"


def _language_codes(raw: str | None) -> list[str] | None:
    return [code for code in raw.split(",") if code.strip()] if raw else None


def cmd_detect(args: argparse.Namespace) -> int:
    from service.batch import iter_inputs
    from service.langid import DEFAULT_LANGUAGES, LanguageIdentifier

    codes = _language_codes(args.languages) or DEFAULT_LANGUAGES
    identifier = LanguageIdentifier(codes, default=args.default)
    files = _input_files(args.paths)
    failed = 0
    for item in iter_inputs(files, sys.stdin.buffer, default_lang=identifier.default):
        if item.article is None:
            record = {"id": item.id, "error": item.error}
            failed += 1
        else:
            record = {"id": item.id, **identifier.detect_article(item.article.text).to_dict()}
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return EXIT_SOME_FAILED if failed else EXIT_OK


# -- passeur eval -------------------------------------------------------------


UD_GSD_FILES = ("fr_gsd-ud-dev.conllu", "fr_gsd-ud-test.conllu")


def cmd_eval_segmentation(args: argparse.Namespace) -> int:
    from service.segmentation_eval import evaluate_boundaries

    if args.data == "ud" or (args.data or "").endswith(".conllu"):
        return _eval_segmentation_gold(args)
    flores_fr = eval_data_dir() / "flores200_devtest" / "fra_Latn.devtest"
    path = Path(args.data) if args.data else flores_fr
    if not path.is_file():
        raise UsageError(f"no such file: {path} (pass --data FILE, one sentence a line)")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    report = evaluate_boundaries(
        lines, lines_per_paragraph=args.lines_per_paragraph, lang=args.lang
    )
    print(json.dumps({"data": str(path), **report}, indent=2))
    return EXIT_OK


def _eval_segmentation_gold(args: argparse.Namespace) -> int:
    """Gold sentences (CoNLL-U): Passeur beside the Moses splitter and a naive regex."""
    from service.segmentation_eval import (
        evaluate_gold_sentences,
        format_gold_table,
        moses_splitter,
        naive_split,
        passeur_splitter,
        read_conllu_sentences,
    )

    if args.data == "ud":
        paths = [eval_data_dir() / "ud_french_gsd" / name for name in UD_GSD_FILES]
    else:
        paths = [Path(args.data)]
    for path in paths:
        if not path.is_file():
            raise UsageError(
                f"no such file: {path} (pass --data FILE.conllu, or set PASSEUR_EVAL_DATA "
                "to the folder holding ud_french_gsd/)"
            )
    if args.sentences_per_paragraph < 1:
        raise UsageError("--sentences-per-paragraph must be at least 1")
    sentences = [s for path in paths for s in read_conllu_sentences(path)]
    if not sentences:
        raise UsageError(f"no '# text = ' lines in {', '.join(map(str, paths))}")
    splitters = {
        "passeur": passeur_splitter(args.lang),
        "moses (sentence-splitter)": moses_splitter(args.lang),
        "naive regex": naive_split,
    }
    reports = evaluate_gold_sentences(sentences, splitters, args.sentences_per_paragraph)
    print(
        f"data: {', '.join(map(str, paths))}; {args.sentences_per_paragraph} sentences a paragraph"
    )
    print(format_gold_table(reports, verbose=args.verbose))
    return EXIT_OK


def cmd_eval_langid(args: argparse.Namespace) -> int:
    from service.langid import DEFAULT_LANGUAGES, LanguageIdentifier
    from service.langid_eval import evaluate_langid, load_flores

    if args.paragraph_size < 1 or args.every < 1:
        raise UsageError("--paragraph-size and --every must be at least 1")
    data_dir = Path(args.data_dir) if args.data_dir else eval_data_dir() / "flores200_devtest"
    codes = _language_codes(args.languages) or DEFAULT_LANGUAGES
    identifier = LanguageIdentifier(codes, default=args.default)
    try:
        corpus = load_flores(data_dir, identifier.languages)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"{exc} (pass --data-dir DIR holding e.g. fra_Latn.devtest)") from exc
    report = evaluate_langid(identifier, corpus, args.paragraph_size, every=args.every)
    print(json.dumps({"data": str(data_dir), **report}, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_eval_summaries(args: argparse.Namespace) -> int:
    from service.summary_eval import SummaryEvalOptions, format_table, run_summary_eval

    path = Path(args.data)
    if not path.is_file():
        raise UsageError(f"no such file: {path} (pass --data FILE.jsonl)")
    if not 1 <= args.bullets <= 10:
        raise UsageError(f"--bullets must be between 1 and 10, got {args.bullets}")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    settings = _settings(args, summary_model=args.summary_model, device=args.device)
    options = SummaryEvalOptions(path, args.mode, args.limit, args.bullets, args.lang)
    report = run_summary_eval(settings, options)
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return EXIT_OK


def cmd_eval_guards(args: argparse.Namespace) -> int:
    from service.evaldata import EVAL_DATA_ENV, FLORES_FILES
    from service.guard_eval import evaluate_guards, format_table, read_pairs

    flores = eval_data_dir() / "flores200_devtest"
    src = Path(args.src) if args.src else flores / f"{FLORES_FILES['fr']}.devtest"
    ref = Path(args.ref) if args.ref else flores / f"{FLORES_FILES['en']}.devtest"
    try:
        pairs = read_pairs(src, ref)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(
            f"{exc} (pass --src FILE --ref FILE, line-aligned source and human translation, "
            f"or set {EVAL_DATA_ENV} to the folder holding flores200_devtest/)"
        ) from exc
    report = evaluate_guards(pairs)
    report.data = {"src": str(src), "ref": str(ref)}
    print(format_table(report, verbose=args.verbose))
    return EXIT_OK


def cmd_eval_translation(args: argparse.Namespace) -> int:
    from service.evaldata import EVAL_DATA_ENV, FLORES_FILES
    from service.translation_eval import TranslationEvalOptions, format_table, run_translation_eval

    if (args.src is None) != (args.ref is None):
        raise UsageError("pass both --src FILE and --ref FILE, or neither (FLORES-200 devtest)")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    flores = eval_data_dir() / "flores200_devtest"
    src = Path(args.src) if args.src else flores / f"{FLORES_FILES['fr']}.devtest"
    ref = Path(args.ref) if args.ref else flores / f"{FLORES_FILES['en']}.devtest"
    for path in (src, ref):
        if not path.is_file():
            raise UsageError(
                f"no such file: {path} (pass --src FILE --ref FILE, one segment a line, "
                f"or set {EVAL_DATA_ENV} to the folder holding flores200_devtest/)"
            )
    settings = _settings(
        args,
        translation_model=args.translation_model,
        beam=args.beam,
        device=args.device,
        threads=args.threads,
        backend=args.backend,
        compute_type=args.compute_type,
    )
    comet = None if args.no_comet else args.comet_model
    report = run_translation_eval(settings, TranslationEvalOptions(src, ref, args.limit, comet))
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return EXIT_OK


# -- passeur bench ------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from service.bench import RUN_NAMES, BenchOptions, format_table, run_bench

    runs = tuple(r.strip() for r in args.runs.split(",") if r.strip()) if args.runs else RUN_NAMES
    unknown = [r for r in runs if r not in RUN_NAMES]
    if unknown:
        raise UsageError(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUN_NAMES)}")
    if (args.articles is not None and args.articles < 1) or (args.repeat or 1) < 1:
        raise UsageError("--articles and --repeat must be at least 1")
    given = {
        "runs": runs,
        "size": args.size,
        "threads": args.threads or 0,
        "data": Path(args.data) if args.data else None,
        **({"models_dir": Path(args.models_dir)} if args.models_dir else {}),
    }
    if args.quick:
        options = BenchOptions.quick(articles=args.articles, **given)
    else:
        options = BenchOptions(articles=args.articles or 50, repeat=args.repeat or 3, **given)

    def write(report: dict[str, object]) -> None:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    report = run_bench(options, on_run=write if args.json else None)
    print(format_table(report))
    if args.json:
        write(report)
        print(f"report written to {args.json}", file=sys.stderr)
    return EXIT_OK


# -- parser -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="passeur", description="French→English news translation with bullet summaries"
    )
    parser.add_argument("--version", action="version", version=f"passeur {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("translate", help="translate and summarise articles (the batch script)")
    tr.add_argument(
        "paths", nargs="*", help=".txt files, .jsonl files, folders, or - for stdin (default)"
    )
    tr.add_argument("--out", help="write records here (default: stdout)")
    tr.add_argument("--format", choices=("jsonl", "markdown"), default="jsonl")
    tr.add_argument("--resume", action="store_true", help="skip ids already in --out")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    tr.add_argument("--translation-model", action="append", help=TRANSLATION_MODEL_HELP)
    tr.add_argument("--summary-model", help="registry name, hub id or local folder")
    tr.add_argument("--summary-mode", choices=SUMMARY_MODES_CLI)
    tr.add_argument("--bullets", type=int, help="bullets per article (1-10, default 5)")
    tr.add_argument("--beam", type=int, help="beam size (default: the registry's)")
    tr.add_argument(
        "--source-lang",
        default="fr",
        help="language of the input without its own source_lang: a code, or auto to detect "
        "it per article and paragraph (default fr)",
    )
    tr.add_argument("--device", choices=("auto", "cpu", "cuda"))
    tr.add_argument("--threads", type=int, help="threads (0: the library's default)")
    tr.add_argument("--backend", choices=("registry", "transformers", "ctranslate2"))
    tr.add_argument("--compute-type", help="CTranslate2 compute type (default auto)")
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

    def service_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--store",
            help="job store URL: sqlite:///PATH (default: data/jobs.db), "
            "redis://HOST:PORT/DB (several hosts), memory://",
        )
        p.add_argument("--translation-model", action="append", help=TRANSLATION_MODEL_HELP)
        p.add_argument("--summary-model", help="registry name, hub id or local folder")
        p.add_argument(
            "--summary-mode", choices=SUMMARY_MODES_CLI, help="default for jobs that do not say"
        )
        p.add_argument("--device", choices=("auto", "cpu", "cuda"))
        p.add_argument("--threads", type=int, help="threads per worker (default: cores / workers)")
        p.add_argument("--backend", choices=("registry", "transformers", "ctranslate2"))
        p.add_argument("--compute-type", help="CTranslate2 compute type (default auto)")

    wk = sub.add_parser("worker", help="run a worker process on a job store")
    service_flags(wk)
    wk.add_argument(
        "--interactive-only",
        action="store_true",
        help="lease only interactive jobs (/v1/translate), at normal CPU priority",
    )
    wk.set_defaults(func=cmd_worker)

    sv = sub.add_parser("serve", help="the HTTP API plus worker processes (zero set-up)")
    service_flags(sv)
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

    models = sub.add_parser("models", help="the model registry and cache").add_subparsers(
        dest="models_command", required=True
    )
    ls = models.add_parser("list", help="registry entries and whether each is in the cache")
    ls.set_defaults(func=cmd_models_list)
    pl = models.add_parser("pull", help="download models at their pinned revisions")
    pl.add_argument("names", nargs="*", help="registry names (default: all)")
    pl.add_argument("--force", action="store_true", help="download again even if cached")
    pl.add_argument(
        "--backend",
        choices=("registry", "transformers", "ctranslate2"),
        help="convert for this backend after pulling (default: PASSEUR_BACKEND, else each entry's)",
    )
    pl.add_argument(
        "--compute-type", help="CTranslate2 compute type (auto: int8 on CPU, float16 on CUDA)"
    )
    pl.set_defaults(func=cmd_models_pull)
    pn = models.add_parser("pin", help="record the hub's current commit as an entry's revision")
    pn.add_argument("names", nargs="+", help="registry names")
    pn.set_defaults(func=cmd_models_pin)

    det = sub.add_parser("detect", help="language of each article and paragraph (JSON lines)")
    det.add_argument(
        "paths", nargs="*", help=".txt or .jsonl files, folders, - for stdin (default)"
    )
    det.add_argument("--languages", help=LANGUAGES_HELP)
    det.add_argument("--default", default="fr", help="language of text too short to judge")
    det.set_defaults(func=cmd_detect)

    ev = sub.add_parser("eval", help="quality measurements").add_subparsers(
        dest="eval_command", required=True
    )
    seg = ev.add_parser(
        "segmentation", help="sentence boundaries found on gold sentences or FLORES-style data"
    )
    seg.add_argument(
        "--data",
        help="'ud' (Universal Dependencies French-GSD dev+test, gold sentences), a CoNLL-U "
        "file, or one sentence a line (default: FLORES-200 French devtest)",
    )
    seg.add_argument("--lines-per-paragraph", type=int, default=10)
    seg.add_argument(
        "--sentences-per-paragraph",
        type=int,
        default=8,
        help="gold sentences joined into one paragraph (CoNLL-U data; default 8)",
    )
    seg.add_argument("--lang", default="fr")
    seg.add_argument(
        "-v", "--verbose", action="store_true", help="list every miss and inner cut (CoNLL-U)"
    )
    seg.set_defaults(func=cmd_eval_segmentation)
    summ = ev.add_parser("summaries", help="ROUGE of bullets against references, beside lead-3")
    summ.add_argument(
        "--data", required=True, help="JSONL: article/reference_tokenized or document/summary"
    )
    summ.add_argument("--mode", choices=("extractive", "abstractive", "both"), default="extractive")
    summ.add_argument("--limit", type=int, help="first N articles only")
    summ.add_argument("--bullets", type=int, default=3, help="bullets for our modes (default 3)")
    summ.add_argument("--summary-model", help="registry name, hub id or local folder (abstractive)")
    summ.add_argument("--lang", default="en", help="language of the articles (default en)")
    summ.add_argument("--device", choices=("auto", "cpu", "cuda"))
    summ.add_argument("--json", help="also write the scores to this file")
    summ.set_defaults(func=cmd_eval_summaries)
    grd = ev.add_parser("guards", help="false alarms of the translation guards on references")
    grd.add_argument("--src", help="source lines (default: FLORES-200 French devtest)")
    grd.add_argument("--ref", help="human translations, parallel to --src (default: English)")
    grd.add_argument("-v", "--verbose", action="store_true", help="print every flagged pair")
    grd.set_defaults(func=cmd_eval_guards)
    lid = ev.add_parser("langid", help="language identification accuracy on FLORES-200")
    lid.add_argument(
        "--data-dir", help="folder of fra_Latn.devtest etc. (default: shared FLORES-200)"
    )
    lid.add_argument("--paragraph-size", type=int, default=5, help="sentences per paragraph")
    lid.add_argument("--every", type=int, default=1, help="keep one sentence and paragraph in N")
    lid.add_argument("--languages", help=LANGUAGES_HELP)
    lid.add_argument("--default", default="fr", help="language of text too short to judge")
    lid.set_defaults(func=cmd_eval_langid)
    trev = ev.add_parser(
        "translation",
        help="chrF/BLEU of the backend, beside transformers float32 and raw sentence input",
    )
    trev.add_argument("--src", help="source lines (default: FLORES-200 French devtest)")
    trev.add_argument("--ref", help="reference lines, parallel to --src (default: FLORES English)")
    trev.add_argument("--limit", type=int, help="first N lines only (default: all)")
    trev.add_argument(
        "--translation-model", help="registry name, hub id or local folder for French"
    )
    trev.add_argument("--backend", choices=("registry", "transformers", "ctranslate2"))
    trev.add_argument("--compute-type", help="CTranslate2 compute type (default auto)")
    trev.add_argument("--beam", type=int, help="beam size (default: the registry's)")
    trev.add_argument("--device", choices=("auto", "cpu", "cuda"))
    trev.add_argument("--threads", type=int, help="threads (0: the library's default)")
    trev.add_argument(
        "--comet-model", default="Unbabel/wmt22-comet-da", help="COMET checkpoint, if installed"
    )
    trev.add_argument("--no-comet", action="store_true", help="skip COMET even when installed")
    trev.add_argument("--json", help="also write the scores to this file")
    trev.set_defaults(func=cmd_eval_translation)

    bn = sub.add_parser(
        "bench", help="speed against transformers, a one-article-at-a-time peer and the engine"
    )
    bn.add_argument("--articles", type=int, help="articles per run (default 50; --quick 3)")
    bn.add_argument("--repeat", type=int, help="repeats per run, medians reported (default 3)")
    bn.add_argument(
        "--quick", action="store_true", help="smoke check: 3 articles of 150 words, 1 repeat"
    )
    bn.add_argument("--runs", help="comma-separated: baseline,peer,inprocess,service,engine_limit")
    bn.add_argument("--threads", type=int, help="threads for every run (default: all cores)")
    bn.add_argument(
        "--data", help="one French article a line, or JSONL with `text` (default: OrangeSum)"
    )
    bn.add_argument("--models-dir", help="where the random models are built (models/bench)")
    bn.add_argument(
        "--size",
        choices=("full", "tiny"),
        default="full",
        help="full: the real architectures (default); tiny: for tests",
    )
    bn.add_argument("--json", help="also write the report to this file")
    bn.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from service.log import configure_logging

    parser = build_parser()
    args = parser.parse_args(argv)
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
