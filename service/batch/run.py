"""The batch script's one loop, shared by the in-process and the ``--server`` runs.

The loop reads the inputs in order, skips the ids ``--resume`` found done, turns a
repeated id into a failed item, and writes one record per article as results come back,
counting them and drawing the progress display. How articles get translated is the only
thing a run supplies: a :class:`Translate`, given the admitted items and giving back their
results (:func:`service.batch.local.in_process`, :func:`service.batch.remote.on_server`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from service.articles import ArticleResult
from service.batch.io import InputItem, iter_inputs
from service.batch.progress import ProgressDisplay
from service.settings import DEFAULT_SOURCE_LANG

__all__ = ["BatchCounts", "Status", "Translate", "Writer", "run_batch"]

log = logging.getLogger(__name__)


class Status(Protocol):
    """What a run tells the progress display (:class:`~service.batch.progress.ProgressDisplay`)."""

    def __call__(self, note: str) -> None:
        """Set the note beside the articles bar (jobs in flight on a server)."""

    def stage(self, name: str, done: int = 0, total: int | None = None, unit: str = "") -> None:
        """``name`` is under way (loading models, translating articles 1-8), ``done`` of
        ``total`` ``unit`` so far; ``total`` None: no count yet, only the stage's clock."""


class Translate(Protocol):
    """One way to run a batch. Called once with the admitted items in input order, it
    yields exactly one result per item, in any order, as each is ready; an item without
    an article (unreadable, invalid, a repeated id) gets ``item.failed_result()``."""

    def __call__(
        self, items: Iterator[InputItem], status: Status
    ) -> Generator[ArticleResult, None, None]: ...


class Writer(Protocol):
    def write(self, result: ArticleResult) -> None: ...


@dataclass
class BatchCounts:
    """What a run did, as the command reports it."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0


def run_batch(
    files: list[Path | None],
    translate: Translate,
    writer: Writer,
    *,
    skip: Iterable[str] = (),
    source_lang: str = DEFAULT_SOURCE_LANG,
    stdin: IO[bytes] | None = None,
    show: bool = False,
    total: int | None = None,
    input_format: str | None = None,
) -> BatchCounts:
    """Run every article of ``files`` (``None``: ``stdin``, by default the process's)
    through ``translate`` and write its record; ids in ``skip`` are counted, not run.

    A record is written, flushed and (for a file) synced before the next is taken, so an
    interrupted run leaves complete records for ``--resume``. ``show``: draw the progress
    display (:mod:`service.batch.progress`) on stderr, for ``total`` articles (None: not
    known, as with stdin). ``input_format``: every input's format (default: by suffix)."""
    done = set(skip)
    counts = BatchCounts()
    display = ProgressDisplay(total, show=show)

    def admitted() -> Iterator[InputItem]:
        seen: set[str] = set()
        source = stdin if stdin is not None else sys.stdin.buffer
        for item in iter_inputs(files, source, default_lang=source_lang, input_format=input_format):
            if item.id in done:
                counts.skipped += 1
                display.article_done()
                continue
            if item.id in seen:
                item.article = None
                item.error = {
                    "code": "duplicate_id",
                    "message": f"id {item.id!r} appears more than once in the input",
                }
            seen.add(item.id)
            yield item

    with display:
        results = translate(admitted(), display)
        try:
            for result in results:
                writer.write(result)
                if result.error:
                    counts.failed += 1
                    log.warning("article %s failed: %s", result.id, result.error.get("message"))
                else:
                    counts.ok += 1
                display.article_done()
        finally:
            results.close()  # a remote run closes its connections
    return counts
