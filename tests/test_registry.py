"""The registry's one resolver, as the README promises it: a model is named by registry
name, hub id (optionally ``hub_id@revision``) or local folder; an unknown name lists the
valid ones; resolving never touches the network, and a model not in the cache is an error
that names the pull command instead of a download."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from service.errors import ConfigError, ModelNotAvailable, UnknownModel
from service.registry import (
    COMPLETE_MARKER,
    ModelEntry,
    Registry,
    load_registry,
    supported_sources,
)
from service.settings import Settings

REGISTRY = ROOT / "models" / "registry.toml"
HUB_ID = "Helsinki-NLP/opus-mt-fr-en"


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """The shipped registry file over an empty cache folder of this test's own."""
    return Registry.load(REGISTRY, tmp_path / "cache")


def _pulled(registry: Registry, name: str) -> Path:
    """Lay the entry's cache folder out as ``passeur models pull`` leaves it."""
    folder = registry.cache_path(registry.entries[name])
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / COMPLETE_MARKER).write_text("{}\n", encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any call into the hub client fails the test (the sockets are closed anyway)."""
    import huggingface_hub

    calls: list[str] = []

    def refuse(name: str):
        def call(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"resolving called huggingface_hub.{name}")

        return call

    for name in ("hf_hub_download", "snapshot_download"):
        monkeypatch.setattr(huggingface_hub, name, refuse(name))
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", refuse("list_repo_files"))
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", refuse("model_info"))
    return calls


def test_a_name_a_hub_id_and_a_pinned_hub_id_resolve_to_the_same_cached_model(
    registry: Registry,
) -> None:
    entry = registry.entries["opus-mt-fr-en"]
    folder = _pulled(registry, "opus-mt-fr-en")
    specs = ["opus-mt-fr-en", HUB_ID, f"{HUB_ID}@{entry.revision}"]
    for spec in specs:
        model = registry.resolve(spec, "translation")
        assert (model.name, model.path, model.revision) == (
            "opus-mt-fr-en",
            folder,
            entry.revision,
        ), spec
        assert model.hub_id == HUB_ID and model.backend == entry.backend
        assert model.generation == entry.generation and model.generation["num_beams"] == 4
        assert model.info() == {"name": "opus-mt-fr-en", "revision": entry.revision}


def test_a_hub_id_at_another_revision_is_not_the_pinned_model(registry: Registry) -> None:
    _pulled(registry, "opus-mt-fr-en")
    other = "0" * 40
    with pytest.raises(UnknownModel) as caught:
        registry.resolve(f"{HUB_ID}@{other}", "translation")
    assert f"{HUB_ID}@{other}" in caught.value.message
    assert "pinned revision" in caught.value.message


def test_a_local_folder_resolves_by_its_path_with_a_content_fingerprint(
    registry: Registry, tmp_path: Path, tiny_marian: Path
) -> None:
    model = registry.resolve(str(tiny_marian), "translation")
    assert model.is_local and model.path == tiny_marian and model.name == str(tiny_marian)
    assert model.revision.startswith("local:") and len(model.revision) == len("local:") + 12
    assert registry.resolve(str(tiny_marian), "translation").revision == model.revision
    not_a_model = tmp_path / "empty-folder"
    not_a_model.mkdir()
    with pytest.raises(UnknownModel, match="holds no config.json"):
        registry.resolve(str(not_a_model), "translation")


def test_an_unknown_name_is_an_error_listing_the_valid_ones(registry: Registry) -> None:
    names = registry.names()
    assert {"opus-mt-fr-en", "distilbart-cnn-12-6"} <= set(names)
    with pytest.raises(UnknownModel) as caught:
        registry.resolve("opus-mt-fr-xx", "translation")
    error = caught.value
    assert "unknown model 'opus-mt-fr-xx'" in error.message
    assert "not a registry name, hub id or folder" in error.message
    assert f"registry names: {', '.join(names)}" in error.message
    assert error.details["valid"] == names
    with pytest.raises(UnknownModel, match="no such folder"):
        registry.resolve("./models/not-there", "translation")


def test_a_hub_id_not_in_the_cache_is_an_error_naming_the_pull_command(
    registry: Registry, no_download: list[str]
) -> None:
    for spec in ("opus-mt-fr-en", HUB_ID):
        with pytest.raises(ModelNotAvailable) as caught:
            registry.resolve(spec, "translation")
        message = caught.value.message
        assert "passeur models pull opus-mt-fr-en" in message
        assert str(registry.cache_dir) in message and "serving never downloads" in message
    assert no_download == [] and not registry.cache_dir.exists()  # nothing fetched or made


def test_an_unpinned_entry_says_to_pin_it_and_a_task_mismatch_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    entry = ModelEntry("opus-mt-xx-en", "translation", "xx", "en", "Helsinki-NLP/x", "")
    unpinned = Registry([entry], tmp_path / "cache")
    for spec in ("opus-mt-xx-en", "Helsinki-NLP/x"):
        with pytest.raises(ModelNotAvailable, match="passeur models pin opus-mt-xx-en"):
            unpinned.resolve(spec, "translation")
    _pulled(registry, "distilbart-cnn-12-6")
    with pytest.raises(ConfigError, match="is a summarisation model, not translation"):
        registry.resolve("distilbart-cnn-12-6", "translation")


def test_the_cli_reports_an_unknown_model_with_the_valid_names(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from service.cli import main

    article = tmp_path / "a.txt"
    article.write_text("Bonjour.", encoding="utf-8")
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    args = ["translate", str(article), "--out", str(tmp_path / "out.jsonl")]
    code = main([*args, "--summary-mode", "none", "--translation-model", "opus-mt-fr-xx"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "unknown model 'opus-mt-fr-xx'" in err
    assert ", ".join(registry.names()) in err


def test_supported_languages_are_the_registry_pairs_and_overrides_parsed_once_per_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.wiring import TranslatorPool

    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY.read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings(
        registry=path, cache_dir=tmp_path / "cache", translation_model="ca-en=/models/ca"
    )
    parsed: list[Path] = []
    load = Registry.load.__func__  # type: ignore[attr-defined]

    def counting_load(cls: type[Registry], file: Path, cache_dir: Path) -> Registry:
        parsed.append(file)
        return load(cls, file, cache_dir)

    monkeypatch.setattr(Registry, "load", classmethod(counting_load))
    first = supported_sources(settings)
    # Pairs, the override, the default fallback's languages (pl); Korean has nothing.
    assert {"fr", "de", "ca", "en", "pl"} <= set(first) and "ko" not in first
    assert supported_sources(settings) == first and len(parsed) == 1
    # The worker's translators answer from the same pairs (English is kept, not translated).
    pool = TranslatorPool(settings, load_registry(settings), {})
    assert pool.pairs() == [f"{lang}-en" for lang in first if lang != "en"]
    assert "ca" in pool and "ko" not in pool
    assert (pool.route("ca"), pool.route("pl"), pool.route("ko")) == ("pair", "fallback", None)

    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[models.opus-mt-ko-en]\ntask = "translation"\nsource = "ko"\ntarget = "en"\n'
        'hub_id = "Helsinki-NLP/opus-mt-ko-en"\n',
        encoding="utf-8",
    )
    assert "ko" in supported_sources(settings)
    assert supported_sources(settings) == sorted({*first, "ko"})
    assert parsed.count(path) == 3  # once per version through the cache, once by load_registry()


def test_backend_setting_choices_follow_the_registry_backends() -> None:
    from service.registry import BACKENDS
    from service.settings import BACKEND_SETTINGS

    assert ("registry", *BACKENDS) == BACKEND_SETTINGS
