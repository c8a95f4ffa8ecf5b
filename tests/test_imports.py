"""Import-light layers: the package, the CLI and the registry never import torch."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["service", "service.cli", "service.registry", "service.pipeline", "service.batch"]
)
def test_module_does_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], f"{module} imports torch or transformers"
