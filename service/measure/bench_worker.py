"""``python -m service.measure.bench_worker``: the product's worker (``passeur worker``) with
every backend wrapped in :class:`~service.measure.bench_support.ForcedLength`, so that
random-weight models decode the lengths trained ones would. Settings come from the
environment (``PASSEUR_*``), as the supervisor of :mod:`service.measure.bench_server` gives
them.

Twice a second the worker writes what its wrapped backends decoded (their
:class:`~service.measure.bench_support.ForcedStats`, summed) to
``$PASSEUR_DATA_DIR/bench-stats-<pid>.json``, which the service run reads. With
``PASSEUR_BENCH_INSTANT`` set, every engine answers at once
(:class:`~service.measure.bench_support.InstantBackend`: the queue's own ceiling). With
``PASSEUR_BENCH_PROFILE`` set to a folder, the worker runs under ``cProfile`` and writes
``worker-<pid>.pstats`` there when it stops.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["INSTANT_ENV", "PROFILE_ENV", "STATS_PREFIX", "main"]

PROFILE_ENV = "PASSEUR_BENCH_PROFILE"
INSTANT_ENV = "PASSEUR_BENCH_INSTANT"  # engines that answer at once (bench_scaling)
STATS_PREFIX = "bench-stats-"
STATS_EVERY_S = 0.5


def _write_stats(folder: Path, wrapped: list[Any], stop: threading.Event) -> None:
    path = folder / f"{STATS_PREFIX}{os.getpid()}.json"
    while True:
        total: dict[str, float] = {}
        for backend in list(wrapped):
            for key, value in backend.stats.to_dict().items():
                total[key] = total.get(key, 0) + value
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(total), encoding="utf-8")
        tmp.replace(path)
        if stop.wait(STATS_EVERY_S):
            return


def main() -> int:
    """One worker with forced output lengths, until SIGTERM."""
    from service.log import configure_logging
    from service.measure.bench_support import ForcedLength
    from service.settings import Settings
    from service.wiring import run_worker

    settings = Settings()
    configure_logging(settings.log_level)
    wrapped: list[Any] = []

    def wrap(backend: Any) -> Any:
        wrapped.append(ForcedLength(backend))
        return wrapped[-1]

    if os.environ.get(INSTANT_ENV):  # the queue's ceiling: engines that answer at once
        from service.measure.bench_support import InstantBackend

        def wrap(backend: Any) -> Any:
            return InstantBackend(backend)

    stop = threading.Event()
    writer = threading.Thread(
        target=_write_stats, args=(Path(settings.data_dir), wrapped, stop), daemon=True
    )
    writer.start()
    profile_dir = os.environ.get(PROFILE_ENV)
    try:
        if not profile_dir:
            return run_worker(settings, wrap=wrap)
        import cProfile

        profiler = cProfile.Profile()
        try:
            return profiler.runcall(run_worker, settings, wrap)
        finally:
            profiler.dump_stats(str(Path(profile_dir) / f"worker-{os.getpid()}.pstats"))
    finally:
        stop.set()
        writer.join(2)


if __name__ == "__main__":
    sys.exit(main())
