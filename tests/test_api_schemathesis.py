"""Schemathesis against the live app, in process (ASGI, no socket, no network), on a SQLite
store with the fake worker answering ``/v1/translate``: every phase (examples, coverage,
fuzzing, stateful links) and every check, a bounded number of examples per operation.

Two built-in checks are swapped for what this API promises instead:

- ``positive_data_acceptance`` expects every schema-valid request to be accepted. Two
  refusals depend on the server, not on the request's shape, so no schema can say them:
  a language no registry model translates (422 ``unsupported_language``) and an article
  over the server's character limits (422 ``text_too_long``). Two more depend on what a
  parser makes of a Markdown or HTML document, which no JSON Schema can say either: no text
  outside code and markup (422 ``empty_document``), nesting past the parser's depth (422
  ``document_too_deep``); the schema's ``format`` description names both.
  :func:`positive_data_accepted` allows those four codes and nothing else.
- ``use_after_free`` expects a DELETE to remove the resource. ``DELETE /v1/jobs/{id}``
  cancels the job, which stays readable as ``cancelled`` (README, "API").
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import events, from_schema
from test_api import FakeWorker, api_settings

from service.api import create_app
from service.jobs.store import SQLiteJobStore, StoreOptions

EXAMPLES = 50  # per operation and phase; the whole run takes about 10 s on one core
# Refusals of schema-valid requests that depend on the server's registry and limits.
SERVER_SIDE_422 = {"unsupported_language", "text_too_long"}
# Refusals of schema-valid documents that only parsing them can tell.
PARSER_SIDE_422 = {"empty_document", "document_too_deep"}


@schemathesis.check
def positive_data_accepted(ctx: Any, response: Any, case: Any) -> None:
    """A schema-valid request is accepted, unless the server's registry or limits refuse
    it (:data:`SERVER_SIDE_422`), its document parses to nothing to translate
    (:data:`PARSER_SIDE_422`), it reuses an Idempotency-Key (409), names no job (404) or
    meets the admission limits (429)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status < 300 or status in (404, 409, 429):
        return
    code = None
    if status == 422:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if code in SERVER_SIDE_422 | PARSER_SIDE_422:
            return
    raise AssertionError(f"schema-valid request refused: {status} {code or ''}".strip())


def run_schemathesis(app: Any, seed: int, examples: int) -> tuple[list[str], dict[str, int]]:
    """Run every phase against ``app``; returns the failures (one per operation, check and
    kind, with the curl command that reproduces it) and the checks run per check name."""
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "generation": {"max-examples": examples},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"enabled": False},
                "use_after_free": {"enabled": False},
            },
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    failures: dict[tuple[str, str, str], str] = {}
    checked: dict[str, int] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for results in event.recorder.checks.values():
                for result in results:
                    checked[result.name] = checked.get(result.name, 0) + 1
                    info = result.failure_info
                    if info is not None:
                        key = (str(event.label), result.name, info.failure.title)
                        failures.setdefault(
                            key,
                            f"{key[0]} [{key[1]}] {info.failure.title}: "
                            f"{info.failure.message.strip()}\n    {info.code_sample}",
                        )
        elif isinstance(event, events.NonFatalError):
            # An exception out of the app (the in-process client raises it; a server
            # would answer 500), or a schema schemathesis cannot use.
            failures[("error", event.label, repr(event.value))] = (
                f"{event.label}: {event.value!r} (phase {event.phase})"
            )
        elif isinstance(event, events.FatalError):
            failures[("fatal", "", repr(event.exception))] = f"fatal: {event.exception!r}"
    return list(failures.values()), checked


@pytest.mark.timeout(180)
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path / "jobs.db", StoreOptions())
    # No rate limit: the run sends hundreds of submissions a minute from one client.
    app = create_app(api_settings(tmp_path, sync_timeout_s=5.0, rate_per_minute=0), store)
    seed = random.randrange(2**32)
    started = time.monotonic()
    try:
        # A few ms between the fake worker's progress writes: back to back, on a machine
        # busy with the rest of the suite, they kept the API's writes off the SQLite lock
        # past its 10 s busy timeout ('database is locked').
        with FakeWorker(store, step_s=0.005):
            failures, checked = run_schemathesis(app, seed, EXAMPLES)
    finally:
        store.close()
    elapsed = time.monotonic() - started
    assert not failures, f"seed {seed}, {elapsed:.0f} s:\n" + "\n".join(failures)
    # The run did what it says: these checks saw many answers.
    for name in ("not_a_server_error", "status_code_conformance", "positive_data_accepted"):
        assert checked.get(name, 0) >= 50, (name, checked)
