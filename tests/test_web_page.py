"""The web page in real headless Chromium, against a real uvicorn server with the in-memory
store and the fake worker: submit a sample, follow the progress, read the translation beside
the source, hover a bullet, and check that markup in an article is shown, never run.

Needs Debian's Chromium and the ``playwright`` Python package (never ``playwright install``:
the browser is the system's)::

    apt-get install -y chromium
    .venv/bin/pip install playwright
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SAMPLES
from test_api import FakeWorker, api_settings, running_server

from service.api import create_app
from service.jobs.store import MemoryJobStore

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y chromium && .venv/bin/pip install playwright"
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} not found; install it with: {INSTALL}", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason=f"playwright not installed; install with: {INSTALL}"
)

KEY = "page-test-key"
SAMPLE = SAMPLES / "sncf-trafic.txt"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API with an API key, under uvicorn in a thread, with a fake worker."""
    store = MemoryJobStore()
    app = create_app(api_settings(tmp_path_factory.mktemp("web"), api_keys=KEY), store)
    with running_server(app) as url, FakeWorker(store, step_s=0.02):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: str):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    yield page
    context.close()
    assert not errors, f"the page raised: {errors}"


def set_key(page, key: str = KEY) -> None:
    if page.get_attribute("#key-box", "open") is None:
        page.click("#key-box summary")
    page.fill("#api-key", key)
    page.dispatch_event("#api-key", "change")


def submit(page, text: str, title: str = "") -> None:
    page.fill("#title", title)
    page.fill("#text", text)
    page.click("#submit")


def test_a_sample_is_translated_beside_its_source_with_bullets(page) -> None:
    set_key(page)
    text = SAMPLE.read_text(encoding="utf-8")
    submit(page, text, title="Le trafic SNCF")
    status = page.locator("#status-text")
    sync_api.expect(status).to_have_text(re.compile(r"Running — translation: \d+ / \d+ sentences"))
    sync_api.expect(page.locator("#result")).to_be_visible()
    sync_api.expect(status).to_have_text("Job succeeded.")

    first_source = page.locator("#paragraphs .paragraph .source .sentence").first
    first_translation = page.locator("#paragraphs .paragraph .translation .sentence").first
    assert text.startswith(first_source.text_content())
    assert first_translation.text_content() == "EN " + first_source.text_content()
    sync_api.expect(page.locator("#bullets-list li")).to_have_count(3)
    sync_api.expect(page.locator("#random-model")).to_contain_text("random weights")
    # The flag as the pipeline's guards write it, listed and marked on its sentence.
    flag = page.locator("#flags li")
    sync_api.expect(flag).to_have_count(1)
    sync_api.expect(flag).to_contain_text("number_mismatch")
    sync_api.expect(flag).to_contain_text("sentence 2")
    sync_api.expect(flag).to_contain_text("not found in the translation: 22")
    flagged = page.locator(".sentence.flagged")
    sync_api.expect(flagged).to_have_count(2)  # in French and in English
    assert {int(i) for i in flagged.evaluate_all("els => els.map(e => e.dataset.sentence)")} == {1}
    assert flagged.first.get_attribute("title") == (
        "number_mismatch: not found in the translation: 22"
    )

    highlighted = page.locator(".sentence.highlight")
    sync_api.expect(highlighted).to_have_count(0)
    page.hover("#bullets-list li >> nth=1")  # bullet 2 cites sentences 1 and 3
    sync_api.expect(highlighted).to_have_count(4)  # each in French and in English
    assert sorted(
        {int(i) for i in highlighted.evaluate_all("els => els.map(e => e.dataset.sentence)")}
    ) == [1, 3]
    page.hover("h1")
    sync_api.expect(highlighted).to_have_count(0)


def test_markup_in_an_article_is_shown_as_text_and_never_run(page) -> None:
    set_key(page)
    script = "<script>window.__pwned = 1</script>"
    image = '<img src="x" onerror="window.__pwned = 2">'
    submit(page, f"Premier {script} essai. Deuxième {image} phrase.", title=f"Titre {image}")
    sync_api.expect(page.locator("#result")).to_be_visible()
    sync_api.expect(page.locator("#paragraphs .source")).to_contain_text(script)
    sync_api.expect(page.locator("#paragraphs .translation")).to_contain_text(image)
    sync_api.expect(page.locator("#title-row .source")).to_have_text(f"Titre {image}")
    sync_api.expect(page.locator("#bullets-list")).to_contain_text(script)
    assert page.locator("#result img, #result script").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_without_the_key_the_page_says_so_and_remembers_the_key_once_given(
    page, server: str
) -> None:
    submit(page, "Une phrase.")
    sync_api.expect(page.locator("#problem")).to_contain_text("unauthorized")
    sync_api.expect(page.locator("#key-box")).to_have_attribute("open", "")
    set_key(page)
    page.click("#submit")
    sync_api.expect(page.locator("#result")).to_be_visible()
    sync_api.expect(page.locator("#problem")).to_be_hidden()
    page.reload()
    sync_api.expect(page.locator("#api-key")).to_have_value(KEY)


def test_a_text_file_can_be_opened(page) -> None:
    page.set_input_files("#file", str(SAMPLE))
    sync_api.expect(page.locator("#text")).to_have_value(SAMPLE.read_text(encoding="utf-8"))
