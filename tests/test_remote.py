"""`passeur translate --server URL`: the batch script submitting to a running `passeur
serve` (tiny models, loopback) writes the same records as an in-process run, keeps a
bounded number in flight, and a resumed run never submits an article twice."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
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
from conftest import ROOT
from fastapi import FastAPI

from service.articles import sources_cover_text
from service.batch.remote import RemoteOptions
from service.cli import main
from service.idempotency import idempotency_key

ARTICLES = [
    {"id": "a1", "title": "Grève", "text": "Le trafic est perturbé. Les trains partent en retard."},
    {"id": "a2", "text": "Il pleut sur Paris depuis lundi."},
    {"id": "a3", "text": "Le musée rouvre ses portes le 12 mai."},
    {"id": "a4", "text": "   "},  # refused by the API (422): recorded as failed
    {"id": "a5", "text": "La mairie annonce 1 200 nouveaux logements."},
    {"id": "a2", "text": "Un autre texte sous le même identifiant."},  # duplicate id
    {"id": "a6", "text": "Les écoles ferment plus tôt vendredi."},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_marian: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`passeur serve` with one worker on a SQLite file; its base URL."""
    tmp = tmp_path_factory.mktemp("remote")
    port = _free_port()
    env = {
        **os.environ,
        "PASSEUR_CACHE_DIR": str(tmp / "cache"),
        "PASSEUR_BEAM": "1",
        "PASSEUR_THREADS": "1",
        "PASSEUR_HEARTBEAT_S": "0.5",
        "PASSEUR_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    cmd += ["--store", f"sqlite:///{tmp}/jobs.db", "--translation-model", str(tiny_marian)]
    cmd += ["--summary-mode", "none", "--workers", "1"]
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            assert proc.poll() is None, (tmp / "serve.log").read_text()[-3000:]
            time.sleep(0.25)
        else:
            pytest.fail("passeur serve did not get ready in 90 s")
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the server and its worker
        proc.wait(10)
        log.close()


def _translate(monkeypatch, capsys, tmp_path: Path, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code = main(["translate", "--summary-mode", "none", "--beam", "1", *args])
    return code, capsys.readouterr().err


def _records(path: Path) -> dict[str, dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def _job_count(base: str) -> int:
    return len(httpx.get(f"{base}/v1/jobs", params={"limit": 500}).json()["jobs"])


def test_remote_run_writes_the_records_of_an_in_process_run(
    server: str, tiny_marian: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    source = tmp_path / "articles.jsonl"
    source.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    remote_out, local_out = tmp_path / "remote.jsonl", tmp_path / "local.jsonl"
    jobs_before = _job_count(server)

    code, err = _translate(
        monkeypatch,
        capsys,
        tmp_path,
        str(source),
        "--server",
        server,
        "--max-in-flight",
        "2",
        "--out",
        str(remote_out),
    )
    assert code == 1, err  # two articles failed (empty text, duplicate id)
    assert "5 translated, 2 failed, 0 skipped" in err
    code, err = _translate(
        monkeypatch,
        capsys,
        tmp_path,
        str(source),
        "--translation-model",
        str(tiny_marian),
        "--out",
        str(local_out),
    )
    assert "5 translated, 2 failed" in err

    remote, local = _records(remote_out), _records(local_out)
    assert remote.keys() == local.keys() == {"a1", "a2", "a3", "a4", "a5", "a6"}
    # Same records, field for field; the words may differ where a random-weight model
    # meets another batch composition (its logits are nearly flat), so compare structure.
    for article_id in ("a1", "a3", "a5", "a6"):
        r, lo = remote[article_id], local[article_id]
        assert r.keys() == lo.keys() and r["error"] is None
        for part in ("sentences", "paragraphs"):
            assert [x["source"] for x in r[part]] == [x["source"] for x in lo[part]]
            assert all(x["translation"] for x in r[part])
        assert (r["title"] or {}).get("source") == (lo["title"] or {}).get("source")
        assert r["models"] == lo["models"] and r["source_lang"] == lo["source_lang"]
        text = next(a["text"] for a in ARTICLES if a["id"] == article_id)
        assert sources_cover_text(r, text)
    assert remote["a4"]["error"]["code"] == "empty_text"
    lines = remote_out.read_text(encoding="utf-8").splitlines()
    assert any(
        json.loads(line)["error"]
        == {"code": "duplicate_id", "message": "id 'a2' appears more than once in the input"}
        for line in lines
    )
    assert _job_count(server) == jobs_before + 5  # one job per valid article


def test_resumed_remote_run_never_submits_twice(
    server: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    source = tmp_path / "articles.jsonl"
    articles = [{"id": f"r{n}", "text": f"Le train {n} part à l'heure."} for n in range(6)]
    source.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    jobs_before = _job_count(server)
    code, err = _translate(
        monkeypatch, capsys, tmp_path, str(source), "--server", server, "--out", str(out)
    )
    assert code == 0, err
    assert _job_count(server) == jobs_before + 6

    # A crash after two records, with a torn third line: resume finishes the rest. The
    # four articles submitted again carry the same Idempotency-Key and find their jobs.
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20], encoding="utf-8")
    code, err = _translate(
        monkeypatch,
        capsys,
        tmp_path,
        str(source),
        "--server",
        server,
        "--out",
        str(out),
        "--resume",
    )
    assert code == 0, err
    assert "4 translated, 0 failed, 2 skipped" in err
    assert _records(out).keys() == {a["id"] for a in articles}
    assert len(out.read_text(encoding="utf-8").splitlines()) == 6
    assert _job_count(server) == jobs_before + 6  # nothing submitted twice


class RecordingService:
    """A stand-in for the API that counts the jobs in flight: accepted, and not yet seen
    by the client in a terminal state. A job is running for its first two polls."""

    POLLS_TO_FINISH = 3

    def __init__(self) -> None:
        self.polls: dict[str, int] = {}
        self.in_flight: set[str] = set()
        self.most_in_flight = 0
        self.accepted = 0
        self.lock = threading.Lock()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/jobs", status_code=202)
        def submit(body: dict[str, Any]) -> dict[str, Any]:
            with self.lock:
                self.accepted += 1
                job_id = f"job-{self.accepted}"
                self.polls[job_id] = 0
                self.in_flight.add(job_id)
                self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
            return {"id": job_id, "state": "queued"}

        @app.get("/v1/jobs/{job_id}")
        def job(job_id: str) -> dict[str, Any]:
            with self.lock:
                self.polls[job_id] += 1
                if self.polls[job_id] < self.POLLS_TO_FINISH:
                    return {"id": job_id, "state": "running"}
                self.in_flight.discard(job_id)
            result = {"id": job_id, "source_lang": "fr", "sentences": [], "paragraphs": []}
            return {"id": job_id, "state": "succeeded", "result": result}

        return app


def test_max_in_flight_bounds_the_jobs_on_the_service(tmp_path: Path, monkeypatch, capsys) -> None:
    from test_api import running_server

    service = RecordingService()
    source = tmp_path / "articles.jsonl"
    articles = [{"id": f"m{n}", "text": f"Le train {n} part à l'heure."} for n in range(10)]
    source.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with running_server(service.app()) as url:
        code, err = _translate(
            monkeypatch,
            capsys,
            tmp_path,
            str(source),
            "--server",
            url,
            "--max-in-flight",
            "3",
            "--out",
            str(out),
        )
    assert code == 0, err
    assert "10 translated, 0 failed" in err
    assert service.accepted == 10 and not service.in_flight
    # Never more than 3 jobs on the service at once, and the bound was reached: the run
    # keeps the service busy rather than sending one job at a time.
    assert service.most_in_flight == 3
    assert _records(out).keys() == {a["id"] for a in articles}


def test_remote_flags_are_checked_up_front(tmp_path: Path, monkeypatch, capsys) -> None:
    source = tmp_path / "a.txt"
    source.write_text("Bonjour.", encoding="utf-8")
    code, err = _translate(
        monkeypatch,
        capsys,
        tmp_path,
        str(source),
        "--server",
        "http://127.0.0.1:9",
        "--translation-model",
        "opus-mt-fr-en",
    )
    assert code == 2 and "--translation-model" in err and "--server" in err
    code, err = _translate(monkeypatch, capsys, tmp_path, str(source), "--server", "127.0.0.1:9")
    assert code == 2 and "http://" in err
    with pytest.raises(Exception, match="max-in-flight"):
        RemoteOptions("http://x", max_in_flight=0)


def test_idempotency_key_is_the_article_id_and_the_content_hash() -> None:
    body = {"title": None, "text": "Bonjour.", "source_lang": "fr", "options": {}}
    key = idempotency_key("a1", body)
    assert key.startswith("a1:") and len(key) == 3 + 64
    assert idempotency_key("a1", {**body, "text": "Bonsoir."}) != key
    assert len(idempotency_key("x" * 500, body)) <= 200
