"""The transformers backend: any Hugging Face encoder-decoder model behind one small class.

Construction is cheap; :meth:`TransformersSeq2Seq.load` imports torch and loads the
weights, once per process, from a local folder only (``local_files_only``): serving never
downloads. The CTranslate2 backend implements the same :class:`Seq2SeqBackend` protocol.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from service.engines.protocol import Generated, GenerationOptions
from service.engines.weights import is_random_model
from service.errors import ModelNotAvailable, UnsupportedLanguage
from service.registry import TARGET_LANG, ResolvedModel

# config.json model types that are told their source language and forced to start the
# output with the target language's token.
LANGUAGE_TOKEN_MODELS = ("m2m_100",)

log = logging.getLogger(__name__)


def language_code(model: ResolvedModel, lang: str) -> str:
    """The model's own code for ``lang`` (the registry's ``model_codes``, else ``lang``)."""
    codes = model.entry.model_codes if model.entry is not None else {}
    return codes.get(lang, lang)


def target_language(model: ResolvedModel) -> str:
    return model.entry.target if model.entry is not None else TARGET_LANG


def set_source_language(tokenizer: Any, model: ResolvedModel, lang: str | None) -> None:
    """Tell an M2M100 tokenizer the segments' language (it prefixes ``__xx__``); refuse a
    language the model has no token for rather than translate it as another."""
    if lang is None:
        return
    code = language_code(model, lang)
    if code not in getattr(tokenizer, "lang_code_to_token", {}):
        raise UnsupportedLanguage(
            f"model {model.name} has no language token for {lang!r}",
            supported=sorted(tokenizer.lang_code_to_token),
            language=lang,
        )
    if tokenizer.src_lang != code:
        tokenizer.src_lang = code


def pick_device(device: str) -> str:
    """``auto`` means CUDA when torch sees a GPU, else the CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TransformersSeq2Seq:
    """A seq2seq model run with transformers' ``generate`` (the reference backend)."""

    def __init__(
        self,
        model: ResolvedModel,
        *,
        device: str = "auto",
        threads: int = 0,
        max_source_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.device_setting = device
        self.threads = threads
        self._requested_budget = max_source_tokens
        self.max_source_tokens = max_source_tokens or 0
        self.random_weights = is_random_model(model.path)
        self._tokenizer: Any = None
        self._model: Any = None
        self.device = "cpu"
        self.tokens_generated = 0  # reported in worker heartbeats (/metrics)
        self.language_tokens = False  # M2M100: source language set, target token forced
        self._forced_bos: int | None = None
        self._tokenize_lock = threading.Lock()  # src_lang is tokenizer state

    def load(self) -> None:
        """Import torch and load tokenizer and weights from the local folder."""
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import warnings

        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would tear our own

        # MarianTokenizer asks for sacremoses, whose normaliser rewrites French quotes and
        # numbers; we keep it away from the model input on purpose.
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        if self.threads:
            torch.set_num_threads(self.threads)
        self.device = pick_device(self.device_setting)
        path = str(self.model.path)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self._model = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True)
        except OSError as exc:
            raise ModelNotAvailable(
                f"model {self.model.name} could not be loaded from {path}: {exc}. "
                "Pull it again with `passeur models pull --force NAME`.",
                model=self.model.name,
            ) from exc
        self._model.eval().to(self.device)
        self.language_tokens = self._model.config.model_type in LANGUAGE_TOKEN_MODELS
        if self.language_tokens:
            self._forced_bos = self._tokenizer.get_lang_id(
                language_code(self.model, target_language(self.model))
            )
        positions = int(getattr(self._model.config, "max_position_embeddings", 512) or 512)
        # Room for the special tokens the tokenizer adds (</s>, and <s> for BART).
        hard_limit = positions - 2
        self.max_source_tokens = min(self._requested_budget or hard_limit, hard_limit)
        log.info(
            "loaded %s (%s) on %s, source budget %d tokens",
            self.model.name,
            self.model.revision,
            self.device,
            self.max_source_tokens,
        )

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            raise RuntimeError("call load() first")
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        import torch

        tok = self.tokenizer
        kwargs = options.transformers_kwargs()
        with self._tokenize_lock:
            if self.language_tokens:
                set_source_language(tok, self.model, options.source_lang)
                kwargs["forced_bos_token_id"] = self._forced_bos
            enc = tok(
                texts,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_source_tokens + 2,
            ).to(self.device)
        with torch.inference_mode():
            out = self._model.generate(**enc, **kwargs)
        special = set(tok.all_special_ids)
        decoded = tok.batch_decode(out, skip_special_tokens=True)
        results = []
        limit = options.max_new_tokens
        for row, text in zip(out.tolist(), decoded, strict=True):
            # Tokens produced up to and including end-of-sentence (row[0] is the decoder
            # start). Marian forces EOS at the length limit, so reaching the limit, not the
            # absence of EOS, is what says the output was cut.
            try:
                produced = row.index(tok.eos_token_id, 1)
            except ValueError:
                produced = len(row) - 1
            n = sum(1 for t in row[1 : produced + 1] if t not in special)
            hit = limit is not None and produced >= limit
            results.append(Generated(text=text.strip(), tokens=n, hit_limit=hit))
        self.tokens_generated += sum(r.tokens for r in results)
        return results
