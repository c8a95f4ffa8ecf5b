"""Exact fakes at the model seam, for tests about something other than the model."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from service.engines.protocol import Generated, GenerationOptions
from service.registry import ResolvedModel

_FR_NUMBER = re.compile(r"\d+(?:[ \u00a0\u202f]\d{3})*(?:,\d+)?")


def english_numbers(text: str) -> str:
    """French number formats rewritten the English way: "1 200,5" -> "1,200.5"."""

    def fix(m: re.Match[str]) -> str:
        whole, _, dec = m.group(0).partition(",")
        whole = re.sub(r"[ \u00a0\u202f]", ",", whole)
        return f"{whole}.{dec}" if dec else whole

    return _FR_NUMBER.sub(fix, text)


def pseudo_english(text: str) -> str:
    """A stand-in translation: every word becomes ``w<len>``, numbers kept in English format.

    It is neither a copy of the source (no passthrough) nor a loop, and keeps every number.
    """
    out = []
    for token in english_numbers(text).split():
        out.append(token if any(c.isdigit() for c in token) else f"w{len(token)}")
    return " ".join(out)


class FakeBackend:
    """A translator whose output is ``behaviour(text, options)``; records every call.

    An output's tokens are its words. With ``stops_at_limit``, an output longer than
    ``options.max_new_tokens`` is cut there and marked ``hit_limit``, as a real model's is.
    """

    def __init__(
        self,
        behaviour: Callable[[str, GenerationOptions], str] = lambda t, o: pseudo_english(t),
        *,
        max_source_tokens: int = 64,
        fail_above: int | None = None,
        name: str = "fake",
        stops_at_limit: bool = False,
    ) -> None:
        self.behaviour = behaviour
        self.stops_at_limit = stops_at_limit
        self.model = ResolvedModel(
            name=name, task="translation", revision="0" * 40, path=Path("/nonexistent")
        )
        self.max_source_tokens = max_source_tokens
        self.random_weights = False
        self.fail_above = fail_above
        self.calls: list[tuple[list[str], GenerationOptions]] = []

    def load(self) -> None:  # nothing to load
        pass

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        if self.fail_above is not None and len(texts) > self.fail_above:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.calls.append((list(texts), options))
        outs = [self.behaviour(t, options) for t in texts]
        limit = options.max_new_tokens if self.stops_at_limit else None
        results = []
        for out in outs:
            words = out.split()
            if limit is not None and len(words) > limit:
                results.append(Generated(" ".join(words[:limit]), limit, hit_limit=True))
            else:
                results.append(Generated(out, len(words), hit_limit=False))
        return results
