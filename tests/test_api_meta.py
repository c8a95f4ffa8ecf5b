"""The service's own routes over the in-memory store: API keys on /v1 and open probes,
readiness from worker heartbeats, the model and language lists, and the metrics text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_api import FakeClock, api_settings, canned_result, error_of

from service.api import create_app
from service.jobs.store import MemoryJobStore
from service.registry import COMPLETE_MARKER


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
def client(tmp_path: Path, store: MemoryJobStore) -> TestClient:
    return TestClient(create_app(api_settings(tmp_path), store))


# -- API keys -------------------------------------------------------------------------


def test_api_keys_guard_every_v1_route_and_leave_probes_open(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    app = create_app(api_settings(tmp_path, api_keys="key-one, key-two"), store)
    client = TestClient(app)
    paths = client.get("/openapi.json").json()["paths"]
    v1 = [(m.upper(), path) for path, ops in paths.items() if path.startswith("/v1") for m in ops]
    assert len(v1) >= 7
    for method, path in v1:
        error = error_of(client.request(method, path.replace("{job_id}", "x")), 401, "unauthorized")
        assert "X-API-Key" in error["message"]
    refused = client.get("/v1/jobs", headers={"X-API-Key": "key-three"})
    assert (
        error_of(refused, 401, "unauthorized") and refused.headers["www-authenticate"] == "Bearer"
    )
    error_of(
        client.get("/v1/jobs", headers={"Authorization": "Basic key-one"}), 401, "unauthorized"
    )
    assert client.get("/v1/jobs", headers={"X-API-Key": "key-one"}).status_code == 200
    assert client.get("/v1/jobs", headers={"Authorization": "Bearer key-two"}).status_code == 200
    for open_path in ("/healthz", "/metrics", "/", "/docs", "/openapi.json", "/static/app.js"):
        assert client.get(open_path).status_code == 200, open_path
    assert client.get("/readyz").status_code == 503  # open, but not ready


def test_no_keys_configured_means_open(client: TestClient) -> None:
    assert client.get("/v1/jobs").status_code == 200


# -- readiness, models, languages, metrics ------------------------------------------------


def test_readyz_is_503_until_a_fresh_worker_has_its_models_loaded(tmp_path: Path) -> None:
    clock = FakeClock()
    store = MemoryJobStore(clock=clock)
    client = TestClient(create_app(api_settings(tmp_path), store))
    assert client.get("/healthz").json() == {"status": "ok"}
    first = client.get("/readyz")
    assert (
        first.status_code == 503
        and first.json()["ready"] is False
        and "passeur worker" in first.json()["reason"]
    )
    store.heartbeat("w1", {"ready": False})
    loading = client.get("/readyz")
    assert loading.status_code == 503 and "loaded" in loading.json()["reason"]
    store.heartbeat("w1", {"ready": True})
    assert client.get("/readyz").json()["ready"] is True
    clock.now += 16  # the heartbeat goes stale
    assert client.get("/readyz").status_code == 503


def test_models_lists_registry_entries_cached_or_not_and_live_workers(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    settings = api_settings(tmp_path)
    marker = (
        settings.model_cache
        / "opus-mt-fr-en"
        / "b4a9a384c2ec68a224bbd2ee3fd5df0c71ca5b1b"
        / COMPLETE_MARKER
    )
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    store.heartbeat("w1", {"ready": True, "models": {"translation": "opus-mt-fr-en"}, "stats": {}})
    client = TestClient(create_app(settings, store))
    body = client.get("/v1/models").json()
    cached = {m["name"]: m["cached"] for m in body["models"]}
    assert cached["opus-mt-fr-en"] is True
    assert not any(v for k, v in cached.items() if k != "opus-mt-fr-en")
    assert "distilbart-cnn-12-6" in cached
    [worker] = body["workers"]
    assert (
        worker["name"] == "w1"
        and worker["ready"]
        and worker["models"] == {"translation": "opus-mt-fr-en"}
    )
    languages = client.get("/v1/languages").json()
    by_source = {p["source"]: p for p in languages["pairs"]}
    assert by_source["fr"] == {
        "source": "fr",
        "target": "en",
        "models": [{"name": "opus-mt-fr-en", "cached": True}],
        "cached": True,
    }
    assert {"de", "es", "it", "pt", "nl"} <= by_source.keys()
    assert not any(p["cached"] for s, p in by_source.items() if s != "fr")
    assert languages["summary_languages"] == ["en"]


def test_models_info_can_be_injected(tmp_path: Path, store: MemoryJobStore) -> None:
    info = {
        "models": [
            {"name": "m", "task": "translation", "source": "de", "target": "en", "cached": False}
        ]
    }
    client = TestClient(create_app(api_settings(tmp_path), store, models_info=lambda: info))
    assert client.get("/v1/models").json()["models"] == info["models"]
    assert client.get("/v1/languages").json()["pairs"][0]["source"] == "de"


_SAMPLE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[a-z_]+"\})? (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$')


def parse_metrics(text: str) -> dict[str, float]:
    """A strict reader of the exposition format: every sample belongs to a family declared
    with HELP and TYPE; returns ``name{labels}`` -> value."""
    declared: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter", "summary") and name not in declared
            declared[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name = match.group(1)
        family = re.sub(r"_(sum|count)$", "", name) if name not in declared else name
        assert family in declared, f"{name} has no TYPE"
        samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_metrics_parse_and_add_up(client: TestClient, store: MemoryJobStore) -> None:
    for i in range(3):
        client.post("/v1/jobs", json={"text": f"Article {i}."})
    [lease] = store.claim("w")
    store.complete(lease.job.id, lease.token, canned_result(lease.job.id, lease.job.payload))
    stats = {
        "jobs_succeeded": 4,
        "jobs_failed": 1,
        "tokens_translated": 1000,
        "tokens_summarised": 300,
        "stage_seconds": {"translation": {"count": 4, "sum": 2.5}},
    }
    store.heartbeat("w1", {"ready": True, "stats": stats})
    store.heartbeat(
        "w2",
        {
            "ready": False,
            "stats": {
                **stats,
                "stage_seconds": {
                    "translation": {"count": 1, "sum": 0.5},
                    "summarisation": {"count": 1, "sum": 1},
                },
            },
        },
    )
    store.heartbeat(
        "w3",
        {"ready": True, "stats": {"jobs_failed": "many", "stage_seconds": {"Bad Stage\n": {}}}},
    )
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = parse_metrics(response.text)
    assert m['passeur_jobs{state="queued"}'] == 2 and m['passeur_jobs{state="succeeded"}'] == 1
    assert m["passeur_queue_depth"] == 2
    assert (m["passeur_workers"], m["passeur_workers_ready"]) == (3, 2)
    assert m['passeur_worker_jobs_total{outcome="succeeded"}'] == 8
    assert m['passeur_worker_jobs_total{outcome="failed"}'] == 2
    assert m["passeur_tokens_translated_total"] == 2000
    assert m["passeur_tokens_summarised_total"] == 600
    assert m['passeur_stage_seconds_count{stage="translation"}'] == 5
    assert m['passeur_stage_seconds_sum{stage="translation"}'] == 3.0
    assert m['passeur_stage_seconds_sum{stage="summarisation"}'] == 1
    labels = {re.sub(r"=.*", "", k.partition("{")[2]) for k in m if "{" in k}
    assert labels == {"state", "stage", "outcome", "reason"}  # none a client chooses
