"""The web page and a job's life, in real headless Chromium against a real uvicorn server
(tests/web_page_kit.py): the job's id in the address (a reload or a shared link shows it
again), the recent jobs this browser keeps, cancel while queued or running, the language
picker (auto included), copies, downloads made in the page, and sizes checked before
sending and told in characters, each number once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import SAMPLES
from fastapi.testclient import TestClient
from test_api import api_settings
from web_page_kit import DESKTOP, chromium, open_page, page_server, require_playwright

from service.api import create_app
from service.jobs.store import MemoryJobStore

sync_api = require_playwright()
expect = sync_api.expect

SAMPLE = SAMPLES / "sncf-trafic.txt"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The API, open (no key), and the worker that completes its jobs."""
    with page_server(tmp_path_factory.mktemp("web-jobs")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(sync_api) as browser:
        yield browser


@pytest.fixture
def page(browser, server):
    with open_page(browser, server[0] + "/", viewport=DESKTOP) as page:
        yield page


def fill(page, text: str, title: str = "") -> None:
    if page.get_attribute("#compose", "open") is None:
        page.click("#compose summary")
    page.fill("#title", title)
    page.fill("#text", text)


def translate(page, text: str, title: str = "") -> str:
    """Submit an article, wait for its result; returns the job id from the address."""
    before = page.evaluate("location.href")
    fill(page, text, title)
    page.click("#submit")
    expect(page).not_to_have_url(before)
    expect(page.locator("#result")).to_be_visible()
    return job_in_address(page)


def job_in_address(page) -> str:
    # location itself: Playwright's page.url may lag behind history.pushState
    address = page.evaluate("location.href")
    match = re.search(r"#job=([0-9a-f]+)$", address)
    assert match, f"no job id in the address: {address}"
    return match.group(1)


def job_state(url: str, job_id: str) -> str:
    return httpx.get(f"{url}/v1/jobs/{job_id}").json()["state"]


# -- the address and the recent list ------------------------------------------------


def test_the_job_is_in_the_address_so_a_reload_or_a_shared_link_shows_it_again(
    browser, server, page
) -> None:
    url = server[0]
    job_id = translate(page, SAMPLE.read_text(encoding="utf-8"), title="Le trafic SNCF")
    paragraphs = page.locator("#paragraphs .paragraph").count()
    page.reload()
    expect(page.locator("#result-title")).to_have_text("EN Le trafic SNCF")
    expect(page.locator("#paragraphs .paragraph")).to_have_count(paragraphs)
    expect(page.locator("#compose")).not_to_have_attribute("open", "")

    # Another browser, nothing stored: the link alone (as #job= or ?job=) brings it back.
    for link in (f"{url}/#job={job_id}", f"{url}/?job={job_id}"):
        with open_page(browser, link) as other:
            expect(other.locator("#result-title")).to_have_text("EN Le trafic SNCF")
            expect(other).to_have_url(f"{url}/#job={job_id}")
            other.click("#recent-box summary")
            expect(other.locator("#recent-list li")).to_have_count(1)

    with open_page(browser, f"{url}/#job=0123456789abcdef") as other:
        expect(other.locator("#problem")).to_have_text(
            "This server has no such job for this API key: the link may be wrong, or the job "
            "was removed."
        )
        expect(other.locator("#result")).to_be_hidden()


def test_recent_jobs_are_kept_in_this_browser_and_reopen(page) -> None:
    first = translate(page, "Le trafic reprend. Les trains roulent.", title="Premier article")
    second = translate(page, "Deuxième texte sans titre. Il reste court.")
    page.click("#recent-box summary")
    entries = page.locator("#recent-list li")
    expect(entries).to_have_count(2)
    expect(entries.nth(0)).to_contain_text("EN Deuxième texte sans titre.")  # newest first
    expect(entries.nth(1)).to_contain_text("EN Premier article")
    expect(entries.nth(0).locator("a")).to_have_attribute("aria-current", "page")
    expect(entries.nth(0)).to_contain_text("just now · French")

    entries.nth(1).locator("a").click()
    expect(page.locator("#result-title")).to_have_text("EN Premier article")
    expect(page).to_have_url(re.compile(f"#job={first}$"))
    page.go_back()
    expect(page.locator("#result-title")).to_have_text("Translation")
    expect(page).to_have_url(re.compile(f"#job={second}$"))

    page.reload()
    page.click("#recent-box summary")
    expect(entries).to_have_count(2)
    page.click("#recent-clear")
    expect(entries).to_have_count(0)
    expect(page.locator("#recent-empty")).to_be_visible()


# -- cancel -----------------------------------------------------------------------------


def test_a_queued_job_is_cancelled_at_once(page, server) -> None:
    url, worker = server
    with worker.held(worker.claiming):
        fill(page, "Une phrase à ne pas traduire.")
        page.click("#submit")
        expect(page.locator("#status-text")).to_have_text("Queued: waiting for a worker…")
        job_id = job_in_address(page)
        page.click("#cancel")
        expect(page.locator("#status-text")).to_have_text(
            "Cancelled: this job was stopped before it finished."
        )
        expect(page.locator("#cancel")).to_be_hidden()
        assert job_state(url, job_id) == "cancelled"
    page.click("#recent-box summary")
    expect(page.locator("#recent-list li").first).to_contain_text("cancelled")


def test_a_running_job_stops_when_cancelled(page, server) -> None:
    url, worker = server
    with worker.held(worker.stepping):
        fill(page, SAMPLE.read_text(encoding="utf-8"))
        page.click("#submit")
        expect(page.locator("#status-text")).to_have_text(re.compile(r"Translating: 0 / \d+"))
        page.click("#cancel")
        expect(page.locator("#status-text")).to_have_text(
            "Cancelling: the job stops within one batch…"
        )
        expect(page.locator("#cancel")).to_be_hidden()
    expect(page.locator("#status-text")).to_have_text(
        "Cancelled: this job was stopped before it finished."
    )
    expect(page.locator("#result")).to_be_hidden()
    assert job_state(url, job_in_address(page)) == "cancelled"


# -- the language -----------------------------------------------------------------------


def test_the_language_is_picked_from_the_servers_list_auto_included(page) -> None:
    select = page.locator("#source-lang")
    # auto, the registry's 6 sources, and English (summarised as it is)
    expect(select.locator("option")).to_have_count(8)
    values = select.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert values[0] == "auto" and set(values[1:]) == {"de", "en", "es", "fr", "it", "nl", "pt"}
    expect(select).to_have_value("fr")

    def sent(choice: str) -> dict:
        fill(page, "Ein kurzer Text. Noch ein Satz.")
        select.select_option(choice)
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/jobs")) as r:
            page.click("#submit")
        expect(page.locator("#result")).to_be_visible()
        return r.value.post_data_json

    assert sent("auto")["source_lang"] == "auto"
    expect(page.locator("#text-label")).to_have_text("Article (its language is detected)")
    body = sent("de")
    assert body["source_lang"] == "de" and body["text"] == "Ein kurzer Text. Noch ein Satz."
    expect(page.locator("#text-label")).to_have_text("Article in German")
    expect(page.locator("#text")).to_have_attribute("lang", "de")
    expect(page.locator("#source-head")).to_have_text("German")
    page.reload()
    expect(select).to_have_value("de")  # the choice is kept in this browser


# -- copies and downloads ---------------------------------------------------------------


def test_the_translation_and_the_bullets_are_copied(browser, server) -> None:
    url = server[0]
    with open_page(
        browser, url + "/", viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    ) as page:
        translate(page, "Premier paragraphe. Deuxième phrase.\nSecond paragraphe.", title="Titre")
        clipboard = "navigator.clipboard.readText()"
        page.click("#copy-translation")
        expect(page.locator("#copied")).to_have_text("Translation copied.")
        assert page.evaluate(clipboard) == (
            "EN Titre\n\nEN Premier paragraphe. EN Deuxième phrase.\n\nEN Second paragraphe.\n"
        )
        page.click("#copy-bullets")
        expect(page.locator("#copied")).to_have_text("Bullets copied.")
        assert page.evaluate(clipboard) == (
            "- Bullet 1: EN Premier paragraphe.\n"
            "- Bullet 2: EN Deuxième phrase.\n"
            "- Bullet 3: EN Second paragraphe.\n"
        )
        page.click("#copy-link")
        assert page.evaluate(clipboard) == page.evaluate("location.href")


def test_markdown_text_and_json_are_downloaded_from_the_page(page) -> None:
    job_id = translate(page, "Premier paragraphe. Deuxième phrase.", title="Grève à Paris")

    def download(button: str) -> tuple[str, str]:
        with page.expect_download() as info:
            page.click(button)
        return info.value.suggested_filename, Path(info.value.path()).read_text(encoding="utf-8")

    name, text = download("#download-markdown")
    assert name == "passeur-en-greve-a-paris.md"
    assert text.startswith(
        "# EN Grève à Paris\n\n## Summary\n\n- Bullet 1: EN Premier paragraphe.\n"
    )
    assert "## Translation\n\nEN Premier paragraphe. EN Deuxième phrase.\n" in text
    assert text.endswith(
        f"Translated from French by Passeur (translation: fake-mt @ 000000000000), job {job_id}.\n"
    )

    name, text = download("#download-text")
    assert name == "passeur-en-greve-a-paris.txt"
    assert text == "EN Grève à Paris\n\nEN Premier paragraphe. EN Deuxième phrase.\n"

    name, text = download("#download-json")
    assert name == "passeur-en-greve-a-paris.json"
    job = json.loads(text)
    assert job["id"] == job_id and job["state"] == "succeeded"
    assert job["result"]["title"] == {"source": "Grève à Paris", "translation": "EN Grève à Paris"}


# -- sizes ------------------------------------------------------------------------------


def test_the_page_config_tells_the_limits(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, max_article_chars=1234, max_body_bytes=4096, api_keys="k")
    client = TestClient(create_app(settings, MemoryJobStore()))
    answer = client.get("/page/config")
    assert answer.status_code == 200
    assert answer.json() == {
        "max_article_chars": 1234,
        "max_body_bytes": 4096,
        "api_key_required": True,
    }


def test_the_pages_modules_are_served_as_javascript_and_checked_again_before_use(
    tmp_path: Path,
) -> None:
    # Module scripts load only with a JavaScript type (and nosniff); no-cache keeps a
    # browser from mixing modules of two versions after an upgrade.
    client = TestClient(create_app(api_settings(tmp_path), MemoryJobStore()))
    page = client.get("/").text
    entry = re.search(r'<script type="module" src="(static/[a-z]+\.js)"></script>', page)
    assert entry, "the page loads no module"
    modules = {entry.group(1)}
    modules |= {
        "static/" + name
        for name in re.findall(r'from "\./([a-z]+\.js)"', client.get("/" + entry.group(1)).text)
    }
    assert len(modules) > 3
    for path in modules:
        answer = client.get("/" + path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].split(";")[0] in (
            "text/javascript",
            "application/javascript",
        ), path
        assert answer.headers["cache-control"] == "no-cache", path


def posts(page) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    return sent


def test_an_article_over_the_limit_is_refused_in_characters_before_sending(
    browser, tmp_path
) -> None:
    with page_server(tmp_path, max_article_chars=100) as (url, _), open_page(browser, url) as page:
        sent = posts(page)
        fill(page, "é" * 145, title="Titre")  # 150 characters, 295 bytes
        expect(page.locator("#size")).to_have_text("150 / 100 characters")
        expect(page.locator("#size")).to_have_class(re.compile(r"\bover\b"))
        page.click("#submit")
        told = (
            "The article is too long: 150 characters (text and title), and 100 fit in one "
            "article. Split it into parts."
        )
        expect(page.locator("#problem")).to_have_text(told)
        assert sent == []

        # A page that could not read the limits is told them by the server, the same way.
        page.route("**/page/config", lambda route: route.fulfill(status=404))
        page.reload()
        fill(page, "é" * 145, title="Titre")
        expect(page.locator("#size")).to_have_text("150 characters")
        page.click("#submit")
        expect(page.locator("#problem")).to_have_text(told)
        assert len(sent) == 1
        expect(page.locator("#size")).to_have_text("150 / 100 characters")  # learnt


def test_a_body_over_the_servers_byte_limit_is_told_in_characters(browser, tmp_path) -> None:
    with page_server(tmp_path, max_body_bytes=1024) as (url, _), open_page(browser, url) as page:
        sent = posts(page)
        page.route("**/page/config", lambda route: route.fulfill(status=404))
        page.reload()
        fill(page, "é" * 1000)  # 1,000 characters, 2,000 bytes in UTF-8
        page.click("#submit")
        problem = page.locator("#problem")
        expect(problem).to_contain_text("The article is too long: 1,000 characters")
        told = problem.text_content()
        assert re.search(r"and about 4\d\d fit in one article", told), told
        assert "byte" not in told and told.count("1,000") == 1 and "1024" not in told
        assert len(sent) == 1

        page.unroute("**/page/config")
        page.reload()
        fill(page, "é" * 1000)
        page.click("#submit")
        expect(problem).to_have_text(told)  # now checked before sending
        assert len(sent) == 1
