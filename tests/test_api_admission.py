"""Admission control: bounds on queued jobs (the service's and each tenant's), a rate per
tenant, /v1/translate refusing at once what it could not answer in time, and cancelling the
jobs of requests nobody waits for any more; each refusal with Retry-After and counted in
/metrics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from test_api import ARTICLE, api_settings, error_of, running_server
from test_api_meta import parse_metrics

from service.api import create_app
from service.api.admission import admission
from service.jobs.store import JobState, MemoryJobStore, Priority


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


def refused(response: httpx.Response, status: int, code: str) -> dict:
    error = error_of(response, status, code)
    assert int(response.headers["retry-after"]) == error["retry_after_s"] >= 1
    return error


def test_a_tenant_past_its_queued_jobs_gets_429_and_others_go_on(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    settings = api_settings(tmp_path, api_keys="a:ka,b:kb", max_queued_per_tenant=2)
    client = TestClient(create_app(settings, store))
    for _ in range(2):
        assert client.post("/v1/jobs", json=ARTICLE, headers={"X-API-Key": "ka"}).status_code == 202
    error = refused(
        client.post("/v1/jobs", json=ARTICLE, headers={"X-API-Key": "ka"}), 429, "tenant_queue_full"
    )
    assert (error["limit"], error["size"]) == (2, 2)
    error = refused(
        client.post("/v1/translate", json=ARTICLE, headers={"X-API-Key": "ka"}),
        429,
        "tenant_queue_full",
    )
    assert store.counts()["queued"] == 2  # nothing was queued for the refusals
    assert client.post("/v1/jobs", json=ARTICLE, headers={"X-API-Key": "kb"}).status_code == 202


def test_a_full_service_answers_503(tmp_path: Path, store: MemoryJobStore) -> None:
    client = TestClient(create_app(api_settings(tmp_path, max_queued=3), store))
    for _ in range(3):
        assert client.post("/v1/jobs", json=ARTICLE).status_code == 202
    error = refused(client.post("/v1/jobs", json=ARTICLE), 503, "queue_full")
    assert (error["limit"], error["size"]) == (3, 3)
    store.claim("w")  # a worker takes one: there is room again
    assert client.post("/v1/jobs", json=ARTICLE).status_code == 202


def test_submissions_past_the_rate_get_429_until_the_minute_has_passed(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    settings = api_settings(tmp_path, api_keys="a:ka,b:kb", rate_per_minute=3)
    app = create_app(settings, store)
    client = TestClient(app)
    now = [1000.0]
    admission(app).rate._clock = lambda: now[0]
    ka, kb = {"X-API-Key": "ka"}, {"X-API-Key": "kb"}
    for _ in range(3):
        assert client.post("/v1/jobs", json=ARTICLE, headers=ka).status_code == 202
        now[0] += 10
    error = refused(client.post("/v1/jobs", json=ARTICLE, headers=ka), 429, "rate_limited")
    assert (error["limit"], error["size"], error["retry_after_s"]) == (3, 3, 30)
    # Refused before the body is read: an unreadable body changes nothing.
    junk = {**ka, "Content-Type": "application/json"}
    refused(client.post("/v1/jobs", content=b"{", headers=junk), 429, "rate_limited")
    assert client.get("/v1/jobs", headers=ka).status_code == 200  # reads are not counted
    assert client.post("/v1/jobs", json=ARTICLE, headers=kb).status_code == 202  # per tenant
    assert store.counts()["queued"] == 4
    now[0] += 31  # the first submission left the window
    assert client.post("/v1/jobs", json=ARTICLE, headers=ka).status_code == 202


def test_translate_refuses_at_once_when_the_queue_ahead_outlasts_its_timeout(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    settings = api_settings(tmp_path, sync_timeout_s=1.0, sync_job_s=0.4, claim_limit=1)
    client = TestClient(create_app(settings, store))
    for _ in range(3):  # 3 jobs of 0.4 s each, leased one at a time: 1.2 s > 1 s
        store.submit({"n": 1}, priority=Priority.INTERACTIVE)
    store.submit({"n": 2}, priority=Priority.BATCH)  # batch jobs wait behind interactive ones
    started = time.monotonic()
    error = refused(client.post("/v1/translate", json=ARTICLE), 503, "overloaded")
    assert time.monotonic() - started < 0.5
    assert (error["limit"], error["size"], error["waiting"]) == (1.0, 1.2, 3)
    assert error["retry_after_s"] == 1
    assert store.counts()["queued"] == 4  # refused before anything was queued
    store.claim("w", interactive_only=True)  # 2 left ahead: 0.8 s, within the timeout
    error = error_of(client.post("/v1/translate", json=ARTICLE), 504, "timeout")
    assert store.get(error["job_id"]).state is JobState.CANCELLED


def test_the_estimate_learns_from_the_jobs_it_waited_for(tmp_path: Path) -> None:
    from service.api.admission import RunTime

    run_time = RunTime(2.0)
    for _ in range(20):
        run_time.observe(10.0)
    assert run_time.job_s == pytest.approx(10.0, abs=0.01)
    assert run_time.wait_s(waiting=9, per_claim=4) == pytest.approx(30.0, abs=0.1)
    assert run_time.wait_s(waiting=0, per_claim=4) == 0  # nothing ahead: never refused


def test_a_translate_job_whose_client_times_out_stops_running(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    client = TestClient(create_app(api_settings(tmp_path, sync_timeout_s=0.5), store))
    leases = []
    claimer = threading.Timer(0.2, lambda: leases.extend(store.claim("w")))
    claimer.start()
    error = error_of(client.post("/v1/translate", json=ARTICLE), 504, "timeout")
    [lease] = leases
    job = store.get(error["job_id"])
    assert job.state is JobState.RUNNING and job.cancel_requested
    assert store.renew(lease.job.id, lease.token) is False  # the worker stops at its next renewal
    assert store.finish_cancelled(lease.job.id, lease.token)


def test_a_client_that_hangs_up_gets_its_job_cancelled(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    app = create_app(api_settings(tmp_path, sync_timeout_s=30), store)
    with running_server(app) as base:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{base}/v1/translate", json=ARTICLE, timeout=0.5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and store.counts()["cancelled"] == 0:
            time.sleep(0.05)
    [job] = store.list()
    assert job.state is JobState.CANCELLED  # long before the 30 s timeout


def test_requests_waiting_when_the_server_stops_get_503_and_their_job_cancelled(
    tmp_path: Path, store: MemoryJobStore
) -> None:
    app = create_app(api_settings(tmp_path, sync_timeout_s=30), store)
    client = TestClient(app)
    stopper = threading.Timer(0.3, lambda: setattr(admission(app), "stopping", True))
    stopper.start()
    started = time.monotonic()
    error = refused(client.post("/v1/translate", json=ARTICLE), 503, "shutting_down")
    assert time.monotonic() - started < 2
    assert store.get(error["job_id"]).state is JobState.CANCELLED
    refused(client.post("/v1/translate", json=ARTICLE), 503, "shutting_down")
    assert store.counts()["queued"] == 0
    # Batch submissions are still taken: they are durable and run after the restart.
    assert client.post("/v1/jobs", json=ARTICLE).status_code == 202


def test_metrics_count_refusals_by_reason(tmp_path: Path, store: MemoryJobStore) -> None:
    settings = api_settings(tmp_path, max_queued=1, sync_timeout_s=0.2)
    client = TestClient(create_app(settings, store))
    before = parse_metrics(client.get("/metrics").text)
    assert before['passeur_refusals_total{reason="queue_full"}'] == 0
    error_of(client.post("/v1/translate", json=ARTICLE), 504, "timeout")
    client.post("/v1/jobs", json=ARTICLE)
    for _ in range(2):
        client.post("/v1/jobs", json=ARTICLE)
    m = parse_metrics(client.get("/metrics").text)
    assert m['passeur_refusals_total{reason="queue_full"}'] == 2
    assert m['passeur_refusals_total{reason="timeout"}'] == 1
    assert m['passeur_refusals_total{reason="rate_limited"}'] == 0
    reasons = {k for k in m if k.startswith("passeur_refusals_total")}
    assert len(reasons) == 6


def test_the_batch_script_waits_out_a_429_instead_of_failing_the_article() -> None:
    from service.batch.remote import RemoteOptions, _Client

    answers = [
        httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"code": "x"}}),
        httpx.Response(503, headers={"Retry-After": "0"}, json={"error": {"code": "y"}}),
        httpx.Response(202, json={"id": "j1"}),
    ]
    client = _Client(RemoteOptions(server="http://api"))
    client.http = httpx.Client(
        base_url="http://api", transport=httpx.MockTransport(lambda request: answers.pop(0))
    )
    started = time.monotonic()
    assert client.call("POST", "/v1/jobs", json={}).status_code == 202
    assert time.monotonic() - started < 0.2  # Retry-After: 0 is taken at its word
    assert answers == []
