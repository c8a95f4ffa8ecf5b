"""What the web page tests share: the system's Chromium, a real uvicorn server over the
in-memory store, and a fake worker whose pace a test can hold.

The worker completes each job with :func:`test_api.canned_result` plus the flags a real
run writes where the page has to place them: on the title, on a sentence (a note as well
as a warning), on the summary. It claims only while ``claiming`` is set and advances a
sentence only while ``stepping`` is set (a held job shows ``0 / N`` sentences done), so a
test can keep a job queued or running; a job cancelled while running ends ``cancelled``, as
the real worker's does. A test may hand it another ``make_result`` (job id, payload ->
result), e.g. the real pipeline over a fake backend (tests/test_web_page_documents.py).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_api import api_settings, canned_result, running_server

from service.api import create_app
from service.articles import Flag
from service.jobs.store import MemoryJobStore

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y chromium && .venv/bin/pip install playwright"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


def require_playwright() -> Any:
    """playwright.sync_api, or skip the module when Chromium or playwright is missing."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found; install it with: {INSTALL}", allow_module_level=True)
    return pytest.importorskip(
        "playwright.sync_api", reason=f"playwright not installed; install with: {INSTALL}"
    )


def page_flags(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Flags as the pipeline writes them for the title, sentence 3 and the summary."""
    flags = []
    if result["title"]:
        flags += [
            Flag(
                "sentence_split",
                None,
                "title of 300 tokens cut into 2 pieces at clause "
                "punctuation to fit the model's 256-token budget",
            ),
            Flag("number_mismatch", None, "title: not found in the translation: 12"),
        ]
    if len(result["sentences"]) > 2:
        flags += [
            Flag("already_target_language", 2, "paragraph 1 is already in en: kept as is"),
            Flag("length_ratio", 2, "180 characters out for 40 in"),
        ]
    flags.append(Flag("unsupported_bullet", None, "bullet 2 names 'Lyon', not in the text"))
    return [f.__dict__ for f in flags]


def canned_page_result(job_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """:func:`test_api.canned_result` with the flags of :func:`page_flags`."""
    result = canned_result(job_id, payload)
    result["flags"] += page_flags(result)
    return result


class PageWorker:
    """Claims jobs from ``store`` and completes them one sentence per ``step_s``."""

    def __init__(
        self,
        store: MemoryJobStore,
        *,
        step_s: float = 0.01,
        make_result: Callable[[str, dict[str, Any]], dict[str, Any]] = canned_page_result,
    ) -> None:
        self.store, self.step_s, self.make_result = store, step_s, make_result
        self.claiming, self.stepping = threading.Event(), threading.Event()
        self.claiming.set()
        self.stepping.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="page-worker", daemon=True)

    def __enter__(self) -> PageWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @contextlib.contextmanager
    def held(self, event: threading.Event) -> Iterator[None]:
        """Hold ``claiming`` or ``stepping`` for the duration of the block."""
        event.clear()
        try:
            yield
        finally:
            event.set()

    def _wait(self, event: threading.Event) -> bool:
        while not event.wait(0.02):
            if self._stop.is_set():
                return False
        return not self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.store.heartbeat("page-worker", {"ready": True})
            if not self._wait(self.claiming):
                return
            leases = self.store.claim("page-worker")
            if not leases:
                time.sleep(0.01)
            for lease in leases:
                self._work(lease)

    def _work(self, lease: Any) -> None:
        job_id, token = lease.job.id, lease.token
        result = self.make_result(job_id, lease.job.payload)
        total = len(result["sentences"])
        for done in range(total + 1):
            if not self.store.set_progress(job_id, token, "translation", done, total):
                self.store.finish_cancelled(job_id, token)
                return
            if not self._wait(self.stepping):
                return
            time.sleep(self.step_s)
        if not self.store.complete(job_id, token, result):
            self.store.finish_cancelled(job_id, token)


@contextlib.contextmanager
def page_server(
    tmp: Path,
    make_result: Callable[[str, dict[str, Any]], dict[str, Any]] = canned_page_result,
    **settings: Any,
) -> Iterator[tuple[str, PageWorker]]:
    """The API (``settings`` over the tests' defaults) under uvicorn, with a PageWorker
    completing jobs with ``make_result``."""
    store = MemoryJobStore()
    app = create_app(api_settings(tmp, **settings), store)
    with running_server(app) as url, PageWorker(store, make_result=make_result) as worker:
        yield url, worker


@contextlib.contextmanager
def chromium(sync_api: Any) -> Iterator[Any]:
    """The system's Chromium, headless."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _watch(page: Any, origin: str, errors: list[str]) -> None:
    """Collect in ``errors`` what a page must never do: raise, log an error (a CSP refusal,
    a module that failed to load) or fetch from another origin. The browser's console note
    on an HTTP error answer that the page handles (401, 404, 413...) is not an error."""

    def console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def request(request: Any) -> None:
        if not request.url.startswith((origin + "/", "blob:", "data:")):
            errors.append(f"fetched from another origin: {request.url}")

    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", console)
    page.on("request", request)


@contextlib.contextmanager
def open_page(browser: Any, url: str, **context: Any) -> Iterator[Any]:
    """A fresh browser context (own storage) on ``url``, watched by :func:`_watch`: the
    test fails if the page raised, logged an error or fetched from another origin."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    _watch(page, re.match(r"https?://[^/]+", url).group(0), errors)  # type: ignore[union-attr]
    page.goto(url)
    try:
        yield page
    finally:
        ctx.close()
    assert not errors, f"the page raised: {errors}"
