"""Language identification: FLORES-200 accuracy, per-paragraph fallbacks, languages outside
the configured ones named as what they are, and `passeur detect` / `passeur eval langid`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from service.cli import main
from service.engines.langid import DEFAULT_LANGUAGES, ArticleLanguage, LanguageIdentifier
from service.errors import ConfigError
from service.measure.langid_eval import evaluate_langid, load_flores

FR_1 = (
    "Le gouvernement a présenté mercredi son projet de loi sur les retraites, qui doit être "
    "examiné par l'Assemblée nationale dès le mois prochain."
)
FR_2 = (
    "Les syndicats ont aussitôt appelé à une nouvelle journée de grève, la troisième depuis "
    "le début de l'année, pour obtenir le retrait du texte."
)
FR_3 = "Le ministre du Travail recevra les partenaires sociaux lundi matin."
EN_QUOTE = (
    "“We will not back down on this reform, whatever the unions say. The country cannot "
    "afford to wait any longer,” the minister told reporters."
)
EN_1 = (
    "The government presented its pension bill on Wednesday; the National Assembly is due "
    "to examine it next month."
)
DE_1 = (
    "Die Bundesregierung hat am Mittwoch ihren Gesetzentwurf zur Rentenreform vorgestellt, "
    "der im nächsten Monat im Bundestag beraten werden soll."
)


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    ident = LanguageIdentifier()
    ident.load()
    return ident


# -- FLORES-200 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def flores(shared_data: Path) -> dict[str, list[str]]:
    try:
        return load_flores(shared_data / "flores200_devtest", DEFAULT_LANGUAGES)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_flores_sentences_and_paragraphs(identifier, flores) -> None:
    # One sentence and one 5-sentence paragraph in four: 2,277 sentences and 459
    # paragraphs, a fixed subset; `passeur eval langid` runs the full set.
    report = evaluate_langid(identifier, flores, paragraph_size=5, every=4)
    overall = report["overall"]
    assert overall["sentences"]["n"] == 9 * 253 and overall["paragraphs"]["n"] == 9 * 51
    assert overall["sentences"]["accuracy"] >= 0.98, report["errors"]
    assert overall["paragraphs"]["accuracy"] >= 0.999, report["errors"]
    for lang, result in report["languages"].items():
        assert result["sentences"]["accuracy"] >= 0.95, (lang, result["sentences"])


# -- articles and paragraphs --------------------------------------------------


def test_french_article_with_an_english_quotation(identifier) -> None:
    text = "\n\n".join([FR_1, FR_2, EN_QUOTE, FR_3])
    result = identifier.detect_article(text)
    assert (result.lang, result.fallback) == ("fr", False)
    assert [p.lang for p in result.paragraphs] == ["fr", "fr", "en", "fr"]
    assert not any(p.fallback for p in result.paragraphs)
    assert result.paragraphs[2].confidence >= identifier.min_confidence
    # The quotation lowers the article's confidence without making it fall back.
    assert result.confidence < identifier.detect_article(FR_1 + "\n\n" + FR_2).confidence


@pytest.mark.parametrize("short", ["OK.", "2024", "Emmanuel Macron", "Angela Merkel", "Le Monde"])
@pytest.mark.parametrize(("body", "lang"), [([FR_1, FR_2], "fr"), ([EN_1, EN_QUOTE], "en")])
def test_short_or_ambiguous_paragraphs_take_the_article_language(
    identifier, short: str, body: list[str], lang: str
) -> None:
    result = identifier.detect_article("\n\n".join([body[0], short, body[1]]))
    assert result.lang == lang
    middle = result.paragraphs[1]
    assert (middle.index, middle.lang, middle.fallback) == (1, lang, True)


def test_paragraphs_given_by_the_caller_keep_their_indexes(identifier) -> None:
    result = identifier.detect_article("", paragraphs=[DE_1, "Ja.", DE_1])
    assert [(p.index, p.lang, p.fallback) for p in result.paragraphs] == [
        (0, "de", False),
        (1, "de", True),
        (2, "de", False),
    ]


def test_detect_with_and_without_prior(identifier) -> None:
    assert identifier.detect("OK.") == ("fr", 0.0, True)
    assert identifier.detect("OK.", prior="en") == ("en", 0.0, True)
    lang, confidence, fallback = identifier.detect(DE_1, prior="fr")
    assert (lang, fallback) == ("de", False) and confidence >= 0.9
    # A prior outside the configured languages is fine (a Polish article's short
    # paragraphs are Polish); one lingua does not know is a mistake.
    assert identifier.detect("OK.", prior="pl") == ("pl", 0.0, True)
    with pytest.raises(ValueError, match="not a language code lingua knows"):
        identifier.detect(FR_1, prior="xx")


def test_article_with_nothing_to_judge_gets_the_default(identifier) -> None:
    for text in ["", "   \n", "12 345", "OK."]:
        result = identifier.detect_article(text)
        assert (result.lang, result.fallback) == ("fr", True), text
    other = LanguageIdentifier(default="en")
    assert other.detect_article("2024").lang == "en"


def test_short_articles_are_judged_as_one_text(identifier) -> None:
    # No paragraph reaches the letter minimum alone; together they do.
    result = identifier.detect_article("Wir schaffen das.\n\nDanke schön.\n\nAuf Wiedersehen.")
    assert (result.lang, result.fallback) == ("de", False)


def test_to_dict_is_json_ready(identifier) -> None:
    result = identifier.detect_article(FR_1 + "\n\nOK.")
    record = json.loads(json.dumps(result.to_dict()))
    assert record["lang"] == "fr" and record["fallback"] is False
    assert [p["fallback"] for p in record["paragraphs"]] == [False, True]
    assert isinstance(result, ArticleLanguage)


# -- languages outside the configured ones --------------------------------------


def test_languages_outside_the_configured_ones_are_named_not_relabelled() -> None:
    ident = LanguageIdentifier(["fr", "en", "de"], default="en")
    spanish = "El Gobierno presentó el miércoles su proyecto de ley sobre las pensiones."
    lang, confidence, fallback = ident.detect(spanish)
    assert (lang, fallback) == ("es", False) and confidence >= 0.9
    assert ident.detect_article(DE_1).lang == "de"
    lang, _, fallback = ident.detect("Правительство представило законопроект о пенсиях.")
    assert (lang, fallback) == ("ru", False)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        # Indonesian and Malay are one language to a detector on one sentence.
        ("Saya tinggal di Jakarta dan bekerja sebagai guru di sebuah sekolah menengah.", "id ms"),
        ("Dnes je krásné počasí a chtěl bych jít na procházku do parku s přáteli.", "cs"),
        ("Gallia est omnis divisa in partes tres, quarum unam incolunt Belgae.", "la"),
    ],
)
def test_a_short_text_in_another_language_keeps_its_name_over_the_prior(
    identifier, text: str, named: str
) -> None:
    lang, confidence, fallback = identifier.detect(text, prior="en")
    assert lang in named.split() and not fallback
    assert confidence >= identifier.min_confidence


def test_configuration_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"unknown language code\(s\) xx.*supported.*fr"):
        LanguageIdentifier(["fr", "xx"])
    with pytest.raises(ConfigError, match="at least two"):
        LanguageIdentifier(["fr", "FR"])
    with pytest.raises(ConfigError, match="default language 'fr'"):
        LanguageIdentifier(["en", "de"])
    with pytest.raises(ConfigError, match="min_confidence"):
        LanguageIdentifier(min_confidence=1.5)


def test_the_detector_is_built_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.engines.langid as langid

    builds = []
    real = langid.LanguageDetectorBuilder

    class CountingBuilder:
        @staticmethod
        def from_all_languages():
            builds.append("all")
            return real.from_all_languages()

        @staticmethod
        def from_languages(*languages):
            builds.append(languages)
            return real.from_languages(*languages)

    monkeypatch.setattr(langid, "LanguageDetectorBuilder", CountingBuilder)
    ident = LanguageIdentifier(["fr", "de", "en"])
    assert builds == []  # construction is cheap
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(ident.detect(DE_1)[0])) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Two stages, each built once: every language, then the configured ones.
    assert results == ["de"] * 4 and len(builds) == 2
    assert builds[0] == "all" and {lang.iso_code_639_1.name for lang in builds[1]} == {
        "FR",
        "DE",
        "EN",
    }


def test_cli_import_stays_light() -> None:
    code = "import sys, service.cli; print('lingua' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- passeur detect / passeur eval langid -------------------------------------


def test_passeur_detect_on_a_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    folder = tmp_path / "in"
    (folder / "more").mkdir(parents=True)
    (folder / "article-fr.txt").write_text(f"{FR_1}\n\n{EN_QUOTE}\n\n{FR_2}\n", encoding="utf-8")
    (folder / "article-de.txt").write_text(DE_1, encoding="utf-8")
    (folder / "more" / "article-en.txt").write_text(f"{EN_1}\n\nOK.\n", encoding="utf-8")
    (folder / "broken.txt").write_bytes(b"\x89PNG\x00\x00")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code = main(["detect", str(folder)])
    records = {r["id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 1  # the unreadable file
    assert records["broken"]["error"]["code"] == "unreadable_input"
    assert {k: r.get("lang") for k, r in records.items() if k != "broken"} == {
        "article-fr": "fr",
        "article-de": "de",
        "article-en": "en",
    }
    assert [p["lang"] for p in records["article-fr"]["paragraphs"]] == ["fr", "en", "fr"]
    assert [(p["lang"], p["fallback"]) for p in records["article-en"]["paragraphs"]] == [
        ("en", False),
        ("en", True),
    ]


def test_passeur_detect_reads_jsonl_from_stdin(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [{"id": "a", "text": DE_1}, {"id": "b", "text": EN_1}]
    data = "\n".join(json.dumps(x) for x in lines).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["detect"]) == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["lang"]) for r in records] == [("a", "de"), ("b", "en")]


def test_passeur_detect_rejects_unknown_languages(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.txt").write_text(FR_1, encoding="utf-8")
    assert main(["detect", "--languages", "fr,klingon", str(tmp_path)]) == 2
    assert "unknown language code(s) klingon" in capsys.readouterr().err


PL = [
    "Rząd przedstawił w środę projekt ustawy o emeryturach, który Sejm ma rozpatrzyć wkrótce.",
    "Związki zawodowe natychmiast wezwały do kolejnego dnia strajku w całym kraju.",
]


def test_passeur_eval_langid(tmp_path: Path, capsys) -> None:
    # French and English configured; Polish is measured too, apart, because its file is there.
    for name, lines in [
        ("fra", [FR_1, FR_2, FR_3, "OK."]),
        ("eng", [EN_1, EN_QUOTE, EN_1, "OK."]),
        ("pol", PL),
    ]:
        (tmp_path / f"{name}_Latn.devtest").write_text("\n".join(lines), encoding="utf-8")
    code = main(
        [
            "eval",
            "langid",
            "--data-dir",
            str(tmp_path),
            "--languages",
            "fr,en",
            "--paragraph-size",
            "2",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    fr, en = report["languages"]["fr"], report["languages"]["en"]
    assert (fr["sentences"]["correct"], fr["sentences"]["n"]) == (4, 4)  # "OK." falls back to fr
    assert (en["sentences"]["correct"], en["sentences"]["n"]) == (3, 4)
    assert en["sentences"]["confusions"] == {"fr": 1}
    assert report["groups"]["configured"]["paragraphs"] == {
        "n": 4,
        "correct": 4,
        "accuracy": 1.0,
        "fallbacks": 0,
        "confident_wrong": 0,
        "confident_configured": 0,
    }
    others = report["groups"]["others"]
    assert list(report["languages"]) == ["fr", "en", "pl"]
    assert (others["sentences"]["n"], others["sentences"]["correct"]) == (2, 2)
    assert others["paragraphs"]["confident_configured"] == 0
    cost = report["cost"]
    assert cost["cpu_ms_per_sentence"] > 0 and cost["peak_rss_mib"]["after_load"] > 0
    assert main(["eval", "langid", "--data-dir", str(tmp_path / "missing")]) == 2
    assert "missing FLORES files" in capsys.readouterr().err


def test_passeur_eval_langid_lines_and_neighbours(tmp_path: Path, capsys) -> None:
    (tmp_path / "fra_Latn.devtest").write_text("\n".join([FR_1, FR_2, FR_3]), encoding="utf-8")
    (tmp_path / "eng_Latn.devtest").write_text("\n".join([EN_1, EN_QUOTE, EN_1]), encoding="utf-8")
    common = ["eval", "langid", "--data-dir", str(tmp_path), "--languages", "fr,en"]
    assert main([*common, "--lines", "1:2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["languages"]["fr"]["sentences"]["n"] == 1
    assert report["languages"]["en"]["sentences"]["n"] == 1 and report["lines"] == "1:2"
    assert main([*common, "--neighbours"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["named"]) == {"fr", "en"} and report["min_count"] == 2
    for bad in ("5", "a:b", "-1:"):
        assert main([*common, f"--lines={bad}"]) == 2
        assert "--lines" in capsys.readouterr().err
