"""The CTranslate2 backend: the same :class:`~service.engines.protocol.Seq2SeqBackend` as
the transformers one, run by CTranslate2 (int8 on CPU, float16 on GPU by default).

CTranslate2 runs a converted copy of the pulled Hugging Face folder, made once by
:func:`service.engines.convert.ensure_converted` (on the first :meth:`load` when
``passeur models pull`` has not made it). The tokenizer and the decoding defaults are still
read from the Hugging Face folder.

Decoding follows :class:`~service.engines.hf.TransformersSeq2Seq` token for token (greedy,
float32): CTranslate2 ignores ``generation_config.json``, so its defaults (beam, lengths,
``no_repeat_ngram_size``, banned words, the forced first token ``<s>`` of BART) are read
here and passed explicitly, and the length limits are shifted so that a cut output is cut
at the same token.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.engines.batching import pack_batches
from service.engines.convert import (
    check_compute_type,
    ensure_converted,
    resolve_compute_type,
    resolve_device,
)
from service.engines.hf import (
    LANGUAGE_TOKEN_MODELS,
    language_code,
    set_source_language,
    target_language,
)
from service.engines.memory import limit_malloc_arenas
from service.engines.protocol import Generated, GenerationOptions
from service.engines.weights import is_random_model
from service.errors import ModelNotAvailable
from service.registry import ResolvedModel

__all__ = ["CTranslate2Seq2Seq", "load_tokenizer", "thread_layout", "usable_cores"]

log = logging.getLogger(__name__)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class _Defaults:
    """The model's own decoding defaults, as transformers would take them."""

    max_new_tokens: int
    min_new_tokens: int
    no_repeat_ngram_size: int
    repetition_penalty: float
    length_penalty: float
    forced_bos: int | None
    bad_words: tuple[tuple[int, ...], ...]

    @classmethod
    def read(cls, folder: Path) -> _Defaults:
        # generation_config.json wins; old checkpoints keep these fields in config.json.
        gen = {
            **_read_json(folder / "config.json"),
            **_read_json(folder / "generation_config.json"),
        }
        max_length = gen.get("max_length") or 20  # transformers' own default
        min_length = gen.get("min_length") or 0
        return cls(
            max_new_tokens=int(gen.get("max_new_tokens") or max_length - 1),
            min_new_tokens=int(gen.get("min_new_tokens") or max(min_length - 1, 0)),
            no_repeat_ngram_size=int(gen.get("no_repeat_ngram_size") or 0),
            repetition_penalty=float(gen.get("repetition_penalty") or 1.0),
            length_penalty=float(gen.get("length_penalty") or 1.0),
            forced_bos=gen.get("forced_bos_token_id"),
            bad_words=tuple(tuple(seq) for seq in gen.get("bad_words_ids") or ()),
        )


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def thread_layout(device: str, threads: int, inter_threads: int) -> tuple[int, int]:
    """``(replicas, threads per replica)`` for a budget of ``threads`` (0: every usable core).

    On CPU the default (``inter_threads`` 0) is one single-threaded replica per core, each
    running its part of every batch: on two vCPUs, opus-mt-fr-en int8 at beam 4 in batches
    of 32 decodes 543 target tokens/s that way against 457 with one replica of two threads,
    and a replica of one thread does not stall when another process takes a core for a
    moment. On a GPU, one replica.
    """
    if device != "cpu":
        return max(inter_threads, 1), max(threads, 1)
    budget = threads or usable_cores()
    replicas = inter_threads or budget
    return replicas, max(1, budget // replicas)


# Tokenizer classes by config.json model_type, for folders whose tokenizer_config.json does
# not name its class (sshleifer/distilbart-cnn-12-6 is one).
_TOKENIZER_BY_MODEL_TYPE = {
    "marian": "MarianTokenizer",
    "bart": "BartTokenizer",
    "m2m_100": "M2M100Tokenizer",
}


def load_tokenizer(path: Path) -> Any:
    """The model's tokenizer, loaded by its own class rather than ``AutoTokenizer``.

    ``AutoTokenizer`` reads the model config through code that imports torch (about 190 MB
    of a worker's memory); the CTranslate2 backend needs only the tokenizer. A folder whose
    class cannot be told falls back to ``AutoTokenizer``.
    """
    import transformers

    tokenizer_config = path / "tokenizer_config.json"
    name = (
        _read_json(tokenizer_config).get("tokenizer_class") if tokenizer_config.is_file() else None
    )
    if not name and (path / "config.json").is_file():
        model_type = _read_json(path / "config.json").get("model_type")
        name = _TOKENIZER_BY_MODEL_TYPE.get(model_type) if isinstance(model_type, str) else None
    cls = getattr(transformers, name, None) if isinstance(name, str) else None
    if cls is None:
        cls = transformers.AutoTokenizer
    return cls.from_pretrained(str(path), local_files_only=True)


class CTranslate2Seq2Seq:
    """A seq2seq model run by CTranslate2, held to the transformers backend's outputs."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        device: str = "auto",
        threads: int = 0,
        max_source_tokens: int | None = None,
        compute_type: str = "auto",
        inter_threads: int = 0,
        cache_root: Path | None = None,
        batch_tokens: int = 0,
    ) -> None:
        check_compute_type(compute_type)
        self.model = model
        self.device_setting = device
        self.threads = threads
        self.inter_threads = inter_threads
        # Padded source tokens the replicas decode at once, all together (0: each call is
        # cut in one part per replica). See generate().
        self.batch_tokens = batch_tokens
        self.compute_type_setting = compute_type
        # models/cache/<name>/<revision> for registry models; beside a local folder otherwise.
        self.cache_root = cache_root or (
            model.path.parent if model.is_local else model.path.parents[1]
        )
        self._requested_budget = max_source_tokens
        self.max_source_tokens = max_source_tokens or 0
        self.random_weights = is_random_model(model.path)
        self._tokenizer: Any = None
        self._translator: Any = None
        self._defaults: _Defaults | None = None
        self._prefix: list[str] = []
        self._suppress: list[list[str]] = []
        self.language_tokens = False  # M2M100: source language set, target token as prefix
        self._tokenize_lock = threading.Lock()  # src_lang is tokenizer state
        self.device = "cpu"
        self.compute_type = "int8"
        self.converted: Path | None = None
        self.replicas = 1
        self.tokens_generated = 0  # reported in worker heartbeats (/metrics)

    def load(self) -> None:
        """Convert the model if needed, then load the tokenizer and the CTranslate2 copy."""
        if self._translator is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if os.environ.get("CT2_USE_MKL") == "1":
            log.warning("CT2_USE_MKL=1 is set: on AMD CPUs it makes CTranslate2 many times slower")
        import warnings

        import ctranslate2  # type: ignore[import-untyped]

        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        self.device = resolve_device(self.device_setting)
        self.compute_type = resolve_compute_type(self.compute_type_setting, self.device)
        path = str(self.model.path)
        try:
            self._tokenizer = load_tokenizer(self.model.path)
        except OSError as exc:
            raise ModelNotAvailable(
                f"model {self.model.name} could not be loaded from {path}: {exc}. "
                "Pull it again with `passeur models pull --force NAME`.",
                model=self.model.name,
            ) from exc
        self.converted = ensure_converted(self.model, self.cache_root, self.compute_type)
        self.replicas, intra = thread_layout(self.device, self.threads, self.inter_threads)
        # Before the replicas' threads allocate: they would each keep an arena of their own.
        limit_malloc_arenas(usable_cores())
        self._translator = ctranslate2.Translator(
            str(self.converted),
            device=self.device,
            compute_type=self.compute_type,
            intra_threads=intra,
            inter_threads=self.replicas,
        )
        self._setup_decoding()
        positions = int(
            _read_json(self.model.path / "config.json").get("max_position_embeddings") or 512
        )
        hard_limit = positions - 2  # room for </s>, and <s> for BART, as in the reference
        self.max_source_tokens = min(self._requested_budget or hard_limit, hard_limit)
        log.info(
            "loaded %s (%s) with CTranslate2 %s on %s, source budget %d tokens",
            self.model.name,
            self.model.revision,
            self.compute_type,
            self.device,
            self.max_source_tokens,
        )

    def _setup_decoding(self) -> None:
        tok = self._tokenizer
        defaults = _Defaults.read(self.model.path)
        self._defaults = defaults
        # transformers forces BART's first token (<s>); CTranslate2 takes it as a prefix.
        self._prefix = (
            [tok.convert_ids_to_tokens(defaults.forced_bos)]
            if defaults.forced_bos is not None
            else []
        )
        model_type = _read_json(self.model.path / "config.json").get("model_type")
        self.language_tokens = model_type in LANGUAGE_TOKEN_MODELS
        if self.language_tokens:
            # M2M100: the target language's token (__en__) opens every output, as
            # transformers' forced_bos_token_id makes it.
            target = language_code(self.model, target_language(self.model))
            self._prefix = [tok.lang_code_to_token[target]]
        # Marian bans <pad>; the converter already drops it from the vocabulary when it is
        # the last entry. Any other banned token is suppressed explicitly.
        vocabulary = self._target_vocabulary()
        banned = [tok.convert_ids_to_tokens(list(seq)) for seq in defaults.bad_words]
        self._suppress = [seq for seq in banned if all(t in vocabulary for t in seq)]

    def _target_vocabulary(self) -> set[str]:
        folder = self.converted or self.model.path
        for name in ("target_vocabulary", "shared_vocabulary"):
            if (folder / f"{name}.json").is_file():
                return set(json.loads((folder / f"{name}.json").read_text(encoding="utf-8")))
            if (folder / f"{name}.txt").is_file():  # older CTranslate2 releases
                return set((folder / f"{name}.txt").read_text(encoding="utf-8").splitlines())
        return set()

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            raise RuntimeError("call load() first")
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def translate_options(self, options: GenerationOptions) -> dict[str, Any]:
        """``translate_batch`` arguments equivalent to ``options`` in transformers."""
        d = self._defaults
        if d is None:
            raise RuntimeError("call load() first")

        def pick(value: Any, default: Any) -> Any:  # 0 is a real setting, None is not
            return default if value is None else value

        max_new = pick(options.max_new_tokens, d.max_new_tokens)
        min_new = pick(options.min_new_tokens, d.min_new_tokens)
        # transformers spends the last of max_new_tokens on a forced </s> (and BART's first
        # on <s>, which CTranslate2 counts too): one token fewer reaches the same cut.
        max_decoding = max(max_new - 1, 1)
        return {
            "beam_size": options.num_beams,
            "max_decoding_length": max_decoding,
            "min_decoding_length": min(min_new, max_decoding),
            "no_repeat_ngram_size": pick(options.no_repeat_ngram_size, d.no_repeat_ngram_size),
            "repetition_penalty": pick(options.repetition_penalty, d.repetition_penalty),
            "length_penalty": pick(options.length_penalty, d.length_penalty),
            "suppress_sequences": self._suppress or None,
            "max_input_length": 0,  # inputs are already cut to the source budget
            "return_end_token": True,
            "return_scores": False,
        }

    @property
    def streams_batches(self) -> bool:
        """Whether a call is cut into sub-batches under ``batch_tokens`` that the replicas
        take as they come free: callers may then hand over several budgets' worth at once."""
        return bool(self.batch_tokens) and self.device == "cpu" and self.replicas > 1

    def _posted(
        self, source: list[list[str]], prefix: list[list[str]] | None, decoding: dict[str, Any]
    ) -> list[Any]:
        """``source`` in length-sorted sub-batches of at most ``batch_tokens / replicas``
        padded tokens, longest first, each posted on its own: a replica that finishes takes
        the next one instead of waiting for the others at the end of a call, and no more
        than ``batch_tokens`` are in flight. On the benchmark's 50 articles in groups of 16
        (2 cores), the summary windows took 72.6 s this way against 76.8 s cut in one part
        per replica (one run each)."""
        budget = max(1, self.batch_tokens // self.replicas)
        posted = [
            (
                batch,
                self._translator.translate_batch(
                    [source[i] for i in batch],
                    [prefix[i] for i in batch] if prefix else None,
                    asynchronous=True,
                    **decoding,
                ),
            )
            # No more rows than a replica's share either: a short call still gets them all.
            for batch in pack_batches(
                [len(row) for row in source], budget, max_batch=-(-len(source) // self.replicas)
            )
        ]
        results: list[Any] = [None] * len(source)
        for batch, pending in posted:
            for i, item in zip(batch, pending, strict=True):
                results[i] = item.result()
        return results

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        tok = self.tokenizer
        limit = options.max_new_tokens
        if limit is not None and limit - 1 <= len(self._prefix):
            # Only the forced tokens fit: transformers returns empty outputs, cut.
            return [Generated(text="", tokens=0, hit_limit=True) for _ in texts]
        with self._tokenize_lock:
            if self.language_tokens:
                set_source_language(tok, self.model, options.source_lang)
            ids = tok(texts, truncation=True, max_length=self.max_source_tokens + 2)["input_ids"]
        source = [tok.convert_ids_to_tokens(row) for row in ids]
        prefix = [list(self._prefix) for _ in texts] if self._prefix else None
        decoding = self.translate_options(options)
        if self.streams_batches:
            results = self._posted(source, prefix, decoding)
        else:
            # With several replicas the batch is cut in as many parts, which CTranslate2
            # runs in parallel; one part per replica keeps each part large.
            parts = self.replicas if self.device == "cpu" else 1
            results = self._translator.translate_batch(
                source,
                prefix,
                max_batch_size=math.ceil(len(source) / parts) if parts > 1 else 0,
                **decoding,
            )
        special = set(tok.all_special_ids)
        out = []
        for result in results:
            tokens = result.hypotheses[0]
            if self.language_tokens and tokens[: len(self._prefix)] == self._prefix:
                tokens = tokens[len(self._prefix) :]  # the forced __en__ is no output
            ended = bool(tokens) and tokens[-1] == tok.eos_token
            row = tok.convert_tokens_to_ids(tokens)
            text = tok.decode(row, skip_special_tokens=True)
            n = sum(1 for t in row if t not in special)
            # Stopping short of the limit is what says the output was not cut.
            out.append(
                Generated(text=text.strip(), tokens=n, hit_limit=limit is not None and not ended)
            )
        self.tokens_generated += sum(r.tokens for r in out)
        return out
