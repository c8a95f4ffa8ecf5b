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

Builds are offline (tokenizers trained on the given texts, or on the built-in sample below),
idempotent (a `passeur_build.json` stamp records what was built) and atomic (built in a
temporary sibling folder, then renamed into place).

Tokenizers trained on the built-in sample split unseen words finely (about twice the real
model's tokens per sentence): for benchmarks where sequence lengths matter, pass a few
thousand in-domain sentences as the texts.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "BUILD_FILE",
    "MARKER_FILE",
    "RANDOM_WEIGHTS_KEY",
    "build_bart",
    "build_marian",
    "is_random_model",
]

Size = Literal["tiny", "full"]

# Bump when the output of a build changes, so that stale folders are rebuilt.
BUILD_VERSION = 1
MARKER_FILE = "PASSEUR_RANDOM_MODEL.txt"
BUILD_FILE = "passeur_build.json"
RANDOM_WEIGHTS_KEY = "passeur_random_weights"
_ABANDONED_AFTER_S = 3600


@dataclass(frozen=True, slots=True)
class _Arch:
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
_MARIAN = {
    "tiny": _Arch(32, 2, 2, 2, 64, 512, None, 400, 64, 0, init_std=(1.0, 0.2)),
    "full": _Arch(512, 6, 6, 8, 2048, 512, 59514, 8000, 512, 0),
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
_BART = {
    "tiny": _Arch(32, 2, 2, 2, 64, 1024, None, 600, 64, 0, init_std=(0.5, 0.2)),
    "full": _Arch(1024, 12, 6, 16, 4096, 1024, 50264, 50000, 142, 56),
}

# Fields of the real config.json files that transformers 5 no longer declares (they are
# kept as plain attributes). CTranslate2 needs `normalize_before` to convert BART and reads
# `normalize_embedding`.
_MARIAN_LEGACY_FIELDS: dict[str, Any] = {
    "static_position_embeddings": True,
    "normalize_before": False,
    "normalize_embedding": False,
    "add_final_layer_norm": False,
}
_BART_LEGACY_FIELDS: dict[str, Any] = {
    "normalize_before": False,
    "add_final_layer_norm": False,
    "normalize_embedding": True,
    "static_position_embeddings": False,
    "extra_pos_embeddings": 2,
    "add_bias_logits": False,
}

_MARKER_TEXT = """\
RANDOM WEIGHTS - NOT A TRANSLATION OR SUMMARISATION MODEL.

This folder was generated by service.devmodels ({kind}, size={size}, seed={seed}) for tests
and benchmarks. It has the architecture of {real} but untrained, random weights
and a tokenizer trained on a handful of sentences. Its outputs are noise and must never be
shown to users as translations or summaries.
"""

# A small built-in corpus so that a build needs no data files: news-like French sentences and
# English renderings of them.
DEFAULT_FRENCH_TEXTS: tuple[str, ...] = (
    "Le gouvernement a présenté mardi un projet de loi sur la réforme des retraites.",
    "Les syndicats appellent à une nouvelle journée de grève jeudi dans toute la France.",
    "Le président de la République s'est exprimé hier soir lors d'une allocution télévisée.",
    "La Banque centrale européenne a décidé de maintenir ses taux directeurs inchangés.",
    "L'inflation a ralenti en octobre pour atteindre 4,1 % sur un an, selon l'Insee.",
    "Le prix de l'électricité augmentera de 10 % au 1er février, a annoncé le ministre.",
    "Des orages violents ont provoqué des inondations dans le sud-ouest du pays.",
    "Météo-France a placé douze départements en vigilance orange pour les crues.",
    "La maire de Paris a inauguré une nouvelle piste cyclable le long des quais de la Seine.",
    "Le procès de l'ancien ministre s'ouvrira le 12 mars devant le tribunal correctionnel.",
    "Selon un sondage publié dimanche, 58 % des Français jugent la réforme injuste.",
    "L'équipe de France de football s'est qualifiée pour la finale de la Coupe du monde.",
    "Le Premier ministre recevra les partenaires sociaux à Matignon la semaine prochaine.",
    "Plus de 300 000 personnes ont manifesté samedi, d'après le ministère de l'Intérieur.",
    "La SNCF prévoit un trafic très perturbé sur les lignes régionales ce week-end.",
    "Les députés ont adopté le budget en première lecture après des débats houleux.",
    "L'entreprise a annoncé la suppression de 1 200 postes en Europe d'ici à 2026.",
    "Les prix de l'immobilier ont baissé de 3 % dans les grandes villes depuis janvier.",
    "Une enquête a été ouverte après l'incendie d'un entrepôt près de Lyon.",
    "Les pompiers ont maîtrisé le feu dans la nuit, sans faire de victimes.",
    "Le Conseil constitutionnel rendra sa décision sur la loi immigration jeudi.",
    "La ministre de la Santé a annoncé un plan pour l'hôpital public de 2 milliards d'euros.",
    "Les agriculteurs bloquent plusieurs autoroutes pour protester contre les normes.",
    "Le Sénat examinera le texte en deuxième lecture au début du mois d'avril.",
    "Les négociations sur le climat se sont achevées sans accord contraignant.",
    "Le chômage est resté stable au troisième trimestre, à 7,4 % de la population active.",
    "La ville de Marseille accueillera les épreuves de voile des Jeux olympiques.",
    "Un accord de cessez-le-feu a été signé dans la nuit de dimanche à lundi.",
    "Les enseignants réclament une hausse des salaires et davantage de moyens.",
    "Le musée du Louvre a accueilli près de neuf millions de visiteurs l'an dernier.",
    "La justice a condamné l'entreprise à une amende de 15 millions d'euros.",
    "Le chef de l'État doit se rendre en Allemagne pour une visite officielle de deux jours.",
    "Les ventes de voitures électriques ont progressé de 25 % l'an dernier.",
    "Le festival de Cannes a dévoilé mercredi la sélection officielle de sa prochaine édition.",
    "Selon les premières estimations, la participation au scrutin atteint 46 %.",
    "L'opposition a déposé une motion de censure contre le gouvernement.",
    "M. Dupont, porte-parole du parti, a dénoncé « une décision précipitée ».",
    "La sécheresse menace les récoltes de blé dans plusieurs régions de l'Hexagone.",
    "Les hôpitaux font face à une épidémie de grippe plus précoce que prévu.",
    "Le tribunal administratif a suspendu l'arrêté municipal jeudi après-midi.",
)

DEFAULT_ENGLISH_TEXTS: tuple[str, ...] = (
    "The government presented a bill on pension reform on Tuesday.",
    "Unions are calling for a new day of strikes on Thursday across France.",
    "The President of the Republic spoke last night in a televised address.",
    "The European Central Bank decided to keep its key interest rates unchanged.",
    "Inflation slowed in October to 4.1% year on year, according to Insee.",
    "The price of electricity will rise by 10% on 1 February, the minister announced.",
    "Violent storms caused flooding in the south-west of the country.",
    "Météo-France placed twelve departments on orange alert for floods.",
    "The mayor of Paris opened a new cycle lane along the banks of the Seine.",
    "The trial of the former minister will open on 12 March at the criminal court.",
    "According to a poll published on Sunday, 58% of French people consider the reform unfair.",
    "The French football team qualified for the World Cup final.",
    "The Prime Minister will receive the social partners at Matignon next week.",
    "More than 300,000 people demonstrated on Saturday, according to the Interior Ministry.",
    "SNCF expects heavily disrupted traffic on regional lines this weekend.",
    "MPs adopted the budget at first reading after stormy debates.",
    "The company announced it would cut 1,200 jobs in Europe by 2026.",
    "Property prices have fallen by 3% in the big cities since January.",
    "An investigation has been opened after a warehouse fire near Lyon.",
    "Firefighters brought the blaze under control overnight, with no casualties.",
    "The Constitutional Council will rule on the immigration law on Thursday.",
    "The health minister announced a 2 billion euro plan for public hospitals.",
    "Farmers are blocking several motorways in protest against regulations.",
    "The Senate will examine the text at second reading in early April.",
    "The climate negotiations ended without a binding agreement.",
    "Unemployment remained stable in the third quarter, at 7.4% of the workforce.",
    "The city of Marseille will host the sailing events of the Olympic Games.",
    "A ceasefire agreement was signed overnight from Sunday to Monday.",
    "Teachers are demanding higher salaries and more resources.",
    "The Louvre museum welcomed nearly nine million visitors last year.",
    "The court fined the company 15 million euros.",
    "The head of state is due to travel to Germany for a two-day official visit.",
    "Sales of electric cars rose by 25% last year.",
    "The Cannes festival unveiled the official selection of its next edition on Wednesday.",
    "According to early estimates, turnout in the election stands at 46%.",
    "The opposition tabled a motion of no confidence in the government.",
    'Mr Dupont, the party spokesman, denounced "a hasty decision".',
    "Drought is threatening wheat harvests in several regions of France.",
    "Hospitals are facing a flu epidemic that arrived earlier than expected.",
    "The administrative court suspended the municipal order on Thursday afternoon.",
)


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
    arch = _arch(_MARIAN, size)
    src = _texts(source_texts, DEFAULT_FRENCH_TEXTS, "source_texts")
    tgt = _texts(target_texts, DEFAULT_ENGLISH_TEXTS, "target_texts")
    stamp = _stamp("marian", size, seed, src, tgt)
    return _build_atomically(
        Path(out_dir), stamp, lambda folder: _write_marian(folder, arch, size, seed, src, tgt)
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
    arch = _arch(_BART, size)
    corpus = _texts(texts, DEFAULT_ENGLISH_TEXTS, "texts")
    stamp = _stamp("bart", size, seed, corpus)
    return _build_atomically(
        Path(out_dir), stamp, lambda folder: _write_bart(folder, arch, size, seed, corpus)
    )


def is_random_model(path: str | Path) -> bool:
    """Tell whether the model folder `path` holds random weights built by this module.

    True if the folder has the `PASSEUR_RANDOM_MODEL.txt` marker or its config.json sets
    `"passeur_random_weights": true`; False for anything else, missing folders included.
    """
    folder = Path(path)
    if (folder / MARKER_FILE).is_file():
        return True
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get(RANDOM_WEIGHTS_KEY) is True


# --- build bookkeeping ------------------------------------------------------------------


def _arch(table: dict[str, _Arch], size: str) -> _Arch:
    if size not in table:
        raise ValueError(f"unknown model size {size!r}: use one of {', '.join(table)}")
    return table[size]


def _texts(texts: Sequence[str] | None, default: Sequence[str], name: str) -> list[str]:
    if texts is None:
        return list(default)
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a sequence of sentences, not one string")
    lines = [line.strip() for line in texts if line.strip()]
    if not lines:
        raise ValueError(f"{name} holds no non-empty text to train a tokenizer on")
    return lines


def _stamp(kind: str, size: str, seed: int, *corpora: list[str]) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(corpora, ensure_ascii=False).encode("utf-8"))
    return {
        "kind": kind,
        "size": size,
        "seed": seed,
        "texts_sha256": digest.hexdigest(),
        "version": BUILD_VERSION,
    }


def _is_complete(folder: Path, stamp: dict[str, Any]) -> bool:
    try:
        recorded = json.loads((folder / BUILD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = recorded.pop("files", None)
    if recorded != stamp or not isinstance(files, list):
        return False
    return all((folder / name).is_file() for name in files)


def _build_atomically(out: Path, stamp: dict[str, Any], write: Callable[[Path], None]) -> Path:
    if _is_complete(out, stamp):
        return out
    ours = (out / BUILD_FILE).is_file()
    if out.exists() and not ours and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(
            f"{out} exists and was not built by service.devmodels; "
            "refusing to replace it: choose an empty or new folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(out)
    tmp = out.with_name(f".{out.name}.building-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()  # unlike mkdtemp, honours the umask: the folder may be shared (containers)
    try:
        write(tmp)
        (tmp / MARKER_FILE).write_text(_marker_text(stamp), encoding="utf-8")
        _match_modes(tmp, tmp / MARKER_FILE)
        files = sorted(p.name for p in tmp.iterdir()) + [BUILD_FILE]
        # The stamp goes last: a folder without it is never taken for a finished build.
        _write_json(tmp / BUILD_FILE, {**stamp, "files": files})
        _move_into_place(tmp, out, stamp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _move_into_place(tmp: Path, out: Path, stamp: dict[str, Any]) -> None:
    try:
        os.rename(tmp, out)  # atomic; also replaces an empty folder
        return
    except OSError:
        if _is_complete(out, stamp):  # a concurrent build of the same model won the race
            return
    # `out` is an older or unfinished build of ours: swap it out, then delete it.
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _remove_abandoned_builds(out: Path) -> None:
    # A killed build leaves a hidden sibling behind (1.2 GB for a full BART). Builds take
    # seconds, so one untouched for an hour is abandoned, not in progress elsewhere.
    cutoff = time.time() - _ABANDONED_AFTER_S
    name = glob.escape(out.name)
    for pattern in (f".{name}.building-*", f".{name}.old-*"):
        for path in out.parent.glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue


def _match_modes(folder: Path, reference: Path) -> None:
    # save_pretrained writes model.safetensors 0600; give it the umask's mode like the rest.
    mode = reference.stat().st_mode & 0o777
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)


def _marker_text(stamp: dict[str, Any]) -> str:
    real = {"marian": "Helsinki-NLP/opus-mt-fr-en", "bart": "sshleifer/distilbart-cnn-12-6"}
    kind = stamp["kind"]
    return _MARKER_TEXT.format(kind=kind, size=stamp["size"], seed=stamp["seed"], real=real[kind])


def _save_model(model: Any, folder: Path) -> None:
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one "Writing model shards" bar per test is noise
    try:
        # One safetensors file (the real repos have one); tied embeddings are stored once.
        model.save_pretrained(folder, max_shard_size="5GB")
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _random_model(model_class: Any, config: Any, arch: _Arch, seed: int) -> Any:
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


def _placeholders(start: int, stop: int) -> dict[str, int]:
    return {f"<unused_{i}>": i for i in range(start, stop)}


# --- MarianMT ----------------------------------------------------------------------------


def _train_sentencepiece(texts: list[str], vocab_size: int) -> bytes:
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


def _marian_vocab(spm_models: list[bytes], vocab_size: int | None) -> dict[str, int]:
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
        vocab |= _placeholders(len(vocab), vocab_size - 1)
    vocab["<pad>"] = len(vocab)  # last, as in the real vocab.json and as CTranslate2 needs
    return vocab


def _write_marian(
    folder: Path, arch: _Arch, size: str, seed: int, src: list[str], tgt: list[str]
) -> None:
    from transformers import GenerationConfig, MarianConfig, MarianMTModel

    source_spm = _train_sentencepiece(src, arch.trained_vocab)
    target_spm = _train_sentencepiece(tgt, arch.trained_vocab)
    vocab = _marian_vocab([source_spm, target_spm], arch.vocab_size)
    (folder / "source.spm").write_bytes(source_spm)
    (folder / "target.spm").write_bytes(target_spm)
    _write_json(folder / "vocab.json", vocab)
    _write_json(
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
        **_MARIAN_LEGACY_FIELDS,
        **_labels(size),
    )
    model = _random_model(MarianMTModel, config, arch, seed)
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
    _save_model(model, folder)


# --- BART --------------------------------------------------------------------------------


def _train_byte_bpe(texts: list[str], vocab_size: int) -> tuple[dict[str, int], list[str]]:
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


def _write_bart(folder: Path, arch: _Arch, size: str, seed: int, texts: list[str]) -> None:
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    trained, merges = _train_byte_bpe(texts, arch.trained_vocab)
    vocab = dict(sorted(trained.items(), key=lambda item: item[1]))
    if list(vocab.values()) != list(range(len(vocab))):
        raise RuntimeError("the trained BPE vocabulary is not numbered 0..n-1")
    if arch.vocab_size is not None:
        if len(vocab) > arch.vocab_size:
            raise ValueError(f"the trained vocabulary exceeds {arch.vocab_size}: use fewer texts")
        vocab |= _placeholders(len(vocab), arch.vocab_size)
    model_vocab_size = len(vocab)
    vocab["<mask>"] = model_vocab_size  # outside the embedding, as in the real checkpoint
    _write_json(folder / "vocab.json", vocab)
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{m}\n" for m in merges), encoding="utf-8"
    )
    _write_json(folder / "tokenizer_config.json", {"model_max_length": arch.max_positions})

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
        **_BART_LEGACY_FIELDS,
        **_labels(size),
    )
    model = _random_model(BartForConditionalGeneration, config, arch, seed)
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
    _save_model(model, folder)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
