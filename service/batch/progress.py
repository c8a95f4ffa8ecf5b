"""The batch script's progress display on stderr: one bar for the articles written, one
for the stage under way (loading models, translating, summarising) with its own done /
total and clock.

Both are redrawn every second from a timer thread, so the clocks move while one long
batch runs: a display that only redraws when a count changes looks frozen for minutes.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

__all__ = ["ProgressDisplay"]

_STAGE_COUNTED = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]"
)
_STAGE_OPEN = "{desc} [{elapsed}]"


class ProgressDisplay:
    """What :func:`service.batch.run.run_batch` shows; a :class:`~service.batch.run.Status`.

    Calling it sets the note beside the articles bar (jobs in flight on a server);
    :meth:`stage` names the stage under way and its counts. With ``show`` false every
    method does nothing."""

    def __init__(
        self,
        total: int | None,
        *,
        show: bool,
        file: IO[str] | None = None,
        refresh_s: float = 1.0,
        min_redraw_s: float = 0.1,
    ) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped]

        self._tqdm = tqdm
        self.show = show
        self.file = file or sys.stderr
        self.min_redraw_s = min_redraw_s
        self._lock = threading.Lock()
        self._articles = tqdm(
            total=total,
            desc="articles",
            unit="article",
            file=self.file,
            disable=not show,
            dynamic_ncols=True,
        )
        self._stage: Any = None  # the stage bar, made on the first stage
        self._stage_name: str | None = None
        self._drawn = 0.0
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if show:
            self._timer = threading.Thread(
                target=self._tick, args=(refresh_s,), name="progress-clock", daemon=True
            )
            self._timer.start()

    def __call__(self, note: str) -> None:
        if self.show:
            with self._lock:
                self._articles.set_postfix_str(note, refresh=False)
                self._redraw(force=False)

    def stage(self, name: str, done: int = 0, total: int | None = None, unit: str = "") -> None:
        """``name`` is under way, ``done`` of ``total`` ``unit`` so far (``total`` None:
        no count, only its clock). A new name starts the stage's clock again."""
        if not self.show:
            return
        with self._lock:
            changed = name != self._stage_name
            self._stage_name = name
            bar = self._stage
            if bar is None:
                bar = self._stage = self._tqdm(
                    total=None,
                    file=self.file,
                    position=1,
                    leave=False,
                    dynamic_ncols=True,
                    bar_format=_STAGE_OPEN,
                    desc=name,
                )
            # Format first: reset() draws the bar, and should draw the new stage.
            bar.set_description_str(name, refresh=False)
            bar.bar_format = _STAGE_COUNTED if total else _STAGE_OPEN
            bar.unit = unit
            if changed:
                bar.reset(total=total or None)  # the stage's clock starts again
            bar.total = total or None
            bar.n = done
            self._redraw(force=changed or bool(total and done >= total))

    def article_done(self) -> None:
        """One more record written (or skipped by ``--resume``)."""
        if self.show:
            with self._lock:
                self._articles.update(1)

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        with self._lock:
            if self._stage is not None:
                self._stage.close()
            self._articles.close()

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _redraw(self, *, force: bool) -> None:
        """Draw both bars now, unless they were drawn under ``min_redraw_s`` ago (the
        clock draws them soon): a stage reports once per batch per article. A new stage
        and a finished one are drawn at once."""
        now = time.monotonic()
        if not force and now - self._drawn < self.min_redraw_s:
            return
        self._drawn = now
        self._articles.refresh()
        if self._stage is not None:
            self._stage.refresh()

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                self._redraw(force=True)
