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
from service.measure.bench_baseline import BUDGETS, pack_sorted
from service.measure.bench_report import WorkMismatch, check_work, format_table, summarise_run
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
        idle_wait_s=0,  # the suite runs beside other work: figures are not the point here
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
    returned = _spy(translator)
    for text in texts:  # one row per call: what is decoded is that row's length exactly
        before = translator.stats.decoded_tokens
        [out] = translator.generate([text], GenerationOptions(num_beams=4))
        expected = math.ceil(1.2 * (translator.count_tokens(text) - 1))  # minus </s>
        assert out.tokens == expected
        # The same steps on both engines: transformers decodes the target and its forced
        # </s>; CTranslate2, which stops without one, a token more in its place.
        assert returned[-1] == (expected if engine == "transformers" else expected + 1)
        assert translator.stats.decoded_tokens - before == expected + 1
    summariser = _forced(tiny_bart, "summarisation", engine, tmp_path)
    returned = _spy(summariser)
    outs = summariser.generate(texts, GenerationOptions(num_beams=4, no_repeat_ngram_size=3))
    assert [o.tokens for o in outs] == [70, 70]
    assert returned == ([70, 70] if engine == "transformers" else [71, 71])
    assert summariser.stats.decoded_tokens == 2 * (70 + 2)  # <s> and </s> too


def _spy(backend: ForcedLength) -> list[int]:
    """The token counts the wrapped engine returns, call after call."""
    seen: list[int] = []
    inner_generate = backend.inner.generate

    def generate(texts, options):
        outs = inner_generate(texts, options)
        seen.extend(o.tokens for o in outs)
        return outs

    backend.inner.generate = generate
    return seen


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
    assert set(report["ratios"]) >= {"raw", "corrected"}
    for kind in ("raw", "corrected"):
        assert set(report["ratios"][kind]) == {
            f"service_vs_{name}" for name in RUN_NAMES if name != "service"
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
    for name, run in report["runs"].items():  # every run did the plan's work
        assert run["target_tokens"] == expected + 70 * windows, name
        # Steps: each row's target and its end token at least (BART's <s> too), padding on top.
        segments = len(report["plan"]["per_article"]) and sum(
            a["segments"] for a in report["plan"]["per_article"]
        )
        least = expected + segments + (70 + 2) * windows
        assert run["repeats"][0]["decoded_tokens"] >= least, name
        assert run["repeats"][0]["redecoded_rows"] == 0, name  # the stand-in text never loops
    assert report["runs"]["baseline"]["batching"]["budget"]["translation"] in BUDGETS
    limit = report["runs"]["engine_limit"]["engine_batch"]
    assert set(limit) == {"translation", "summarisation"}
    # Every layout with every batch size worth timing for each model's rows (--quick: 8, 32).
    from service.measure.bench_engine import SHORT_BATCH_SIZES, sweep_points

    rows = {"translation": segments, "summarisation": windows}
    for task, stage in limit.items():
        points = sweep_points(report["config"]["threads"], SHORT_BATCH_SIZES, rows[task])
        tried = {f"{layout[0]}x{layout[1]} batch {size}" for layout, size in points}
        assert set(stage["sweep_ms_per_target_token"]) == tried, task
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
    # What the service's jobs say they decoded (their results' `work`, checked against the
    # workers' heartbeats in /metrics), never the plan's figure.
    assert run["target_tokens"] == report["plan"]["target_tokens"]
    assert run["repeats"][0]["per_article"] == [
        {k: a[k] for k in ("segments", "windows")} for a in report["plan"]["per_article"]
    ]
    assert run["decoded_tokens"] > run["target_tokens"] and run["forced_cost_ratio"] >= 1
    assert len(run["interactive_latencies_s"]) == QUICK_INTERACTIVE and run["peak_rss_mb"] > 0
    assert report["ratios"]["raw"]["service_vs_baseline"] is None  # no baseline run


def test_the_baseline_packs_sorted_rows_under_its_token_budget() -> None:
    lengths = [(30, 36), (5, 6), (29, 35), (6, 8), (31, 38), (4, 5)]
    batches = pack_sorted(lengths, 150)
    assert sorted(i for b in batches for i in b) == list(range(6))  # every row, once
    assert batches == [[5, 1, 3], [2, 0], [4]]  # by length; 3 x (6 + 8) fits, 3 x 69 not
    for batch in batches:
        padded = len(batch) * (
            max(lengths[i][0] for i in batch) + max(lengths[i][1] for i in batch)
        )
        assert padded <= 150 or len(batch) == 1
    assert pack_sorted([(500, 600)], 150) == [[0]]  # a row alone may exceed the budget


def test_the_engine_limit_sweeps_every_layout_with_every_batch_size() -> None:
    # Layout and batch size are chosen together: on 2 cores the summaries' best batch on
    # two replicas (2) is not the best on one (16), so a layout picked at one batch size
    # first would miss the fastest pair. Sizes past a replica's share of the rows repeat.
    from service.measure.bench_engine import ENGINE_BATCH_SIZES, sweep_points

    points = sweep_points(2, ENGINE_BATCH_SIZES, 57)
    assert [size for layout, size in points if layout == (2, 1)] == [1, 2, 4, 8, 16, 32]
    assert [size for layout, size in points if layout == (1, 2)] == [1, 2, 4, 8, 16, 32, 64]
    assert {layout for layout, _ in sweep_points(4, (8,), 745)} == {(1, 4), (2, 2), (4, 1)}
    assert sweep_points(1, (8, 32), 3) == [((1, 1), 8)]


def _limit_spec(tiny_marian: Path, tmp_path: Path):
    """An engine-limit run's spec on tiny Marian, no articles, 2 threads."""
    from service.measure.bench_setup import RunSpec

    return RunSpec(
        run="engine_limit",
        marian=str(tiny_marian),
        bart=str(tiny_marian),
        cache_dir=str(tmp_path),
        articles=[],
        threads=2,
    )


def test_the_engine_limit_caps_malloc_arenas_before_its_replicas_start(
    tiny_marian: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the service's backend does: without the cap each replica thread keeps an arena of
    # its own (the limit's engine is run as the service runs its engine).
    import ctranslate2  # type: ignore[import-untyped]

    from service.engines.ct2 import usable_cores
    from service.measure import bench_engine

    order: list[str] = []
    monkeypatch.setattr(bench_engine, "limit_malloc_arenas", lambda n: order.append(f"cap {n}"))
    translator = ctranslate2.Translator
    monkeypatch.setattr(
        ctranslate2, "Translator", lambda *a, **kw: order.append("engine") or translator(*a, **kw)
    )
    spec = _limit_spec(tiny_marian, tmp_path)
    bench_engine._Stage(spec, "translation", []).engine((2, 1))
    assert order == [f"cap {usable_cores()}", "engine"]


def test_the_engine_limit_goes_on_past_its_largest_batch_size_while_faster(
    tiny_marian: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import math
    from types import SimpleNamespace

    from service.measure import bench_engine

    spec = _limit_spec(tiny_marian, tmp_path)
    stage = bench_engine._Stage(spec, "translation", [("mot", 10)] * 745)
    clock = [0.0]

    def decode(items, stats, layout, size) -> None:  # fastest in batches of 256, on 2x1
        per_row = 1 + abs(math.log2(min(size, 373) / 256))
        clock[0] += len(items) * per_row * (1 if layout == (2, 1) else 2)

    monkeypatch.setattr(stage, "decode", decode)
    monkeypatch.setattr(bench_engine, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    times = stage.sweep()
    assert (stage.layout, stage.batch_size) == ((2, 1), 256)
    # 128, the largest size of the grid, was the fastest there: 256 and 512 tried after it
    # (512 is a replica's whole share, 373 rows), on the best layout only.
    assert {"2x1 batch 256", "2x1 batch 512"} <= set(times)
    assert not any(key.startswith("1x2 batch 256") for key in times)


def test_a_run_that_did_other_work_than_the_plan_is_refused() -> None:
    plan = {"target_tokens": 300, "per_article": [{"segments": 4, "windows": 1}]}
    done = {"repeats": [{"target_tokens": 300}, {"target_tokens": 300}]}
    check_work("baseline", done, plan)
    short = {"repeats": [{"target_tokens": 300}, {"target_tokens": 230}]}
    with pytest.raises(WorkMismatch, match="decoded 230 target tokens in repeat 2, the plan 300"):
        check_work("baseline", short, plan)
    # The service says per article what it did (read back from each job's result).
    fewer_windows = {
        "repeats": [{"target_tokens": 300, "per_article": [{"segments": 4, "windows": 0}]}]
    }
    with pytest.raises(WorkMismatch, match="article 0 had 0 windows in repeat 1, the plan 1"):
        check_work("service", fewer_windows, plan)


def test_the_service_work_comes_from_each_job_result() -> None:
    from service.measure.bench_service import _work_of

    work = {"segments": 3, "translated_tokens": 40, "summary_windows": 1, "summary_tokens": 70}
    jobs = [{"id": "a", "result": {"work": work}}, {"id": "b", "result": {"work": work}}]
    assert _work_of(jobs) == ([{"segments": 3, "windows": 1}] * 2, 220)
    silent = [*jobs, {"id": "c", "result": {"work": {"segments": 3}}}]
    with pytest.raises(RuntimeError, match="job c's result does not say what was decoded"):
        _work_of(silent)


def test_a_sweep_whose_fastest_point_is_at_an_end_goes_on_past_it() -> None:
    import math

    from service.measure.bench_support import swept_best

    tried: list[int] = []

    def cost(optimum: int):  # fastest at optimum, slower the further away
        def time_of(value: int) -> float:
            tried.append(value)
            return abs(math.log2(value / optimum))

        return time_of

    bounds = {"low": 128, "high": 8192}
    best, times = swept_best((1024, 2048, 4096), cost(256), **bounds)  # below: halved
    assert best == 256 and sorted(times) == [128, 256, 512, 1024, 2048, 4096]
    best, times = swept_best((1024, 2048), cost(1 << 20), **bounds)  # above: doubled
    assert best == 8192 and sorted(times) == [1024, 2048, 4096, 8192]
    best, times = swept_best((1024, 2048, 4096), cost(2048), **bounds)  # inside: no more
    assert best == 2048 and sorted(times) == [1024, 2048, 4096]
    best, times = swept_best((1024, 2048), cost(16), **bounds)  # never below low
    assert best == 128 and min(times) == 128
    tried.clear()  # times already taken are not taken again
    best, times = swept_best((8, 16), cost(64), low=1, high=100, known={8: 3.0, 16: 2.0})
    assert best == 64 and tried == [32, 64] and sorted(times) == [8, 16, 32, 64]
    best, times = swept_best((2048, 8192), cost(256), low=2048, high=8192)  # --quick
    assert best == 2048 and sorted(times) == [2048, 8192]


def test_a_run_that_does_not_say_what_it_decoded_is_an_error() -> None:
    counted = {"wall_s": 2.0, "latencies_s": [1.0, 2.0], "target_tokens": 300}
    assert summarise_run({"repeats": [counted]}, 2)["target_tokens_per_s"] == 150
    with pytest.raises(RuntimeError, match="repeat 2 reports no target_tokens"):
        summarise_run({"repeats": [counted, {"wall_s": 2.0, "latencies_s": [1.0]}]}, 2)


def test_runs_kept_for_context_repeat_once_and_the_report_says_so(
    bench_dir: Path, articles_file: Path
) -> None:
    from dataclasses import replace

    options = replace(_options(bench_dir, articles_file, ("peer", "naive")), repeat=2)
    report = run_bench(options)

    assert [len(report["runs"][name]["repeats"]) for name in ("peer", "naive")] == [2, 1]
    assert report["config"]["context_runs"] == ["naive"]
    # Only naive is kept for context (a line may also say a run's machine was busy: the
    # suite runs beside other work).
    notes = [line for line in format_table(report).splitlines() if "kept for context" in line]
    assert notes == ["naive: 1 repeat(s), not 2: kept for context (--context-repeat)"]


def test_cli_refuses_an_unknown_run(capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["bench", "--runs", "baseline,fastest"]) == 2
    assert "unknown run fastest" in capsys.readouterr().err
    for bad in (
        ["--batch-articles", "0"],
        ["--batch-tokens", "10"],
        ["--summary-batch-tokens", "1"],
    ):
        assert main(["bench", "--runs", "service", *bad]) == 2
        assert "--batch-articles must be at least 1" in capsys.readouterr().err
    assert main(["bench", "--runs", "naive", "--context-repeat", "0"]) == 2
    assert "--context-repeat must be at least 1" in capsys.readouterr().err


def test_the_service_runs_with_the_services_own_batch_defaults() -> None:
    from service.measure.bench import BenchOptions
    from service.measure.bench_service import ServiceSpec
    from service.settings import Settings

    defaults = Settings()
    options = BenchOptions()
    spec = ServiceSpec(
        marian="m", bart="b", cache_dir="c", articles=[], interactive_texts=[], threads=1
    )
    for source in (options, spec):
        assert (source.batch_articles, source.batch_tokens, source.summary_batch_tokens) == (
            defaults.batch_articles,
            defaults.batch_tokens,
            defaults.summary_batch_tokens,
        )


def test_scaling_articles_grow_as_asked_and_end_on_a_sentence() -> None:
    from service.measure.bench_scaling import build_article

    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    for words in (30, 120, 400):
        article = build_article(texts, words)
        count = len(article.split())
        assert words * 0.6 <= count <= words, (words, count)
        assert article.rstrip()[-1] in '.?!»"', article[-40:]
    with pytest.raises(ValueError, match="fewer than"):
        build_article(texts[:1], 100_000)


def test_scaling_reports_cost_per_length_the_plot_and_the_queue_ceiling(
    bench_dir: Path, tmp_path: Path
) -> None:
    from service.measure.bench_scaling import length_scaling, plot_scaling, queue_ceiling
    from service.measure.bench_setup import RunSpec

    marian, bart = bench_models(bench_dir / "models", "tiny", bench_dir)
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]
    cache = str(bench_dir / "models" / "cache")
    spec = RunSpec("scaling", str(marian), str(bart), cache, texts, threads=1)
    scaling = length_scaling(spec, texts, (40, 120, 360))
    rows = scaling["rows"]
    assert [r["words"] for r in rows] == sorted(r["words"] for r in rows)
    # More words, more segments and tokens: the work is counted from the results.
    assert rows[0]["segments"] < rows[1]["segments"] < rows[2]["segments"]
    assert rows[0]["target_tokens"] < rows[2]["target_tokens"]
    assert all(r["seconds"] > 0 and r["summary_windows"] >= 1 for r in rows)
    pytest.importorskip("matplotlib")
    png = plot_scaling(scaling, tmp_path / "scaling.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    queue = queue_ceiling(
        str(marian), str(bart), cache, texts, jobs=6, workers=(1,), stores=("sqlite",)
    )
    assert [r["workers"] for r in queue["sqlite"]] == [1] and queue["redis"] == []
    assert queue["sqlite"][0]["jobs"] == 6 and queue["sqlite"][0]["jobs_per_s"] > 0


def test_the_profile_sums_own_time_by_category(tmp_path: Path) -> None:
    import cProfile
    import time as clock

    from service.measure.bench_profile import category, profile_summary
    from service.text.segmentation import segment_article

    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt")))
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [segment_article(text, "fr") for _ in range(3)] and clock.sleep(0.2))
    profiler.dump_stats(str(tmp_path / "worker-1.pstats"))
    summary = profile_summary(tmp_path)
    assert summary["seconds"]["segmentation"] > 0
    assert summary["seconds"]["waiting"] >= 0.19  # the sleep, kept out of the shares
    assert "waiting" not in summary["share_of_work"]
    assert abs(sum(summary["share_of_work"].values()) - 1) < 0.01
    assert category(("~", 0, "<method 'translate_batch' of 'Translator' objects>")) == "engine"
    assert category(("/x/service/jobs/store/sqlite.py", 1, "claim")) == "store"
    # CTranslate2's call is no profiled function: its time is the own time of generate().
    assert category(("/x/service/engines/ct2.py", 299, "generate")) == "engine"
    assert category(("/x/service/engines/ct2.py", 184, "load")) == "loading"
    assert profile_summary(tmp_path / "none") == {
        "error": f"no profile written under {tmp_path / 'none'}"
    }
