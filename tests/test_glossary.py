"""Glossaries and do-not-translate terms: matching, the deployment file, and the pipeline
enforcing them with placeholders (a model that keeps them, one that drops them)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
from conftest import ROOT
from fakes import FakeBackend, pseudo_english
from fastapi.testclient import TestClient
from test_api import api_settings

from service.api import create_app
from service.api.payloads import ArticleRequest, body_hash, job_payload
from service.articles import Article, ArticleResult, sources_cover_text
from service.cli import main
from service.errors import ConfigError
from service.jobs.store import MemoryJobStore
from service.jobs.worker import article_from_payload
from service.pipeline.article import Pipeline
from service.settings import Settings
from service.text.terms import Term, find_holds, load_glossary, merge_terms, parse_glossary

TOKEN = re.compile(r"\{\d+\}")
TEXT = (
    "Le chef de l'OTAN a parlé à Kiev. L’OTANIE n'existe pas. "
    "Le Monde cite d’Ukraine le président de l'otan."
)
GLOSSARY = (("OTAN", "NATO"), ("Kiev", "Kyiv"))
GLOSSARY_JSON = [{"source": s, "target": t} for s, t in GLOSSARY]


def spans(text: str, terms: list[Term]) -> list[tuple[str, str, str]]:
    return [(text[h.start : h.end], h.kind, h.target) for h in find_holds(text, terms)]


# -- matching ------------------------------------------------------------------


def test_terms_match_whole_words_in_any_case_through_elision() -> None:
    found = spans(TEXT, [Term("OTAN", "NATO"), Term("Ukraine", "Ukraine"), Term("Le Monde")])
    assert found == [
        ("OTAN", "term", "NATO"),
        ("Le Monde", "keep", "Le Monde"),
        ("Ukraine", "term", "Ukraine"),
        ("otan", "term", "NATO"),
    ]  # not inside "OTANIE"


def test_the_longest_term_wins_and_holds_never_overlap() -> None:
    text = "Le Parti socialiste européen et le Parti socialiste."
    terms = [Term("Parti", "Party"), Term("Parti socialiste", "Socialist Party")]
    assert [s for s, _, _ in spans(text, terms)] == ["Parti socialiste", "Parti socialiste"]
    assert spans("Côte d’Ivoire", [Term("Côte d'Ivoire")]) == [
        ("Côte d’Ivoire", "keep", "Côte d’Ivoire")
    ]


def test_the_request_wins_over_the_deployment_on_the_same_term() -> None:
    merged = merge_terms([Term("otan", "Atlantic Alliance")], [Term("OTAN", "NATO"), Term("UE")])
    assert merged == [Term("otan", "Atlantic Alliance"), Term("UE")]


def test_matching_a_big_glossary_on_a_long_article_is_quick() -> None:
    # The worst request: 1,000 terms, every one of them in a 150k-character article; and a
    # deployment's 20,000 terms, absent. (A regular expression alternating the terms took
    # 8.7 s on the first; a look-up by first word takes 0.06 s.)
    terms = [Term(f"terme{i}", f"term{i}") for i in range(1000)]
    text = " ".join(f"le terme{i} et" for i in range(1000)) * 10
    absent = [Term(f"mot{i} clé", f"word{i}") for i in range(20_000)]
    started = time.perf_counter()
    holds = find_holds(text, [*terms, *absent])
    assert len(holds) == 10_000
    assert time.perf_counter() - started < 1.0


# -- the deployment's file ------------------------------------------------------


def test_a_glossary_file_takes_tabs_commas_comments_and_terms_alone(tmp_path) -> None:
    path = tmp_path / "glossary.tsv"
    path.write_text(
        '\ufeff# house terms\nOTAN\tNATO\nKiev,Kyiv\n\n"Paris, Texas",Paris (Texas)\nLe Monde\n',
        encoding="utf-8",
    )
    assert load_glossary(path) == [
        Term("OTAN", "NATO"),
        Term("Kiev", "Kyiv"),
        Term("Paris, Texas", "Paris (Texas)"),
        Term("Le Monde"),
    ]


@pytest.mark.parametrize(
    ("content", "line", "why"),
    [
        ("OTAN\tNATO\na\tb\tc\n", 2, "3 fields"),
        ("# x\n\nOTAN,NATO\n" + "x" * 101 + ",y\n", 4, "over the limit of 100"),
        ("OTAN,\x07NATO\n", 1, "control character"),
        ("  \tNATO\n", 1, "source is blank"),
    ],
)
def test_a_bad_glossary_line_is_an_error_naming_the_line(content, line, why) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_glossary(content, "g.tsv")
    assert caught.value.details["line"] == line
    assert f"g.tsv, line {line}" in caught.value.message and why in caught.value.message


# -- the pipeline ---------------------------------------------------------------


def keeps(text: str, _options=None) -> str:
    """A model that carries placeholders (they hold a digit, which pseudo_english keeps)."""
    return pseudo_english(text)


def drops(text: str, _options=None) -> str:
    """A model that translates the placeholders away."""
    return pseudo_english(TOKEN.sub("", text))


def run(settings, behaviour, article: Article, **pipeline_options) -> ArticleResult:
    backend = FakeBackend(behaviour)
    result = Pipeline({"fr": backend}, None, settings, **pipeline_options).run(article)
    assert result.error is None
    assert sources_cover_text(result.to_dict(), article.text)
    return result


def test_a_model_that_keeps_placeholders_gets_the_targets_and_no_flag(settings) -> None:
    article = Article("a", TEXT, "L'OTAN à Kiev", glossary=GLOSSARY, do_not_translate=("Le Monde",))
    result = run(settings, keeps, article)
    first, _, third = (s.translation for s in result.sentences)
    assert "NATO" in first and "Kyiv" in first and "OTAN" not in first
    assert "Le Monde" in third and third.count("NATO") == 1
    assert result.title is not None and "NATO" in result.title.translation
    assert "Kyiv" in result.title.translation
    assert not any(TOKEN.search(s.translation) for s in result.sentences)
    assert result.flags == []


def test_a_model_that_drops_placeholders_is_flagged_glossary_miss(settings) -> None:
    article = Article("a", TEXT, glossary=GLOSSARY, do_not_translate=("Le Monde",))
    result = run(settings, drops, article)
    misses = [(f.sentence, f.detail) for f in result.flags if f.code == "glossary_miss"]
    assert [s for s, _ in misses] == [0, 0, 2, 2]
    assert "'OTAN → NATO'" in misses[0][1] and "'Le Monde'" in misses[2][1]
    # A lost token is no number of its own: only the glossary flags.
    assert {f.code for f in result.flags} == {"glossary_miss"}


def test_the_deployment_glossary_applies_under_the_request(settings) -> None:
    article = Article("a", "Le chef de l'OTAN parle.", glossary=(("OTAN", "the Alliance"),))
    deployment = [Term("OTAN", "NATO"), Term("chef", "head")]
    result = run(settings, keeps, article, glossary=deployment)
    assert "the Alliance" in result.sentences[0].translation
    assert "head" in result.sentences[0].translation
    assert "NATO" not in result.sentences[0].translation


def test_the_short_output_repair_translates_masked_pieces(settings) -> None:
    # Short output for the whole sentence, good output for each piece: the repair's pieces
    # must carry the placeholders too, or the term would be lost in the second try.
    text = "Le chef de l'OTAN a parlé longuement ce matin, puis il a quitté Kiev en voiture."
    sent: list[str] = []

    def short_when_long(source: str, _options=None) -> str:
        sent.append(source)
        return "w2." if len(source.split()) > 10 else pseudo_english(source)

    result = run(settings, short_when_long, Article("a", text, glossary=GLOSSARY))
    assert any(f.code == "short_output_repaired" for f in result.flags)
    assert len(sent) > 1 and all("OTAN" not in s and "Kiev" not in s for s in sent)
    translation = result.sentences[0].translation
    assert "NATO" in translation and "Kyiv" in translation
    assert not any(f.code == "glossary_miss" for f in result.flags)


# -- the API, the batch script ----------------------------------------------------


def test_the_api_takes_terms_stores_them_and_the_worker_enforces_them(tmp_path) -> None:
    store = MemoryJobStore()
    client = TestClient(create_app(api_settings(tmp_path), store))
    body = {
        "text": "Le chef de l'OTAN a parlé. Le Monde le cite.",
        "glossary": [{"source": "OTAN", "target": "NATO"}],
        "do_not_translate": ["Le Monde"],
    }
    job_id = client.post("/v1/jobs", json=body).json()["id"]
    shown = client.get(f"/v1/jobs/{job_id}").json()
    assert shown["glossary"] == body["glossary"] and shown["do_not_translate"] == ["Le Monde"]
    [lease] = store.claim("w")
    article, options = article_from_payload(lease.job)
    settings = Settings(summary_mode="none", _env_file=None)
    result = Pipeline({"fr": FakeBackend(drops)}, None, settings).run(article, options)
    store.complete(job_id, lease.token, result.to_dict())
    flags = client.get(f"/v1/jobs/{job_id}").json()["result"]["flags"]
    assert [(f["code"], f["sentence"]) for f in flags] == [
        ("glossary_miss", 0),
        ("glossary_miss", 1),
    ]


@pytest.mark.parametrize(
    ("terms", "where"),
    [
        ({"glossary": [{"source": "a", "target": "b"}, {"source": " ", "target": "x"}]}, 1),
        ({"glossary": [{"source": "a", "target": "x" * 101}]}, 0),
        ({"do_not_translate": ["ok", "ok", "bad\u0007"]}, 2),
        ({"glossary": [{"source": "a"}]}, 0),
    ],
)
def test_a_bad_term_is_a_422_naming_its_index(tmp_path, terms, where) -> None:
    client = TestClient(create_app(api_settings(tmp_path), MemoryJobStore()))
    for path in ("/v1/jobs", "/v1/translate"):
        response = client.post(path, json={"text": "Le chef parle.", **terms})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        field = next(iter(terms))
        assert [e["loc"][1:3] for e in error["errors"]] == [[field, where]]


def test_a_thousand_terms_are_taken_and_one_more_is_a_422(tmp_path) -> None:
    client = TestClient(create_app(api_settings(tmp_path), MemoryJobStore()))
    glossary = [{"source": f"t{i}", "target": "x"} for i in range(1000)]
    keep = [f"k{i}" for i in range(1000)]
    body = {"text": "Le chef parle.", "glossary": glossary, "do_not_translate": keep}
    assert client.post("/v1/jobs", json=body).status_code == 202
    for field, extra in (("glossary", {"source": "a", "target": "b"}), ("do_not_translate", "z")):
        response = client.post("/v1/jobs", json={**body, field: [*body[field], extra]})
        assert response.status_code == 422
        assert [e["loc"][1] for e in response.json()["error"]["errors"]] == [field]


def test_the_glossary_is_part_of_the_idempotency_hash(tmp_path) -> None:
    def payload(**terms):
        request = ArticleRequest(text="Le chef de l'OTAN parle.", **terms)
        return body_hash(job_payload(request, max_chars=1000), "batch")

    plain = payload()
    nato = payload(glossary=[{"source": "OTAN", "target": "NATO"}])
    assert len({plain, nato, payload(glossary=[{"source": "OTAN", "target": "Alliance"}])}) == 3
    assert payload(do_not_translate=["OTAN"]) not in (plain, nato)
    assert plain == payload(glossary=[], do_not_translate=[])  # no terms: the hash it always had


@pytest.fixture
def cli_with(monkeypatch, tmp_path, tiny_marian, capsys):
    """``passeur translate`` in this process, its pipeline on a fake model (``behaviour``)."""
    import service.wiring

    def run(behaviour, *args: str) -> tuple[int, str]:
        def fake_pipeline(settings, *_a, **_k):
            return Pipeline({"fr": FakeBackend(behaviour)}, None, settings)

        monkeypatch.setattr(service.wiring, "load_pipeline", fake_pipeline)
        monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "empty-cache"))
        args = ("--translation-model", str(tiny_marian), "--summary-mode", "none", *args)
        code = main(["translate", *args])
        return code, capsys.readouterr().err

    return run


def test_the_batch_script_takes_a_glossary_file_and_jsonl_terms(cli_with, tmp_path) -> None:
    glossary = tmp_path / "house.tsv"
    glossary.write_text("OTAN\tNATO\nLe Monde\n", encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "text": "Le chef de l'OTAN parle. Le Monde le cite à Kiev."},
        {"id": "b", "text": "Le chef de l'OTAN parle à Kiev.", "glossary": GLOSSARY_JSON},
    ]
    inputs.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _ = cli_with(keeps, str(inputs), "--out", str(out), "--glossary", str(glossary))
    assert code == 0
    a, b = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert "NATO" in a["sentences"][0]["translation"]
    assert "Le Monde" in a["sentences"][1]["translation"]
    assert "Kyiv" in b["sentences"][0]["translation"] and a["flags"] == b["flags"] == []

    code, _ = cli_with(
        drops, str(inputs), "--out", str(out), "--overwrite", "--glossary", str(glossary)
    )
    a, b = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert {f["code"] for f in a["flags"] + b["flags"]} == {"glossary_miss"}


def test_a_bad_glossary_file_is_a_cli_error_with_its_line(cli_with, tmp_path) -> None:
    glossary = tmp_path / "house.csv"
    glossary.write_text("OTAN,NATO\nKiev,Kyiv,Kiyv\n", encoding="utf-8")
    code, err = cli_with(keeps, "-", "--glossary", str(glossary))
    assert code == 2
    assert f"{glossary}, line 2: 3 fields" in err and "Traceback" not in err


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_web_page_sends_its_glossary_box_as_terms() -> None:
    # The page's own parser (form.js), run by node on what a user types in the box.
    source = (ROOT / "service/api/static/form.js").read_text(encoding="utf-8")
    start = source.index("export function glossaryTerms")
    function = source[start : source.index("\n}\n", start) + 2].removeprefix("export ")
    typed = "OTAN = NATO\r\n\n  Kiev → Kyiv \nLe Monde\n"
    script = f"{function}\nconsole.log(JSON.stringify(glossaryTerms({json.dumps(typed)})));"
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {
        "glossary": GLOSSARY_JSON,
        "do_not_translate": ["Le Monde"],
    }
    assert "glossary_miss" in (ROOT / "service/api/static/flags.js").read_text(encoding="utf-8")
