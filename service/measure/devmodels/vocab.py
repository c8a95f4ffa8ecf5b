"""The tokenizers of the builds, trained offline on the given texts: SentencePiece models
and Marian's joint vocabulary, and RoBERTa/BART's byte-level BPE. Full-size vocabularies
are padded with ``<unused_N>`` placeholders up to the real models' sizes."""

from __future__ import annotations

import io
import json

__all__ = ["marian_vocab", "placeholders", "train_byte_bpe", "train_sentencepiece"]


def placeholders(start: int, stop: int) -> dict[str, int]:
    return {f"<unused_{i}>": i for i in range(start, stop)}


def train_sentencepiece(texts: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,  # small corpora cannot fill the requested size
        character_coverage=1.0,
        max_sentence_length=1 << 16,  # whole paragraphs or articles are fine too
        num_threads=1,  # deterministic output
        minloglevel=2,
    )
    return model.getvalue()


def marian_vocab(spm_models: list[bytes], vocab_size: int | None) -> dict[str, int]:
    import sentencepiece as spm

    vocab = {"</s>": 0, "<unk>": 1}
    for proto in spm_models:
        sp = spm.SentencePieceProcessor(model_proto=proto)
        for i in range(sp.get_piece_size()):
            if not (sp.is_control(i) or sp.is_unknown(i)):
                vocab.setdefault(sp.id_to_piece(i), len(vocab))
    if vocab_size is not None:
        if len(vocab) >= vocab_size:
            raise ValueError(
                f"the trained vocabulary ({len(vocab) + 1} pieces) exceeds {vocab_size}: "
                "train on fewer texts"
            )
        vocab |= placeholders(len(vocab), vocab_size - 1)
    vocab["<pad>"] = len(vocab)  # last, as in the real vocab.json and as CTranslate2 needs
    return vocab


def train_byte_bpe(texts: list[str], vocab_size: int) -> tuple[dict[str, int], list[str]]:
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()  # add_prefix_space False, as in the RoBERTa/BART tokenizer
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        show_progress=False,
    )
    model = json.loads(bpe.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return model["vocab"], merges
