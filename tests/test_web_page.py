"""The web page in real headless Chromium, against a real uvicorn server with the in-memory
store and a fake worker (tests/web_page_kit.py): reading a result. The summary comes first,
then the translation beside its source, then the flags, folded and grouped; a bullet chosen
by pointer, tap or keyboard shows its sentences; a phone shows each block's language and
never scrolls sideways; dark mode follows the system; markup in an article is shown, never
run. The job's life (address, recent list, cancel, language, copies, downloads, limits) is
in test_web_page_jobs.py.

Needs Debian's Chromium and the ``playwright`` Python package (never ``playwright install``:
the browser is the system's)::

    apt-get install -y chromium
    .venv/bin/pip install playwright
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import SAMPLES
from web_page_kit import DESKTOP, PHONE, chromium, open_page, page_server, require_playwright

sync_api = require_playwright()
expect = sync_api.expect

KEY = "page-test-key"
SAMPLE = SAMPLES / "sncf-trafic.txt"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The API with an API key, and the worker that completes its jobs."""
    with page_server(tmp_path_factory.mktemp("web"), api_keys=KEY) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(sync_api) as browser:
        yield browser


@pytest.fixture
def page(browser, server):
    with open_page(browser, server[0] + "/", viewport=DESKTOP) as page:
        yield page


def set_key(page, key: str = KEY) -> None:
    # This server needs a key: the page opens its key box itself once page/config says so.
    # Clicking the box open raced with that: on a busy machine the page opened it between
    # the test's look and its click, and the click closed it again.
    expect(page.locator("#key-box")).to_have_attribute("open", "")
    page.fill("#api-key", key)
    page.dispatch_event("#api-key", "change")


def submit(page, text: str, title: str = "") -> None:
    if page.get_attribute("#compose", "open") is None:
        page.click("#compose summary")
    page.fill("#title", title)
    page.fill("#text", text)
    before = page.evaluate("location.href")
    page.click("#submit")
    expect(page).not_to_have_url(before)
    expect(page.locator("#result")).to_be_visible()


def sentence_indices(locator) -> list[int]:
    return sorted({int(i) for i in locator.evaluate_all("els => els.map(e => e.dataset.sentence)")})


def test_the_result_comes_first_bullets_then_translation_then_folded_flags(page, server) -> None:
    worker = server[1]
    set_key(page)
    text = SAMPLE.read_text(encoding="utf-8")
    with worker.held(worker.stepping):
        page.fill("#title", "Le trafic SNCF")
        page.fill("#text", text)
        page.click("#submit")
        expect(page.locator("#status-text")).to_have_text(
            re.compile(r"Translating: 0 / \d+ sentences")
        )
        expect(page.locator("#cancel")).to_be_visible()
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#status")).to_be_hidden()
    expect(page.locator("#compose")).not_to_have_attribute("open", "")

    # Bullets, then the translation, then the flags; the first two within the first screen.
    bullets = page.locator("#bullets-list").bounding_box()
    first = page.locator("#paragraphs .paragraph").first.bounding_box()
    flags = page.locator("#flags-box").bounding_box()
    assert bullets["y"] + bullets["height"] < first["y"] < flags["y"]
    assert first["y"] + 40 < DESKTOP["height"], "the translation starts below the first screen"
    expect(page.locator("#result-title")).to_have_text("EN Le trafic SNCF")
    expect(page.locator("#random-model")).to_contain_text("random weights")

    first_source = page.locator("#paragraphs .paragraph .source .sentence").first
    first_translation = page.locator("#paragraphs .paragraph .translation .sentence").first
    assert text.startswith(first_source.text_content())
    assert first_translation.text_content() == "EN " + first_source.text_content()
    expect(page.locator(".column-heads")).to_be_visible()
    expect(page.locator("#paragraphs .cell-label").first).to_be_hidden()
    expect(page.locator("#bullets-list li")).to_have_count(3)

    # Flags: folded, counted, grouped in reading order, in plain words with the details.
    box = page.locator("#flags-box")
    expect(box).not_to_have_attribute("open", "")
    expect(page.locator("#flags .flag").first).to_be_hidden()
    expect(page.locator("#flags-count")).to_have_text(
        "— 6 on 2 sentences, the title and the summary"
    )
    page.click("#flags-box summary")
    groups = page.locator(".flag-group")
    assert groups.evaluate_all("els => els.map(e => e.id)") == [
        "flags-title",
        "flags-s1",
        "flags-s2",
        "flags-summary",
    ]
    title = page.locator("#flags-title")
    expect(title.locator(".flag-place")).to_have_text("Title")
    expect(title).to_contain_text("Too long for the model: cut into pieces")
    expect(title.locator(".flag").nth(1)).to_contain_text(
        "A number in the source is missing from the translation."
    )
    expect(title.locator(".flag-detail").nth(1)).to_have_text("not found in the translation: 12")
    lost = page.locator("#flags-s1")
    expect(lost.locator(".place-link")).to_have_text("Sentence 2")
    expect(lost.locator(".flag-detail")).to_have_text("not found in the translation: 22")
    expect(lost.locator(".flag-code")).to_have_text("number_mismatch")
    expect(page.locator("#flags-s2 .flag.note")).to_contain_text("Already in English")
    expect(page.locator("#flags-summary")).to_contain_text("A bullet names numbers or names")

    # Warnings are marked on their sentences (a note is not), in French and in English.
    flagged = page.locator(".sentence.flagged")
    expect(flagged).to_have_count(4)
    assert sentence_indices(flagged) == [1, 2]
    assert flagged.first.get_attribute("title") == (
        "A number in the source is missing from the translation. (not found in the translation: 22)"
    )

    # Pointing at a bullet highlights the sentences it cites, and only while it points.
    highlighted = page.locator(".sentence.highlight")
    expect(highlighted).to_have_count(0)
    page.hover("#bullets-list li >> nth=1")  # bullet 2 cites sentences 1 and 3
    expect(highlighted).to_have_count(4)
    assert sentence_indices(highlighted) == [1, 3]
    page.hover("h1")
    expect(highlighted).to_have_count(0)


def test_a_bullet_chosen_by_tap_or_keyboard_stays_lit_and_its_sentences_scroll_into_view(
    browser, server
) -> None:
    with open_page(
        browser, server[0] + "/", viewport=PHONE, has_touch=True, is_mobile=True
    ) as page:
        set_key(page)
        submit(page, SAMPLE.read_text(encoding="utf-8"))
        bullets = page.locator("#bullets-list .bullet-button")
        cited = page.locator('#paragraphs .translation .sentence[data-sentence="2"]')
        expect(cited).not_to_be_in_viewport()

        bullets.nth(2).tap()  # bullet 3 cites sentences 2 and 4
        expect(cited).to_be_in_viewport()
        expect(bullets.nth(2)).to_have_attribute("aria-pressed", "true")
        highlighted = page.locator(".sentence.highlight")
        expect(highlighted).to_have_count(4)
        assert sentence_indices(highlighted) == [2, 4]
        expect(page.locator("#pinned")).to_be_visible()
        expect(page.locator("#pinned-text")).to_contain_text("Bullet 3: EN")
        page.locator("#pinned-up").tap()
        expect(bullets.nth(2)).to_be_in_viewport()
        expect(bullets.nth(2)).to_be_focused()

        # Keyboard: Enter chooses another bullet, Space on it lets it go, Escape too.
        bullets.nth(0).focus()
        page.keyboard.press("Enter")
        expect(bullets.nth(0)).to_have_attribute("aria-pressed", "true")
        expect(bullets.nth(2)).to_have_attribute("aria-pressed", "false")
        page.keyboard.press("Space")
        expect(bullets.nth(0)).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#pinned")).to_be_hidden()
        page.keyboard.press("Enter")
        expect(page.locator("#pinned")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#pinned")).to_be_hidden()

        # A flagged sentence's mark opens the flags at its group.
        page.locator(".flag-mark").first.tap()
        expect(page.locator("#flags-box")).to_have_attribute("open", "")
        expect(page.locator("#flags-s1")).to_be_focused()


def test_on_a_phone_each_block_says_its_language_and_nothing_scrolls_sideways(
    browser, server
) -> None:
    with open_page(browser, server[0] + "/", viewport=PHONE) as page:
        set_key(page)
        long_word = "https://example.org/" + "a" * 200
        submit(page, SAMPLE.read_text(encoding="utf-8") + "\n" + long_word, title="Le trafic")
        expect(page.locator(".column-heads")).to_be_hidden()
        for row in ("#title-row", "#paragraphs .paragraph >> nth=0"):
            labels = page.locator(row).locator(".cell-label")
            expect(labels.nth(0)).to_be_visible()
            expect(labels.nth(0)).to_have_text("French")
            expect(labels.nth(1)).to_be_visible()
            expect(labels.nth(1)).to_have_text("English")
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), "the page scrolls sideways on a phone"
        bullets = page.locator("#bullets-list").bounding_box()
        assert bullets["y"] + bullets["height"] < page.locator("#paragraphs").bounding_box()["y"]
        assert bullets["y"] < PHONE["height"], "the summary is below the first screen"


def luminance(css_color: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_dark_mode_follows_the_system(browser, server) -> None:
    seen = {}
    for scheme in ("light", "dark"):
        with open_page(browser, server[0] + "/", color_scheme=scheme) as page:
            seen[scheme] = [
                luminance(page.evaluate(f"getComputedStyle({node}).{prop}"))
                for node, prop in (
                    ("document.documentElement", "backgroundColor"),
                    ("document.body", "color"),
                )
            ]
    assert seen["light"][0] > 0.9 and seen["light"][1] < 0.3
    assert seen["dark"][0] < 0.15 and seen["dark"][1] > 0.7


def test_markup_in_an_article_is_shown_as_text_and_never_run(page) -> None:
    set_key(page)
    script = "<script>window.__pwned = 1</script>"
    image = '<img src="x" onerror="window.__pwned = 2">'
    submit(page, f"Premier {script} essai. Deuxième {image} phrase.", title=f"Titre {image}")
    expect(page.locator("#paragraphs .source")).to_contain_text(script)
    expect(page.locator("#paragraphs .translation")).to_contain_text(image)
    expect(page.locator("#title-row .source")).to_have_text(f"Titre {image}")
    expect(page.locator("#result-title")).to_have_text(f"EN Titre {image}")
    expect(page.locator("#bullets-list")).to_contain_text(script)
    page.click("#recent-box summary")
    expect(page.locator("#recent-list")).to_contain_text(f"EN Titre {image}")
    assert page.locator("body img, #result script, #recent-list script").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_without_the_key_the_page_asks_for_it_and_remembers_it_once_given(page) -> None:
    expect(page.locator("#key-box")).to_have_attribute("open", "")  # page/config: keys are on
    page.fill("#text", "Une phrase.")
    page.click("#submit")
    expect(page.locator("#problem")).to_contain_text("This server needs an API key")
    set_key(page)
    page.click("#submit")
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator("#problem")).to_be_hidden()
    page.reload()
    expect(page.locator("#api-key")).to_have_value(KEY)
    expect(page.locator("#result")).to_be_visible()  # the job is in the address


def test_a_text_file_can_be_opened(page) -> None:
    page.set_input_files("#file", str(SAMPLE))
    expect(page.locator("#text")).to_have_value(SAMPLE.read_text(encoding="utf-8"))
    size = len(SAMPLE.read_text(encoding="utf-8"))
    expect(page.locator("#size")).to_have_text(f"{size:,} / 200,000 characters")
