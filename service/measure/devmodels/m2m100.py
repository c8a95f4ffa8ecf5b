"""A random-weight M2M100 shaped like ``facebook/m2m100_418M`` at a tiny size, for the tests
of the multilingual fallback: an ``M2M100ForConditionalGeneration`` folder with an
``M2M100Tokenizer`` (a SentencePiece model trained offline on the given texts, and a
``vocab.json`` laid out as fairseq's: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3).

The tokenizer appends the 100 ``__xx__`` language tokens and 8 made-up words after
``vocab.json``; the model's ``vocab_size`` counts them, as the real one's does (128112).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from service.measure.devmodels.checkpoints import _labels, save_model
from service.measure.devmodels.folders import build_atomically, build_stamp, write_json
from service.measure.devmodels.samples import DEFAULT_ENGLISH_TEXTS, DEFAULT_FRENCH_TEXTS
from service.measure.devmodels.vocab import train_sentencepiece

__all__ = ["build_m2m100"]

# facebook/m2m100_418M: d_model 1024, 12+12 layers, 16 heads, ffn 4096, 1024 positions,
# scale_embedding true, bos 0, pad 1, eos 2, decoder_start_token_id 2.
TINY = {"d_model": 32, "layers": 2, "heads": 2, "ffn": 64, "positions": 1024, "pieces": 500}
MADE_UP_WORDS = 8


def build_m2m100(out_dir: str | Path, *, seed: int = 0, texts: Sequence[str] | None = None) -> Path:
    """Build the tiny random M2M100 into ``out_dir`` (idempotent and atomic, like
    :func:`service.measure.devmodels.build_marian`), with the random-model marker."""
    corpus = [t.strip() for t in (texts or [*DEFAULT_FRENCH_TEXTS, *DEFAULT_ENGLISH_TEXTS])]
    corpus = [t for t in corpus if t]
    if not corpus:
        raise ValueError("texts holds no non-empty text to train a tokenizer on")
    stamp = build_stamp("m2m100", "tiny", seed, corpus)
    return build_atomically(Path(out_dir), stamp, lambda folder: _write(folder, seed, corpus))


def _language_codes() -> list[str]:
    from transformers.models.m2m_100.tokenization_m2m_100 import FAIRSEQ_LANGUAGE_CODES

    return list(FAIRSEQ_LANGUAGE_CODES["m2m100"])


def _vocab(spm_model: bytes) -> dict[str, int]:
    import sentencepiece as spm

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    sp = spm.SentencePieceProcessor(model_proto=spm_model)
    for i in range(sp.get_piece_size()):
        if not (sp.is_control(i) or sp.is_unknown(i)):
            vocab.setdefault(sp.id_to_piece(i), len(vocab))
    return vocab


def _write(folder: Path, seed: int, corpus: list[str]) -> None:
    import torch
    from transformers import GenerationConfig, M2M100Config, M2M100ForConditionalGeneration

    spm_model = train_sentencepiece(corpus, TINY["pieces"])
    vocab = _vocab(spm_model)
    (folder / "sentencepiece.bpe.model").write_bytes(spm_model)
    write_json(folder / "vocab.json", vocab)
    write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "M2M100Tokenizer",
            "language_codes": "m2m100",
            "src_lang": "en",
            "tgt_lang": "en",
            "model_max_length": 1024,
            "num_madeup_words": MADE_UP_WORDS,
            "bos_token": "<s>",
            "eos_token": "</s>",
            "sep_token": "</s>",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
            # As in the real tokenizer_config.json: the language tokens are special (skipped
            # when decoding, and in the vocabulary CTranslate2's converter reads).
            "additional_special_tokens": [f"__{code}__" for code in _language_codes()],
        },
    )
    config = M2M100Config(
        vocab_size=len(vocab) + len(_language_codes()) + MADE_UP_WORDS,
        d_model=TINY["d_model"],
        encoder_layers=TINY["layers"],
        decoder_layers=TINY["layers"],
        encoder_attention_heads=TINY["heads"],
        decoder_attention_heads=TINY["heads"],
        encoder_ffn_dim=TINY["ffn"],
        decoder_ffn_dim=TINY["ffn"],
        max_position_embeddings=TINY["positions"],
        scale_embedding=True,
        dropout=0.1,
        init_std=0.2,  # at width 32, transformers' 0.02 gives every input the same output
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        architectures=["M2M100ForConditionalGeneration"],
        **_labels("tiny"),
    )
    torch.manual_seed(seed)
    # Built directly rather than on the meta device: M2M100's sinusoidal positions are a
    # buffer computed at construction, which a meta build would leave empty.
    model = M2M100ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=0,
        decoder_start_token_id=2,
        eos_token_id=2,
        pad_token_id=1,
        max_length=64,
        num_beams=4,
    )
    save_model(model, folder)
