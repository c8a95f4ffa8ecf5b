"""Issue 3's acceptance through the batch script, with the tiny models: extractive and
abstractive bullets on samples/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLES

from service.cli import main
from service.text.extractive import ends_sentence

TRANSLATE = ["translate", str(SAMPLES), "--beam", "1", "--threads", "1", "--bullets", "3"]


@pytest.fixture(scope="module")
def run_translate(tiny_marian: Path, tmp_path_factory: pytest.TempPathFactory):
    """``passeur translate samples/ ...`` in-process with an empty model cache; returns
    (exit code, records by id). torch's thread count is put back afterwards."""
    import torch

    threads = torch.get_num_threads()
    folder = tmp_path_factory.mktemp("summary-cli")

    def run(*args: str) -> tuple[int, dict[str, dict]]:
        out = folder / f"out-{len(list(folder.iterdir()))}.jsonl"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PASSEUR_CACHE_DIR", str(folder / "empty-cache"))
            code = main(
                [*TRANSLATE, "--translation-model", str(tiny_marian), *args, "--out", str(out)]
            )
        records = (
            [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
            if out.exists()
            else []
        )
        return code, {r["id"]: r for r in records}

    yield run
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def extractive_records(run_translate) -> dict[str, dict]:
    code, records = run_translate("--summary-mode", "extractive")
    assert code == 0
    return records


@pytest.fixture(scope="module")
def abstractive_records(run_translate, tiny_bart: Path) -> dict[str, dict]:
    code, records = run_translate(
        "--summary-mode", "abstractive", "--summary-model", str(tiny_bart)
    )
    assert code == 0
    return records


def test_extractive_gives_three_grounded_bullets_per_article_without_a_summary_model(
    extractive_records: dict[str, dict],
) -> None:
    # The cache is empty: extractive mode never asked for distilbart.
    assert extractive_records.keys() == {p.stem for p in SAMPLES.glob("*.txt")}
    for record in extractive_records.values():
        sentences = record["sentences"]
        assert len(record["bullets"]) == 3
        for bullet in record["bullets"]:
            [i] = bullet["sentences"]
            assert bullet["text"] == sentences[i]["translation"].strip()
            assert sentences[i]["source"]  # and through it, the French sentence
        assert [b["sentences"] for b in record["bullets"]] == sorted(
            b["sentences"] for b in record["bullets"]
        )
        assert record["models"]["summarisation"] == {
            "name": "extractive:lead-centrality",
            "revision": "1",
        }


def test_abstractive_with_tiny_models_gives_bullets_none_a_fragment(
    abstractive_records: dict[str, dict],
) -> None:
    assert abstractive_records.keys() == {p.stem for p in SAMPLES.glob("*.txt")}
    for record in abstractive_records.values():
        flags = {f["code"] for f in record["flags"]}
        assert any(
            f["code"] == "random_model" and "summarisation model" in f["detail"]
            for f in record["flags"]
        )
        assert 1 <= len(record["bullets"]) <= 3
        for bullet in record["bullets"]:
            grounded = [record["sentences"][i]["translation"].strip() for i in bullet["sentences"]]
            assert grounded
            # A random model rarely ends a sentence: then the one bullet is a whole sentence of
            # the translation, labelled as a fallback, never a cut-off piece of model output.
            assert ends_sentence(bullet["text"]) or (
                "summary_fallback" in flags and [bullet["text"]] == grounded
            )
        assert record["models"]["summarisation"]["revision"].startswith("local")


def test_abstractive_without_the_summary_model_fails_fast_with_the_fix(
    run_translate, capsys
) -> None:
    code, records = run_translate("--summary-mode", "abstractive")
    assert code == 2 and records == {}
    assert "passeur models pull distilbart-cnn-12-6" in capsys.readouterr().err
