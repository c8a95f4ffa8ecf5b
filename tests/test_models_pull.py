"""`passeur models pull` on a machine that cannot reach the Hugging Face hub: one plain
message within seconds (what failed, and how else to get the models), not a minute of
retry warnings; and no hub contact at all when nothing needs downloading."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT

from service.cli import main
from service.hub import hub_problem
from service.registry import COMPLETE_MARKER, Registry

UNREACHABLE = "the Hugging Face hub is not reachable from this machine"
BOUND_S = 5.0  # the bound for giving up on the hub, start-up included


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_hub() -> Iterator[str]:
    """An address that accepts connections and never answers (a hub behind a black hole)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _pull(tmp_path: Path, endpoint: str, *names: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_HUB_OFFLINE": "0",
        "PASSEUR_CACHE_DIR": str(tmp_path / "cache"),
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "models", "pull", *names],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc, time.monotonic() - started


def test_a_refused_connection_stops_the_pull_at_once_with_the_fix(tmp_path: Path) -> None:
    proc, seconds = _pull(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    assert proc.returncode == 2
    assert seconds <= BOUND_S, f"{seconds:.1f} s"
    assert proc.stderr.count(UNREACHABLE) == 1 and "Connection refused" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr  # no retry warnings, no traceback
    assert "then copy its cache folder (models/cache) into" in proc.stderr
    assert str(tmp_path / "cache") in proc.stderr and "--translation-model DIR" in proc.stderr
    assert "passeur models pull distilbart-cnn-12-6 opus-mt-fr-en" in proc.stderr
    # The unpinned entries are said to be optional pairs, not "skipped".
    assert "skipped" not in proc.stdout
    assert "not pulled: opus-mt-de-en, opus-mt-es-en" in proc.stdout
    assert "opus-mt-pt-en (optional language pairs)" in proc.stdout
    # The fallbacks are told apart from the pairs: they serve every language without one.
    assert "m2m100_418M, opus-mt-mul-en (multilingual fallbacks" in proc.stdout
    assert not (tmp_path / "cache").exists()


def test_a_hub_that_never_answers_is_given_up_within_the_bound(
    tmp_path: Path, silent_hub: str
) -> None:
    proc, seconds = _pull(tmp_path, silent_hub, "opus-mt-fr-en")
    assert proc.returncode == 2
    assert seconds <= BOUND_S, f"{seconds:.1f} s"
    assert proc.stderr.count(UNREACHABLE) == 1 and "no answer within 3 s" in proc.stderr
    assert silent_hub in proc.stderr
    assert "Retrying" not in proc.stderr


def test_the_default_hub_with_the_network_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """huggingface.co itself, in this process, where conftest refuses every connection
    that leaves the machine (and a name lookup may fail first)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))
    started = time.monotonic()
    code = main(["models", "pull", "opus-mt-fr-en"])
    seconds = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and seconds <= BOUND_S
    assert err.startswith(f"passeur: error [hub_unreachable]: {UNREACHABLE}: ")
    assert "asked https://huggingface.co" in err and "Retrying" not in err


class _Hub(BaseHTTPRequestHandler):
    status = 200

    def do_HEAD(self) -> None:  # noqa: N802 - the http.server name
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "problem"), [(200, None), (503, "it answered HTTP 503")])
def test_an_answering_hub_is_reachable_unless_it_fails(
    monkeypatch: pytest.MonkeyPatch, status: int, problem: str | None
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    handler = type("Hub", (_Hub,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert hub_problem(endpoint=f"http://127.0.0.1:{server.server_port}") == problem
    finally:
        server.shutdown()
        server.server_close()


def test_hf_hub_offline_is_named() -> None:
    """conftest sets HF_HUB_OFFLINE=1, as serving does: pull says so instead of failing."""
    assert "HF_HUB_OFFLINE is set" in (hub_problem() or "")


def test_nothing_to_download_asks_no_hub(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    silent_hub: str,
) -> None:
    """Models already in the cache (as `make demo` finds them on the second run): pull
    skips them without asking the hub, so it works offline."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", silent_hub)
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))
    registry = Registry.load(ROOT / "models" / "registry.toml", tmp_path / "cache")
    folder = registry.cache_path(registry.entries["opus-mt-fr-en"])
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / COMPLETE_MARKER).write_text("{}\n", encoding="utf-8")
    started = time.monotonic()
    code = main(["models", "pull", "opus-mt-fr-en", "--backend", "transformers"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert time.monotonic() - started < 2.0  # the silent hub would have held it 3 s
    assert f"skipped opus-mt-fr-en: already in {folder}" in out


def test_make_demo_offline_stops_at_once_with_the_message(tmp_path: Path) -> None:
    """`make demo` on a machine without the models and without the hub: the pull step
    fails within seconds with the message, and make stops before translating."""
    venv = Path(sys.executable).parent.parent
    if shutil.which("make") is None or not (venv / "bin" / "passeur").exists():
        pytest.skip("needs make and the project installed in this virtual environment")
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
        "HF_HUB_OFFLINE": "0",
        "PASSEUR_CACHE_DIR": str(tmp_path / "cache"),
    }
    started = time.monotonic()
    proc = subprocess.run(
        # -o: take the environment as installed, whatever the stamp's date.
        ["make", "--no-print-directory", "demo", f"VENV={venv}", "-o", f"{venv}/.installed"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seconds = time.monotonic() - started
    assert proc.returncode != 0 and seconds <= BOUND_S, (seconds, proc.stderr)
    assert proc.stderr.count(UNREACHABLE) == 1
    assert "passeur translate" not in proc.stdout  # make stopped at the pull
