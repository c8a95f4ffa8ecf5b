"""The multilingual fallback: M2M100's language tokens on both backends, both fallback
entries loaded through both backends, and `passeur translate --source-lang auto` routing
each article and paragraph to its pair, to the fallback (flagged) or to a refusal."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from service.cli import main
from service.engines.protocol import GenerationOptions
from service.registry import COMPLETE_MARKER, Registry
from service.settings import Settings
from service.wiring import TranslatorPool

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = Registry.load(ROOT / "models" / "registry.toml", ROOT / "models" / "cache")
REVISION = "a" * 40
POLISH = (
    "Rząd przedstawił w środę projekt ustawy o emeryturach. Związki zawodowe zapowiadają strajk."
)
FRENCH = (
    "Le gouvernement a présenté mercredi un projet de loi sur les retraites. "
    "Les syndicats appellent à une grève nationale la semaine prochaine."
)
GERMAN = (
    "Die Bundesregierung hat am Mittwoch einen Gesetzentwurf zur Rente vorgestellt. "
    "Die Gewerkschaften rufen für nächste Woche zu einem landesweiten Streik auf."
)
CATALAN = (
    "El govern va presentar dimecres un projecte de llei sobre les pensions. "
    "Els sindicats criden a una vaga general la setmana que ve."
)
JAPANESE = "政府は水曜日に年金改革法案を発表した。労働組合は来週の全国ストライキを呼びかけている。"
KOREAN = "정부는 수요일 연금 개혁 법안을 발표했다. 노조는 다음 주 전국 파업을 예고했다."


def _load(folder: Path, backend: str):
    from service.engines.ct2 import CTranslate2Seq2Seq
    from service.engines.hf import TransformersSeq2Seq

    model = Registry([], folder.parent / "cache").resolve(str(folder), "translation")
    if backend == "transformers":
        b = TransformersSeq2Seq(model, device="cpu", threads=1, max_source_tokens=64)
    else:
        b = CTranslate2Seq2Seq(
            model, device="cpu", threads=1, max_source_tokens=64, compute_type="int8"
        )
    b.load()
    return b


def test_m2m100_transformers_forces_the_english_token_and_sets_the_source(tiny_m2m100) -> None:
    backend = _load(tiny_m2m100, "transformers")
    tok, model = backend.tokenizer, backend._model
    seen: dict = {}
    real = model.generate

    def spy(**kwargs):  # records what the real generate() received and returned
        seen["input_ids"] = kwargs["input_ids"].tolist()
        seen["out"] = real(**kwargs)
        return seen["out"]

    model.generate = spy
    try:
        outs = backend.generate(
            [POLISH, "Dzień dobry."], GenerationOptions(num_beams=1, source_lang="pl")
        )
    finally:
        del model.generate
    english, polish = tok.get_lang_id("en"), tok.get_lang_id("pl")
    assert [row[0] for row in seen["input_ids"]] == [polish, polish]
    assert seen["out"][:, 1].tolist() == [english, english]  # the first decoded token
    assert all("__en__" not in o.text for o in outs)
    with pytest.raises(Exception, match="no language token for 'xx'"):
        backend.generate(["x"], GenerationOptions(num_beams=1, source_lang="xx"))


def test_m2m100_ctranslate2_passes_and_strips_the_target_prefix(tiny_m2m100, tmp_path) -> None:
    folder = tmp_path / "m2m"
    shutil.copytree(tiny_m2m100, folder)
    backend = _load(folder, "ctranslate2")
    calls: list = []
    real = backend._translator

    class Recording:  # delegates to the real translator, keeping what it was given
        def translate_batch(self, source, target_prefix=None, **kwargs):
            results = real.translate_batch(source, target_prefix, **kwargs)
            calls.append((source, target_prefix, [r.hypotheses[0] for r in results]))
            return results

    backend._translator = Recording()
    outs = backend.generate([POLISH, "Tak."], GenerationOptions(num_beams=1, source_lang="pl"))
    [(source, prefix, hypotheses)] = calls
    assert [row[0] for row in source] == ["__pl__", "__pl__"]
    assert prefix == [["__en__"], ["__en__"]]
    assert all(h[0] == "__en__" for h in hypotheses)
    assert all("__en__" not in o.text for o in outs)


def _registry_with_fallbacks(tmp_path: Path, folders: dict[str, Path], backend: str) -> Path:
    """A registry file of the two fallback entries (the shipped languages), each pinned
    and cached with the tiny model given: a tiny Marian stands in for opus-mt-mul-en."""
    cache = tmp_path / "cache"
    lines = []
    for name, folder in folders.items():
        entry = SHIPPED.entries[name]
        lines += [
            f"[models.{name}]",
            'task = "translation"',
            'source = "mul"',
            'target = "en"',
            f'hub_id = "{entry.hub_id}"',
            f'revision = "{REVISION}"',
            f'backend = "{backend}"',
            f"languages = {json.dumps(list(entry.languages))}",
            "model_codes = {"
            + ", ".join(f"{k} = {json.dumps(v)}" for k, v in entry.model_codes.items())
            + "}",
            "",
        ]
        cached = cache / name / REVISION
        shutil.copytree(folder, cached)
        (cached / COMPLETE_MARKER).touch()
    path = tmp_path / "registry.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", ["transformers", "ctranslate2"])
def test_both_fallback_entries_load_through_both_backends(
    tiny_marian, tiny_m2m100, tmp_path, backend
) -> None:
    path = _registry_with_fallbacks(
        tmp_path, {"opus-mt-mul-en": tiny_marian, "m2m100_418M": tiny_m2m100}, backend
    )
    registry = Registry.load(path, tmp_path / "cache")
    for name, covered, refused in [("opus-mt-mul-en", "pl", "ko"), ("m2m100_418M", "ko", "la")]:
        settings = Settings(
            registry=path,
            cache_dir=tmp_path / "cache",
            fallback_model=name,
            device="cpu",
            compute_type="int8",
            summary_mode="none",
        )
        pool = TranslatorPool(settings, registry, {})
        assert (pool.route(covered), pool.route(refused)) == ("fallback", None)
        model = pool[covered]
        assert model is pool["da" if name == "opus-mt-mul-en" else "ja"]  # loaded once
        assert model.model.name == name and model.random_weights
        [out] = model.generate(
            ["Dzień dobry."], GenerationOptions(num_beams=1, source_lang=covered)
        )
        assert out.text and "__en__" not in out.text
        assert list(pool) == ["fallback"]


@pytest.fixture(scope="module")
def tiny_marian_de(model_root: Path) -> Path:
    from service.measure.devmodels import build_marian

    return build_marian(model_root / "tiny-marian-de", size="tiny", seed=1)


def _flores_line(shared_data: Path, stem: str, n: int) -> str:
    path = shared_data / "flores200_devtest" / f"{stem}.devtest"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return " ".join(path.read_text(encoding="utf-8").splitlines()[n : n + 3])


def test_translate_auto_routes_pairs_fallback_and_refusals(
    tiny_marian, tiny_marian_de, shared_data, tmp_path, monkeypatch
) -> None:
    registry = _registry_with_fallbacks(tmp_path, {"opus-mt-mul-en": tiny_marian}, "transformers")
    monkeypatch.setenv("PASSEUR_REGISTRY", str(registry))
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "in"
    folder.mkdir()
    articles = {
        "fr": FRENCH,
        "de": GERMAN,
        "pl": _flores_line(shared_data, "pol_Latn", 10),
        "ca": _flores_line(shared_data, "cat_Latn", 10) or CATALAN,
        "ja": _flores_line(shared_data, "jpn_Jpan", 10) or JAPANESE,
        "ko": KOREAN,
        # A French article with one Polish paragraph.
        "mixed": f"{FRENCH} {FRENCH} {FRENCH}\n\n{POLISH}",
    }
    for name, text in articles.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "translate", str(folder), "--out", str(out), "--source-lang", "auto",
            "--summary-mode", "none", "--beam", "1",
            "--translation-model", f"fr-en={tiny_marian}",
            "--translation-model", f"de-en={tiny_marian_de}",
        ]
    )  # fmt: skip
    assert code == 1  # Korean: no pair and not covered by opus-mt-mul-en
    records = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert records["fr"]["models"]["translation"]["name"] == str(tiny_marian.resolve())
    assert records["de"]["models"]["translation"]["name"] == str(tiny_marian_de.resolve())
    for lang in ("fr", "de"):
        assert not any(f["code"] == "fallback_model" for f in records[lang]["flags"])
    for lang in ("pl", "ca", "ja"):
        record = records[lang]
        assert record["error"] is None and record["language"]["lang"] == lang
        assert record["models"]["translation"]["name"] == "opus-mt-mul-en"
        assert ("fallback_model", None) in [(f["code"], f["sentence"]) for f in record["flags"]]
        assert {(p["lang"], p["model"]) for p in record["paragraphs"]} == {(lang, "opus-mt-mul-en")}
    refused = records["ko"]["error"]
    assert refused["code"] == "unsupported_language" and refused["language"] == "ko"
    assert "pl-en" in refused["supported"] and "ko-en" not in refused["supported"]
    mixed = records["mixed"]
    assert [(p["lang"], p["model"]) for p in mixed["paragraphs"]] == [
        ("fr", str(tiny_marian.resolve())),
        ("pl", "opus-mt-mul-en"),
    ]
    first_polish = next(i for i, s in enumerate(mixed["sentences"]) if s["paragraph"] == 1)
    assert ("fallback_model", first_polish) in [(f["code"], f["sentence"]) for f in mixed["flags"]]


# -- the fallback setting -------------------------------------------------------


def test_a_registry_without_the_default_fallback_has_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default setting over a registry with no opus-mt-mul-en (the tests' and the
    benchmark's empty one, a deployment's own file): no fallback, said once, no error."""
    import logging

    import service.registry
    from service.registry import fallback_entry

    monkeypatch.setattr(service.registry, "_no_default_fallback", set())  # none said yet
    registry = Registry([SHIPPED.entries["opus-mt-fr-en"]], tmp_path / "cache")
    settings = Settings(cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="service.registry"):
        assert fallback_entry(registry, settings) is None
        pool = TranslatorPool(settings, registry, {})
        assert (pool.route("fr"), pool.route("pl")) == ("pair", None)
        assert TranslatorPool(settings, Registry([], tmp_path / "cache"), {}).route("pl") is None
    notes = [r.getMessage() for r in caplog.records if "no fallback model" in r.getMessage()]
    # Once per registry, however many pools ask.
    assert len(notes) == 2 and "'opus-mt-mul-en' (the default)" in notes[0]
    assert "add a multilingual entry" in notes[1]


def test_an_explicit_fallback_that_is_not_a_multilingual_entry_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.errors import ConfigError
    from service.registry import fallback_entry

    empty = Registry([], tmp_path / "cache")
    # Named explicitly, even the default's own name must exist.
    monkeypatch.setenv("PASSEUR_FALLBACK_MODEL", "opus-mt-mul-en")
    with pytest.raises(ConfigError, match=r"fallback model 'opus-mt-mul-en'.*use one of none"):
        fallback_entry(empty, Settings(cache_dir=tmp_path))
    monkeypatch.delenv("PASSEUR_FALLBACK_MODEL")
    with pytest.raises(ConfigError, match=r"use one of m2m100_418M, opus-mt-mul-en, none"):
        fallback_entry(SHIPPED, Settings(cache_dir=tmp_path, fallback_model="opus-mt-fr-en"))
    assert fallback_entry(empty, Settings(cache_dir=tmp_path, fallback_model="none")) is None
    entry = fallback_entry(SHIPPED, Settings(cache_dir=tmp_path, fallback_model="m2m100_418M"))
    assert entry is not None and entry.covers("ko")


def test_models_list_says_which_fallback_serves_or_why_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "models" / "registry.toml").read_text(encoding="utf-8")
    own = tmp_path / "registry.toml"
    own.write_text(text.split("[models.opus-mt-mul-en]")[0], encoding="utf-8")  # pairs only
    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PASSEUR_REGISTRY", str(own))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "no fallback model: the registry has no multilingual entry 'opus-mt-mul-en'" in out
    assert re.search(r"^pl +refused", out, re.M)
    monkeypatch.delenv("PASSEUR_REGISTRY")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "fallback model (PASSEUR_FALLBACK_MODEL): opus-mt-mul-en" in out
    assert re.search(r"^pl +fallback +opus-mt-mul-en$", out, re.M)
