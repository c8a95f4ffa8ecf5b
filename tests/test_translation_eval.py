"""`passeur eval translation` on the tiny random Marian model and a small parallel pair."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.cli import main
from service.errors import InputError
from service.measure.translation_eval import SYSTEMS, read_parallel, score

FRENCH = [
    "Le gouvernement a présenté mardi son projet de budget pour 2025.",
    "Selon l'Insee, le chômage a baissé de 0,3 point au troisième trimestre.",
    "Les syndicats appellent à une grève nationale le 12 décembre.",
    "M. Dupont a déclaré : « Nous ne céderons pas. » Il a quitté la salle.",
    "La ville de Lyon accueillera le sommet en mars prochain.",
    "Les prix de l'énergie ont augmenté de 15 % en un an.",
]
ENGLISH = [
    "The government presented its draft budget for 2025 on Tuesday.",
    "According to Insee, unemployment fell by 0.3 points in the third quarter.",
    "The unions are calling for a national strike on December 12.",
    'Mr Dupont said: "We will not give in." He left the room.',
    "The city of Lyon will host the summit next March.",
    "Energy prices have risen by 15% in a year.",
]
NUMBER = r"\d+\.\d\d"


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    src, ref = tmp_path / "fr.txt", tmp_path / "en.txt"
    src.write_text("\n".join(FRENCH) + "\n", encoding="utf-8")
    ref.write_text("\n".join(ENGLISH) + "\n", encoding="utf-8")
    return src, ref


def test_eval_translation_scores_three_systems(
    tiny_marian: Path,
    pair: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))  # CTranslate2 conversion
    out_json = tmp_path / "scores.json"
    args = ["eval", "translation", "--src", str(pair[0]), "--ref", str(pair[1])]
    args += ["--translation-model", str(tiny_marian), "--backend", "ctranslate2"]
    args += ["--beam", "1", "--device", "cpu", "--no-comet", "--json", str(out_json)]
    assert main(args) == 0
    out = capsys.readouterr().out

    assert "random weights" in out and "mean nothing" in out
    for system in SYSTEMS:
        row = re.search(rf"^{re.escape(system)}\s+({NUMBER})\s+({NUMBER})\s", out, re.M)
        assert row, f"no chrF/BLEU row for {system}:\n{out}"
    assert re.search(r"^pipeline\s.*ctranslate2 int8 on cpu, our pipeline$", out, re.M)
    assert re.search(r"^transformers-fp32\s.*transformers float32 on cpu", out, re.M)
    assert re.search(r"^sentences\s.*ctranslate2 int8 on cpu, raw lines", out, re.M)
    assert re.search(r"^chrF signature: nrefs:1\|.*\|version:", out, re.M)
    assert re.search(r"^BLEU signature: nrefs:1\|.*tok:13a.*\|version:", out, re.M)
    assert "COMET: skipped" in out

    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["lines"] == 6 and report["random_model"] is True
    assert [s["system"] for s in report["scores"]] == list(SYSTEMS)
    assert all(s["failed"] == 0 and 0 <= s["chrf"] <= 100 for s in report["scores"])


def test_eval_translation_missing_src_is_a_usage_error(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.txt"
    assert main(["eval", "translation", "--src", str(missing), "--ref", str(pair[1])]) == 2
    err = capsys.readouterr().err
    assert f"no such file: {missing}" in err and "--src FILE --ref FILE" in err


def test_eval_translation_needs_parallel_files(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    short = tmp_path / "short.txt"
    short.write_text("\n".join(ENGLISH[:4]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="6 lines but .* has 4"):
        read_parallel(pair[0], short)
    assert read_parallel(pair[0], pair[1], limit=2) == (FRENCH[:2], ENGLISH[:2])


def test_score_is_sacrebleu_corpus_chrf_and_bleu() -> None:
    chrf, bleu, signatures = score(ENGLISH, ENGLISH)
    assert (chrf, bleu) == (100.0, 100.0)
    chrf, bleu, _ = score(["Nothing alike at all."] * 6, ENGLISH)
    assert chrf < 30 and bleu < 5
    assert set(signatures) == {"chrF", "BLEU"}
