"""Random-weight stand-ins for Passeur's real models, for tests and benchmarks.

`build_marian` and `build_bart` write ordinary Hugging Face folders that load through
`AutoTokenizer.from_pretrained(folder)` and `AutoModelForSeq2SeqLM.from_pretrained(folder)`,
and convert with CTranslate2's `TransformersConverter`, exactly like the real checkpoints:

- `size="tiny"`: a few-second build (d_model 32, 2+2 layers) for the test suite.
- `size="full"`: the exact architecture and vocabulary size of the real models, for
  benchmarks of speed and memory.

The weights are random: the outputs are noise. Every folder carries a
`PASSEUR_RANDOM_MODEL.txt` marker and `"passeur_random_weights": true` in its config.json, so
that the service can label such outputs; `is_random_model` checks both.

Builds are offline (tokenizers trained on the given texts, or on the built-in sample),
idempotent (a `passeur_build.json` stamp records what was built) and atomic (built in a
temporary sibling folder, then renamed into place).

The jobs are apart: :mod:`.checkpoints` (configs and random weights), :mod:`.vocab`
(tokenizer training), :mod:`.folders` (the stamp and the atomic build), :mod:`.samples`
(the built-in corpus).

Tokenizers trained on the built-in sample split unseen words finely (about twice the real
model's tokens per sentence): for benchmarks where sequence lengths matter, pass a few
thousand in-domain sentences as the texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from service.measure.devmodels.checkpoints import (
    BART,
    MARIAN,
    architecture,
    write_bart,
    write_marian,
)
from service.measure.devmodels.folders import BUILD_FILE, build_atomically, build_stamp
from service.measure.devmodels.m2m100 import build_m2m100
from service.measure.devmodels.samples import DEFAULT_ENGLISH_TEXTS, DEFAULT_FRENCH_TEXTS

__all__ = [
    "BUILD_FILE",
    "DEFAULT_ENGLISH_TEXTS",
    "DEFAULT_FRENCH_TEXTS",
    "Size",
    "build_bart",
    "build_m2m100",
    "build_marian",
]

Size = Literal["tiny", "full"]


def build_marian(
    out_dir: str | Path,
    *,
    size: Size = "tiny",
    seed: int = 0,
    source_texts: Sequence[str] | None = None,
    target_texts: Sequence[str] | None = None,
) -> Path:
    """Build a random-weight MarianMT model shaped like `Helsinki-NLP/opus-mt-fr-en`.

    Writes `config.json`, `generation_config.json`, `model.safetensors`, `source.spm`,
    `target.spm`, `vocab.json`, `tokenizer_config.json`, the random-model marker and the build
    stamp into `out_dir`. The two SentencePiece models are trained on `source_texts` (French)
    and `target_texts` (English), by default the module's built-in sample; the joint
    `vocab.json` puts `</s>` at 0, `<unk>` at 1 and `<pad>` last, as the real one does (and as
    CTranslate2 requires). For `size="full"` it is padded with `<unused_N>` placeholders up to
    the real vocabulary size, 59514.

    Returns `out_dir` at once if it already holds a complete build with the same size, seed,
    texts and builder version. Raises `FileExistsError` if `out_dir` is a non-empty folder
    that this module did not build, and `ValueError` for an unknown size.
    """
    arch = architecture(MARIAN, size)
    src = _texts(source_texts, DEFAULT_FRENCH_TEXTS, "source_texts")
    tgt = _texts(target_texts, DEFAULT_ENGLISH_TEXTS, "target_texts")
    stamp = build_stamp("marian", size, seed, src, tgt)
    return build_atomically(
        Path(out_dir), stamp, lambda folder: write_marian(folder, arch, size, seed, src, tgt)
    )


def build_bart(
    out_dir: str | Path,
    *,
    size: Size = "tiny",
    seed: int = 0,
    texts: Sequence[str] | None = None,
) -> Path:
    """Build a random-weight BART model shaped like `sshleifer/distilbart-cnn-12-6`.

    Writes `config.json`, `generation_config.json`, `model.safetensors`, a byte-level BPE
    tokenizer (`vocab.json` + `merges.txt`, `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, `<mask>`
    last) trained on `texts` (English; by default the module's built-in sample),
    `tokenizer_config.json`, the random-model marker and the build stamp into `out_dir`.
    As in the real checkpoint, the model's `vocab_size` is one less than the tokenizer's
    length: `<mask>` has no embedding, and every id the model can emit decodes. For
    `size="full"` the vocabulary is padded with `<unused_N>` placeholders to the real sizes
    (model 50264, tokenizer 50265).

    Idempotent and atomic like `build_marian`; raises the same errors.
    """
    arch = architecture(BART, size)
    corpus = _texts(texts, DEFAULT_ENGLISH_TEXTS, "texts")
    stamp = build_stamp("bart", size, seed, corpus)
    return build_atomically(
        Path(out_dir), stamp, lambda folder: write_bart(folder, arch, size, seed, corpus)
    )


def _texts(texts: Sequence[str] | None, default: Sequence[str], name: str) -> list[str]:
    if texts is None:
        return list(default)
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a sequence of sentences, not one string")
    lines = [line.strip() for line in texts if line.strip()]
    if not lines:
        raise ValueError(f"{name} holds no non-empty text to train a tokenizer on")
    return lines
