"""`passeur eval guards`: false alarms on human translations; the figures in docs/quality.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from datapaths import data_file

from service.cli import main
from service.measure.data import EVAL_DATA_ENV
from service.measure.guard_eval import GUARDS, evaluate_guards, format_table, read_pairs

FLORES_FR = "flores200_devtest/fra_Latn.devtest"
FLORES_EN = "flores200_devtest/eng_Latn.devtest"

# docs/quality.md's table (`passeur eval guards`, FLORES-200 fr->en devtest, 1,012 pairs).
README_FIGURES = {
    "repetition": 0,
    "passthrough": 0,
    "number_mismatch": 3,
    "empty_translation": 0,
    "length_ratio": 0,
}

SENTENCE = "Le gouvernement a présenté mercredi son projet de loi."
PAIRS = [
    ("Le chômage a baissé de 2,4 % en 2019.", "Unemployment fell by 2.4% in 2019."),
    (SENTENCE, SENTENCE),
    ("Il y a eu 155 morts.", "There were 15 deaths."),
    ("Non, a-t-il dit.", "no no no no no"),
    (SENTENCE, "Yes."),
    ("", ""),
]


def write_pairs(folder: Path, pairs: list[tuple[str, str]]) -> tuple[Path, Path]:
    src, ref = folder / "src.txt", folder / "ref.txt"
    src.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    ref.write_text("".join(r + "\n" for _, r in pairs), encoding="utf-8")
    return src, ref


def test_each_guard_counts_the_pairs_it_flags() -> None:
    report = evaluate_guards(PAIRS)
    assert report.pairs == 5  # the blank pair is left out
    assert report.counts == {
        "repetition": 1,
        "passthrough": 1,
        "number_mismatch": 1,
        "empty_translation": 0,
        "length_ratio": 1,
    }
    assert [(a.line, a.guard) for a in report.alarms] == [
        (2, "passthrough"),
        (3, "number_mismatch"),
        (4, "repetition"),
        (5, "length_ratio"),
    ]
    assert report.alarms[1].detail == "not found in the translation: 155"
    assert report.rate("passthrough") == pytest.approx(0.2)


def test_the_table_gives_count_and_rate_and_verbose_shows_the_pairs() -> None:
    report = evaluate_guards(PAIRS)
    table = format_table(report)
    assert "| `number_mismatch` | 1 | 20.0% |" in table
    assert "| `empty_translation` | 0 | 0.0% |" in table
    assert "src:" not in table
    verbose = format_table(report, verbose=True)
    assert "line 3 [number_mismatch] not found in the translation: 155" in verbose
    assert "  ref: There were 15 deaths." in verbose


def test_files_that_are_not_line_aligned_are_refused(tmp_path: Path) -> None:
    src, ref = write_pairs(tmp_path, PAIRS)
    ref.write_text("One line only.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not line-aligned"):
        read_pairs(src, ref)


def test_the_command_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, ref = write_pairs(tmp_path, PAIRS)
    assert main(["eval", "guards", "--src", str(src), "--ref", str(ref), "-v"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 reference pairs")
    assert all(f"| `{guard}` |" in out for guard in GUARDS)
    assert "line 2 [passthrough]" in out


def test_without_data_the_command_says_how_to_point_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv(EVAL_DATA_ENV, str(tmp_path / "absent"))
    assert main(["eval", "guards"]) == 2
    err = capsys.readouterr().err
    assert "fra_Latn.devtest" in err and "--src FILE --ref FILE" in err and EVAL_DATA_ENV in err


def test_flores_false_alarms_are_those_of_the_readme() -> None:
    pairs = read_pairs(data_file(FLORES_FR), data_file(FLORES_EN))
    report = evaluate_guards(pairs)
    assert report.pairs == 1012
    assert report.counts == README_FIGURES
    assert report.rate("number_mismatch") <= 0.005  # issue 18's target
    # What is left are unit conversions a human translator made (kg -> pounds, m -> feet,
    # km -> miles): real differences of number, which the guard should flag.
    assert [a.line for a in report.alarms] == [103, 357, 627]
