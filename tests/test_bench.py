"""``passeur bench`` on tiny models: the report's shape, and forced lengths that hold.

The benchmark itself runs full-size models for many minutes; here the same code runs on
tiny random models and three short articles, every run in this process.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import SAMPLES

from service.engines.protocol import GenerationOptions
from service.measure.bench import (
    QUICK_INTERACTIVE,
    RUN_NAMES,
    BenchOptions,
    bench_models,
    run_bench,
)
from service.measure.bench_report import format_table, summarise_run
from service.measure.bench_support import ForcedLength, length_groups, target_length
from service.registry import Registry

pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

RUN_KEYS = {"articles_per_min", "target_tokens_per_s", "p50_s", "p95_s", "peak_rss_mb"}
WORDS = 60


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def articles_file(bench_dir: Path) -> Path:
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))[:3]]
    path = bench_dir / "articles.jsonl"
    lines = [json.dumps({"text": " ".join(t.split()[:WORDS])}) for t in texts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _options(bench_dir: Path, articles_file: Path, runs: tuple[str, ...]) -> BenchOptions:
    return BenchOptions.quick(
        size="tiny",
        models_dir=bench_dir / "models",
        data=articles_file,
        threads=1,
        runs=runs,
        isolate=False,
    )


def _forced(folder: Path, task: str, engine: str, cache: Path) -> ForcedLength:
    model = Registry([], folder.parent).resolve(str(folder), task)
    if engine == "ctranslate2":
        from service.engines.ct2 import CTranslate2Seq2Seq

        inner = CTranslate2Seq2Seq(
            model, device="cpu", threads=1, compute_type="int8", cache_root=cache
        )
    else:
        from service.engines.hf import TransformersSeq2Seq

        inner = TransformersSeq2Seq(model, device="cpu", threads=1)
    backend = ForcedLength(inner)
    backend.load()
    return backend


@pytest.mark.parametrize("engine", ["transformers", "ctranslate2"])
def test_the_model_decodes_exactly_the_forced_lengths(
    engine: str, tiny_marian: Path, tiny_bart: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ctranslate2")
    texts = ["Bonjour.", "Le gouvernement a présenté mardi un projet de loi sur les retraites."]
    translator = _forced(tiny_marian, "translation", engine, tmp_path)
    for text in texts:  # one row per call: what is decoded is that row's length exactly
        before = translator.stats.decoded_tokens
        [out] = translator.generate([text], GenerationOptions(num_beams=4))
        expected = math.ceil(1.2 * (translator.count_tokens(text) - 1))  # minus </s>
        assert translator.stats.decoded_tokens - before == out.tokens == expected
    summariser = _forced(tiny_bart, "summarisation", engine, tmp_path)
    outs = summariser.generate(texts, GenerationOptions(num_beams=4, no_repeat_ngram_size=3))
    assert [o.tokens for o in outs] == [70, 70]
    assert summariser.stats.decoded_tokens == 140


def test_length_groups_trade_step_overhead_against_padding() -> None:
    lengths = [10, 12, 40, 41, 40, 11]
    assert length_groups(lengths, 0) == [[0], [5], [1], [2, 4], [3]]  # one group per length
    assert length_groups(lengths, 1e9) == [list(range(6))]  # everything decoded to 41
    assert length_groups(lengths, 7) == [[0, 1, 5], [2, 3, 4]]  # short ones, long ones
    assert target_length(10) == 12 and target_length(11) == 14 and target_length(0) == 1


def test_quick_report_has_every_run_and_forced_lengths_hold(
    bench_dir: Path, articles_file: Path
) -> None:
    in_process = tuple(r for r in RUN_NAMES if r != "service")
    partial: list[dict] = []
    report = run_bench(_options(bench_dir, articles_file, in_process), on_run=partial.append)

    assert set(report["runs"]) == set(in_process)
    # After each run but the last, the report so far (a long run stopped keeps its runs).
    assert [list(p["runs"]) for p in partial] == [
        list(in_process[: n + 1]) for n in range(len(in_process) - 1)
    ]
    assert all(p["partial"] for p in partial) and "partial" not in report
    for name, run in report["runs"].items():
        assert set(run) >= RUN_KEYS, name
        assert run["articles_per_min"] > 0 and run["p95_s"] >= run["p50_s"] > 0, name
        assert run["peak_rss_mb"] > 0
        assert len(run["repeats"]) == 1 and len(run["repeats"][0]["latencies_s"]) == 3
    assert set(report["ratios"]) == {
        "service_vs_baseline",
        "service_vs_peer",
        "service_vs_engine",
    }
    assert report["machine"]["cores"] and report["machine"]["versions"]["torch"]

    # Target tokens, counted here from the articles: ceil(1.2 x source tokens) for every
    # segment the pipeline makes, and 70 per summary window.
    from service.text.segmentation import fit_to_budget, segment_article

    marian, _ = bench_models(bench_dir / "models", "tiny", bench_dir)
    translator = _forced(marian, "translation", "transformers", bench_dir / "models" / "cache")
    texts = [json.loads(line)["text"] for line in articles_file.read_text().splitlines()]
    expected = 0
    for text in texts:
        for sentence in segment_article(text, "fr"):
            for piece in fit_to_budget(sentence.text, translator.count_tokens, 256):
                expected += target_length(translator.count_tokens(piece.text) - 1)
    windows = sum(a["windows"] for a in report["plan"]["per_article"])
    assert windows >= 3
    assert report["plan"]["translation_tokens"] == expected
    for name in ("inprocess", "engine_limit"):
        assert report["runs"][name]["target_tokens"] == expected + 70 * windows, name
    for name, run in report["runs"].items():
        assert run["repeats"][0]["decoded_tokens"] >= run["target_tokens"], name
        assert run["repeats"][0]["redecoded_rows"] == 0, name  # the stand-in text never loops
    table = format_table(report)
    assert "engine_limit" in table and "articles/min" in table


def test_service_run_reports_latency_memory_and_the_interactive_check(
    bench_dir: Path, articles_file: Path
) -> None:
    from service.measure.bench_service import service_support

    why = service_support()
    if why:
        pytest.skip(f"the worker cannot run the bench set-up yet: {why}")
    report = run_bench(_options(bench_dir, articles_file, ("service",)))
    run = report["runs"]["service"]
    assert RUN_KEYS | {"interactive_p95_s"} <= set(run)
    # What the service's workers say they generated (their heartbeats, /metrics), never
    # the plan's figure: a service doing more or less than the plan's work shows here.
    assert run["target_tokens"] == report["plan"]["target_tokens"]
    assert len(run["interactive_latencies_s"]) == QUICK_INTERACTIVE and run["peak_rss_mb"] > 0
    assert report["ratios"]["service_vs_baseline"] is None  # no baseline run


def test_a_run_that_does_not_say_what_it_decoded_is_an_error() -> None:
    counted = {"wall_s": 2.0, "latencies_s": [1.0, 2.0], "target_tokens": 300}
    assert summarise_run({"repeats": [counted]}, 2)["target_tokens_per_s"] == 150
    with pytest.raises(RuntimeError, match="repeat 2 reports no target_tokens"):
        summarise_run({"repeats": [counted, {"wall_s": 2.0, "latencies_s": [1.0]}]}, 2)


def test_cli_refuses_an_unknown_run(capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["bench", "--runs", "baseline,fastest"]) == 2
    assert "unknown run fastest" in capsys.readouterr().err
