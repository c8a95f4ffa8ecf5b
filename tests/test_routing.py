"""source_lang "auto": each article and paragraph goes to the right model, or is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import FakeBackend

from service.articles import Article, sources_cover_text
from service.cli import main
from service.pipeline.article import Pipeline

FRENCH = (
    "Le gouvernement a présenté mercredi un projet de loi sur les retraites. "
    "Les syndicats appellent à une grève nationale la semaine prochaine."
)
GERMAN = (
    "Die Bundesregierung hat am Mittwoch einen Gesetzentwurf zur Rente vorgestellt. "
    "Die Gewerkschaften rufen für nächste Woche zu einem landesweiten Streik auf."
)
ENGLISH = (
    "The government presented a pension bill on Wednesday. "
    "Unions are calling for a national strike next week."
)
CATALAN = (
    "El govern va presentar dimecres un projecte de llei sobre les pensions. "
    "Els sindicats criden a una vaga general la setmana que ve."
)
KOREAN = "정부는 수요일 연금 개혁 법안을 발표했다. 노조는 다음 주 전국 파업을 예고했다."


@pytest.fixture
def pipeline(settings) -> Pipeline:
    return Pipeline(
        {"fr": FakeBackend(name="fr-model"), "de": FakeBackend(name="de-model")}, None, settings
    )


@pytest.mark.parametrize(
    ("text", "lang", "model"),
    [(FRENCH, "fr", "fr-model"), (GERMAN, "de", "de-model"), (ENGLISH, "en", None)],
)
def test_articles_go_to_their_language_model(pipeline, text, lang, model) -> None:
    result = pipeline.run(Article("a", text, source_lang="auto")).to_dict()
    assert result["error"] is None
    assert result["source_lang"] == lang
    assert result["language"]["lang"] == lang and result["language"]["detected"] is True
    assert (result["models"]["translation"] or {}).get("name") == model
    assert sources_cover_text(result, text)
    if lang == "en":
        assert [s["translation"] for s in result["sentences"]] == [
            s["source"] for s in result["sentences"]
        ]


def test_explicit_language_skips_detection(pipeline) -> None:
    result = pipeline.run(Article("a", GERMAN, source_lang="fr")).to_dict()
    assert result["language"] is None
    assert result["models"]["translation"]["name"] == "fr-model"


def test_language_without_a_model_is_refused_with_the_supported_list(pipeline) -> None:
    result = pipeline.run(Article("a", CATALAN, source_lang="auto")).to_dict()
    assert result["error"]["code"] == "unsupported_language"
    assert result["error"]["language"] == "ca"
    assert result["error"]["supported"] == ["de-en", "fr-en"]


def test_english_quotation_in_a_french_article_is_kept(pipeline) -> None:
    text = f"{FRENCH}\n\n{ENGLISH}\n\n{FRENCH}"
    result = pipeline.run(Article("a", text, source_lang="auto")).to_dict()
    assert result["source_lang"] == "fr"
    assert [p["lang"] for p in result["language"]["paragraphs"]] == ["fr", "en", "fr"]
    kept = [s for s in result["sentences"] if s["paragraph"] == 1]
    assert kept and all(s["translation"] == s["source"] for s in kept)
    assert all(s["translation"] != s["source"] for s in result["sentences"] if s["paragraph"] != 1)
    codes = [(f["code"], f["sentence"]) for f in result["flags"]]
    assert ("already_target_language", 2) in codes
    assert not any(code == "passthrough" for code, _ in codes)
    assert sources_cover_text(result, text)


def test_german_paragraph_in_a_french_article_uses_the_german_model(settings) -> None:
    de = FakeBackend(name="de-model")
    pipeline = Pipeline({"fr": FakeBackend(name="fr-model"), "de": de}, None, settings)
    text = f"{FRENCH} {FRENCH}\n\n{GERMAN}"  # mostly French
    result = pipeline.run(Article("a", text, source_lang="auto")).to_dict()
    assert result["models"]["translation_by_language"] == {"de": de.model.info()}
    assert {t for texts, _ in de.calls for t in texts} == {
        "Die Bundesregierung hat am Mittwoch einen Gesetzentwurf zur Rente vorgestellt.",
        "Die Gewerkschaften rufen für nächste Woche zu einem landesweiten Streik auf.",
    }


@pytest.fixture(scope="session")
def tiny_marian_de(model_root: Path) -> Path:
    from service.measure.devmodels import build_marian

    return build_marian(model_root / "tiny-marian-de", size="tiny", seed=1)


def test_batch_script_routes_a_mixed_folder(
    tiny_marian, tiny_marian_de, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "in"
    folder.mkdir()
    articles = {"fr": FRENCH, "de": GERMAN, "en": ENGLISH, "ca": CATALAN, "ko": KOREAN}
    for name, text in articles.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    (folder / "it.txt").write_text(
        "Il governo ha presentato mercoledì un disegno di legge sulle pensioni. "
        "I sindacati chiedono uno sciopero nazionale la prossima settimana.",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "translate",
            str(folder),
            "--out",
            str(out),
            "--source-lang",
            "auto",
            "--summary-mode",
            "none",
            "--beam",
            "1",
            "--translation-model",
            f"fr-en={tiny_marian}",
            "--translation-model",
            f"de-en={tiny_marian_de}",
        ]
    )
    assert code == 1  # three articles cannot be translated here
    records = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert records["fr"]["models"]["translation"]["name"] == str(tiny_marian.resolve())
    assert records["de"]["models"]["translation"]["name"] == str(tiny_marian_de.resolve())
    assert records["en"]["models"]["translation"] is None
    assert {k: records[k]["language"]["lang"] for k in ("fr", "de", "en")} == {
        "fr": "fr",
        "de": "de",
        "en": "en",
    }
    # Korean: no pair, and the default fallback (opus-mt-mul-en) does not cover it.
    assert records["ko"]["error"]["code"] == "unsupported_language"
    assert records["ko"]["error"]["language"] == "ko"
    # Catalan goes to the fallback, not pulled here: the record says how to get it.
    assert records["ca"]["error"]["code"] == "model_not_available"
    assert "passeur models pin opus-mt-mul-en" in records["ca"]["error"]["message"]
    # Italian has a registry entry but no pulled model: the record says how to get it.
    assert records["it"]["error"]["code"] == "model_not_available"
    assert "passeur models pin opus-mt-it-en" in records["it"]["error"]["message"]


def test_api_refuses_a_language_without_a_model(tmp_path) -> None:
    from fastapi.testclient import TestClient

    from service.api import create_app
    from service.jobs.store import MemoryJobStore
    from service.settings import Settings

    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path)
    client = TestClient(create_app(settings, MemoryJobStore()))
    response = client.post("/v1/jobs", json={"text": KOREAN, "source_lang": "ko"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unsupported_language"
    # The pairs and the languages the default fallback covers.
    assert {"fr", "de", "ca", "pl"} <= set(error["supported"]) and "ko" not in error["supported"]
    assert client.post("/v1/jobs", json={"text": GERMAN, "source_lang": "auto"}).status_code == 202
    assert client.post("/v1/jobs", json={"text": GERMAN, "source_lang": "de"}).status_code == 202
    assert client.post("/v1/jobs", json={"text": CATALAN, "source_lang": "ca"}).status_code == 202
    # With no fallback, Catalan is refused.
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path, fallback_model="none")
    client = TestClient(create_app(settings, MemoryJobStore()))
    response = client.post("/v1/jobs", json={"text": CATALAN, "source_lang": "ca"})
    assert response.status_code == 422
    assert "ca" not in response.json()["error"]["supported"]
