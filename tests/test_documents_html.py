"""HTML articles: the same page out, translated, with its block tree, links and untouched
parts (script, pre, comments, styles) kept; inline markup carried inside the sentence, or
moved onto the whole sentence (flagged) when the model breaks the placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fakes import FakeBackend
from fastapi.testclient import TestClient
from test_api import api_settings, error_of

from service.api import create_app
from service.articles import Article, ArticleResult, sources_cover_text
from service.documents import parse_document
from service.jobs.store.memory import MemoryJobStore
from service.jobs.worker import article_from_payload
from service.pipeline.article import Pipeline
from service.settings import Settings

PAGE = """<!DOCTYPE html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <title>Grève à la SNCF : le trafic perturbé</title>
  <style>p { color: #333; }</style>
  <script>window.analytics = "<p>ne pas traduire</p>";</script>
</head>
<body>
  <!-- bloc principal : ne pas traduire -->
  <article>
    <h1>Grève à la SNCF : le trafic <em>fortement</em> perturbé</h1>
    <p class="lede" style="font-weight:bold">La grève a commencé mardi. Selon
      <a href="https://www.sncf.com/fr/infos" title="Le site de la SNCF">la direction</a>,
      un train sur trois circulera.</p>
    <figure>
      <img src="/img/gare.jpg" alt="La gare de Lyon déserte">
      <figcaption>La gare de Lyon, mardi matin.</figcaption>
    </figure>
    <blockquote><p>« Nous ne céderons pas », a déclaré le <strong>ministre</strong>.</p>
    </blockquote>
    <table>
      <tr><th>Ligne</th><th>Trains</th></tr>
      <tr><td>Paris-Lyon</td><td>Un sur trois</td></tr>
    </table>
    <pre><code>horaires = charger("sncf")</code></pre>
    <p>Plus d'informations sur <a href="https://example.org/suite">le site de la région</a>.</p>
    <script>document.write("<b>x</b>")</script>
  </article>
</body>
</html>
"""
TOKEN = re.compile(r"\{\s*\d+\s*\}")


def keeps(text: str, options) -> str:
    """A fake that keeps every placeholder: upper case, tokens untouched."""
    return text.upper()


def breaks(text: str, options) -> str:
    """A fake that mangles every placeholder: ``{3}`` comes out as ``3``."""
    return TOKEN.sub(lambda m: m.group(0).strip("{} "), text).upper()


def run(source: str, behaviour, fmt: str = "html") -> ArticleResult:
    settings = Settings(summary_mode="none", _env_file=None)
    pipeline = Pipeline({"fr": FakeBackend(behaviour)}, None, settings)
    result = pipeline.run(Article("a", source, format=fmt))
    assert result.error is None, result.error
    return result


def _between(html: str, start: str, end: str) -> str:
    return html[html.index(start) : html.index(end, html.index(start)) + len(end)]


def test_placeholders_kept_links_and_emphasis_inside_the_sentence() -> None:
    result = run(PAGE, keeps)
    doc = parse_document(PAGE, "html")
    assert result.format == "html" and result.document is not None
    out = result.document
    assert doc.check_tree(out) == []
    assert sources_cover_text(result.to_dict(), doc.text)
    assert "<title>GRÈVE À LA SNCF : LE TRAFIC PERTURBÉ</title>" in out
    assert "LE TRAFIC <em>FORTEMENT</em> PERTURBÉ" in out
    assert (
        'SELON <a href="https://www.sncf.com/fr/infos" title="LE SITE DE LA SNCF">'
        "LA DIRECTION</a>, UN TRAIN" in out
    )
    assert 'alt="LA GARE DE LYON DÉSERTE"' in out and 'src="/img/gare.jpg"' in out
    assert "<figcaption>LA GARE DE LYON, MARDI MATIN.</figcaption>" in out
    assert "<td>UN SUR TROIS</td>" in out
    # Untouched, byte for byte: scripts, style, pre, the comment, attributes.
    for kept in (
        '<script>window.analytics = "<p>ne pas traduire</p>";</script>',
        "<style>p { color: #333; }</style>",
        '<pre><code>horaires = charger("sncf")</code></pre>',
        "<!-- bloc principal : ne pas traduire -->",
        '<script>document.write("<b>x</b>")</script>',
        '<p class="lede" style="font-weight:bold">',
    ):
        assert kept in PAGE and kept in out
    assert not [
        f for f in result.flags if f.code in ("inline_markup_moved", "document_tree_changed")
    ]


def test_broken_placeholders_move_markup_onto_the_sentence_never_drop_a_link() -> None:
    result = run(PAGE, breaks)
    out = result.document
    doc = parse_document(PAGE, "html")
    assert out is not None and doc.check_tree(out) == []
    moved = [f for f in result.flags if f.code == "inline_markup_moved"]
    assert moved and all(f.sentence is not None for f in moved)  # per sentence translated again
    details = " ".join(f.detail for f in moved)
    assert "link to https://www.sncf.com/fr/infos put around the whole sentence" in details
    assert "link to https://example.org/suite" in details
    assert (
        '<a href="https://example.org/suite">PLUS D\'INFORMATIONS SUR LE SITE DE LA RÉGION.</a>'
        in out
    )
    for target in ("https://www.sncf.com/fr/infos", "https://example.org/suite"):
        assert out.count(f'href="{target}"') == 1
    assert not TOKEN.search(out)
    assert sources_cover_text(result.to_dict(), doc.text)


def test_tree_check_catches_a_lost_block_and_a_lost_link() -> None:
    doc = parse_document(PAGE, "html")
    damaged = PAGE.replace("<figcaption>", "<p>").replace("</figcaption>", "</p>")
    assert any("differs" in p for p in doc.check_tree(damaged))
    unlinked = PAGE.replace('<a href="https://example.org/suite">', "<a>")
    assert doc.check_tree(unlinked) == ["link targets lost: https://example.org/suite"]


def test_fragment_in_fragment_out() -> None:
    result = run('<p>Un <b>gros</b> titre.</p>\n<p>Un <a href="/x">lien</a> ici.</p>', keeps)
    assert result.document == '<p>UN <b>GROS</b> TITRE.</p>\n<p>UN <a href="/x">LIEN</a> ICI.</p>'


def test_api_job_with_format_html(tmp_path: Path) -> None:
    store = MemoryJobStore()
    client = TestClient(create_app(api_settings(tmp_path, max_article_chars=10_000), store))
    job_id = client.post("/v1/jobs", json={"text": PAGE, "format": "html"}).json()["id"]
    [lease] = store.claim("w")
    article, options = article_from_payload(lease.job)
    assert article.format == "html"
    settings = Settings(summary_mode="none", _env_file=None)
    result = Pipeline({"fr": FakeBackend(keeps)}, None, settings).run(article, options)
    store.complete(job_id, lease.token, result.to_dict())
    body = client.get(f"/v1/jobs/{job_id}").json()["result"]
    assert body["format"] == "html"
    assert parse_document(PAGE, "html").check_tree(body["document"]) == []
    error_of(client.post("/v1/jobs", json={"text": PAGE, "format": "pdf"}), 422, "unknown_format")
    only_code = "<pre>rien à traduire</pre><script>x()</script>"
    error_of(
        client.post("/v1/jobs", json={"text": only_code, "format": "html"}), 422, "empty_document"
    )


def test_cli_translates_an_html_file(tmp_path: Path, tiny_marian: Path, monkeypatch) -> None:
    from service.cli import main

    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "empty-cache"))
    page = tmp_path / "article.html"
    page.write_text(PAGE, encoding="utf-8")
    out = tmp_path / "r.jsonl"
    args = ["translate", str(page), "--out", str(out), "--summary-mode", "none", "--beam", "1"]
    code = main(["translate", "--translation-model", str(tiny_marian), *args[1:]])
    assert code == 0
    [record] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert record["format"] == "html" and record["document"]
    doc = parse_document(PAGE, "html")
    assert sources_cover_text(record, doc.text)
    # A random-weight model's words are no translation, but the page's tree and links hold
    # (or the record says they did not).
    codes = {f["code"] for f in record["flags"]}
    assert doc.check_tree(record["document"]) == [] or "document_tree_changed" in codes
    assert '<script>document.write("<b>x</b>")</script>' in record["document"]
