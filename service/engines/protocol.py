"""What translation and summarisation need from a model: the `Seq2SeqBackend` protocol,
its decoding options and its outputs. Importing this module imports no model library."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from service.registry import ResolvedModel

__all__ = ["Generated", "GenerationOptions", "Seq2SeqBackend"]


@dataclass(frozen=True)
class GenerationOptions:
    """Decoding settings for one call; ``None`` leaves the model's own default."""

    num_beams: int = 4
    max_new_tokens: int | None = None
    min_new_tokens: int | None = None
    no_repeat_ngram_size: int | None = None
    repetition_penalty: float | None = None
    length_penalty: float | None = None
    # The segments' language (ISO 639-1): a multilingual model (M2M100) is told it; a
    # one-pair model ignores it. Not a decoding setting: backends take it out first.
    source_lang: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def transformers_kwargs(self) -> dict[str, Any]:
        """``generate()`` arguments. Lengths go as ``max_length``/``min_length`` (decoder
        tokens, counting the start token) so they replace the model's own defaults instead of
        competing with them."""
        kwargs = self.kwargs()
        kwargs.pop("source_lang", None)
        if "max_new_tokens" in kwargs:
            kwargs["max_length"] = kwargs.pop("max_new_tokens") + 1
        if "min_new_tokens" in kwargs:
            kwargs["min_length"] = kwargs.pop("min_new_tokens") + 1
        return kwargs


@dataclass(frozen=True)
class Generated:
    """One decoded output: its text, its length in target tokens, and whether decoding
    stopped at ``max_new_tokens`` rather than at the end-of-sentence token."""

    text: str
    tokens: int
    hit_limit: bool


class Seq2SeqBackend(Protocol):
    """What translation and summarisation need from a loaded model."""

    @property
    def model(self) -> ResolvedModel: ...

    @property
    def max_source_tokens(self) -> int: ...

    @property
    def random_weights(self) -> bool: ...

    def load(self) -> None:
        """Load the weights (imports the model library); once per process."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]: ...
