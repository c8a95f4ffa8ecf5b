"""The CTranslate2 backend against the transformers reference, on the tiny random models.

Greedy float32 decoding must agree token for token (MEASURED.md, pitfall 6), through the
same :class:`Generated` results, so that the guards and the summariser behave the same
whichever backend runs. int8 is only checked to run: on random weights its rounding changes
the argmax, unlike on trained models.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.engines.protocol import GenerationOptions
from service.measure.devmodels import DEFAULT_ENGLISH_TEXTS, DEFAULT_FRENCH_TEXTS
from service.registry import Registry, ResolvedModel

ctranslate2 = pytest.importorskip("ctranslate2")

FRENCH = list(DEFAULT_FRENCH_TEXTS[:20])
ENGLISH = [" ".join(DEFAULT_ENGLISH_TEXTS[i : i + 3]) for i in range(0, 30, 3)]


def _resolve(folder: Path, task: str) -> ResolvedModel:
    return Registry([], folder.parent / "cache").resolve(str(folder), task)


@pytest.fixture(scope="module")
def ct2_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ct2-cache")


def _pair(folder: Path, task: str, cache: Path, compute_type: str = "float32"):
    from service.engines.ct2 import CTranslate2Seq2Seq
    from service.engines.hf import TransformersSeq2Seq

    model = _resolve(folder, task)
    reference = TransformersSeq2Seq(model, device="cpu", threads=1)
    fast = CTranslate2Seq2Seq(
        model, device="cpu", threads=1, compute_type=compute_type, cache_root=cache
    )
    reference.load()
    fast.load()
    return reference, fast


@pytest.fixture(scope="module")
def marian_pair(tiny_marian: Path, ct2_cache: Path):
    return _pair(tiny_marian, "translation", ct2_cache)


@pytest.fixture(scope="module")
def bart_pair(tiny_bart: Path, ct2_cache: Path):
    return _pair(tiny_bart, "summarisation", ct2_cache)


def _eager_eos(folder: Path, out: Path) -> Path:
    """A copy of a tiny model that ends every output as soon as it is allowed to."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    shutil.copytree(folder, out)
    model = AutoModelForSeq2SeqLM.from_pretrained(str(folder))
    with torch.no_grad():
        model.final_logits_bias[0, model.config.eos_token_id] = 1000.0
    model.save_pretrained(out)
    return out


# -- parity: token for token ---------------------------------------------------------------


def _token_ids(backend: Any, texts: list[str], max_new: int) -> list[list[int]]:
    """Raw greedy ids from each engine, start token and forced end-of-sentence stripped."""
    import torch

    if hasattr(backend, "_model"):  # transformers: max_new + 1, the last one a forced </s>
        tok = backend.tokenizer
        enc = tok(texts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = backend._model.generate(
                **enc, num_beams=1, max_new_tokens=max_new + 1, no_repeat_ngram_size=0
            )
        rows = [row[1:] for row in out.tolist()]
        return [
            row[: row.index(tok.eos_token_id)] if tok.eos_token_id in row else row for row in rows
        ]
    tok = backend.tokenizer
    source = [tok.convert_ids_to_tokens(tok(t).input_ids) for t in texts]
    prefix = [list(backend._prefix) for _ in texts] if backend._prefix else None
    results = backend._translator.translate_batch(
        source, prefix, beam_size=1, max_decoding_length=max_new, max_input_length=0
    )
    return [tok.convert_tokens_to_ids(r.hypotheses[0]) for r in results]


@pytest.mark.parametrize("which", ["marian", "bart"])
def test_float32_greedy_tokens_equal_transformers(which: str, request: pytest.FixtureRequest):
    reference, fast = request.getfixturevalue(f"{which}_pair")
    texts = FRENCH if which == "marian" else ENGLISH
    expected = _token_ids(reference, texts, 24)
    got = _token_ids(fast, texts, 24)
    assert got == expected
    assert len({tuple(row) for row in expected}) > 1, "the tiny model ignores its input"
    if which == "bart":  # the forced <s> comes through the target prefix (pitfall 2)
        assert {row[0] for row in got} == {reference.tokenizer.bos_token_id}


GREEDY_CASES = [
    GenerationOptions(num_beams=1, max_new_tokens=20),
    GenerationOptions(num_beams=1, max_new_tokens=12, min_new_tokens=5),
    GenerationOptions(num_beams=1),  # the model's own max_length / min_length / n-gram rule
    GenerationOptions(
        num_beams=1, max_new_tokens=30, no_repeat_ngram_size=3, repetition_penalty=1.3
    ),
    GenerationOptions(num_beams=1, max_new_tokens=2),
]


@pytest.mark.parametrize("which", ["marian", "bart"])
@pytest.mark.parametrize("options", GREEDY_CASES, ids=lambda o: str(o.kwargs()))
def test_generated_matches_transformers_backend(
    which: str, options: GenerationOptions, request: pytest.FixtureRequest
):
    reference, fast = request.getfixturevalue(f"{which}_pair")
    texts = FRENCH if which == "marian" else ENGLISH
    before = fast.tokens_generated
    got = fast.generate(texts, options)
    assert got == reference.generate(texts, options)
    assert fast.tokens_generated - before == sum(g.tokens for g in got)


@pytest.mark.parametrize("which", ["marian", "bart"])
def test_outputs_that_end_early_match(
    which: str, request: pytest.FixtureRequest, tmp_path: Path, ct2_cache: Path
):
    """Both length bounds and the end-of-sentence: not cut, so ``hit_limit`` is False."""
    folder = request.getfixturevalue(f"tiny_{which}")
    task = "translation" if which == "marian" else "summarisation"
    reference, fast = _pair(_eager_eos(folder, tmp_path / which), task, ct2_cache)
    texts = FRENCH if which == "marian" else ENGLISH
    for min_new in (0, 3, 7):
        options = GenerationOptions(num_beams=1, max_new_tokens=16, min_new_tokens=min_new)
        got = fast.generate(texts, options)
        assert got == reference.generate(texts, options)
        assert not any(g.hit_limit for g in got)


def test_marian_never_emits_pad(marian_pair):
    _, fast = marian_pair
    tok = fast.tokenizer
    got = _token_ids(fast, FRENCH, 40)
    assert tok.pad_token_id not in {t for row in got for t in row}


def test_source_budget_from_positions_like_reference(marian_pair, bart_pair):
    for reference, fast in (marian_pair, bart_pair):
        assert fast.max_source_tokens == reference.max_source_tokens
        assert fast.random_weights and fast.count_tokens("Bonjour.") == reference.count_tokens(
            "Bonjour."
        )


def test_long_input_is_cut_to_the_budget(tiny_marian: Path, ct2_cache: Path):
    from service.engines.ct2 import CTranslate2Seq2Seq
    from service.engines.hf import TransformersSeq2Seq

    model = _resolve(tiny_marian, "translation")
    text = " ".join(FRENCH)
    options = GenerationOptions(num_beams=1, max_new_tokens=10)
    reference = TransformersSeq2Seq(model, device="cpu", threads=1, max_source_tokens=16)
    fast = CTranslate2Seq2Seq(
        model,
        device="cpu",
        threads=1,
        max_source_tokens=16,
        compute_type="float32",
        cache_root=ct2_cache,
    )
    reference.load()
    fast.load()
    assert fast.count_tokens(text) > 18
    assert fast.generate([text], options) == reference.generate([text], options)


# -- int8, and the repetition guard ----------------------------------------------------------


@pytest.mark.parametrize("which", ["marian", "bart"])
def test_int8_runs(which: str, request: pytest.FixtureRequest, ct2_cache: Path):
    from service.engines.ct2 import CTranslate2Seq2Seq

    folder = request.getfixturevalue(f"tiny_{which}")
    model = _resolve(folder, "translation" if which == "marian" else "summarisation")
    fast = CTranslate2Seq2Seq(model, device="cpu", threads=1, cache_root=ct2_cache)  # auto
    fast.load()
    assert fast.compute_type == "int8"
    out = fast.generate(FRENCH[:4], GenerationOptions(num_beams=4, max_new_tokens=12))
    assert len(out) == 4 and all(g.text and 0 < g.tokens <= 11 for g in out)


class _Recorder:
    """Wraps a translator and records the options of each ``translate_batch`` call."""

    def __init__(self, translator: Any) -> None:
        self.translator = translator
        self.calls: list[dict[str, Any]] = []

    def translate_batch(self, source, prefix=None, **kwargs):
        self.calls.append(kwargs)
        return self.translator.translate_batch(source, prefix, **kwargs)


def test_repetition_guard_redecodes_with_ct2_controls(marian_pair, monkeypatch):
    """The tiny Marian loops ("été été été…"): the guard re-decodes those segments with
    no_repeat_ngram_size and repetition_penalty passed to CTranslate2, and every outcome,
    flags included, is the one the transformers backend gives."""
    from service.pipeline.translate import REPETITION_CONTROLS, translate_segments

    reference, fast = marian_pair
    recorder = _Recorder(fast._translator)
    monkeypatch.setattr(fast, "_translator", recorder)
    expected = translate_segments(reference, FRENCH, beam=1, batch_tokens=4096)
    got = translate_segments(fast, FRENCH, beam=1, batch_tokens=4096)

    assert [(o.translation, o.flags) for o in got] == [(o.translation, o.flags) for o in expected]
    codes = {code for o in got for code, _ in o.flags}
    assert codes & {"repetition_redecoded", "repetition"}
    assert len(recorder.calls) == 2
    first, again = recorder.calls
    assert first["no_repeat_ngram_size"] == 0 and first["repetition_penalty"] == 1.0
    assert again["no_repeat_ngram_size"] == REPETITION_CONTROLS["no_repeat_ngram_size"]
    assert again["repetition_penalty"] == REPETITION_CONTROLS["repetition_penalty"]


# -- conversion --------------------------------------------------------------------------------


def test_conversion_is_idempotent_atomic_and_keyed_by_compute_type(
    tiny_marian: Path, tmp_path: Path, monkeypatch
):
    from ctranslate2.converters import TransformersConverter

    from service.engines.convert import CONVERTED_MARKER, ensure_converted, is_converted

    model = _resolve(tiny_marian, "translation")
    int8 = ensure_converted(model, tmp_path, "int8")
    fp32 = ensure_converted(model, tmp_path, "float32")
    assert int8 != fp32 and int8.parent == fp32.parent
    assert int8.relative_to(tmp_path).parts[0] == "ct2"
    assert fp32.name == "float32" and model.revision.replace(":", "-") == fp32.parent.name
    assert (int8 / "model.bin").stat().st_size < (fp32 / "model.bin").stat().st_size
    assert is_converted(model, tmp_path, "int8") and (fp32 / CONVERTED_MARKER).is_file()

    def no_second_conversion(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(TransformersConverter, "convert", no_second_conversion)
    assert ensure_converted(model, tmp_path, "int8") == int8

    def interrupted(self: Any, output_dir: str, **kwargs: Any) -> None:
        Path(output_dir).mkdir(parents=True)
        (Path(output_dir) / "model.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(TransformersConverter, "convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_converted(model, tmp_path, "int16")
    assert not is_converted(model, tmp_path, "int16")
    assert sorted(p.name for p in int8.parent.iterdir()) == ["float32", "int8"]


def test_unknown_compute_type_names_the_valid_ones(tiny_marian: Path):
    from service.engines.ct2 import CTranslate2Seq2Seq
    from service.errors import ConfigError

    with pytest.raises(ConfigError, match="int8_float16"):
        CTranslate2Seq2Seq(_resolve(tiny_marian, "translation"), compute_type="int4")


# -- selection -----------------------------------------------------------------------------


def _settings(tmp_path: Path, **fields: Any) -> Any:
    from service.settings import Settings

    return Settings(device="cpu", threads=1, cache_dir=tmp_path, **fields)


def test_backend_follows_registry_unless_settings_override(tiny_marian: Path, tmp_path: Path):
    from dataclasses import replace

    from service.engines.build import make_backend
    from service.engines.ct2 import CTranslate2Seq2Seq
    from service.engines.hf import TransformersSeq2Seq
    from service.errors import ConfigError

    model = _resolve(tiny_marian, "translation")
    fast_entry = replace(model, backend="ctranslate2")
    assert isinstance(
        make_backend(model, _settings(tmp_path), max_source_tokens=64), TransformersSeq2Seq
    )
    built = make_backend(
        fast_entry,
        _settings(tmp_path, compute_type="int8_float16", inter_threads=2),
        max_source_tokens=64,
    )
    assert isinstance(built, CTranslate2Seq2Seq)
    assert (built.compute_type_setting, built.inter_threads, built.cache_root) == (
        "int8_float16",
        2,
        tmp_path,
    )
    forced = _settings(tmp_path, backend="transformers")
    assert isinstance(make_backend(fast_entry, forced, max_source_tokens=64), TransformersSeq2Seq)
    forced = _settings(tmp_path, backend="ctranslate2")
    assert isinstance(make_backend(model, forced, max_source_tokens=64), CTranslate2Seq2Seq)
    with pytest.raises(ConfigError, match="registry, transformers, ctranslate2"):
        make_backend(
            model, _settings(tmp_path).model_copy(update={"backend": "onnx"}), max_source_tokens=64
        )
    with pytest.raises(ValidationError):  # the settings refuse it up front
        _settings(tmp_path, backend="onnx")


def test_prepare_backend_converts_only_for_ctranslate2(tiny_marian: Path, tmp_path: Path):
    from service.engines.build import prepare_backend

    model = _resolve(tiny_marian, "translation")
    assert prepare_backend(model, tmp_path) == (None, False)
    path, converted = prepare_backend(model, tmp_path, backend="ctranslate2", compute_type="int8")
    assert converted and path is not None and (path / "model.bin").is_file()
    again = prepare_backend(model, tmp_path, backend="ctranslate2", compute_type="int8")
    assert again == (path, False)
    stamp = (path / ".passeur-converted").stat().st_mtime_ns
    forced = prepare_backend(
        model, tmp_path, backend="ctranslate2", compute_type="int8", force=True
    )
    assert forced == (path, True) and (path / ".passeur-converted").stat().st_mtime_ns != stamp
    assert sorted(p.name for p in path.parent.iterdir()) == ["int8"]  # no leftovers


def test_thread_layout_gives_each_core_a_replica_on_cpu():
    from service.engines.ct2 import thread_layout, usable_cores

    assert thread_layout("cpu", 0, 0) == (usable_cores(), 1)
    assert thread_layout("cpu", 4, 0) == (4, 1)
    assert thread_layout("cpu", 4, 2) == (2, 2)  # an explicit inter_threads wins
    assert thread_layout("cpu", 2, 1) == (1, 2)
    assert thread_layout("cpu", 1, 3) == (3, 1)
    assert thread_layout("cuda", 0, 0) == (1, 1)


@pytest.mark.parametrize("batch_tokens", [0, 40, 100_000])
@pytest.mark.parametrize("which", ["marian", "bart"])
def test_replicas_split_a_batch_and_keep_its_order(
    which: str, batch_tokens: int, request: pytest.FixtureRequest, ct2_cache: Path
):
    """Cut in one part per replica, or (``batch_tokens``) in many sub-batches posted one by
    one to whichever replica is free: the outputs come back in order, the same as one
    replica's."""
    from service.engines.ct2 import CTranslate2Seq2Seq

    _, single = request.getfixturevalue(f"{which}_pair")
    folder = request.getfixturevalue(f"tiny_{which}")
    task = "translation" if which == "marian" else "summarisation"
    pair = CTranslate2Seq2Seq(
        _resolve(folder, task),
        device="cpu",
        threads=2,
        compute_type="float32",
        cache_root=ct2_cache,
        batch_tokens=batch_tokens,
    )
    pair.load()
    assert pair.replicas == 2
    assert pair.streams_batches == bool(batch_tokens)
    recorder = _Recorder(pair._translator)
    pair._translator = recorder
    texts = (FRENCH if which == "marian" else ENGLISH)[:7]
    options = GenerationOptions(num_beams=2, max_new_tokens=16)
    assert pair.generate(texts, options) == single.generate(texts, options)
    if batch_tokens:  # sub-batches posted one by one, of at most 20 padded tokens ...
        assert all(c["asynchronous"] for c in recorder.calls)
        # ... and never fewer than the replicas: a short call still reaches both.
        assert len(recorder.calls) >= 4 if batch_tokens == 40 else len(recorder.calls) == 2
    else:
        assert len(recorder.calls) == 1 and recorder.calls[0]["max_batch_size"] == 4


def test_loading_a_converted_model_imports_no_torch(
    marian_pair, bart_pair, tiny_marian, tiny_bart, ct2_cache
):
    """The worker's CTranslate2 path reads its tokenizers without torch (about 190 MB)."""
    script = f"""
import sys
from pathlib import Path
from service.engines.ct2 import CTranslate2Seq2Seq
from service.registry import Registry
from service.engines.protocol import GenerationOptions
out = []
for folder, task, text in [({str(tiny_marian)!r}, "translation", {FRENCH[0]!r}),
                           ({str(tiny_bart)!r}, "summarisation", {ENGLISH[0]!r})]:
    model = Registry([], Path(folder).parent / "cache").resolve(folder, task)
    backend = CTranslate2Seq2Seq(model, device="cpu", threads=1, compute_type="float32",
                                 cache_root=Path({str(ct2_cache)!r}))
    backend.load()
    out.append(backend.generate([text], GenerationOptions(num_beams=1, max_new_tokens=12))[0].text)
print("torch" in sys.modules)
print(repr(out))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    imported, texts = done.stdout.splitlines()[-2:]
    assert imported == "False", done.stderr
    expected = [
        pair[1].generate([text], GenerationOptions(num_beams=1, max_new_tokens=12))[0].text
        for pair, text in ((marian_pair, FRENCH[0]), (bart_pair, ENGLISH[0]))
    ]
    assert texts == repr(expected)


_ARENAS_SCRIPT = """
import ctypes, os, sys, tempfile
from pathlib import Path
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # two usable cores
from service.engines.ct2 import CTranslate2Seq2Seq
from service.engines.protocol import GenerationOptions
from service.registry import Registry
folder = Path(sys.argv[1])
model = Registry([], folder.parent / "cache").resolve(str(folder), "translation")
backend = CTranslate2Seq2Seq(model, device="cpu", threads=6, compute_type="float32",
                             cache_root=Path(sys.argv[2]))
backend.load()
backend.generate(sys.argv[3:] * 4, GenerationOptions(num_beams=4, max_new_tokens=24))
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = tempfile.mktemp()
handle = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, handle)
libc.fclose(handle)
print(Path(path).read_text().count("<heap nr="))
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_replicas_share_capped_malloc_arenas(tiny_marian: Path, ct2_cache: Path):
    """Six replica threads on two usable cores: loading caps glibc's arenas at two, so the
    buffers one replica frees serve the others (a worker's peak fell by about 400 MB);
    an operator's own MALLOC_ARENA_MAX is left as it is."""

    def arenas(**env: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _ARENAS_SCRIPT, str(tiny_marian), str(ct2_cache), *FRENCH[:4]],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env={**os.environ, **env},
        )
        return int(done.stdout.split()[-1])

    assert arenas() <= 2
    assert arenas(MALLOC_ARENA_MAX="16") > 2


def test_backends_module_imports_no_engine():
    code = "import sys, service.engines.build; print(sorted({'torch', 'ctranslate2'} & set(sys.modules)))"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- GPU ---------------------------------------------------------------------------------------


@pytest.mark.skipif(
    ctranslate2.get_cuda_device_count() == 0, reason="no CUDA device for CTranslate2"
)
@pytest.mark.parametrize("compute_type", ["float32", "float16", "int8_float16"])
def test_cuda(compute_type: str, marian_pair, ct2_cache: Path):
    from service.engines.ct2 import CTranslate2Seq2Seq

    reference, _ = marian_pair
    fast = CTranslate2Seq2Seq(
        reference.model, device="auto", compute_type=compute_type, cache_root=ct2_cache
    )
    fast.load()
    assert fast.device == "cuda"
    options = GenerationOptions(num_beams=1, max_new_tokens=20)
    got = fast.generate(FRENCH, options)
    assert all(g.text and g.tokens for g in got)
    if compute_type == "float32":
        assert got == reference.generate(FRENCH, options)
