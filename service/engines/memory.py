"""Keeping a worker's memory to what its engines use.

glibc's malloc gives each thread that allocates its own arena (up to eight per core) and an
arena keeps what its thread freed for that thread. CTranslate2's replicas are threads that
allocate large activations (a summary window's cross-attention cache is about 200 MB at beam
4), two models' replicas each kept their own: on the benchmark's 50 articles the worker's
peak was 1,496 MB with glibc's default and 1,084 MB with two arenas, at the same speed
(docs/performance.md). Capping the arenas before the replicas start lets a freed buffer
serve whichever thread allocates next.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading

__all__ = ["limit_malloc_arenas"]

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # <malloc.h>
_lock = threading.Lock()
_limited: int | None = None


def limit_malloc_arenas(arenas: int) -> int | None:
    """Cap this process's malloc arenas at ``arenas`` (at least 2), once; the cap in force,
    or None where it is not ours to set: the operator chose (``MALLOC_ARENA_MAX``, or
    ``GLIBC_TUNABLES`` naming ``arena_max``) or the C library is not glibc."""
    global _limited
    with _lock:
        if _limited is not None:
            return _limited
        if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
            return None
        import platform

        if platform.libc_ver()[0] != "glibc":
            return None
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):
            return None
        cap = max(2, arenas)
        if not mallopt(M_ARENA_MAX, cap):
            return None
        _limited = cap
        log.debug("malloc arenas capped at %d", cap)
        return cap
