"""The model folders' configs and random weights: MarianMT shaped like
``Helsinki-NLP/opus-mt-fr-en`` and BART shaped like ``sshleifer/distilbart-cnn-12-6``, at a
tiny size for tests or at the real one for benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.engines.weights import RANDOM_WEIGHTS_KEY
from service.measure.devmodels.folders import write_json
from service.measure.devmodels.vocab import (
    marian_vocab,
    placeholders,
    train_byte_bpe,
    train_sentencepiece,
)

__all__ = ["BART", "MARIAN", "Arch", "architecture", "save_model", "write_bart", "write_marian"]


@dataclass(frozen=True, slots=True)
class Arch:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ffn_dim: int
    max_positions: int
    vocab_size: int | None  # None: the size of the trained vocabulary
    trained_vocab: int  # soft target for the trained (sub)word vocabulary
    max_length: int  # generation_config max_length
    min_length: int  # generation_config min_length
    # (token embedding std, other weight matrices std), or None for transformers' init
    # (normal, std 0.02). At width 32 with std 0.02 every input gives the same output; larger
    # weights make the output depend on the input.
    init_std: tuple[float, float] | None = None


# Helsinki-NLP/opus-mt-fr-en, config.json: d_model 512, encoder_layers / decoder_layers 6,
# encoder_attention_heads / decoder_attention_heads 8, encoder_ffn_dim / decoder_ffn_dim 2048,
# vocab_size = decoder_vocab_size 59514, max_position_embeddings 512,
# static_position_embeddings true, scale_embedding true, activation_function "swish",
# share_encoder_decoder_embeddings true, pad_token_id = decoder_start_token_id 59513,
# eos_token_id 0, bos_token_id 0, forced_eos_token_id 0; vocab.json: "</s>" 0, "<unk>" 1, ...,
# "<pad>" 59513. generation_config.json: num_beams 4, max_length 512, bad_words_ids [[59513]],
# renormalize_logits true.
MARIAN = {
    "tiny": Arch(32, 2, 2, 2, 64, 512, None, 400, 64, 0, init_std=(1.0, 0.2)),
    "full": Arch(512, 6, 6, 8, 2048, 512, 59514, 8000, 512, 0),
}

# sshleifer/distilbart-cnn-12-6, config.json: d_model 1024, encoder_layers 12, decoder_layers 6,
# encoder_attention_heads / decoder_attention_heads 16, encoder_ffn_dim / decoder_ffn_dim 4096,
# vocab_size 50264, max_position_embeddings 1024, activation_function "gelu",
# normalize_before false, add_final_layer_norm false, normalize_embedding true,
# scale_embedding false, pad_token_id 1, bos_token_id 0, eos_token_id 2,
# decoder_start_token_id 2; generation settings: num_beams 4, max_length 142, min_length 56,
# no_repeat_ngram_size 3, length_penalty 2.0, early_stopping true, forced_bos_token_id 0,
# forced_eos_token_id 2. Its vocab.json has 50265 entries ("<mask>" is 50264), one more than
# the embedding matrix: the real checkpoint cannot embed "<mask>". We keep that layout.
BART = {
    "tiny": Arch(32, 2, 2, 2, 64, 1024, None, 600, 64, 0, init_std=(0.5, 0.2)),
    "full": Arch(1024, 12, 6, 16, 4096, 1024, 50264, 50000, 142, 56),
}

# Fields of the real config.json files that transformers 5 no longer declares (they are
# kept as plain attributes). CTranslate2 needs `normalize_before` to convert BART and reads
# `normalize_embedding`.
MARIAN_LEGACY_FIELDS: dict[str, Any] = {
    "static_position_embeddings": True,
    "normalize_before": False,
    "normalize_embedding": False,
    "add_final_layer_norm": False,
}
BART_LEGACY_FIELDS: dict[str, Any] = {
    "normalize_before": False,
    "add_final_layer_norm": False,
    "normalize_embedding": True,
    "static_position_embeddings": False,
    "extra_pos_embeddings": 2,
    "add_bias_logits": False,
}


def architecture(table: dict[str, Arch], size: str) -> Arch:
    """The architecture of ``size`` in ``table``; an unknown size names the known ones."""
    if size not in table:
        raise ValueError(f"unknown model size {size!r}: use one of {', '.join(table)}")
    return table[size]


def save_model(model: Any, folder: Path) -> None:
    """Write the weights and configs of ``model`` into ``folder``, without progress bars."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one "Writing model shards" bar per test is noise
    try:
        # One safetensors file (the real repos have one); tied embeddings are stored once.
        model.save_pretrained(folder, max_shard_size="5GB")
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def random_model(model_class: Any, config: Any, arch: Arch, seed: int) -> Any:
    """Instantiate `model_class(config)` with seeded random weights, fast and lean.

    transformers' own path runs torch's default init and then its own (about 8 s and 1.9 GB
    for distilbart); allocating on the meta device and filling each tensor once takes 3 s.
    The distribution is transformers' (normal(0, 0.02), unit LayerNorm, zero biases).
    """
    import torch

    with torch.device("meta"):
        model = model_class(config)
    model.to_empty(device="cpu")
    model.tie_weights()  # to_empty unties the shared embedding and the output projection
    embeddings = model.get_input_embeddings().weight
    embedding_std, weight_std = arch.init_std or (config.init_std, config.init_std)
    layer_norms = {
        id(m.weight)
        for m in model.modules()
        if isinstance(m, torch.nn.LayerNorm) or "LayerNorm" in type(m).__name__
    }
    static = set()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "create_weight"):  # Marian's static sinusoidal positions
                module.weight.copy_(module.create_weight())
                static.add(id(module.weight))
        for name, param in model.named_parameters():  # tied tensors are listed once
            if id(param) in static:
                continue
            if param.dim() == 1:
                param.fill_(1.0 if id(param) in layer_norms else 0.0)
            elif param is embeddings:
                param.normal_(0.0, embedding_std, generator=generator)
            elif "embed_positions" in name:  # BART's learned positions keep the default init
                param.normal_(0.0, config.init_std, generator=generator)
            else:
                param.normal_(0.0, weight_std, generator=generator)
        for buffer in model.buffers():  # final_logits_bias
            buffer.zero_()
        # The real checkpoints have a zero <pad> embedding; CTranslate2's Marian decoder starts
        # from a zero embedding instead of <pad>, so parity with it depends on this row.
        embeddings[config.pad_token_id].zero_()
    return model.eval()


def _labels(size: str) -> dict[str, Any]:
    # Extra config.json fields: the service reads them to label outputs as noise.
    return {RANDOM_WEIGHTS_KEY: True, "passeur_model_size": size}


# --- MarianMT ----------------------------------------------------------------------------


def write_marian(
    folder: Path, arch: Arch, size: str, seed: int, src: list[str], tgt: list[str]
) -> None:
    from transformers import GenerationConfig, MarianConfig, MarianMTModel

    source_spm = train_sentencepiece(src, arch.trained_vocab)
    target_spm = train_sentencepiece(tgt, arch.trained_vocab)
    vocab = marian_vocab([source_spm, target_spm], arch.vocab_size)
    (folder / "source.spm").write_bytes(source_spm)
    (folder / "target.spm").write_bytes(target_spm)
    write_json(folder / "vocab.json", vocab)
    write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "MarianTokenizer",
            "source_lang": "fr",
            "target_lang": "en",
            "model_max_length": 512,
            "separate_vocabs": False,
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
        },
    )
    pad = len(vocab) - 1
    config = MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        d_model=arch.d_model,
        encoder_layers=arch.encoder_layers,
        decoder_layers=arch.decoder_layers,
        encoder_attention_heads=arch.heads,
        decoder_attention_heads=arch.heads,
        encoder_ffn_dim=arch.ffn_dim,
        decoder_ffn_dim=arch.ffn_dim,
        max_position_embeddings=arch.max_positions,
        activation_function="swish",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=0,
        bos_token_id=0,
        forced_eos_token_id=0,
        architectures=["MarianMTModel"],
        **MARIAN_LEGACY_FIELDS,
        **_labels(size),
    )
    model = random_model(MarianMTModel, config, arch, seed)
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad]],
        bos_token_id=0,
        decoder_start_token_id=pad,
        eos_token_id=0,
        forced_eos_token_id=0,
        pad_token_id=pad,
        max_length=arch.max_length,
        min_length=arch.min_length,
        num_beams=4,
        renormalize_logits=True,
    )
    save_model(model, folder)


# --- BART --------------------------------------------------------------------------------


def write_bart(folder: Path, arch: Arch, size: str, seed: int, texts: list[str]) -> None:
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    trained, merges = train_byte_bpe(texts, arch.trained_vocab)
    vocab = dict(sorted(trained.items(), key=lambda item: item[1]))
    if list(vocab.values()) != list(range(len(vocab))):
        raise RuntimeError("the trained BPE vocabulary is not numbered 0..n-1")
    if arch.vocab_size is not None:
        if len(vocab) > arch.vocab_size:
            raise ValueError(f"the trained vocabulary exceeds {arch.vocab_size}: use fewer texts")
        vocab |= placeholders(len(vocab), arch.vocab_size)
    model_vocab_size = len(vocab)
    vocab["<mask>"] = model_vocab_size  # outside the embedding, as in the real checkpoint
    write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{m}\n" for m in merges), encoding="utf-8"
    )
    write_json(folder / "tokenizer_config.json", {"model_max_length": arch.max_positions})

    config = BartConfig(
        vocab_size=model_vocab_size,
        d_model=arch.d_model,
        encoder_layers=arch.encoder_layers,
        decoder_layers=arch.decoder_layers,
        encoder_attention_heads=arch.heads,
        decoder_attention_heads=arch.heads,
        encoder_ffn_dim=arch.ffn_dim,
        decoder_ffn_dim=arch.ffn_dim,
        max_position_embeddings=arch.max_positions,
        activation_function="gelu",
        scale_embedding=False,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=2,
        architectures=["BartForConditionalGeneration"],
        **BART_LEGACY_FIELDS,
        **_labels(size),
    )
    model = random_model(BartForConditionalGeneration, config, arch, seed)
    model.generation_config = GenerationConfig(
        bos_token_id=0,
        decoder_start_token_id=2,
        eos_token_id=2,
        pad_token_id=1,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
        num_beams=4,
        max_length=arch.max_length,
        min_length=arch.min_length,
        no_repeat_ngram_size=3,
        length_penalty=2.0,
        early_stopping=True,
    )
    save_model(model, folder)
