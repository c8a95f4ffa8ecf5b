"""Abstractive summaries, what goes in: the article's English sentences packed into windows
that fit the summariser's source budget, and the decoding settings for them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from service.engines.protocol import GenerationOptions
from service.text.segmentation import fit_to_budget

__all__ = ["SUMMARY_GENERATION", "Window", "generation_options", "plan_windows"]

# distilbart-cnn-12-6's own decoding settings: the defaults for a summariser given as a
# local folder, which has no registry entry. A registry entry's values override them.
SUMMARY_GENERATION = {
    "num_beams": 4,
    "no_repeat_ngram_size": 3,
    "length_penalty": 2.0,
    "min_new_tokens": 30,
    "max_new_tokens": 142,
}


@dataclass(frozen=True)
class Window:
    """Consecutive sentences (or pieces of one long sentence) summarised in one go."""

    text: str
    sentences: tuple[int, ...]  # indices covered; a cut sentence spans several windows
    tokens: int  # in the summariser's tokens, special tokens included


def plan_windows(
    sentences: Sequence[str], count_tokens: Callable[[str], int], budget: int
) -> list[Window]:
    """Cut the article into windows of at most ``budget`` tokens, on sentence boundaries.

    Windows are balanced (a 2.2-budget article gives three windows of about 0.73 budget,
    not two full ones and a scrap), and every window's count is checked on its joined
    text, so none is over budget. A sentence over the budget on its own is cut into pieces
    with :func:`fit_to_budget` and each piece is a unit.
    """
    if budget < 1:
        raise ValueError(f"budget must be a positive number of tokens, got {budget}")
    specials = count_tokens("")
    units: list[tuple[int, str, int]] = []  # (sentence index, text, tokens without specials)
    for i, sentence in enumerate(sentences):
        text = sentence.strip()
        if not text:
            continue
        if count_tokens(text) > budget:
            pieces = [p.text for p in fit_to_budget(text, count_tokens, budget, lang="en")]
        else:
            pieces = [text]
        units.extend((i, piece, max(count_tokens(piece) - specials, 0)) for piece in pieces)
    if not units:
        return []
    total = specials + sum(cost for _, _, cost in units)
    target = math.ceil(total / math.ceil(total / budget))
    groups: list[list[tuple[int, str, int]]] = [[]]
    size = specials
    for unit in units:
        if groups[-1] and size + unit[2] > budget:
            groups.append([])
            size = specials
        groups[-1].append(unit)
        size += unit[2]
        if size >= target:
            groups.append([])
            size = specials
    groups = [g for g in groups if g]
    # Token counts of joined text differ a little from the sum of the parts: check, and
    # push the last unit of an over-budget window into the next one.
    windows: list[Window] = []
    i = 0
    while i < len(groups):
        group = groups[i]
        text = " ".join(u[1] for u in group)
        tokens = count_tokens(text)
        if tokens > budget and len(group) > 1:
            moved = group.pop()
            if i + 1 < len(groups):
                groups[i + 1].insert(0, moved)
            else:
                groups.append([moved])
            continue
        windows.append(Window(text, tuple(sorted({u[0] for u in group})), tokens))
        i += 1
    return windows


def generation_options(
    model_generation: Mapping[str, Any], shortest_window: int
) -> GenerationOptions:
    """Decoding settings: the registry's, else distilbart's; a short window is not forced
    into a summary longer than half of it."""
    names = {f.name for f in fields(GenerationOptions)}
    values: dict[str, Any] = {
        **SUMMARY_GENERATION,
        **{k: v for k, v in model_generation.items() if k in names},
    }
    if values.get("min_new_tokens"):
        values["min_new_tokens"] = min(int(values["min_new_tokens"]), max(1, shortest_window // 2))
    return GenerationOptions(**values)
