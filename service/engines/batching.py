"""Packing segments into length-sorted batches under a token budget.

Pure functions: the budget counts padded tokens (batch size × longest member), which is
what memory and compute scale with, so short segments travel in large batches and a long
one travels with few companions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def pack_batches(lengths: Sequence[int], budget: int, max_batch: int = 256) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches, longest first.

    Within a batch every member is padded to the longest one; a batch is closed when adding
    the next (shorter or equal) segment would push ``size × longest`` over ``budget`` or the
    batch reaches ``max_batch``. A segment longer than the whole budget travels alone.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if_added = max(longest, lengths[i], 1)
        if current and (
            (len(current) + 1) * longest_if_added > budget or len(current) >= max_batch
        ):
            batches.append(current)
            current, longest_if_added = [], max(lengths[i], 1)
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA or CPU allocation failure, whatever the backend raised."""
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def run_split_on_oom(items: list[T], run: Callable[[list[T]], list]) -> list:
    """``run(items)``; if it runs out of memory, split the batch in half and retry each half.

    A single item that still runs out of memory re-raises: there is nothing left to split.
    """
    try:
        return run(items)
    except Exception as exc:  # noqa: BLE001 - filtered just below
        if not is_out_of_memory(exc) or len(items) <= 1:
            raise
    half = len(items) // 2
    return run_split_on_oom(items[:half], run) + run_split_on_oom(items[half:], run)
