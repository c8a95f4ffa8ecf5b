"""``passeur bench --device cuda`` on a machine without a GPU: refused before anything is
built, and the specs, environments and sweeps a GPU run would get, checked as data.

Nothing here builds or loads a model; the one test that needs a GPU is skipped without
one, as the CTranslate2 backend's own GPU tests are (tests/test_ct2.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import ctranslate2  # type: ignore[import-untyped]
import pytest

from service.cli import build_parser, main
from service.measure import bench
from service.measure.bench import (
    GPU_BATCH_TOKENS,
    GPU_SUMMARY_BATCH_TOKENS,
    RUN_NAMES,
    BenchOptions,
    CudaVisibility,
    cuda_missing_reason,
    device_budgets,
    format_table,
    run_bench,
    run_spec,
    service_spec,
    unsupported,
)
from service.measure.bench_setup import RunSpec, run_settings
from service.settings import DEFAULT_BATCH_TOKENS, DEFAULT_SUMMARY_BATCH_TOKENS

NO_GPU = CudaVisibility(torch=False, ctranslate2=0)
GPU = CudaVisibility(torch=True, ctranslate2=1, gpu="Test GPU")
INT8_REASON = "torch dynamic int8 quantisation runs on CPU only"


def _no_building(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a model was built: the device must be checked first")


def _options(*flags: str) -> BenchOptions:
    from service.cli.bench import bench_options

    return bench_options(build_parser().parse_args(["bench", *flags]))


# -- refused without a GPU ----------------------------------------------------------------


def test_cli_refuses_cuda_when_no_device_is_visible(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "cuda_visibility", lambda: NO_GPU)
    monkeypatch.setattr(bench, "bench_models", _no_building)

    assert main(["bench", "--device", "cuda", "--quick", "--size", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda needs a CUDA device visible to both torch and CTranslate2" in err
    assert "torch sees no CUDA device" in err and "CTranslate2 sees no CUDA device" in err
    assert "Traceback" not in err


def test_cli_refuses_cuda_on_a_machine_without_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The real check (torch and CTranslate2 asked in a child process), where CTranslate2
    # sees no GPU: refused whatever torch says.
    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("CTranslate2 sees a CUDA device here")
    bench.cuda_visibility.cache_clear()
    monkeypatch.setattr(bench, "bench_models", _no_building)

    assert main(["bench", "--device", "cuda", "--runs", "engine_limit"]) == 2
    err = capsys.readouterr().err
    assert "CTranslate2 sees no CUDA device" in err and "Fix:" in err
    assert "Traceback" not in err


def test_cli_refuses_an_unknown_device(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--device", "bogus"])
    assert exit_.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_cli_refuses_scaling_on_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "cuda_visibility", lambda: GPU)
    assert main(["bench", "--scaling", "--device", "cuda"]) == 2
    assert "--scaling measures the CPU only" in capsys.readouterr().err


def test_the_reason_names_what_is_missing_and_the_fix() -> None:
    assert cuda_missing_reason(GPU) is None
    no_torch_gpu = cuda_missing_reason(CudaVisibility(torch=False, ctranslate2=2))
    assert no_torch_gpu is not None
    assert "torch sees no CUDA device" in no_torch_gpu and "CTranslate2 sees" not in no_torch_gpu
    no_ct2_gpu = cuda_missing_reason(CudaVisibility(torch=True, ctranslate2=0))
    assert no_ct2_gpu is not None
    assert "CTranslate2 sees no CUDA device" in no_ct2_gpu and "torch sees" not in no_ct2_gpu
    neither = cuda_missing_reason(CudaVisibility(torch=None, ctranslate2=None, error="boom"))
    assert neither is not None
    assert "torch is not installed" in neither and "ctranslate2 is not installed" in neither
    assert "(boom)" in neither
    for reason in (no_torch_gpu, no_ct2_gpu, neither):
        assert "Fix:" in reason and "leave out --device cuda" in reason


# -- what a GPU run gets --------------------------------------------------------------------


def test_cuda_options_take_larger_budgets_and_cpu_ones_stay_the_services() -> None:
    cpu = _options()
    assert cpu.device == "cpu" and device_budgets("cpu") == {}
    assert (cpu.batch_tokens, cpu.summary_batch_tokens) == (
        DEFAULT_BATCH_TOKENS,
        DEFAULT_SUMMARY_BATCH_TOKENS,
    )
    assert cpu == BenchOptions(articles=50, repeat=3, runs=RUN_NAMES)

    cuda = _options("--device", "cuda")
    assert cuda.device == "cuda"
    assert (cuda.batch_tokens, cuda.summary_batch_tokens) == (
        GPU_BATCH_TOKENS,
        GPU_SUMMARY_BATCH_TOKENS,
    )
    assert GPU_BATCH_TOKENS > DEFAULT_BATCH_TOKENS
    assert GPU_SUMMARY_BATCH_TOKENS > DEFAULT_SUMMARY_BATCH_TOKENS
    assert cuda.batch_articles == cpu.batch_articles
    # A budget given on the command line wins over the GPU's.
    given = _options("--device", "cuda", "--batch-tokens", "2048", "--quick")
    assert (given.batch_tokens, given.summary_batch_tokens) == (2048, GPU_SUMMARY_BATCH_TOKENS)
    assert given.device == "cuda" and given.short_sweep


def test_the_cuda_spec_differs_from_the_cpu_one_in_device_and_budgets_only() -> None:
    marian, bart = Path("marian"), Path("bart")
    cpu = run_spec(_options("--threads", "2"), ["Un article."], marian, bart)
    cuda = run_spec(_options("--threads", "2", "--device", "cuda"), ["Un article."], marian, bart)

    assert (cpu.device, cpu.compute_type) == ("cpu", "int8")
    assert (cuda.device, cuda.compute_type) == ("cuda", "float16")
    assert (cuda.batch_tokens, cuda.summary_batch_tokens) == (
        GPU_BATCH_TOKENS,
        GPU_SUMMARY_BATCH_TOKENS,
    )
    same = replace(
        cuda,
        device="cpu",
        batch_tokens=DEFAULT_BATCH_TOKENS,
        summary_batch_tokens=DEFAULT_SUMMARY_BATCH_TOKENS,
    )
    assert same == cpu
    # The child process reads the spec back from JSON: the device travels with it.
    back = RunSpec(**json.loads(json.dumps(asdict(cuda))))
    assert (back.device, back.compute_type) == ("cuda", "float16")
    # The settings every CTranslate2 run builds its backends from.
    for spec, device, compute_type in ((cpu, "cpu", "int8"), (cuda, "cuda", "float16")):
        settings = run_settings(spec)
        assert (settings.device, settings.compute_type) == (device, compute_type)
        assert settings.batch_tokens == spec.batch_tokens
    assert run_settings(cuda, "transformers").device == "cuda"


def test_the_service_on_cuda_runs_float16_with_the_larger_budgets(tmp_path: Path) -> None:
    from service.measure.bench_service import _environment

    environments = {}
    for device in ("cpu", "cuda"):
        options = _options("--device", device, "--threads", "2")
        base = run_spec(options, ["Un article assez court."], Path("m"), Path("b"))
        spec = service_spec(options, base, ["Un texte interactif."])
        assert spec.device == device and spec.articles == base.articles
        environments[device] = _environment(spec, tmp_path, 8123)

    cpu, cuda = environments["cpu"], environments["cuda"]
    assert (cpu["PASSEUR_DEVICE"], cpu["PASSEUR_COMPUTE_TYPE"]) == ("cpu", "int8")
    assert (cpu["PASSEUR_BATCH_TOKENS"], cpu["PASSEUR_SUMMARY_BATCH_TOKENS"]) == (
        str(DEFAULT_BATCH_TOKENS),
        str(DEFAULT_SUMMARY_BATCH_TOKENS),
    )
    assert (cuda["PASSEUR_DEVICE"], cuda["PASSEUR_COMPUTE_TYPE"]) == ("cuda", "float16")
    assert (cuda["PASSEUR_BATCH_TOKENS"], cuda["PASSEUR_SUMMARY_BATCH_TOKENS"]) == (
        str(GPU_BATCH_TOKENS),
        str(GPU_SUMMARY_BATCH_TOKENS),
    )
    changed = {k for k in cpu.keys() | cuda.keys() if cpu.get(k) != cuda.get(k)}
    assert changed == {
        "PASSEUR_DEVICE",
        "PASSEUR_COMPUTE_TYPE",
        "PASSEUR_BATCH_TOKENS",
        "PASSEUR_SUMMARY_BATCH_TOKENS",
    }


def test_baseline_int8_is_skipped_on_cuda_only() -> None:
    from service.measure.bench_baseline import run_baseline_int8

    assert unsupported("baseline-int8", "cuda") == INT8_REASON
    assert all(unsupported(name, "cpu") is None for name in RUN_NAMES)
    assert [name for name in RUN_NAMES if unsupported(name, "cuda")] == ["baseline-int8"]
    # Asked to anyway, the run refuses before it loads anything.
    spec = RunSpec(
        "baseline-int8", "m", "b", "c", ["a"], threads=1, device="cuda", plan={"segments": []}
    )
    with pytest.raises(ValueError, match=INT8_REASON):
        run_baseline_int8(spec)


def test_a_cuda_report_says_int8_was_skipped_and_names_device_and_precision(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    articles = tmp_path / "articles.txt"
    articles.write_text("Un premier article.\nUn second article.\n", encoding="utf-8")
    plan = {"target_tokens": 0, "per_article": [], "segments": [], "windows": []}
    children: list[RunSpec] = []

    def child(spec: RunSpec, isolate: bool) -> dict[str, Any]:
        children.append(spec)
        assert spec.run == "plan", f"the {spec.run} run was started"
        return dict(plan)

    monkeypatch.setattr(bench, "cuda_visibility", lambda: GPU)
    monkeypatch.setattr(bench, "bench_models", lambda *a: (tmp_path / "m", tmp_path / "b"))
    monkeypatch.setattr(bench, "_child", child)
    options = BenchOptions.quick(
        articles=1,
        data=articles,
        models_dir=tmp_path / "models",
        runs=("baseline-int8",),
        device="cuda",
        **device_budgets("cuda"),
    )
    report = run_bench(options)

    assert [spec.device for spec in children] == ["cuda"]
    assert report["runs"] == {"baseline-int8": {"skipped": INT8_REASON}}
    config = report["config"]
    assert (config["device"], config["compute_type"], config["transformers_dtype"]) == (
        "cuda",
        "float16",
        "float16",
    )
    assert config["batch_tokens"] == GPU_BATCH_TOKENS
    assert report["machine"]["gpu"] == "Test GPU"
    table = format_table(report)
    assert f"baseline-int8 skipped: {INT8_REASON}" in table
    assert "device cuda: CTranslate2 float16, transformers float16; Test GPU, " in table


def test_the_table_names_the_device_and_the_torch_runs_gpu_memory() -> None:
    run = {
        "articles_per_min": 10.0,
        "repeats": [{"busy_before": 0.0}],
        "idle": True,
        "peak_rss_mb": 900.0,
    }
    report: dict[str, Any] = {
        "machine": {"cpu": "a CPU", "cores": 2, "versions": {"torch": "2", "ctranslate2": "4"}},
        "config": {"articles": 1, "repeat": 1, "beam": 4, "threads": 2, "size": "tiny"},
        "runs": {"peer": dict(run)},
        "ratios": {},
    }
    # A report written before --device: the CPU, as every run then was.
    assert "device cpu: CTranslate2 int8, transformers float32; a CPU" in format_table(report)
    assert "peak GPU memory" not in format_table(report)
    report["runs"]["baseline"] = {**run, "peak_gpu_mb": 1234.4}
    assert (
        "peak GPU memory (torch's allocator; CTranslate2 has no such figure): baseline 1234 MB"
        in format_table(report)
    )


def test_the_engine_limit_on_cuda_sweeps_one_replica_and_larger_batches() -> None:
    from service.measure.bench_engine import (
        ENGINE_BATCH_SIZES,
        SHORT_BATCH_SIZES,
        engine_batch_sizes,
        sweep_points,
        thread_layouts,
    )

    assert engine_batch_sizes("cpu", short=False) == ENGINE_BATCH_SIZES
    assert engine_batch_sizes("cpu", short=True) == SHORT_BATCH_SIZES
    assert thread_layouts(4) == [(1, 4), (2, 2), (4, 1)]
    assert thread_layouts(4, "cpu") == thread_layouts(4)

    sizes = engine_batch_sizes("cuda", short=False)
    assert max(sizes) == 512 and set(ENGINE_BATCH_SIZES) < set(sizes)
    assert thread_layouts(16, "cuda") == [(1, 16)]
    points = sweep_points(16, sizes, 2000, "cuda")
    assert {layout for layout, _ in points} == {(1, 16)}
    assert [size for _, size in points] == list(sizes)
    # 100 rows: sizes past 100 decode the same batches, so the sweep stops at 128.
    assert [size for _, size in sweep_points(2, sizes, 100, "cuda")] == list(ENGINE_BATCH_SIZES)


def test_the_baseline_sweeps_larger_budgets_on_cuda() -> None:
    from service.measure.bench_baseline import (
        BUDGETS,
        SHORT_BUDGETS,
        SWEEP_ROWS,
        sweep_budgets,
        sweep_rows,
    )

    assert sweep_budgets("cpu", short=False) == BUDGETS
    assert sweep_budgets("cpu", short=True) == SHORT_BUDGETS
    assert sweep_rows("cpu") == SWEEP_ROWS
    gpu = sweep_budgets("cuda", short=False)
    assert set(BUDGETS) < set(gpu) and max(gpu) > max(BUDGETS)
    assert all(sweep_rows("cuda")[task] > rows for task, rows in SWEEP_ROWS.items())


# -- on a GPU -------------------------------------------------------------------------------


@pytest.mark.skipif(
    ctranslate2.get_cuda_device_count() == 0, reason="no CUDA device for CTranslate2"
)
def test_the_check_sees_what_the_libraries_see() -> None:
    import torch

    bench.cuda_visibility.cache_clear()
    seen = bench.cuda_visibility()
    assert seen.ctranslate2 == ctranslate2.get_cuda_device_count()
    assert seen.torch == torch.cuda.is_available()
    assert (bench.cuda_missing() is None) == torch.cuda.is_available()
    if seen.torch:
        assert seen.gpu == torch.cuda.get_device_name(0)
