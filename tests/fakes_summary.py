"""An exact fake summariser at the model seam, and articles made to measure.

Tokens are words plus two special tokens, so budgets can be checked by counting words;
``generate`` returns whatever the test's behaviour says and records every call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from service.engines.protocol import Generated, GenerationOptions
from service.registry import ResolvedModel
from service.text.segmentation import split_sentences

SPECIAL_TOKENS = 2


def first_and_last(text: str) -> str:
    """A summary of a window: its first and last sentences, then a fragment cut short, as a
    summariser stopped by its length limit would leave it."""
    spans = split_sentences(text, "en")
    first, last = text[slice(*spans[0])], text[slice(*spans[-1])]
    return f"{first} {last} Meanwhile the officials were"


class FakeSummariser:
    """A summarisation backend whose output is ``behaviour(window text)``."""

    def __init__(
        self,
        behaviour: Callable[[str], str] = first_and_last,
        *,
        max_source_tokens: int = 200,
        random_weights: bool = False,
        generation: dict[str, object] | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.model = ResolvedModel(
            name="fake-summariser",
            task="summarisation",
            revision="f" * 40,
            path=Path("/nonexistent"),
            generation=dict(generation or {}),
        )
        self.max_source_tokens = max_source_tokens
        self.random_weights = random_weights
        self.calls: list[tuple[list[str], GenerationOptions]] = []

    def load(self) -> None:  # nothing to load
        pass

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + SPECIAL_TOKENS

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        self.calls.append((list(texts), options))
        outs = [self.behaviour(t) for t in texts]
        return [Generated(o, len(o.split()), False) for o in outs]

    @property
    def windows_seen(self) -> list[str]:
        return [t for texts, _ in self.calls for t in texts]


_SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "du"]


def made_up_word(i: int) -> str:
    """A distinct lower-case word per number (no digits, so no number guard fires)."""
    digits = f"{i:04d}"
    return "".join(_SYLLABLES[int(d)] for d in digits)


def long_article(words: int = 5000) -> list[str]:
    """English-like sentences of 14 words, each with three words of its own, until the
    article reaches ``words`` words."""
    sentences: list[str] = []
    total = 0
    i = 0
    while total < words:
        a, b, c = made_up_word(3 * i), made_up_word(3 * i + 1), made_up_word(3 * i + 2)
        sentence = (
            f"The {a} council discussed the {b} proposal and the {c} budget with residents again."
        )
        sentences.append(sentence)
        total += len(sentence.split())
        i += 1
    return sentences
