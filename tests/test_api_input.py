"""Text as it reaches the service, at both edges: lone surrogates (JSON's ``"\\ud800"``
escape alone) are 422 ``invalid_text`` with the field and position on every store, never a
500 from an insert or a hash; text that shows nothing is ``empty_text``; option numbers and
booleans are strict; the batch script's inputs get the same code in their error record. A
property test posts arbitrary Unicode, lone surrogates included, and sees no 5xx."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_api import FakeWorker, api_settings, error_of
from test_store_contract import drop_redis_prefix, redis_or_skip

from service.api import create_app
from service.articles import validate_article
from service.batch.io import JsonlWriter, expand_paths, iter_inputs
from service.errors import InvalidText
from service.jobs.store import JobStore, MemoryJobStore, SQLiteJobStore

ROUTES = ("/v1/jobs", "/v1/translate")
JSON = {"Content-Type": "application/json"}


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """An empty store of each backend (Redis: a private prefix, dropped after)."""
    if request.param == "memory":
        yield MemoryJobStore()
        return
    if request.param == "sqlite":
        sqlite = SQLiteJobStore(tmp_path / "jobs.db")
        yield sqlite
        sqlite.close()
        return
    from service.jobs.store.redis import RedisJobStore

    url, prefix = redis_or_skip(), f"passeur-test-{uuid.uuid4().hex[:12]}"
    redis_store = RedisJobStore(url, prefix=prefix)
    yield redis_store
    redis_store.close()
    drop_redis_prefix(url, prefix)


def post_raw(client: TestClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    """POST ``body`` as JSON with every non-ASCII character escaped, so that a lone
    surrogate travels as its ``\\udXXX`` escape (UTF-8 cannot carry it)."""
    content = json.dumps(body, ensure_ascii=True)
    return client.post(path, content=content, headers={**JSON, **headers})


# -- lone surrogates ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("key", [None, "retry-1"])
@pytest.mark.parametrize(
    ("body", "field", "position"),
    [
        ({"text": "Bonjour \ud800."}, "text", 8),
        ({"text": "\udfff"}, "text", 0),
        ({"text": "Bonjour.", "title": "Grève \udc00"}, "title", 6),
    ],
)
def test_a_lone_surrogate_is_422_invalid_text_naming_field_and_position(
    tmp_path: Path,
    store: JobStore,
    path: str,
    key: str | None,
    body: dict[str, str],
    field: str,
    position: int,
) -> None:
    client = TestClient(create_app(api_settings(tmp_path), store))
    headers = {"Idempotency-Key": key} if key else {}
    error = error_of(post_raw(client, path, body, **headers), 422, "invalid_text")
    assert (error["field"], error["position"]) == (field, position)
    assert f"position {position}" in error["message"] and field in error["message"]
    assert store.counts()["queued"] == 0


def test_a_surrogate_pair_is_one_character_and_is_accepted(tmp_path: Path, store: JobStore) -> None:
    client = TestClient(create_app(api_settings(tmp_path), store))
    response = post_raw(
        client, "/v1/jobs", {"text": "Bravo \U0001f600"}, **{"Idempotency-Key": "k"}
    )
    assert response.status_code == 202, response.text
    assert store.get(response.json()["id"]).payload["article"]["text"] == "Bravo \U0001f600"


def test_the_pipeline_refuses_the_same_text_with_the_same_code() -> None:
    """The worker's own check (validate_article), for jobs that reach it some other way."""
    with pytest.raises(InvalidText) as raised:
        validate_article("ab\ud83d", max_chars=100)
    assert raised.value.details == {"field": "text", "position": 2}
    with pytest.raises(InvalidText) as raised:
        validate_article("Bonjour.", "\udc80", max_chars=100)
    assert raised.value.details == {"field": "title", "position": 0}


# -- text that shows nothing ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["\u200b", "\u200c\u200d", " \u2060 \ufeff\n", "\u200e\u00ad\t\u200b", "\u3000"]
)
def test_whitespace_and_zero_width_characters_alone_are_empty_text(
    tmp_path: Path, text: str
) -> None:
    client = TestClient(create_app(api_settings(tmp_path), MemoryJobStore()))
    for path in ROUTES:
        error_of(post_raw(client, path, {"text": text}), 422, "empty_text")


def test_one_visible_character_among_invisible_ones_is_text(tmp_path: Path) -> None:
    store = MemoryJobStore()
    client = TestClient(create_app(api_settings(tmp_path), store))
    response = post_raw(client, "/v1/jobs", {"text": "\u200b a \ufeff", "title": "\u200b\u2060"})
    assert response.status_code == 202, response.text
    # A title that shows nothing is no title, as a blank one is.
    assert store.get(response.json()["id"]).payload["article"]["title"] is None


# -- documents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("html", "\x01Le train\x0b part.\ufffe"),  # lxml refused these: a 500 once
        ("html", "<p>Le train\x00 part.</p>"),
        ("markdown", "Le train\x00 part.\x0c"),
        ("html", "<p " + " ".join(f"a{i}=1" for i in range(3000)) + ">Le train part.</p>"),
    ],
)
def test_control_characters_and_wide_markup_in_a_document_are_accepted(
    tmp_path: Path, fmt: str, text: str
) -> None:
    store = MemoryJobStore()
    client = TestClient(create_app(api_settings(tmp_path), store))
    response = post_raw(client, "/v1/jobs", {"text": text, "format": fmt})
    assert response.status_code == 202, response.text
    assert store.get(response.json()["id"]).payload["article"]["format"] == fmt


@pytest.mark.parametrize(
    ("fmt", "text", "code", "details"),
    [
        (
            "html",
            "<div>" * 300 + "Le train part." + "</div>" * 300,
            "document_too_deep",
            {"limit": 256},
        ),
        ("markdown", ">" * 25 + " Le train part.", "document_too_deep", {"limit": 20}),
        ("html", "<script>alert(1)</script><!-- rien -->", "empty_document", {}),
        ("markdown", "    du code\n\n```\nencore\n```", "empty_document", {}),
        (
            "xml",
            "<p>Le train part.</p>",
            "unknown_format",
            {"accepted": ["text", "markdown", "html"]},
        ),
    ],
)
def test_a_document_nothing_can_be_made_of_is_422_with_its_code(
    tmp_path: Path, fmt: str, text: str, code: str, details: dict[str, Any]
) -> None:
    store = MemoryJobStore()
    client = TestClient(create_app(api_settings(tmp_path), store))
    for path in ROUTES:
        error = error_of(post_raw(client, path, {"text": text, "format": fmt}), 422, code)
        assert details.items() <= error.items(), error
    assert store.counts()["queued"] == 0


# -- strict option types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"bullets": True}, "bullets"),
        ({"bullets": "3"}, "bullets"),
        ({"bullets": 3.5}, "bullets"),
        ({"beam": "2"}, "beam"),
        ({"beam": False}, "beam"),
        ({"drop_unsupported": "true"}, "drop_unsupported"),
        ({"drop_unsupported": 1}, "drop_unsupported"),
        ({"drop_unsupported": 0}, "drop_unsupported"),
    ],
)
def test_option_numbers_and_booleans_are_not_coerced(
    tmp_path: Path, options: dict[str, Any], field: str
) -> None:
    store = MemoryJobStore()
    client = TestClient(create_app(api_settings(tmp_path), store))
    for path in ROUTES:
        response = client.post(path, json={"text": "Bonjour.", "options": options})
        error = error_of(response, 422, "invalid_request")
        assert [e["loc"][-1] for e in error["errors"]] == [field], error
    assert store.counts()["queued"] == 0


def test_a_whole_float_is_that_integer_as_in_json_schema(tmp_path: Path) -> None:
    store = MemoryJobStore()
    client = TestClient(create_app(api_settings(tmp_path), store))
    body = {"text": "Bonjour.", "options": {"bullets": 3.0, "beam": 2, "drop_unsupported": True}}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    options = store.get(response.json()["id"]).payload["options"]
    assert options == {"bullets": 3, "beam": 2, "drop_unsupported": True}
    assert type(options["bullets"]) is int


# -- the batch script's inputs -------------------------------------------------------------


def test_batch_inputs_with_lone_surrogates_become_invalid_text_records(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "text": "Bonjour \ud800."},
        {"id": "b", "text": "Bonjour.", "title": "\udc00 titre"},
        {"id": "c\udfff", "text": "Bonjour."},
        {"id": "d", "text": "Bonjour \U0001f600."},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    # A file name that is not UTF-8 (Latin-1 "café"), as the batch script may be given.
    (tmp_path / "caf\udce9.txt").write_bytes(b"Bonjour.")
    items = {i.id: i for i in iter_inputs(expand_paths([str(tmp_path)]), io.BytesIO())}
    assert set(items) == {"a", "b", "in-3", "d", "caf\ufffd"}
    found = {k: (i.error or {}).get("code") for k, i in items.items()}
    assert found == {"a": "invalid_text", "b": "invalid_text", "in-3": "invalid_text"} | {
        "d": None,
        "caf\ufffd": None,
    }
    assert [(items[k].error or {}).get("field") for k in ("a", "b", "in-3")] == [
        "text",
        "title",
        "id",
    ]
    assert items["a"].error and items["a"].error["position"] == 8
    assert "in.jsonl line 1" in items["a"].error["message"]
    # Every record can be written: the writer's UTF-8 file would refuse a surrogate.
    out = tmp_path / "out.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        writer = JsonlWriter(fh)
        for item in items.values():
            if item.error:
                writer.write(item.failed_result())
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


# -- the property: no input is a 5xx -------------------------------------------------------

# Any code point, lone surrogates included (hypothesis leaves them out unless asked), and
# surrogates alone often enough to meet them in every run.
ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\u200b", "\ufeff", "\x00", " ", "\n", "é", "\U0001f600"]),
)
ANY_TEXT = st.text(ANY_CHAR, max_size=60)
# Markup pieces among any characters: documents that parse into something, or nearly.
MARKUP_TEXT = st.lists(
    st.one_of(
        ANY_CHAR,
        st.sampled_from(["<p>", "</p>", "<b>", "</a>", '<a href="x">', "<!--", "<script>"]),
        st.sampled_from(["*", "`", "[", "](u)", "> ", "- ", "\n\n", "# ", "|", "---\n"]),
    ),
    max_size=30,
).map("".join)
BODIES = st.fixed_dictionaries(
    {"text": st.one_of(ANY_TEXT, MARKUP_TEXT)},
    optional={
        "format": st.one_of(st.sampled_from(["text", "markdown", "html", " HTML "]), ANY_TEXT),
        "title": st.one_of(st.none(), ANY_TEXT),
        "source_lang": st.one_of(st.sampled_from(["fr", "auto", "DE", " en "]), ANY_TEXT),
        "options": st.fixed_dictionaries(
            {},
            optional={
                "bullets": st.one_of(st.integers(-2, 12), st.booleans(), ANY_TEXT),
                "beam": st.one_of(st.integers(0, 17), st.floats(allow_nan=False)),
                "summary_mode": st.one_of(st.sampled_from(["extractive", "none"]), ANY_TEXT),
                "drop_unsupported": st.one_of(st.booleans(), st.integers(0, 1)),
            },
        ),
    },
)


def test_no_unicode_text_makes_the_api_answer_5xx(tmp_path: Path, store: JobStore) -> None:
    client = TestClient(
        create_app(api_settings(tmp_path, sync_timeout_s=5.0), store),
        raise_server_exceptions=False,
    )

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(body=BODIES, path=st.sampled_from(ROUTES), key=st.sampled_from([None, "k1", "k2"]))
    def post_anything(body: dict[str, Any], path: str, key: str | None) -> None:
        headers = {"Idempotency-Key": key} if key else {}
        response = post_raw(client, path, body, **headers)
        assert response.status_code < 500, (response.status_code, response.text, body)
        if has_lone_surrogate(body.get("text")) or has_lone_surrogate(body.get("title")):
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == "invalid_text", response.text

    with FakeWorker(store):
        post_anything()


def has_lone_surrogate(value: object) -> bool:
    """Whether ``value`` keeps a lone surrogate once sent as JSON (where a high surrogate
    escape followed by a low one is one character)."""
    if not isinstance(value, str):
        return False
    try:
        json.loads(json.dumps(value)).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
