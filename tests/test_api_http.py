"""The HTTP surface around the routes: no redirect built from the Host header,
``nosniff`` on every answer and a Content-Security-Policy on every HTML one (``/docs``
included, checked in Chromium), ``Allow`` on a 405, an OpenAPI document that lists every
status each route answers, and the server's connection limits (keep-alive, header size) on
a real ``passeur serve``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from test_api import api_settings, error_of, running_server

from service.api import create_app
from service.api.app import HTML_CSP, SWAGGER_ASSETS
from service.jobs.store import MemoryJobStore


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(api_settings(tmp_path), MemoryJobStore()))


# -- no redirect from the Host header ----------------------------------------------------------


def test_a_trailing_slash_is_404_never_a_redirect_to_the_host_header(client: TestClient) -> None:
    evil = {"Host": "attacker.example"}
    for method, path in [("GET", "/v1/jobs/"), ("POST", "/v1/jobs/"), ("GET", "/healthz/")]:
        response = client.request(method, path, headers=evil, follow_redirects=False)
        error_of(response, 404, "not_found")
        assert "location" not in response.headers
    assert client.get("/v1/jobs", headers=evil).status_code == 200


# -- security headers ----------------------------------------------------------------------


class BrokenStore(MemoryJobStore):
    def get(self, job_id: str) -> Any:
        raise RuntimeError("disk on fire")


def test_every_answer_says_nosniff_and_every_html_answer_has_a_policy(tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path, max_body_bytes=1024), BrokenStore())
    # An HTML answer that brings no policy of its own gets the strict default.
    app.add_api_route("/test-html", lambda: HTMLResponse("<p>hello</p>"))
    client = TestClient(app, raise_server_exceptions=False)
    json_body = {"Content-Type": "application/json"}
    answers = {
        "page": client.get("/"),
        "docs": client.get("/docs"),
        "other html": client.get("/test-html"),
        "static": client.get("/static/app.js"),
        "openapi": client.get("/openapi.json"),
        "json": client.get("/v1/jobs"),
        "metrics": client.get("/metrics"),
        "404": client.get("/nothing"),
        "405": client.put("/v1/jobs"),
        "413": client.post("/v1/jobs", content=b"x" * 2048, headers=json_body),
        "415": client.post("/v1/jobs", content=b"{}", headers={"Content-Type": "text/plain"}),
        "422": client.post("/v1/jobs", json={"text": ""}),
        "500": client.get("/v1/jobs/any"),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {
        **{k: 200 for k in ("page", "docs", "other html", "static", "openapi", "json")},
        "metrics": 200,
        **{k: int(k) for k in ("404", "405", "413", "415", "422", "500")},
    }
    for name, response in answers.items():
        assert response.headers.get("x-content-type-options") == "nosniff", name
        is_html = response.headers["content-type"].startswith("text/html")
        assert is_html == (name in ("page", "docs", "other html")), name
        assert ("content-security-policy" in response.headers) == is_html, name
    assert answers["other html"].headers["content-security-policy"] == HTML_CSP
    # The page keeps its own policy, which lets it load its own scripts.
    assert "script-src 'self'" in answers["page"].headers["content-security-policy"]


def test_the_docs_load_their_assets_from_the_app_and_the_inline_script_by_hash(
    client: TestClient,
) -> None:
    response = client.get("/docs")
    policy = dict(
        (part.strip().split(" ", 1) + [""])[:2]
        for part in response.headers["content-security-policy"].split(";")
    )
    [inline] = re.findall(r"<script>(.*?)</script>", response.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert policy["script-src"].split() == ["'self'", f"'sha256-{digest}'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self'"
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert sources and all(s.startswith(SWAGGER_ASSETS + "/") or s == "data:," for s in sources)
    assert "https://" not in response.text and "http://" not in response.text
    for source in sources:
        if source != "data:,":
            asset = client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 1000, source


# -- 405 says every allowed method -----------------------------------------------------------


def test_405_lists_every_method_the_path_serves(client: TestClient) -> None:
    for method, path, allowed in [
        ("PUT", "/v1/jobs/abc", "GET, DELETE"),
        ("OPTIONS", "/v1/jobs/abc", "GET, DELETE"),
        ("DELETE", "/v1/jobs", "GET, POST"),
        ("POST", "/healthz", "GET"),
    ]:
        response = client.request(method, path)
        error_of(response, 405, "method_not_allowed")
        assert response.headers["allow"] == allowed, (method, path)


# -- the OpenAPI document -------------------------------------------------------------------

# What each route can answer besides its success; the generic rules below hold any new route
# to the same standard.
ROUTE_ERRORS = {
    ("post", "/v1/jobs"): {400, 401, 409, 413, 415, 422, 429, 503},
    ("post", "/v1/translate"): {400, 401, 409, 413, 415, 422, 429, 503, 504},
    ("get", "/v1/jobs/{job_id}"): {401, 404, 410},
    ("delete", "/v1/jobs/{job_id}"): {401, 404, 410},
    ("get", "/v1/jobs"): {401, 422},
    ("get", "/v1/models"): {401},
    ("get", "/v1/languages"): {401},
    ("get", "/readyz"): {503},
}


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_the_openapi_document_lists_every_status_each_route_answers(tmp_path: Path) -> None:
    # With keys set, so that 401 is what every /v1 route answers first.
    client = TestClient(create_app(api_settings(tmp_path, api_keys="k1"), MemoryJobStore()))
    doc = client.get("/openapi.json").json()
    seen = set()
    for method, path, operation in operations(doc):
        documented = {int(s) for s in operation["responses"]}
        label = f"{method.upper()} {path}"
        seen.add((method, path))
        missing = ROUTE_ERRORS.get((method, path), set()) - documented
        assert not missing, f"{label} does not document {sorted(missing)}"
        if path.startswith("/v1"):
            assert 401 in documented, label
            response = client.request(method, path.replace("{job_id}", "x"))
            assert response.status_code == 401, label
        if "requestBody" in operation:
            assert {400, 413, 415, 422} <= documented, label
        if "{job_id}" in path:
            assert {404, 410} <= documented, label
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (label, status)
    assert set(ROUTE_ERRORS) <= seen
    # FastAPI's own 422 schema ({"detail": [...]}) is never answered, so never documented.
    assert "HTTPValidationError" not in str(doc)
    error = doc["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]


# -- /docs in a browser --------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


def test_the_docs_page_runs_under_its_policy_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    app = create_app(api_settings(tmp_path), MemoryJobStore())
    with running_server(app) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            # Installed by the browser before the page's scripts, whatever its policy says.
            page.add_init_script(
                "window.violations = []; document.addEventListener('securitypolicyviolation',"
                " e => window.violations.push(e.effectiveDirective + ' ' + e.blockedURI));"
            )

            outside: list[str] = []
            page.on(
                "request",
                lambda r: None if r.url.startswith((url, "data:")) else outside.append(r.url),
            )
            page.goto(f"{url}/docs")
            # The real Swagger UI, served by the app, renders the document's title.
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert "Passeur" in page.inner_text(".swagger-ui .info .title")
            assert page.locator(".opblock").count() >= 5  # the routes are listed
            assert outside == []
            assert page.evaluate("window.violations") == []
            # Nothing else runs: an injected inline script is refused.
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'document.body.dataset.injected = 1';"
                " document.body.appendChild(s); }"
            )
            for _ in range(100):  # the violation event comes as a task of its own
                if page.evaluate("window.violations.length"):
                    break
                time.sleep(0.02)
            assert page.evaluate("document.body.dataset.injected") is None
            assert page.evaluate("window.violations") == ["script-src-elem inline"]
        finally:
            browser.close()


# -- the server's connection limits --------------------------------------------------------


def test_the_settings_reach_uvicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from service.wiring import serve

    configs: list[Any] = []
    # Every way of running uvicorn ends in Server.run: record its config, serve nothing.
    monkeypatch.setattr(
        uvicorn.Server, "run", lambda server, *a, **kw: configs.append(server.config)
    )
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    settings = api_settings(
        tmp_path, workers=0, store="memory://", keep_alive_s=7, max_header_bytes=4096
    )
    try:
        assert serve(settings) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    [config] = configs
    config.load()
    assert config.timeout_keep_alive == 7
    assert config.h11_max_incomplete_event_size == 4096
    # httptools would take a head of any size: 100 MB of headers held 110 MB of the server.
    assert config.http_protocol_class.__name__ == "H11Protocol"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def api_only_server(tmp_path: Path, **env: str) -> Iterator[int]:
    """``passeur serve --workers 0`` on a free port; yields the port once it answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--workers", "0", "--port", str(port)]
        + ["--store", "memory://"],
        cwd=ROOT,
        env={
            **os.environ,
            "PASSEUR_CACHE_DIR": str(tmp_path / "cache"),
            "PASSEUR_LOG_LEVEL": "WARNING",
            **env,
        },
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.timeout(60)
def test_serve_closes_idle_connections_and_refuses_oversized_heads(tmp_path: Path) -> None:
    env = {"PASSEUR_KEEP_ALIVE_S": "1", "PASSEUR_MAX_HEADER_BYTES": "4096"}
    with api_only_server(tmp_path, **env) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_answer(sock).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            while sock.recv(4096):  # the rest of the answer, then the server's close...
                pass
            assert 0.5 < time.monotonic() - started < 5  # ...after the keep-alive timeout

        # A head that keeps coming: refused once the server holds 4 KiB of it unfinished.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            answer = b""
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                for i in range(64):
                    sock.sendall(b"X-Padding-%d: " % i + b"a" * 500 + b"\r\n")
                    time.sleep(0.01)
                sock.sendall(b"\r\n")
            with contextlib.suppress(ConnectionResetError):
                answer = _read_answer(sock)
            assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert answer.startswith(b"HTTP/1.1 400") or answer == b"", answer[:200]
