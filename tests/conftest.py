"""Shared fixtures: tiny models built offline once per session, and no network.

The tiny models are real MarianMT / BART folders with random weights and tokenizers trained
on the samples, loaded through the same ``from_pretrained`` path as the real models.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# One torch thread per process: two threads slow down 2.5x as soon as anything else runs on
# a 2-core machine (shared/MEASURED.md), and the suite runs server and worker processes.
os.environ.setdefault("PASSEUR_THREADS", "1")

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    """Tests must pass with the network off: fail fast on any non-loopback connection."""
    if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = str(address[0])
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise OSError(f"test tried to reach {host}: tests run with the network off")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


def sample_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt"))]


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_marian(model_root: Path) -> Path:
    from service.measure.devmodels import build_marian

    return build_marian(model_root / "tiny-marian", size="tiny")


@dataclass(frozen=True)
class WorkerModels:
    """What a server or worker process started by a test runs: tiny Marian as translation
    model, and the environment that picks its engine."""

    translation: Path
    env: dict[str, str]


@pytest.fixture(scope="session")
def worker_models(tiny_marian: Path, model_root: Path) -> WorkerModels:
    """Tiny Marian on the CTranslate2 backend (the registry's default for real models), from
    an int8 copy converted once per session: each process a test starts loads it without
    importing torch or converting it again."""
    from service.engines.convert import ensure_converted
    from service.registry import Registry

    cache = model_root / "ct2-cache"
    ensure_converted(Registry([], cache).resolve(str(tiny_marian), "translation"), cache, "int8")
    env = {
        "PASSEUR_BACKEND": "ctranslate2",
        "PASSEUR_COMPUTE_TYPE": "int8",
        "PASSEUR_DEVICE": "cpu",
        "PASSEUR_CACHE_DIR": str(cache),
    }
    return WorkerModels(tiny_marian, env)


@pytest.fixture(scope="session")
def tiny_bart(model_root: Path) -> Path:
    from service.measure.devmodels import build_bart

    return build_bart(model_root / "tiny-bart", size="tiny")


@pytest.fixture(scope="session")
def tiny_m2m100(model_root: Path) -> Path:
    from service.measure.devmodels import build_m2m100

    return build_m2m100(model_root / "tiny-m2m100")


@pytest.fixture(scope="session")
def marian_backend(tiny_marian: Path):
    from service.engines.hf import TransformersSeq2Seq
    from service.registry import Registry

    model = Registry([], ROOT / "models" / "cache").resolve(str(tiny_marian), "translation")
    backend = TransformersSeq2Seq(model, device="cpu", threads=1, max_source_tokens=256)
    backend.load()
    return backend


@pytest.fixture
def settings(tmp_path: Path):
    from service.settings import Settings

    return Settings(
        models_dir=ROOT / "models", cache_dir=tmp_path / "cache", summary_mode="none", device="cpu"
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``PASSEUR_EVAL_DATA``); tests that need it skip without it."""
    from datapaths import data_dir

    return data_dir()


@pytest.fixture(scope="session")
def orangesum_articles(shared_data: Path) -> list[str]:
    path = shared_data / "fr_news_orangesum" / "summaries_abstracts_source_documents.txt"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
