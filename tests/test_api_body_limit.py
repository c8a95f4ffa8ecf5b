"""The body limit is enforced while the body is read: the middleware's own bookkeeping, and a
real uvicorn server whose memory is measured while it refuses a 20 MiB chunked upload."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT
from fastapi.testclient import TestClient
from test_api import api_settings

from service.api import create_app
from service.api.body_limit import BodyLimitMiddleware
from service.jobs.store import MemoryJobStore

LIMIT = 1024 * 1024
CHUNK = 64 * 1024


async def _drive(
    middleware: BodyLimitMiddleware, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
):
    """Run one request through ``middleware``; returns (status, body, chunks pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > len(chunks):
            return {"type": "http.disconnect"}
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await middleware(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, pulled


async def _reads_everything(scope: Any, receive: Any, send: Any) -> None:
    """An application that reads the whole body, then answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_a_chunked_body_is_cut_at_the_first_chunk_over_the_limit() -> None:
    chunks = [b"x" * CHUNK] * 320  # 20 MiB
    status, body, pulled = asyncio.run(
        _drive(BodyLimitMiddleware(_reads_everything, LIMIT), chunks, [])
    )
    assert status == 413
    error = json.loads(body)["error"]
    assert error["code"] == "body_too_large" and error["limit"] == LIMIT
    assert error["size"] == LIMIT + CHUNK
    assert pulled == LIMIT // CHUNK + 1


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    headers = [(b"content-length", str(20 * LIMIT).encode())]
    status, body, pulled = asyncio.run(
        _drive(BodyLimitMiddleware(_reads_everything, LIMIT), [b"x"], headers)
    )
    assert (status, pulled) == (413, 0)
    assert json.loads(body)["error"]["size"] == 20 * LIMIT


def test_a_body_of_exactly_the_limit_goes_through() -> None:
    chunks = [b"x" * CHUNK] * (LIMIT // CHUNK)
    status, body, _ = asyncio.run(_drive(BodyLimitMiddleware(_reads_everything, LIMIT), chunks, []))
    assert (status, body) == (200, str(LIMIT).encode())


def test_the_api_answers_413_for_a_2_mib_body(tmp_path: Path) -> None:
    client = TestClient(create_app(api_settings(tmp_path), MemoryJobStore()))
    body = json.dumps({"text": "a" * (2 * LIMIT)})
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["limit"], error["size"]) == ("body_too_large", LIMIT, len(body))


# -- a real server ----------------------------------------------------------------

SERVER = """
import socket, sys, uvicorn
from service.api import create_app
from service.settings import Settings
from service.jobs.store import MemoryJobStore

app = create_app(Settings(max_body_bytes=int(sys.argv[1]), api_keys=""), MemoryJobStore())
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(64)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
"""


class Server:
    """``service.api`` under uvicorn in a child process, so its memory is its own."""

    def __init__(self, max_body_bytes: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(max_body_bytes)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        for _ in range(200):
            try:
                if httpx.get(self.url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def memory_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def reset_peak(self) -> None:
        """Reset the peak RSS (VmHWM) so that it measures from now on."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _chunked_json(total: int) -> Iterator[bytes]:
    """A JSON body of ``total`` bytes, sent in 64 KiB chunks with no Content-Length."""
    yield b'{"text": "'
    for _ in range(total // CHUNK):
        yield b"a" * CHUNK
    yield b'"}'


def _peak_growth_kib(server: Server, total: int) -> tuple[int, int | None]:
    """Warm the server up, then upload ``total`` bytes chunked: (peak RSS growth, status)."""
    for size in (10, LIMIT - 100):  # the first requests allocate what every request needs
        httpx.post(server.url + "/v1/jobs", json={"text": "a" * size}, timeout=30)
    server.reset_peak()
    before = server.memory_kib("VmHWM")
    status = None
    try:
        response = httpx.post(
            server.url + "/v1/jobs",
            content=_chunked_json(total),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        status = response.status_code
    except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
        pass  # the server may close the connection before the client has read the 413
    return server.memory_kib("VmHWM") - before, status


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    limited, unlimited = Server(LIMIT), Server(64 * LIMIT)
    yield limited, unlimited
    limited.stop()
    unlimited.stop()


def test_a_20_mib_chunked_upload_is_refused_without_the_server_growing(
    servers: tuple[Server, Server],
) -> None:
    limited, _ = servers
    growth, status = _peak_growth_kib(limited, 20 * LIMIT)
    assert status in (413, None)
    assert growth < 4 * 1024, f"the server's peak memory grew by {growth} KiB"
    # Refused up front when the length is declared, and the server serves on.
    response = httpx.post(
        limited.url + "/v1/jobs",
        content=b"x" * (2 * LIMIT),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    assert httpx.get(limited.url + "/healthz").status_code == 200


def test_the_measurement_sees_a_body_that_is_buffered(servers: tuple[Server, Server]) -> None:
    """The control: with a limit above the upload, the same measurement sees the body held."""
    _, unlimited = servers
    growth, status = _peak_growth_kib(unlimited, 20 * LIMIT)
    assert status == 422  # read whole, then refused as too long a text
    assert growth > 15 * 1024
