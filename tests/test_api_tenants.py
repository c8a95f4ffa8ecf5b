"""Each API key is a tenant: its jobs, lists, cancels and Idempotency-Keys are its own; the
admin key sees all; without keys the API stays open. And the key check itself: before the
body is read, one trimming rule for both headers, two different keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_api import ARTICLE, api_settings, error_of

from service.api import create_app
from service.jobs.store import MemoryJobStore

KEYS = "k1,bob:k2,bob:k2-new"
ADMIN = "root-key"


def key(value: str) -> dict[str, str]:
    return {"X-API-Key": value}


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
def client(tmp_path: Path, store: MemoryJobStore) -> TestClient:
    settings = api_settings(tmp_path, api_keys=KEYS, admin_key=ADMIN)
    return TestClient(create_app(settings, store))


def submit(client: TestClient, api_key: str, **headers: str) -> str:
    response = client.post("/v1/jobs", json=ARTICLE, headers={**key(api_key), **headers})
    assert response.status_code in (200, 202), response.text
    return response.json()["id"]


def test_another_tenants_job_is_not_found_for_reads_and_cancels(
    client: TestClient, store: MemoryJobStore
) -> None:
    mine = submit(client, "k1")
    assert client.get(f"/v1/jobs/{mine}", headers=key("k1")).json()["state"] == "queued"
    for method in ("GET", "DELETE"):
        theirs = client.request(method, f"/v1/jobs/{mine}", headers=key("k2"))
        error = error_of(theirs, 404, "job_not_found")
        assert error["message"] == f"no job {mine}"  # the same answer as an unknown id
    assert store.get(mine).state.value == "queued"  # the refused cancel changed nothing
    cancelled = client.delete(f"/v1/jobs/{mine}", headers=key("k1")).json()
    assert cancelled["state"] == "cancelled"


def test_lists_show_the_callers_jobs_and_the_admin_sees_all(client: TestClient) -> None:
    first = submit(client, "k1")
    bobs = [submit(client, "k2"), submit(client, "k2-new")]  # two keys of one named tenant

    def listed(api_key: str) -> list[str]:
        return [j["id"] for j in client.get("/v1/jobs", headers=key(api_key)).json()["jobs"]]

    assert listed("k1") == [first]
    assert listed("k2") == listed("k2-new") == bobs[::-1]
    assert sorted(listed(ADMIN)) == sorted([first, *bobs])
    job = client.get(f"/v1/jobs/{first}", headers=key(ADMIN)).json()
    assert job["tenant"].startswith("key-") and "k1" not in job["tenant"]
    assert client.get(f"/v1/jobs/{bobs[0]}", headers=key("k2")).json()["tenant"] == "bob"
    assert client.delete(f"/v1/jobs/{first}", headers=key(ADMIN)).json()["state"] == "cancelled"


def test_idempotency_keys_are_scoped_to_their_tenant(client: TestClient) -> None:
    same = {"Idempotency-Key": "article-42"}
    alice = client.post("/v1/jobs", json=ARTICLE, headers={**key("k1"), **same})
    other = {**ARTICLE, "text": "Un tout autre article."}
    bob = client.post("/v1/jobs", json=other, headers={**key("k2"), **same})
    assert (alice.status_code, bob.status_code) == (202, 202)  # no 409 across tenants
    assert alice.json()["id"] != bob.json()["id"]
    again = client.post("/v1/jobs", json=other, headers={**key("k2-new"), **same})
    assert again.status_code == 200 and again.json()["id"] == bob.json()["id"]
    error_of(
        client.post("/v1/jobs", json=other, headers={**key("k1"), **same}),
        409,
        "idempotency_conflict",
    )


def test_without_keys_the_api_stays_open_and_shared(tmp_path: Path) -> None:
    client = TestClient(create_app(api_settings(tmp_path), MemoryJobStore()))
    job_id = client.post("/v1/jobs", json=ARTICLE).json()["id"]
    assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [job_id]
    assert client.get(f"/v1/jobs/{job_id}").json()["tenant"] is None


def test_the_admin_key_alone_closes_the_api(tmp_path: Path) -> None:
    client = TestClient(create_app(api_settings(tmp_path, admin_key=ADMIN), MemoryJobStore()))
    error_of(client.get("/v1/jobs"), 401, "unauthorized")
    assert client.get("/v1/jobs", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def test_the_key_is_checked_before_the_body_is_read(client: TestClient) -> None:
    broken = {"Content-Type": "application/json"}
    for path in ("/v1/jobs", "/v1/translate"):
        error_of(client.post(path, content=b"{not json", headers=broken), 401, "unauthorized")
        error_of(
            client.post(path, content=b"{not json", headers={**broken, **key("nope")}),
            401,
            "unauthorized",
        )
        error_of(
            client.post(path, content=b"{not json", headers={**broken, **key("k1")}),
            400,
            "invalid_body",
        )


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": " k1 "},
        {"X-API-Key": "\tk1"},
        {"Authorization": "bearer   k1  "},
        {"Authorization": "BEARER k1"},
        {"Authorization": "Bearer\tk1"},
        {"Authorization": "Basic Zm9v", "X-API-Key": "k1"},  # another scheme is no key
        {"Authorization": "Bearer k1", "X-API-Key": "  k1"},  # the same key twice
    ],
)
def test_both_headers_follow_one_trimming_rule(client: TestClient, headers: dict) -> None:
    assert client.get("/v1/jobs", headers=headers).status_code == 200, headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer k1", "X-API-Key": "wrong"},  # a wrong key does not override
        {"Authorization": "Bearer wrong", "X-API-Key": "k1"},  # nor ride along
        {"Authorization": "Bearer k1", "X-API-Key": "k2"},  # two tenants: which one?
        {"Authorization": "Bearer"},
        {"X-API-Key": "   "},
        {"X-API-Key": "k 1"},
        {"Authorization": "Basic k1"},
    ],
)
def test_two_different_keys_or_no_key_are_refused(client: TestClient, headers: dict) -> None:
    response = client.get("/v1/jobs", headers=headers)
    error = error_of(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    if len(headers) == 2:
        assert "different keys" in error["message"]


def test_a_malformed_key_list_fails_at_start_naming_no_key(tmp_path: Path) -> None:
    from service.errors import ConfigError

    for keys in ("alice:", "admin:secret-1", "bad name:secret-2", "a:x,b:x"):
        with pytest.raises(ConfigError) as caught:
            api_settings(tmp_path, api_keys=keys).api_tenants  # noqa: B018
        assert "secret" not in caught.value.message
