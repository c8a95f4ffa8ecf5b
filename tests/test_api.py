"""The HTTP API over the in-memory store: every endpoint and error code, idempotency, API
keys, readiness and metrics. The worker is an exact fake at its seam: a thread that claims
jobs and completes them with a canned result built from the article."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import ROOT
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api import create_app
from service.articles import (
    ArticleResult,
    Bullet,
    Flag,
    ParagraphResult,
    SentenceResult,
    TitleResult,
)
from service.engines.protocol import Generated
from service.jobs.store import MemoryJobStore, StoreOptions
from service.pipeline.translate import check_segment
from service.settings import Settings


def api_settings(tmp_path: Path, **fields: Any) -> Settings:
    """Settings for a test: the checkout's registry, an empty model cache, no API keys
    (whatever the environment says) unless ``fields`` set them."""
    defaults = {"models_dir": ROOT / "models", "cache_dir": tmp_path / "cache", "api_keys": ""}
    return Settings(**{**defaults, **fields})


# -- the fake worker ----------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


# A number lost in translation, as the pipeline's guards report it on a segment.
LOST_NUMBER = ("Le bilan est de 22 morts.", "The toll is dead.")


def guard_flags(sentence: int) -> list[Flag]:
    """The flags the pipeline's own guards (:func:`service.pipeline.translate.check_segment`)
    write for :data:`LOST_NUMBER`, on ``sentence``: codes and details are the product's."""
    source, output = LOST_NUMBER
    found = check_segment(source, Generated(output, len(output.split()), hit_limit=False))
    return [Flag(code, sentence, detail) for code, detail in found]


def canned_result(job_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A result of the real shape: one paragraph per line, sentences split after . ! ?,
    each translated (title too) as "EN " + source; bullet k cites sentences k and k+2; a
    random_model flag and, with two sentences or more, the guards' flag for a lost number
    on sentence 1 (:func:`guard_flags`)."""
    article = payload["article"]
    title = article["title"] and TitleResult(article["title"], f"EN {article['title']}")
    paragraphs, sentences = [], []
    for p, block in enumerate(line for line in article["text"].splitlines() if line.strip()):
        parts = [s for s in _SENTENCE_END.split(block.strip()) if s]
        sentences += [SentenceResult(p, s, f"EN {s}") for s in parts]
        paragraphs.append(ParagraphResult(block, " ".join(f"EN {s}" for s in parts)))
    n = len(sentences)
    bullets = [
        Bullet(f"Bullet {k + 1}: {sentences[k].translation[:50]}", [i for i in (k, k + 2) if i < n])
        for k in range(min(3, n))
    ]
    flags = [Flag("random_model", None, "translation model fake-mt has random weights")]
    if n > 1:
        flags += guard_flags(1)
    return ArticleResult(
        id=job_id,
        source_lang=article["source_lang"],
        title=title or None,
        paragraphs=paragraphs,
        sentences=sentences,
        bullets=bullets,
        models={"translation": {"name": "fake-mt", "revision": "0" * 40}, "summarisation": None},
        flags=flags,
    ).to_dict()


class FakeWorker:
    """Claims jobs from ``store`` and completes them with :func:`canned_result`, reporting
    progress sentence by sentence (``step_s`` apart) and a ready heartbeat."""

    def __init__(self, store: Any, *, name: str = "fake-worker", step_s: float = 0.0) -> None:
        self.store, self.name, self.step_s = store, name, step_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> FakeWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.store.heartbeat(self.name, {"ready": True, "models": {"translation": "fake-mt"}})
            leases = self.store.claim(self.name)
            if not leases:
                time.sleep(0.01)
            for lease in leases:
                result = canned_result(lease.job.id, lease.job.payload)
                total = len(result["sentences"])
                for done in range(total + 1):
                    self.store.set_progress(lease.job.id, lease.token, "translation", done, total)
                    time.sleep(self.step_s)
                self.store.complete(lease.job.id, lease.token, result)


@contextlib.contextmanager
def running_server(app: FastAPI) -> Iterator[str]:
    """``app`` under a real uvicorn server on a free loopback port, in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- fixtures -----------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
def client(tmp_path: Path, store: MemoryJobStore) -> TestClient:
    return TestClient(create_app(api_settings(tmp_path, max_article_chars=1000), store))


ARTICLE = {
    "title": " Le trafic ",
    "text": "Le trafic est normal. La grève est finie.",
    "source_lang": "fr",
}


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


# -- import and docs ----------------------------------------------------------


def test_api_package_imports_without_torch_and_builds_no_app() -> None:
    code = (
        "import sys, service.api, fastapi; "
        "print('torch' in sys.modules, 'transformers' in sys.modules, "
        "any(isinstance(v, fastapi.FastAPI) for m in list(sys.modules.values()) "
        "if (m.__name__ or '').startswith('service.') for v in vars(m).values()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_submitting_a_job_loads_no_model_library_nor_the_model_wiring(tmp_path: Path) -> None:
    """The API learns the supported languages from the registry file alone."""
    code = f"""
import sys
from fastapi.testclient import TestClient
from service.api import create_app
from service.jobs.store import MemoryJobStore
from service.settings import Settings
settings = Settings(models_dir={str(ROOT / "models")!r}, cache_dir={str(tmp_path)!r}, api_keys="")
client = TestClient(create_app(settings, MemoryJobStore()))
codes = [client.post("/v1/jobs", json={{"text": "Bonjour.", "source_lang": lang}}).status_code
         for lang in ("fr", "ko", "pl", "auto")]
codes.append(client.get("/v1/languages").status_code)
heavy = ("torch", "transformers", "ctranslate2", "lingua", "service.wiring", "service.engines")
print(codes, sorted(m for m in heavy if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Korean has no model; Polish goes to the default fallback (opus-mt-mul-en).
    assert out.stdout.strip() == "[202, 422, 202, 202, 200] []", out.stderr


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/translate", "/v1/models", "/readyz"} <= set(paths)


# -- POST /v1/jobs --------------------------------------------------------------


def test_submit_answers_202_once_the_job_is_in_the_store(
    client: TestClient, store: MemoryJobStore
) -> None:
    response = client.post("/v1/jobs", json={**ARTICLE, "options": {"bullets": 3, "beam": 2}})
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "queued" and body["links"]["self"] == f"/v1/jobs/{body['id']}"
    assert response.headers["location"] == body["links"]["self"]
    job = store.get(body["id"])
    assert job.payload == {
        "article": {"title": "Le trafic", "text": ARTICLE["text"], "source_lang": "fr"},
        "options": {"bullets": 3, "beam": 2},
    }
    assert job.priority.name == "BATCH"


def test_submit_defaults(client: TestClient, store: MemoryJobStore) -> None:
    job_id = client.post("/v1/jobs", json={"text": "Bonjour."}).json()["id"]
    payload = store.get(job_id).payload
    assert payload == {
        "article": {"title": None, "text": "Bonjour.", "source_lang": "fr"},
        "options": {},
    }


def test_idempotency_key_same_body_same_job_other_body_409(
    client: TestClient, store: MemoryJobStore
) -> None:
    key = {"Idempotency-Key": "abc-123"}
    first = client.post("/v1/jobs", json=ARTICLE, headers=key)
    # The same request with its keys in another order and the default written out.
    reordered = json.dumps(
        {"source_lang": "fr", "text": ARTICLE["text"], "title": ARTICLE["title"], "options": {}}
    )
    again = client.post(
        "/v1/jobs", content=reordered, headers={**key, "Content-Type": "application/json"}
    )
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    conflict = client.post("/v1/jobs", json={**ARTICLE, "text": "Autre texte."}, headers=key)
    assert error_of(conflict, 409, "idempotency_conflict")["job_id"] == first.json()["id"]
    other_options = client.post(
        "/v1/jobs", json={**ARTICLE, "options": {"bullets": 2}}, headers=key
    )
    error_of(other_options, 409, "idempotency_conflict")
    assert store.counts()["queued"] == 1
    # Without a key, every submission is a new job.
    ids = {client.post("/v1/jobs", json=ARTICLE).json()["id"] for _ in range(2)}
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x", "source_lang": "french"}, "source_lang"),
        ({"text": "x", "source_lang": "f1"}, "source_lang"),
        ({"text": "x", "options": {"bullets": 0}}, "bullets"),
        ({"text": "x", "options": {"bullets": 11}}, "bullets"),
        ({"text": "x", "options": {"beam": 17}}, "beam"),
        ({"text": "x", "options": {"summary_mode": "poem"}}, "summary_mode"),
        ({"text": "x", "options": {"bulets": 3}}, "bulets"),
        ({"title": "sans texte"}, "text"),
        ({"text": 42}, "text"),
    ],
)
def test_invalid_fields_are_422_with_the_field(client: TestClient, body: dict, field: str) -> None:
    error = error_of(client.post("/v1/jobs", json=body), 422, "invalid_request")
    assert any(e["loc"][-1] == field for e in error["errors"]), error


def test_a_plausible_language_code_is_left_to_the_worker(
    client: TestClient, store: MemoryJobStore
) -> None:
    job_id = client.post("/v1/jobs", json={"text": "Guten Tag.", "source_lang": "DE"}).json()["id"]
    assert store.get(job_id).payload["article"]["source_lang"] == "de"


def test_empty_and_too_long_texts_are_422_with_limit_and_size(client: TestClient) -> None:
    for text in ("", "  \n "):
        error_of(client.post("/v1/jobs", json={"text": text}), 422, "empty_text")
    error = error_of(client.post("/v1/jobs", json={"text": "a" * 1001}), 422, "text_too_long")
    assert (error["limit"], error["size"]) == (1000, 1001)
    assert client.post("/v1/jobs", json={"text": "a" * 1000}).status_code == 202


def test_the_title_counts_against_the_limit_as_it_does_in_the_worker(
    client: TestClient, store: MemoryJobStore
) -> None:
    """The API refuses what the pipeline would refuse (``validate_article``), so an accepted
    job never fails on its size in the worker."""
    body = {"title": "Un titre de vingt c.", "text": "a" * 990}
    error = error_of(client.post("/v1/jobs", json=body), 422, "text_too_long")
    assert (error["limit"], error["size"]) == (1000, 1010)
    assert store.counts()["queued"] == 0
    assert client.post("/v1/jobs", json={**body, "text": "a" * 980}).status_code == 202


def test_a_language_without_a_model_is_422_listing_the_supported_ones(
    client: TestClient, store: MemoryJobStore
) -> None:
    error = error_of(
        client.post("/v1/jobs", json={"text": "안녕하세요.", "source_lang": "ko"}),
        422,
        "unsupported_language",
    )
    # The pairs, English, and what the default fallback covers (Polish); not Korean.
    assert error["language"] == "ko" and {"fr", "de", "en", "pl"} <= set(error["supported"])
    assert "ko" not in error["supported"] and store.counts()["queued"] == 0


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"text": "Bonjour', "application/json", 400, "invalid_body"),
        ('{"text": "café"}'.encode("latin-1"), "application/json", 400, "invalid_body"),
        ('{"text": "café"}'.encode("utf-16"), "application/json", 400, "invalid_body"),
        (b'{"text": "Bonjour."}', "text/plain", 415, "unsupported_media_type"),
        (b"text=Bonjour", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_undecodable_bodies(
    client: TestClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    for path in ("/v1/jobs", "/v1/translate"):
        error_of(
            client.post(path, content=content, headers={"Content-Type": content_type}), status, code
        )


# -- GET, list, DELETE ------------------------------------------------------------


def test_get_job_shows_progress_then_result(client: TestClient, store: MemoryJobStore) -> None:
    job_id = client.post("/v1/jobs", json=ARTICLE).json()["id"]
    assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "queued"
    [lease] = store.claim("w")
    store.set_progress(job_id, lease.token, "translation", 1, 2)
    running = client.get(f"/v1/jobs/{job_id}").json()
    assert running["state"] == "running" and running["progress"] == {
        "stage": "translation",
        "done": 1,
        "total": 2,
    }
    assert "payload" not in running and "lease_token" not in running
    store.complete(job_id, lease.token, canned_result(job_id, lease.job.payload))
    done = client.get(f"/v1/jobs/{job_id}").json()
    assert (
        done["state"] == "succeeded"
        and done["result"]["sentences"][1]["translation"] == "EN La grève est finie."
    )


def test_unknown_job_is_404_and_expired_job_410(tmp_path: Path) -> None:
    clock = FakeClock()
    store = MemoryJobStore(StoreOptions(result_ttl_s=60), clock=clock)
    client = TestClient(create_app(api_settings(tmp_path), store))
    error_of(client.get("/v1/jobs/nope"), 404, "job_not_found")
    error_of(client.delete("/v1/jobs/nope"), 404, "job_not_found")
    job_id = client.post("/v1/jobs", json=ARTICLE).json()["id"]
    client.delete(f"/v1/jobs/{job_id}")
    clock.now += 61
    error_of(client.get(f"/v1/jobs/{job_id}"), 410, "job_expired")


def test_list_filters_by_state_newest_first_without_results(
    client: TestClient, store: MemoryJobStore
) -> None:
    ids = [client.post("/v1/jobs", json={"text": f"Article {i}."}).json()["id"] for i in range(3)]
    [lease] = store.claim("w")
    store.complete(lease.job.id, lease.token, canned_result(lease.job.id, lease.job.payload))
    everything = client.get("/v1/jobs").json()["jobs"]
    assert [j["id"] for j in everything] == ids[::-1]
    assert all("result" not in j for j in everything)
    queued = client.get("/v1/jobs", params={"state": "queued", "limit": 1}).json()["jobs"]
    assert [j["id"] for j in queued] == [ids[2]]
    assert [j["id"] for j in client.get("/v1/jobs?state=succeeded").json()["jobs"]] == [
        lease.job.id
    ]
    for bad in ("state=finished", "limit=0", "limit=501", "limit=ten"):
        error_of(client.get(f"/v1/jobs?{bad}"), 422, "invalid_request")


def test_cancel_queued_and_running_jobs(client: TestClient, store: MemoryJobStore) -> None:
    first = client.post("/v1/jobs", json=ARTICLE).json()["id"]
    [lease] = store.claim("w")
    second = client.post("/v1/jobs", json={"text": "Encore."}).json()["id"]
    queued = client.delete(f"/v1/jobs/{second}")
    assert queued.status_code == 200 and queued.json()["state"] == "cancelled"
    running = client.delete(f"/v1/jobs/{first}").json()
    assert running["state"] == "running" and running["cancel_requested"] is True
    assert store.renew(first, lease.token) is False  # the worker learns it at its next renewal


# -- POST /v1/translate ------------------------------------------------------------


def test_translate_waits_for_the_worker_and_answers_with_the_result(
    client: TestClient, store: MemoryJobStore
) -> None:
    with FakeWorker(store):
        response = client.post("/v1/translate", json=ARTICLE)
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["state"] == "succeeded" and job["priority"] == "interactive"
    assert [s["translation"] for s in job["result"]["sentences"]] == [
        "EN Le trafic est normal.",
        "EN La grève est finie.",
    ]


def test_translate_refuses_texts_over_the_sync_limit(tmp_path: Path, store: MemoryJobStore) -> None:
    client = TestClient(create_app(api_settings(tmp_path), store))
    error = error_of(client.post("/v1/translate", json={"text": "a" * 6000}), 422, "text_too_long")
    assert (error["limit"], error["size"]) == (5000, 6000)
    assert "5000" in error["message"] and "/v1/jobs" in error["message"]
    assert store.counts()["queued"] == 0


def test_translate_timeout_is_504_and_the_job_is_cancelled(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    client = TestClient(create_app(api_settings(tmp_path, sync_timeout_s=0.2), store))
    started = time.monotonic()
    error = error_of(client.post("/v1/translate", json=ARTICLE), 504, "timeout")
    assert time.monotonic() - started < 2
    assert error["links"]["self"] == f"/v1/jobs/{error['job_id']}"
    assert "cancelled" in error["message"]
    # Nobody waits for it any more: a worker that comes later never runs it.
    with FakeWorker(store):
        time.sleep(0.2)
    job = client.get(f"/v1/jobs/{error['job_id']}").json()
    assert job["state"] == "cancelled" and job["result"] is None and job["deliveries"] == 0


def test_translate_waits_without_blocking_the_event_loop(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    app = create_app(api_settings(tmp_path, sync_timeout_s=0.5), store)

    async def scenario() -> tuple[int, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            waiting = asyncio.create_task(http.post("/v1/translate", json=ARTICLE))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            health = await http.get("/healthz")
            elapsed = time.monotonic() - started
            assert health.status_code == 200
            return (await waiting).status_code, elapsed

    status, elapsed = asyncio.run(scenario())
    assert status == 504 and elapsed < 0.5


# -- error shape -------------------------------------------------------------------------


def test_routing_errors_and_crashes_use_the_error_shape(tmp_path: Path) -> None:
    class BrokenStore(MemoryJobStore):
        def get(self, job_id: str):
            raise RuntimeError("disk on fire")

    client = TestClient(
        create_app(api_settings(tmp_path), BrokenStore()), raise_server_exceptions=False
    )
    error_of(client.get("/v2/nothing"), 404, "not_found")
    error_of(client.put("/v1/jobs"), 405, "method_not_allowed")
    error = error_of(client.get("/v1/jobs/x"), 500, "internal_error")
    assert "disk on fire" not in error["message"]
