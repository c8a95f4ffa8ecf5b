"""The batch script (`passeur translate`): inputs, outputs, resume, bad files, exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES

from service.articles import sources_cover_text
from service.cli import main


@pytest.fixture
def run_cli(tiny_marian: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    """Run `passeur translate ...` in-process with the tiny model: (code, stdout, stderr)."""
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "empty-cache"))

    def run(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(
            [
                "translate",
                "--translation-model",
                str(tiny_marian),
                "--summary-mode",
                "none",
                "--beam",
                "1",
                *args,
            ]
        )
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_samples_folder(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli(str(SAMPLES), "--out", str(out))
    assert code == 0, err
    records = {r["id"]: r for r in _records(out)}
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SAMPLES.glob("*.txt")}
    assert records.keys() == texts.keys()
    for article_id, text in texts.items():
        assert sources_cover_text(records[article_id], text)
    assert f"{len(texts)} translated, 0 failed" in err


def test_jsonl_and_nested_folders(run_cli, tmp_path: Path) -> None:
    (tmp_path / "in" / "deeper").mkdir(parents=True)
    (tmp_path / "in" / "deeper" / "a.txt").write_text(
        "Première phrase. Deuxième phrase.", encoding="utf-8"
    )
    lines = [{"id": "j1", "title": "Un titre", "text": "Un texte."}, {"text": "Sans identifiant."}]
    (tmp_path / "in" / "b.jsonl").write_text(
        "\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8"
    )
    (tmp_path / "in" / "ignored.md").write_text("# not an input", encoding="utf-8")
    code, out, _ = run_cli(str(tmp_path / "in"))
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records] == ["j1", "b-2", "a"]  # b.jsonl sorts before deeper/a.txt
    by_id = {r["id"]: r for r in records}
    assert by_id["j1"]["title"]["source"] == "Un titre"
    assert sources_cover_text(by_id["b-2"], "Sans identifiant.")


def test_stdin_text_and_jsonl(run_cli) -> None:
    code, out, _ = run_cli(stdin="Une phrase lue sur l'entrée standard.".encode())
    assert code == 0 and json.loads(out)["id"] == "stdin"
    code, out, _ = run_cli(
        "-", stdin=b'{"id": "s1", "text": "Bonjour."}\n{"id": "s2", "text": "Au revoir."}\n'
    )
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == ["s1", "s2"]


def test_bad_inputs_get_error_records_and_the_run_goes_on(run_cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("Une bonne phrase.", encoding="utf-8")
    (folder / "empty.txt").write_text("   \n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Une phrase accentuée.".encode("latin-1"))
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (folder / "long.txt").write_text("Mot. " * 400, encoding="utf-8")
    (folder / "lines.jsonl").write_text(
        '{"id": "ok", "text": "Bien."}\n{not json\n{"id": "n", "text": 3}\n', encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli(str(folder), "--out", str(out), "--max-chars", "1000")
    assert code == 1
    errors = {r["id"]: (r["error"] or {}).get("code") for r in _records(out)}
    assert errors == {
        "binary": "unreadable_input",
        "empty": "empty_text",
        "good": None,
        "latin1": "unreadable_input",
        "ok": None,
        "lines-2": "unreadable_input",
        "n": "invalid_input",
        "long": "text_too_long",
    }
    assert "2 translated, 6 failed" in err


def test_resume_skips_done_ids_and_repairs_a_torn_line(run_cli, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.txt").write_text(f"Article {name}. Fin.", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run_cli(str(folder / "a.txt"), "--out", str(out))[0] == 0
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "b", "source_lang": "fr", "sente')  # a crash mid-write
    code, _, err = run_cli(str(folder), "--out", str(out), "--resume")
    assert code == 0
    assert [r["id"] for r in _records(out)] == ["a", "b", "c"]
    assert "1 skipped" in err


def test_usage_errors_exit_2(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli(str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in err
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "x"}\n')
    code, _, err = run_cli(str(SAMPLES), "--out", str(out))
    assert code == 2 and "--resume" in err and "--overwrite" in err
    code, _, err = run_cli(str(SAMPLES), "--resume")
    assert code == 2
    code, _, err = run_cli(str(SAMPLES), "--bullets", "40")
    assert code == 2 and "bullets" in err


def test_markdown_report(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    code, _, _ = run_cli(
        str(SAMPLES / "sncf-trafic.txt"), "--out", str(out), "--format", "markdown"
    )
    assert code == 0
    report = out.read_text(encoding="utf-8")
    assert report.startswith("## sncf-trafic") and "`random_model`" in report
    assert "> Après quatre jours de perturbation" in report


def test_main_job_with_empty_cache_fails_fast_naming_the_fix(tmp_path: Path) -> None:
    """The README's main job on a machine without the models: a clear error, not a hang."""
    env = {**os.environ, "PASSEUR_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "0"}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "translate",
            "samples/",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert proc.returncode == 2
    assert "opus-mt-fr-en" in proc.stderr and "passeur models pull" in proc.stderr
    assert str(tmp_path / "cache") in proc.stderr
    assert not (tmp_path / "o.jsonl").exists()


def _screen(err: str) -> str:
    """The progress display as plain lines: each redraw on its own line, no cursor moves."""
    return err.replace("\x1b[A", "").replace("\r", "\n")


def _counts(screen: str, stage: str, unit: str) -> list[tuple[int, int]]:
    """Every ``done/total`` the display drew for ``stage``, in order."""
    pattern = rf"^{re.escape(stage)}: .*?\| (\d+)/(\d+) {unit} \["
    return [(int(d), int(t)) for d, t in re.findall(pattern, screen, re.MULTILINE)]


def test_progress_shows_loading_then_each_stage_with_its_own_counts(
    run_cli, tmp_path: Path
) -> None:
    """Four articles in groups of two: the display names the loading stage before any
    other, counts each group's sentences against a total that never changes, counts the
    summaries apart, and the articles bar moves after each group."""
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli(
        str(SAMPLES), "--out", str(out), "--progress", "--batch-articles", "2",
        "--summary-mode", "extractive",
    )  # fmt: skip
    assert code == 0, err
    screen = _screen(err)
    stages = ["loading models", "translating articles 1-2", "summarising articles 1-2"]
    stages += ["translating articles 3-4", "summarising articles 3-4"]
    first_seen = [screen.find(f"\n{stage}") for stage in stages]
    assert -1 not in first_seen and first_seen == sorted(first_seen), screen
    records = _records(out)
    for group, ids in (("1-2", records[:2]), ("3-4", records[2:])):
        sentences = sum(len(r["sentences"]) for r in ids)
        translated = _counts(screen, f"translating articles {group}", "sentences")
        assert translated and {t for _, t in translated} == {sentences}, translated
        assert [d for d, _ in translated] == sorted(d for d, _ in translated)  # never back
        assert translated[-1] == (sentences, sentences)
        # Summaries have their own count: the group's two articles, never sentences.
        summarised = _counts(screen, f"summarising articles {group}", "articles")
        assert summarised and summarised[-1] == (2, 2), summarised
        assert all(d <= t <= 2 for d, t in summarised), summarised
        assert summarised == sorted(summarised), summarised
    # The articles bar reaches 2/4 once the first group is written, before the second
    # group's first sentence count.
    halfway = re.search(r"^articles: .*\| 2/4 \[", screen, re.MULTILINE)
    assert halfway and halfway.start() < screen.find("\ntranslating articles 3-4: ")
    assert re.search(r"^articles: 100%.*\| 4/4 \[", screen, re.MULTILINE)


def test_nothing_to_translate_loads_no_model(
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty inputs are refused before the models load: an empty file gets its error
    record at once, and an empty JSONL file is done, with no loading stage shown."""
    import service.wiring

    loads: list[object] = []
    real_load = service.wiring.load_pipeline
    monkeypatch.setattr(
        service.wiring, "load_pipeline", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\t\n", encoding="utf-8")
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli(
        str(empty), str(tmp_path / "none.jsonl"), "--out", str(out), "--progress"
    )
    assert code == 1
    assert [(r["id"], r["error"]["code"]) for r in _records(out)] == [("empty", "empty_text")]
    assert "0 translated, 1 failed" in err
    assert loads == [] and "loading models" not in err
    code, _, err = run_cli("--progress", stdin=b'{"id": "a", "text": "Une phrase."}\n')
    assert code == 0 and len(loads) == 1 and "loading models" in err
