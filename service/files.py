"""Publishing a folder atomically: written under another name beside its place, then renamed
into it, so that a reader finds either no folder, the previous one, or the complete new one,
never a half-written one (an interrupted model pull, conversion or build).

Used by ``passeur models pull`` (:mod:`service.registry`), CTranslate2 conversions
(:mod:`service.engines.convert`) and the random-weight model builds of ``service.measure``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["publish_folder"]


def publish_folder(
    staged: Path, target: Path, *, keep_existing: Callable[[Path], bool] = lambda _: False
) -> bool:
    """Move the complete folder ``staged`` to ``target``, on the same file system.

    The rename is atomic and also replaces an empty folder. When ``target`` holds something,
    ``keep_existing(target)`` decides: True (another process published the same thing first)
    keeps it and leaves ``staged`` to the caller to delete; False swaps ``staged`` in, the old
    folder being renamed aside to ``.<name>.old-<random>`` and then deleted.

    Returns whether ``staged`` was published.
    """
    try:
        os.rename(staged, target)
        return True
    except OSError:
        if not target.exists():
            raise
    if keep_existing(target):
        return False
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    os.rename(staged, target)
    shutil.rmtree(old, ignore_errors=True)
    return True
