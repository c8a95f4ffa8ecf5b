"""Import-light layers: what each entry module loads, and the import rules of DESIGN.md."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

MODEL_LIBRARIES = ("torch", "transformers", "ctranslate2", "lingua")


def _loaded(module: str) -> list[str]:
    code = (
        f"import sys, {module}; print(' '.join(m for m in {MODEL_LIBRARIES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize(
    "module",
    [
        "service",
        "service.cli",
        "service.registry",
        "service.api.app",  # the API process: no model, ever
        "service.jobs.worker",  # the worker loop is handed its pipeline
        "service.jobs.store",
        "service.batch.io",
        "service.text.segmentation",
    ],
)
def test_module_loads_no_model_library(module: str) -> None:
    assert _loaded(module) == [], f"{module} loads a model library"


def _lint_imports() -> Path | None:
    found = shutil.which("lint-imports") or Path(sys.executable).with_name("lint-imports")
    return Path(found) if Path(found).is_file() else None


def test_import_rules_hold() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]): layers, measure/ out of the
    product, no model library in text/ or api/, no import cycle."""
    tool = _lint_imports()
    if tool is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    out = subprocess.run(
        [str(tool), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout[-4000:]


def test_import_rules_catch_a_forbidden_import(tmp_path: Path) -> None:
    """The check can fail: the API importing the model wiring breaks a contract."""
    tool = _lint_imports()
    if tool is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "service", copy / "service")
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    web = copy / "service" / "api" / "web.py"
    web.write_text(web.read_text(encoding="utf-8") + "\nimport service.wiring  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    out = subprocess.run(
        [str(tool), "--no-cache"], cwd=copy, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode != 0
    assert "service.api.web -> service.wiring" in out.stdout
