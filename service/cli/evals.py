"""``passeur eval``: quality measurements (segmentation, summaries, language
identification, translation, guards). The work is in :mod:`service.measure`; this module
parses, finds the data, and prints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.cli.common import (
    EXIT_OK,
    UsageError,
    add_beam,
    add_bullets,
    add_compute_flags,
    add_device,
    add_language_flags,
    language_codes,
    settings_from,
)
from service.settings import BULLETS_MAX, BULLETS_MIN

UD_GSD_FILES = ("fr_gsd-ud-dev.conllu", "fr_gsd-ud-test.conllu")


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    seg.add_argument("--lang", default="fr", help="language of the data (default fr)")
    seg.add_argument(
        "-v", "--verbose", action="store_true", help="list every miss and inner cut (CoNLL-U)"
    )
    seg.set_defaults(func=cmd_eval_segmentation)

    summ = ev.add_parser("summaries", help="ROUGE of bullets against references, beside lead-3")
    summ.add_argument(
        "--data", required=True, help="JSONL: article/reference_tokenized or document/summary"
    )
    # The choices are service.measure.summary_eval.EVAL_MODES, which is not imported here:
    # it loads the summariser, and the parser is built for every command.
    summ.add_argument("--mode", choices=("extractive", "abstractive", "both"), default="extractive")
    summ.add_argument("--limit", type=int, help="first N articles only")
    add_bullets(summ, default=3)
    summ.add_argument("--summary-model", help="registry name, hub id or local folder (abstractive)")
    summ.add_argument("--lang", default="en", help="language of the articles (default en)")
    add_device(summ)
    summ.add_argument("--json", help="also write the scores to this file")
    summ.set_defaults(func=cmd_eval_summaries)

    grd = ev.add_parser("guards", help="false alarms of the translation guards on references")
    grd.add_argument("--src", help="source lines (default: FLORES-200 French devtest)")
    grd.add_argument("--ref", help="human translations, parallel to --src (default: English)")
    grd.add_argument("-v", "--verbose", action="store_true", help="print every flagged pair")
    grd.set_defaults(func=cmd_eval_guards)

    lid = ev.add_parser(
        "langid",
        help="language identification on FLORES-200: the configured languages and the others "
        "apart, with memory and CPU",
    )
    lid.add_argument(
        "--data-dir", help="folder of fra_Latn.devtest etc. (default: shared FLORES-200)"
    )
    lid.add_argument("--paragraph-size", type=int, default=5, help="sentences per paragraph")
    lid.add_argument("--every", type=int, default=1, help="keep one sentence and paragraph in N")
    lid.add_argument(
        "--lines",
        default=":",
        help="the lines of each file to use, START:END counted from 0 (default all; "
        "506: is the half NEIGHBOURS was not derived from)",
    )
    lid.add_argument(
        "--neighbours",
        action="store_true",
        help="print what the first stage names the configured languages' lines instead "
        "(how NEIGHBOURS is derived: --neighbours --lines :506)",
    )
    add_language_flags(lid)
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
    add_compute_flags(trev)
    add_beam(trev)
    trev.add_argument(
        "--comet-model", default="Unbabel/wmt22-comet-da", help="COMET checkpoint, if installed"
    )
    trev.add_argument("--no-comet", action="store_true", help="skip COMET even when installed")
    trev.add_argument("--json", help="also write the scores to this file")
    trev.set_defaults(func=cmd_eval_translation)


def _flores() -> Path:
    from service.measure.data import eval_data_dir

    return eval_data_dir() / "flores200_devtest"


def _flores_pair(args: argparse.Namespace) -> tuple[Path, Path]:
    """``--src`` and ``--ref``, by default FLORES-200 French and English devtest."""
    from service.measure.data import FLORES_FILES

    src = Path(args.src) if args.src else _flores() / f"{FLORES_FILES['fr']}.devtest"
    ref = Path(args.ref) if args.ref else _flores() / f"{FLORES_FILES['en']}.devtest"
    return src, ref


def cmd_eval_segmentation(args: argparse.Namespace) -> int:
    from service.measure.segmentation_eval import evaluate_boundaries

    if args.data == "ud" or (args.data or "").endswith(".conllu"):
        return _eval_segmentation_gold(args)
    path = Path(args.data) if args.data else _flores() / "fra_Latn.devtest"
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
    from service.measure.data import eval_data_dir
    from service.measure.segmentation_eval import (
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
    from service.engines.langid import LanguageIdentifier
    from service.measure.langid_eval import (
        evaluate_langid,
        first_stage_confusions,
        flores_languages,
        load_flores,
    )

    if args.paragraph_size < 1 or args.every < 1:
        raise UsageError("--paragraph-size and --every must be at least 1")
    data_dir = Path(args.data_dir) if args.data_dir else _flores()
    identifier = LanguageIdentifier(language_codes(args.languages), default=args.default)
    try:
        # The configured languages (required) and every other one with a file there.
        corpus = load_flores(data_dir, flores_languages(data_dir, identifier.languages))
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"{exc} (pass --data-dir DIR holding e.g. fra_Latn.devtest)") from exc
    lines = _line_range(args.lines)
    corpus = {lang: texts[lines] for lang, texts in corpus.items()}
    if args.neighbours:
        report = first_stage_confusions(identifier, corpus)
    else:
        report = evaluate_langid(identifier, corpus, args.paragraph_size, every=args.every)
    print(
        json.dumps(
            {"data": str(data_dir), "lines": args.lines, **report}, indent=2, ensure_ascii=False
        )
    )
    return EXIT_OK


def _line_range(spec: str) -> slice:
    start, sep, end = spec.partition(":")
    try:
        if not sep:
            raise ValueError(spec)
        bounds = [int(part) if part.strip() else None for part in (start, end)]
    except ValueError:
        raise UsageError(f"--lines must be START:END (e.g. 506: or :506), got {spec!r}") from None
    if any(b is not None and b < 0 for b in bounds):
        raise UsageError(f"--lines counts from 0, got {spec!r}")
    return slice(*bounds)


def cmd_eval_summaries(args: argparse.Namespace) -> int:
    from service.measure.summary_eval import SummaryEvalOptions, format_table, run_summary_eval

    path = Path(args.data)
    if not path.is_file():
        raise UsageError(f"no such file: {path} (pass --data FILE.jsonl)")
    if not BULLETS_MIN <= args.bullets <= BULLETS_MAX:
        raise UsageError(
            f"--bullets must be between {BULLETS_MIN} and {BULLETS_MAX}, got {args.bullets}"
        )
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    settings = settings_from(summary_model=args.summary_model, device=args.device)
    options = SummaryEvalOptions(path, args.mode, args.limit, args.bullets, args.lang)
    report = run_summary_eval(settings, options)
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return EXIT_OK


def cmd_eval_guards(args: argparse.Namespace) -> int:
    from service.measure.data import EVAL_DATA_ENV
    from service.measure.guard_eval import evaluate_guards, format_table, read_pairs

    src, ref = _flores_pair(args)
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
    from service.measure.data import EVAL_DATA_ENV
    from service.measure.translation_eval import (
        TranslationEvalOptions,
        format_table,
        run_translation_eval,
    )

    if (args.src is None) != (args.ref is None):
        raise UsageError("pass both --src FILE and --ref FILE, or neither (FLORES-200 devtest)")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    src, ref = _flores_pair(args)
    for path in (src, ref):
        if not path.is_file():
            raise UsageError(
                f"no such file: {path} (pass --src FILE --ref FILE, one segment a line, "
                f"or set {EVAL_DATA_ENV} to the folder holding flores200_devtest/)"
            )
    settings = settings_from(
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
