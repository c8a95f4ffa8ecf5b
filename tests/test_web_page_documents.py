"""Documents and glossaries through the web page, in real headless Chromium: the page's
format selector and glossary box reach the API, the real pipeline runs over a fake model
(tests/web_page_kit.py's worker with ``make_result``), and the page shows what came back.

- A hostile HTML document (an ``<img onerror>``, a ``javascript:`` link, a ``<script>``) is
  shown as text: none of it runs, whatever the translation keeps of it.
- A glossary term the model does not carry is flagged ``glossary_miss`` on the page.

The fake model upper-cases its input and drops every placeholder, as a model may: markup
is then put around whole sentences (``inline_markup_moved``) and a glossary term is lost.
Needs Chromium and playwright, as tests/test_web_page.py says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fakes import FakeBackend
from web_page_kit import DESKTOP, chromium, open_page, page_server, require_playwright

from service.jobs.worker import article_from_payload
from service.pipeline.article import Pipeline
from service.settings import Settings

sync_api = require_playwright()
expect = sync_api.expect

TOKEN = re.compile(r"\{\s*\d+\s*\}")

HOSTILE = """<h1>Grève à la <a href="javascript:window.pwnedLink=1">SNCF</a></h1>
<p>Le trafic est perturbé.<img src="x" onerror="window.pwnedImg=1"></p>
<script>window.pwnedScript = 1;</script>
<p onmouseover="window.pwnedHover=1">Un train sur trois circule.</p>
"""
FLAGS = "[window.pwnedImg, window.pwnedLink, window.pwnedScript, window.pwnedHover]"


def ignores_placeholders(text: str, options: Any) -> str:
    """A fake model: upper case, every ``{N}`` placeholder translated away."""
    return " ".join(TOKEN.sub(" ", text).split()).upper()


def pipeline_result(job_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the real worker would store: the pipeline over the fake model."""
    article, options = article_from_payload(SimpleNamespace(id=job_id, payload=payload))  # type: ignore[arg-type]
    settings = Settings(summary_mode="none", _env_file=None)
    pipeline = Pipeline({"fr": FakeBackend(ignores_placeholders)}, None, settings)
    return pipeline.run(article, options).to_dict()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    with page_server(tmp_path_factory.mktemp("web-docs"), make_result=pipeline_result) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(sync_api) as browser:
        yield browser


@pytest.fixture
def page(browser, server):
    with open_page(browser, server[0] + "/", viewport=DESKTOP) as page:
        yield page


@pytest.fixture
def page_without_csp(browser, server):
    """The page with its Content-Security-Policy ignored: the policy would block inline
    handlers and javascript: links too, and this proves the page never makes markup live
    in the first place."""
    with open_page(browser, server[0] + "/", viewport=DESKTOP, bypass_csp=True) as page:
        yield page


def submit(page, text: str, fmt: str = "text", glossary: str = "") -> dict[str, Any]:
    """Fill the form and submit it; returns the JSON body the page sent."""
    if page.get_attribute("#compose", "open") is None:
        page.click("#compose summary")
    page.fill("#text", text)
    page.select_option("#format", fmt)
    if glossary:
        if page.get_attribute("#glossary-box", "open") is None:
            page.click("#glossary-box summary")
        page.fill("#glossary", glossary)
    with page.expect_request(lambda r: r.method == "POST" and "/v1/" in r.url) as sent:
        page.click("#submit")
    expect(page.locator("#result")).to_be_visible()
    return sent.value.post_data_json


def test_a_hostile_html_document_is_shown_as_text_and_never_runs(page_without_csp) -> None:
    page = page_without_csp
    body = submit(page, HOSTILE, "html")
    assert body["format"] == "html"
    shown = page.locator("#document-text")
    expect(shown).to_contain_text("LE TRAFIC EST PERTURBÉ.")
    # Hovering and clicking where a link or handler would be runs nothing.
    shown.hover()
    shown.click()
    page.wait_for_timeout(300)  # an image's error event fires within a task or two
    assert page.evaluate(FLAGS) == [None, None, None, None]
    # Nothing of it became an element of the page: no image, link or script from it.
    assert page.locator("#result img, #result script, #result a[href^='javascript:']").count() == 0
    # The translated document, markup and all, as characters on the page.
    expect(shown).to_contain_text('onerror="window.pwnedImg=1"')
    expect(shown).to_contain_text("<script>window.pwnedScript = 1;</script>")
    expect(shown).to_contain_text('href="javascript:window.pwnedLink=1"')


def test_a_glossary_term_the_model_drops_is_flagged_on_the_page(page) -> None:
    body = submit(page, "Le sommet de l'OTAN a eu lieu mardi.", glossary="OTAN = NATO\nKiev")
    assert body["glossary"] == [{"source": "OTAN", "target": "NATO"}]
    assert body["do_not_translate"] == ["Kiev"]
    page.click("#flags-box summary")
    flag = page.locator(".flag", has_text="glossary_miss")
    expect(flag).to_contain_text("A glossary or do-not-translate term is missing")
    expect(flag.locator(".flag-detail")).to_contain_text("NATO")
