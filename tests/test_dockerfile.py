"""What can be checked of the Dockerfile without Docker: the paths it copies exist and are
not ignored, the commands it runs parse with our CLI, the health check really probes
/healthz, it runs as a non-root user, offline, with torch pinned like the Makefile."""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT
from test_api import api_settings, running_server

from service.api import create_app
from service.cli import build_parser
from service.jobs.store import MemoryJobStore

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, rest = (pending + line).strip().partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def arguments(kind: str) -> list[str]:
    return [rest for keyword, rest in instructions() if keyword == kind]


def exec_form(rest: str) -> list[str]:
    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), rest
    return value


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(p, pat.removeprefix("**/")) or fnmatch.fnmatch(p, pat)
        for p in prefixes
        for pat in patterns
    )


_SHELL_SEPARATOR = re.compile(r"&&|\|\||;|\|")
_SHELL_KEYWORDS = {"then", "else", "do"}


def passeur_commands(shell: str) -> list[list[str]]:
    """The arguments of every ``passeur ...`` command in a RUN line's shell script."""
    found = []
    for segment in _SHELL_SEPARATOR.split(shell):
        words = shlex.split(segment)
        while words and words[0] in _SHELL_KEYWORDS:
            words = words[1:]
        if words and words[0] == "passeur":
            found.append(words[1:])
    return found


def cli_accepts(argv: list[str]) -> str | None:
    """None when ``passeur ARGV`` parses, else argparse's complaint."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        return err.getvalue().strip() or f"exit {exc.code}"
    return None


def test_a_build_argument_picks_a_cpu_or_cuda_base() -> None:
    args = arguments("ARG")
    assert "BASE=cpu" in args
    froms = arguments("FROM")
    stages = {rest.split()[-1] for rest in froms if " AS " in rest.upper()}
    assert {"base-cpu", "base-cuda"} <= stages
    assert froms[0].startswith("python:3.11-slim") and "nvidia/cuda:" in froms[1]
    assert froms[-1] == "base-${BASE}"


def test_every_copied_path_exists_and_reaches_the_build() -> None:
    patterns = dockerignore()
    copies = arguments("COPY") + arguments("ADD")
    assert copies
    for rest in copies:
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such path"
            assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"


def test_the_image_leaves_out_what_it_must_not_carry() -> None:
    patterns = dockerignore()
    for path in (".venv", ".git", "models/cache", "service/__pycache__/x.pyc"):
        assert ignored(path, patterns), path
    assert not ignored("service/api/static/index.html", patterns)


def test_torch_is_pinned_like_the_makefile_and_installed_before_the_project() -> None:
    runs = arguments("RUN")
    pin = re.search(r"torch==([\w.]+)", (ROOT / "Makefile").read_text()).group(1)
    assert f"TORCH_VERSION={pin}" in arguments("ARG")
    torch_step = next(i for i, r in enumerate(runs) if '"torch==${TORCH_VERSION}"' in r)
    project_step = next(i for i, r in enumerate(runs) if re.search(r"pip install \.(\s|$)", r))
    assert torch_step < project_step


def test_the_entrypoint_and_every_command_exist_in_the_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert (
        exec_form(arguments("ENTRYPOINT")[-1]) == ["passeur"]
        and scripts["passeur"] == "service.cli:main"
    )
    commands = [exec_form(arguments("CMD")[-1]), ["worker"]]  # the same image runs the workers
    commands += [argv for run in arguments("RUN") for argv in passeur_commands(run)]
    assert ["models", "pull"] in commands
    problems = {" ".join(argv): cli_accepts(argv) for argv in commands}
    assert not any(problems.values()), f"passeur does not accept: {problems}"


def test_models_are_baked_only_when_asked_and_the_image_runs_offline() -> None:
    order = instructions()
    bake = next(i for i, (k, r) in enumerate(order) if k == "RUN" and "passeur models pull" in r)
    assert '"$BAKE_MODELS" = "1"' in order[bake][1] and "BAKE_MODELS=0" in arguments("ARG")
    offline = next(i for i, (k, r) in enumerate(order) if k == "ENV" and "HF_HUB_OFFLINE=1" in r)
    assert bake < offline


def test_it_runs_as_a_user_that_is_not_root() -> None:
    users = arguments("USER")
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")


def test_the_web_page_is_package_data() -> None:
    """``pip install .`` in the image must carry the page's files."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    for path in (ROOT / "service" / "api" / "static").iterdir():
        rel = path.relative_to(ROOT).as_posix()
        covered = any(
            rel.startswith(package.replace(".", "/") + "/")
            and fnmatch.fnmatch(rel.removeprefix(package.replace(".", "/") + "/"), pattern)
            for package, patterns in package_data.items()
            for pattern in patterns
        )
        assert covered, (
            f'{rel} is left out of the wheel: add "service.api" = ["static/*"] to package-data'
        )


def test_the_healthcheck_probes_healthz(tmp_path: Path) -> None:
    healthcheck = arguments("HEALTHCHECK")[-1]
    argv = exec_form(healthcheck.partition("CMD ")[2])
    assert argv[:2] == ["python", "-c"] and "/healthz" in argv[2]
    app = create_app(api_settings(tmp_path), MemoryJobStore())
    with running_server(app) as url:
        port = url.rsplit(":", 1)[1]
        env = {**os.environ, "PASSEUR_PORT": port}
        assert (
            subprocess.run([sys.executable, "-c", argv[2]], env=env, capture_output=True).returncode
            == 0
        )
    closed = subprocess.run([sys.executable, "-c", argv[2]], env=env, capture_output=True)
    assert closed.returncode != 0


@pytest.mark.parametrize("name", [".dockerignore", "Dockerfile"])
def test_docker_files_are_at_the_repository_root(name: str) -> None:
    assert (ROOT / name).is_file()
