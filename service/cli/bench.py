"""``passeur bench``: speed against transformers, a one-article-at-a-time peer and the
engine alone, on architecture-identical random-weight models (:mod:`service.measure.bench`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from service.cli.common import EXIT_OK, UsageError

if TYPE_CHECKING:
    from service.measure.bench import BenchOptions


def add_parser(sub: argparse._SubParsersAction) -> None:
    bn = sub.add_parser(
        "bench", help="speed against transformers, a one-article-at-a-time peer and the engine"
    )
    bn.add_argument("--articles", type=int, help="articles per run (default 50; --quick 3)")
    bn.add_argument("--repeat", type=int, help="repeats per run, medians reported (default 3)")
    bn.add_argument(
        "--quick", action="store_true", help="smoke check: 3 articles of 150 words, 1 repeat"
    )
    bn.add_argument(
        "--runs",
        help="comma-separated: service,engine_limit,baseline,baseline-int8,inprocess,peer,naive",
    )
    bn.add_argument(
        "--context-repeat",
        type=int,
        default=1,
        help="repeats of the runs kept for context, the naive loop (default 1)",
    )
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
    bn.add_argument(
        "--device",
        choices=("cpu", "cuda"),  # service.measure.bench_setup.BenchDevice
        default="cpu",
        help="cpu (default); cuda: CTranslate2 and transformers in float16 on the GPU, one "
        "engine replica, larger batches, no baseline-int8",
    )
    bn.add_argument("--json", help="also write the report to this file")
    bn.add_argument(
        "--scaling",
        action="store_true",
        help="cost against article length (100 to 10,000 words) and the queue's ceiling",
    )
    bn.add_argument(
        "--scaling-lengths",
        help="comma-separated article lengths in words for --scaling (default 100,...,10000)",
    )
    bn.add_argument(
        "--queue-jobs", type=int, default=200, help="jobs per queue-ceiling run (--scaling)"
    )
    bn.add_argument("--plot", help="--scaling: write the PNG plot here (default: beside --json)")
    bn.add_argument(
        "--profile",
        metavar="DIR",
        help="profile the service's workers into DIR; the report says where their time goes",
    )
    bn.add_argument(
        "--baseline-budget",
        type=int,
        default=0,
        help="padded tokens per transformers batch (default: swept on a sample first)",
    )
    bn.add_argument(
        "--batch-articles",
        type=int,
        help="service and inprocess: articles decoded together (default: the service's, "
        "PASSEUR_BATCH_ARTICLES)",
    )
    bn.add_argument(
        "--batch-tokens",
        type=int,
        help="service and inprocess: padded tokens per batch (default: the service's, "
        "PASSEUR_BATCH_TOKENS; 4x that with --device cuda)",
    )
    bn.add_argument(
        "--summary-batch-tokens",
        type=int,
        help="service and inprocess: padded tokens per summary batch (default: the "
        "service's, PASSEUR_SUMMARY_BATCH_TOKENS; 4x that with --device cuda)",
    )
    bn.set_defaults(func=cmd_bench)


def bench_options(args: argparse.Namespace) -> BenchOptions:
    """The options the flags ask for, checked; on a GPU the larger batch budgets unless
    given (:func:`service.measure.bench.device_budgets`). Builds and asks nothing."""
    from service.measure.bench import RUN_NAMES, BenchOptions, device_budgets

    runs = tuple(r.strip() for r in args.runs.split(",") if r.strip()) if args.runs else RUN_NAMES
    unknown = [r for r in runs if r not in RUN_NAMES]
    if unknown:
        raise UsageError(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUN_NAMES)}")
    if (args.articles is not None and args.articles < 1) or min(
        args.repeat or 1, args.context_repeat
    ) < 1:
        raise UsageError("--articles, --repeat and --context-repeat must be at least 1")
    if (args.batch_articles is not None and args.batch_articles < 1) or (
        min(args.batch_tokens or 64, args.summary_batch_tokens or 64) < 64
    ):
        raise UsageError(
            "--batch-articles must be at least 1, --batch-tokens and --summary-batch-tokens "
            "at least 64"
        )
    given = {
        "runs": runs,
        "size": args.size,
        "device": args.device,
        **device_budgets(args.device),
        "threads": args.threads or 0,
        "data": Path(args.data) if args.data else None,
        "profile": Path(args.profile) if args.profile else None,
        "baseline_budget": args.baseline_budget,
        "context_repeat": args.context_repeat,
        **({"batch_articles": args.batch_articles} if args.batch_articles else {}),
        **({"batch_tokens": args.batch_tokens} if args.batch_tokens else {}),
        **(
            {"summary_batch_tokens": args.summary_batch_tokens} if args.summary_batch_tokens else {}
        ),
        **({"models_dir": Path(args.models_dir)} if args.models_dir else {}),
    }
    if args.quick:
        return BenchOptions.quick(articles=args.articles, **given)
    return BenchOptions(articles=args.articles or 50, repeat=args.repeat or 3, **given)


def cmd_bench(args: argparse.Namespace) -> int:
    from service.measure.bench import format_table, run_bench

    # run_bench and run_scaling check the device before anything is built (ConfigError:
    # exit 2 with the reason).
    options = bench_options(args)

    def write(report: dict[str, object]) -> None:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    if args.scaling:
        return _scaling(args, options)
    report = run_bench(options, on_run=write if args.json else None)
    print(format_table(report))
    if args.json:
        write(report)
        print(f"report written to {args.json}", file=sys.stderr)
    return EXIT_OK


def _scaling(args: argparse.Namespace, options: object) -> int:
    from service.measure.bench import run_scaling
    from service.measure.bench_scaling import LENGTHS, format_scaling, plot_scaling

    try:
        lengths = (
            tuple(int(x) for x in args.scaling_lengths.split(","))
            if args.scaling_lengths
            else LENGTHS
        )
    except ValueError:
        raise UsageError("--scaling-lengths takes whole numbers of words: 100,1000") from None
    if any(n < 20 for n in lengths) or args.queue_jobs < 1:
        raise UsageError("--scaling-lengths must be at least 20 words; --queue-jobs at least 1")
    report = run_scaling(options, sorted(lengths), args.queue_jobs)  # type: ignore[arg-type]
    plot = args.plot or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if plot:
        written = plot_scaling(report["lengths"], Path(plot))
        report["plot"] = str(written) if written else None
    print(format_scaling(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"report written to {args.json}", file=sys.stderr)
    return EXIT_OK
