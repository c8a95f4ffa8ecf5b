"""Idempotency keys and the content hash they rest on.

The API stores the hash of every submission made under an ``Idempotency-Key`` and refuses
the key with another body; the batch script's ``--server`` run names each job
``<article id>:<hash of its request>`` so that a resumed run finds the jobs it already
submitted. Both hash the same canonical JSON, defined here once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["MAX_KEY_CHARS", "content_hash", "idempotency_key"]

MAX_KEY_CHARS = 200  # the longest Idempotency-Key the API accepts


def content_hash(value: Any) -> str:
    """SHA-256 (hex) of ``value`` as canonical JSON (sorted keys, no spaces, UTF-8):
    equal values, equal hash, whatever the order of their keys."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def idempotency_key(name: str, body: Any) -> str:
    """``<name>:<content_hash(body)>``; a name too long for :data:`MAX_KEY_CHARS` is
    replaced by its own hash."""
    digest = content_hash(body)
    if len(name) + 1 + len(digest) > MAX_KEY_CHARS:
        name = hashlib.sha256(name.encode("utf-8")).hexdigest()
    return f"{name}:{digest}"
