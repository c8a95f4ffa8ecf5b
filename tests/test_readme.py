"""The README's quick start, run: every command line of the ```sh blocks under its
"Quick start" heading, in order, as LitServe runs the code blocks of its README. A line no
rule below knows fails the test, so a new quick-start command comes with a way to check it.

How each line runs offline (:meth:`QuickStart.run`):

- ``make test`` is not run (it runs this suite): it must be the Makefile's target that runs
  pytest, and ``.ci/run``'s last command (``test_ci_runs_the_quick_start_test_command``).
- ``make install``: the Makefile's target, and its virtual environment is the one running
  these tests (re-running it would reinstall from the network).
- ``make demo``: run, without the hub: it must stop within seconds, plainly
  (``hub_unreachable``), before translating, as the README says.
- ``. .venv/bin/activate``: the script exists; ``passeur`` is on the PATH only after it.
- ``passeur models pull ...``: run without the hub: exit 2, ``hub_unreachable``, within 5 s.
- ``passeur serve ...``: started in the background; stopped at the end with Ctrl-C
  (SIGINT to its process group, as a terminal sends it), which must end it cleanly.
- ``curl ...``: run against that server once ``/readyz`` answers 200 (what the README tells
  the reader to wait for): exit 0, a status under 400, a JSON body with no ``error`` and
  no failed job. With no curl binary, httpx sends the same method, headers, body and URL.
- any other ``passeur ...`` line: run for real; it must exit 0.

What the test changes, and nothing else (the command lines run as written):

- :data:`STAND_INS`: the registry's default models are the tiny random-weight folders of
  conftest (``tiny_marian``, ``tiny_bart``), named as a user names local folders
  (``PASSEUR_TRANSLATION_MODEL``, ``PASSEUR_SUMMARY_MODEL``); a line that names a registry
  model or its hub id gets the folder in its place.
- :data:`README_PORT` (8000, the default port) becomes a free port: ``PASSEUR_PORT`` for
  ``serve`` (or its ``--port`` value), and in the ``curl`` URLs.
- "Without the hub": ``HF_ENDPOINT`` is a closed port on loopback, ``HF_HUB_OFFLINE=0``,
  and the model cache is an empty folder. Every other run has ``HF_HUB_OFFLINE=1`` and the
  same empty cache, so nothing real is ever read or downloaded.
- ``PASSEUR_BEAM=1`` and ``PASSEUR_THREADS=1`` for speed, and for ``serve``
  ``PASSEUR_LOG_LEVEL=WARNING`` and ``PASSEUR_STOP_GRACE_S=10``.
- The lines run in a scratch folder holding a link to ``samples/`` (``out/``, ``data/``
  land there); ``make`` runs in the checkout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, SAMPLES

README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
README_PORT = 8000
HUB_BOUND_S = 5.0  # the README's "within seconds", start-up included
STAND_INS = {
    # registry name and hub id -> (settings variable, conftest fixture standing in for it)
    "opus-mt-fr-en": ("PASSEUR_TRANSLATION_MODEL", "tiny_marian"),
    "Helsinki-NLP/opus-mt-fr-en": ("PASSEUR_TRANSLATION_MODEL", "tiny_marian"),
    "distilbart-cnn-12-6": ("PASSEUR_SUMMARY_MODEL", "tiny_bart"),
    "sshleifer/distilbart-cnn-12-6": ("PASSEUR_SUMMARY_MODEL", "tiny_bart"),
}


def quick_start_lines(readme: str) -> list[str]:
    """The command lines of the ```sh blocks between "## Quick start" and the next "## "
    heading: continuation lines joined, comment-only and blank lines left out."""
    parts = re.split(r"^## Quick start\n", readme, maxsplit=1, flags=re.M)
    assert len(parts) == 2, "the README has no '## Quick start' heading"
    section = re.split(r"^## ", parts[1], maxsplit=1, flags=re.M)[0]
    lines: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M):
        pending = ""
        for raw in block.splitlines():
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            line, pending = (pending + raw).strip(), ""
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def makefile_recipe(target: str) -> list[str]:
    """The recipe lines of a Makefile target; an AssertionError when there is none."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"{re.escape(target)}\s*:(?!=)", line):
            recipe = []
            for following in lines[index + 1 :]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return recipe
    raise AssertionError(f"the Makefile has no `{target}` target")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class QuickStart:
    """Runs quick-start lines one after another, keeping what a reader's shells keep: the
    activated environment and the server started in the first terminal."""

    workdir: Path
    models: dict[str, Path]  # conftest fixture name -> folder
    venv_bin: Path = field(default_factory=lambda: Path(sys.executable).parent)
    port: int = field(default_factory=_free_port)
    activated: bool = False
    server: subprocess.Popen | None = None
    ready: bool = False

    # -- environment ----------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
        path = [p for p in path if Path(p).resolve() != self.venv_bin.resolve()]
        if self.activated:
            path.insert(0, str(self.venv_bin))
        env = {
            **{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
            "PATH": os.pathsep.join(path),
            "HF_HUB_OFFLINE": "1",
            "PASSEUR_CACHE_DIR": str(self.workdir / "empty-cache"),
            "PASSEUR_BEAM": "1",
            "PASSEUR_THREADS": "1",
            **{variable: str(self.models[name]) for variable, name in STAND_INS.values()},
            **extra,
        }
        if self.activated:
            env["VIRTUAL_ENV"] = str(self.venv_bin.parent)
        return env

    def without_hub(self) -> dict[str, str]:
        return self.env(HF_ENDPOINT=f"http://127.0.0.1:{_free_port()}", HF_HUB_OFFLINE="0")

    def stand_in(self, arg: str) -> str:
        if arg in STAND_INS:
            return str(self.models[STAND_INS[arg][1]])
        return arg

    # -- one line ---------------------------------------------------------------------------

    def run(self, line: str) -> None:
        argv = shlex.split(line, comments=True)
        assert argv, f"not a command: {line!r}"
        if argv[0] == "make":
            self.make(argv[1:], line)
        elif argv[0] in (".", "source"):
            self.activate(argv[1:], line)
        elif argv[0] == "passeur":
            self.passeur(argv, line)
        elif argv[0] == "curl":
            self.curl(argv, line)
        else:
            raise AssertionError(f"no rule to run this quick-start line offline: {line!r}")

    def make(self, targets: list[str], line: str) -> None:
        assert targets and all(re.fullmatch(r"[a-z][\w-]*", t) for t in targets), line
        for target in targets:
            recipe = makefile_recipe(target)
            if target == "test":
                assert any("pytest" in step for step in recipe), recipe
            elif target == "install":
                assert (self.venv_bin / "passeur").exists(), "make install did not run here"
            elif target == "demo":
                self.make_demo(recipe)
            else:
                raise AssertionError(f"no rule to check `make {target}` offline: {line!r}")

    def make_demo(self, recipe: list[str]) -> None:
        """The README: it pulls the default models, then translates samples/; without the
        hub it stops within seconds, saying so."""
        pull = [i for i, step in enumerate(recipe) if "passeur models pull" in step]
        translate = [i for i, step in enumerate(recipe) if "passeur translate samples/" in step]
        assert pull and translate and pull[0] < translate[0], recipe
        if shutil.which("make") is None:
            return  # the recipe is checked; there is nothing here to run it with
        venv = self.venv_bin.parent
        started = time.monotonic()
        proc = subprocess.run(
            # -o: the environment as installed, whatever the stamp's date (no reinstall).
            ["make", "--no-print-directory", "demo", f"VENV={venv}", "-o", f"{venv}/.installed"],
            cwd=ROOT,
            env=self.without_hub(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        seconds = time.monotonic() - started
        assert proc.returncode != 0 and seconds <= HUB_BOUND_S, (seconds, proc.stderr)
        assert proc.stderr.count("[hub_unreachable]") == 1, proc.stderr
        assert "passeur translate" not in proc.stdout  # stopped at the pull

    def activate(self, args: list[str], line: str) -> None:
        assert args == [".venv/bin/activate"], f"activate the environment make made: {line!r}"
        assert "VENV ?= .venv" in MAKEFILE.read_text(encoding="utf-8")
        assert (self.venv_bin / "activate").is_file()
        self.activated = True

    def passeur(self, argv: list[str], line: str) -> None:
        assert self.activated, f"`passeur` is on the PATH only once activated: {line!r}"
        argv = [self.stand_in(arg) for arg in argv]
        if argv[1:3] == ["models", "pull"]:
            self.pull_without_hub(argv, line)
        elif argv[1:2] == ["serve"]:
            self.start_server(argv, line)
        else:
            proc = subprocess.run(
                argv, cwd=self.workdir, env=self.env(), capture_output=True, text=True, timeout=180
            )
            assert proc.returncode == 0, f"{line}\nexit {proc.returncode}\n{proc.stderr}"
            if argv[1:2] == ["translate"]:
                assert re.search(r"\b[1-9]\d* translated, 0 failed", proc.stderr), proc.stderr
                if "--out" not in argv:
                    assert proc.stdout.strip(), f"{line}: nothing on stdout"

    def pull_without_hub(self, argv: list[str], line: str) -> None:
        started = time.monotonic()
        proc = subprocess.run(
            argv, cwd=self.workdir, env=self.without_hub(), capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        seconds = time.monotonic() - started
        assert proc.returncode == 2, f"{line}\nexit {proc.returncode}\n{proc.stderr}"
        assert seconds <= HUB_BOUND_S, f"{line}: {seconds:.1f} s without the hub"
        assert proc.stderr.startswith("passeur: error [hub_unreachable]: "), proc.stderr
        assert len(proc.stderr.splitlines()) == 1, proc.stderr  # one plain line, no traceback

    def start_server(self, argv: list[str], line: str) -> None:
        assert self.server is None, f"a second server: {line!r}"
        from service.settings import Settings

        assert Settings.model_fields["port"].default == README_PORT
        extra = {"PASSEUR_LOG_LEVEL": "WARNING", "PASSEUR_STOP_GRACE_S": "10"}
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(self.port)
        else:
            extra["PASSEUR_PORT"] = str(self.port)
        log = (self.workdir / "serve.log").open("wb")
        self.server = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=self.env(**extra),
            start_new_session=True,  # its own process group, as a terminal gives it
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def server_log(self) -> str:
        return (self.workdir / "serve.log").read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        assert self.server is not None, "a curl line before `passeur serve`"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.server.poll() is None, f"passeur serve exited:\n{self.server_log()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz").status_code == 200:
                    self.ready = True
                    return
            time.sleep(0.2)
        raise AssertionError(f"/readyz never answered 200:\n{self.server_log()}")

    def curl(self, argv: list[str], line: str) -> None:
        if not self.ready:
            self.wait_ready()
        local = re.compile(rf"^((?:https?://)?(?:localhost|127\.0\.0\.1)):{README_PORT}\b")
        argv = [local.sub(rf"\g<1>:{self.port}", arg) for arg in argv]
        if shutil.which("curl"):
            proc = subprocess.run(
                [*argv, "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=60
            )
            assert proc.returncode == 0, f"{line}\nexit {proc.returncode}\n{proc.stderr}"
            body, _, status = proc.stdout.rpartition("\n")
        else:
            answer = send_like_curl(argv)
            body, status = answer.text, str(answer.status_code)
        assert int(status) < 400, f"{line}\nHTTP {status}: {body}"
        data = json.loads(body)
        assert data.get("error") is None, f"{line}\n{body}"
        assert data.get("state") not in ("failed", "dead", "cancelled"), f"{line}\n{body}"

    def stop_server(self) -> None:
        """Ctrl-C, as the README says: SIGINT to the process group, a clean exit."""
        if self.server is None:
            return
        os.killpg(self.server.pid, signal.SIGINT)
        try:
            code = self.server.wait(30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.server.pid, signal.SIGKILL)
        assert code == 0, f"passeur serve exited {code} on Ctrl-C:\n{self.server_log()}"
        self.server = None


def send_like_curl(argv: list[str]) -> httpx.Response:
    """The request a curl line makes (``-s``, ``-X``, ``-H``, ``-d`` and the URL), sent
    with httpx where there is no curl binary."""
    method, headers, data, url = None, {}, None, None
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-s", "--silent"):
            continue
        if arg in ("-X", "--request"):
            method = next(args)
        elif arg in ("-H", "--header"):
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data"):
            data = next(args)
        elif arg.startswith("-"):
            raise AssertionError(f"curl option {arg} has no httpx rule here")
        else:
            url = arg if "://" in arg else f"http://{arg}"
    assert url, argv
    method = method or ("POST" if data is not None else "GET")
    return httpx.request(method, url, headers=headers, content=data, timeout=60)


@pytest.fixture
def quick_start(tmp_path: Path, tiny_marian: Path, tiny_bart: Path) -> Iterator[QuickStart]:
    (tmp_path / "samples").symlink_to(SAMPLES, target_is_directory=True)
    runner = QuickStart(tmp_path, {"tiny_marian": tiny_marian, "tiny_bart": tiny_bart})
    try:
        yield runner
    finally:
        if runner.server is not None and runner.server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(runner.server.pid, signal.SIGKILL)
            runner.server.wait(10)


LINES = quick_start_lines(README.read_text(encoding="utf-8"))


def test_the_quick_start_has_the_path_through() -> None:
    """Set-up, models, a translation, the server and a call to it, the tests."""
    starts = [" ".join(shlex.split(line, comments=True)[:2]) for line in LINES]
    for wanted in ("make test", "make demo", "passeur models", "passeur translate"):
        assert wanted in starts, (wanted, LINES)
    assert "passeur serve" in starts and "curl -s" in starts, LINES


def test_ci_runs_the_quick_start_test_command() -> None:
    """`.ci/run` ends with the README's test command, so CI runs what the README shows."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1].strip() in [" ".join(shlex.split(line, comments=True)) for line in LINES]


def test_every_quick_start_command_runs(quick_start: QuickStart) -> None:
    for line in LINES:
        quick_start.run(line)
    # A check that cannot fail is no check: the last curl line, its path broken, must fail.
    curl = [line for line in LINES if line.startswith("curl ")][-1]
    broken = re.sub(rf"(:{README_PORT}/\S*?)(\s|'|$)", r"\1x\2", curl, count=1)
    assert broken != curl
    with pytest.raises(AssertionError):
        quick_start.run(broken)
    quick_start.stop_server()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("passeur translate", "passeur translate --formats jsonl"),
        ("passeur models pull", "passeur models pull --no-such-flag"),
        ("make test", "make tests"),
        ("make demo", "make demos"),
        (". .venv/bin/activate", ". venv/bin/activate"),
    ],
    ids=["translate-flag", "pull-flag", "make-target", "demo-target", "activate-path"],
)
def test_a_quick_start_line_edited_into_one_that_fails_is_caught(
    quick_start: QuickStart, old: str, new: str
) -> None:
    """The check can fail: each README line, edited as a slip would edit it, fails it."""
    line = next(line for line in LINES if line.startswith(old))
    quick_start.activated = True
    with pytest.raises(AssertionError):
        quick_start.run(line.replace(old, new, 1))
