"""Random-weight stand-in models: built offline, loaded through the ordinary transformers path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.engines.weights import MARKER_FILE, is_random_model
from service.measure import devmodels
from service.measure.devmodels import build_bart, build_marian, checkpoints

FRENCH = [
    "Le gouvernement a présenté mardi un projet de loi sur les retraites.",
    "Les syndicats appellent à une nouvelle journée de grève jeudi.",
    "Bonjour !",
]
ENGLISH = [
    "The government presented a pension reform bill on Tuesday.",
    "Unions are calling for a new day of strikes on Thursday across the country.",
    "Hello!",
]

# MarianTokenizer asks for sacremoses; the service keeps it away on purpose (see seq2seq).
pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

needs_slow = pytest.mark.skipif(
    os.environ.get("PASSEUR_SLOW_TESTS") != "1", reason="set PASSEUR_SLOW_TESTS=1 to run"
)


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_marian(tmp_path_factory.mktemp("dev") / "marian")


@pytest.fixture(scope="module")
def bart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bart(tmp_path_factory.mktemp("dev") / "bart")


def load(folder: Path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model, info = AutoModelForSeq2SeqLM.from_pretrained(folder, output_loading_info=True)
    # transformers silently initialises missing weights at random: none may be missing.
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    return tokenizer, model.eval()


def generate(tokenizer, model, texts: list[str], beams: int) -> list[list[int]]:
    import torch

    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, num_beams=beams, max_new_tokens=12)
    return out.tolist()


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.mark.parametrize("beams", [1, 4])
def test_tiny_marian_translates_a_batch(marian_dir: Path, beams: int) -> None:
    tokenizer, model = load(marian_dir)
    assert type(tokenizer).__name__ == "MarianTokenizer"
    assert model.config.max_position_embeddings == 512  # the real model's token budget
    rows = generate(tokenizer, model, FRENCH, beams)

    assert len(rows) == 3
    assert all(row[0] == model.config.decoder_start_token_id for row in rows)
    texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
    assert all(isinstance(t, str) and t and "<pad>" not in t for t in texts)
    # Weights are random but the output still depends on the input, so tests can tell
    # sentences apart (with transformers' default init every sentence gives the same text).
    assert len(set(texts)) > 1


@pytest.mark.parametrize("beams", [1, 4])
def test_tiny_bart_summarises_a_batch(bart_dir: Path, beams: int) -> None:
    tokenizer, model = load(bart_dir)
    assert model.config.max_position_embeddings == 1024
    rows = generate(tokenizer, model, ENGLISH, beams)

    assert len(rows) == 3
    # generation_config.json is honoured: </s> starts the decoder, <s> is forced next.
    assert all(row[:2] == [2, 0] for row in rows)
    texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
    assert all(isinstance(t, str) and t for t in texts)
    assert len(set(texts)) > 1


def test_marian_vocabulary_keeps_pad_last(marian_dir: Path) -> None:
    vocab = json.loads((marian_dir / "vocab.json").read_text(encoding="utf-8"))
    config = json.loads((marian_dir / "config.json").read_text(encoding="utf-8"))
    ids = sorted(vocab.values())

    assert ids == list(range(len(vocab)))
    assert vocab["</s>"] == 0 and vocab["<unk>"] == 1
    assert vocab["<pad>"] == len(vocab) - 1 == max(ids)  # CTranslate2 drops a last <pad>
    assert config["pad_token_id"] == config["decoder_start_token_id"] == vocab["<pad>"]
    assert config["vocab_size"] == len(vocab)
    assert 300 <= len(vocab) <= 1000


def test_every_id_the_model_can_emit_decodes(marian_dir: Path, bart_dir: Path) -> None:
    for folder in (marian_dir, bart_dir):
        tokenizer, model = load(folder)
        ids = list(range(model.config.vocab_size))
        assert isinstance(tokenizer.decode(ids, skip_special_tokens=True), str)


def test_bart_vocabulary_matches_the_real_layout(bart_dir: Path) -> None:
    vocab = json.loads((bart_dir / "vocab.json").read_text(encoding="utf-8"))
    config = json.loads((bart_dir / "config.json").read_text(encoding="utf-8"))

    assert [vocab[t] for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    # As in distilbart-cnn-12-6: <mask> is the last entry, one past the embedding matrix.
    assert vocab["<mask>"] == len(vocab) - 1 == config["vocab_size"]
    assert (bart_dir / "merges.txt").read_text(encoding="utf-8").startswith("#version")


def test_random_models_are_labelled(marian_dir: Path, bart_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoConfig

    for folder in (marian_dir, bart_dir):
        assert is_random_model(folder)
        assert "RANDOM WEIGHTS" in (folder / MARKER_FILE).read_text(encoding="utf-8")
        assert AutoConfig.from_pretrained(folder).passeur_random_weights is True

    assert not is_random_model(tmp_path)
    assert not is_random_model(tmp_path / "missing")
    (tmp_path / "config.json").write_text('{"model_type": "marian"}', encoding="utf-8")
    assert not is_random_model(tmp_path)


def test_a_second_build_returns_at_once_and_touches_nothing(marian_dir: Path) -> None:
    before = mtimes(marian_dir)
    started = time.perf_counter()
    assert build_marian(marian_dir) == marian_dir
    assert time.perf_counter() - started < 0.5
    assert mtimes(marian_dir) == before


def test_other_parameters_rebuild_in_place(tmp_path: Path) -> None:
    folder = build_bart(tmp_path / "bart")
    weights = (folder / "model.safetensors").read_bytes()

    assert build_bart(folder, seed=1) == folder
    stamp = json.loads((folder / devmodels.BUILD_FILE).read_text(encoding="utf-8"))
    assert stamp["seed"] == 1
    assert (folder / "model.safetensors").read_bytes() != weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bart"]  # no leftovers


def test_the_same_seed_gives_the_same_model(marian_dir: Path, tmp_path: Path) -> None:
    again = build_marian(tmp_path / "marian")
    for name in ("model.safetensors", "vocab.json", "source.spm", "target.spm"):
        assert (again / name).read_bytes() == (marian_dir / name).read_bytes(), name


def test_a_failed_build_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(model: object, folder: Path) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(checkpoints, "save_model", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        build_marian(tmp_path / "marian")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_folder_it_did_not_build(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not built by service.measure.devmodels"):
        build_bart(tmp_path)
    assert (tmp_path / "config.json").read_text(encoding="utf-8") == "{}"


def test_unknown_size_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tiny, full"):
        build_marian(tmp_path / "m", size="small")  # type: ignore[arg-type]


def test_import_is_cheap() -> None:
    code = (
        "import sys, service.measure.devmodels; "
        "heavy = {'torch', 'transformers', 'sentencepiece', 'tokenizers'} & set(sys.modules); "
        "sys.exit(sorted(heavy) or 0)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def count_parameters(folder: Path) -> tuple[int, int]:
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    buffers = sum(b.numel() for b in model.buffers())  # final_logits_bias
    return sum(p.numel() for p in model.parameters()), buffers


@pytest.mark.slow
@needs_slow
def test_full_marian_has_the_opus_mt_fr_en_shape(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    started = time.perf_counter()
    folder = build_marian(tmp_path / "marian", size="full")
    assert time.perf_counter() - started < 30
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["vocab_size"] == config["decoder_vocab_size"] == 59514
    assert config["pad_token_id"] == config["decoder_start_token_id"] == 59513
    assert (config["d_model"], config["encoder_layers"], config["decoder_layers"]) == (512, 6, 6)

    # 74,609,664 trained weights + 2 x 512 x 512 static sinusoidal positions, which
    # transformers keeps as (frozen) parameters.
    assert count_parameters(folder) == (75_133_952, 59_514)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert len(tokenizer) == 59514 and tokenizer.pad_token_id == 59513
    assert isinstance(tokenizer.decode(list(range(59514))), str)


@pytest.mark.slow
@needs_slow
def test_full_bart_has_the_distilbart_cnn_12_6_shape(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    started = time.perf_counter()
    folder = build_bart(tmp_path / "bart", size="full")
    assert time.perf_counter() - started < 30
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["vocab_size"] == 50264
    assert (config["d_model"], config["encoder_layers"], config["decoder_layers"]) == (1024, 12, 6)

    # 305.5 M parameters; final_logits_bias (a buffer, 50,264 zeros) comes on top.
    assert count_parameters(folder) == (305_510_400, 50_264)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert len(tokenizer) == 50265 and tokenizer.mask_token_id == 50264
    assert isinstance(tokenizer.decode(list(range(50264))), str)
