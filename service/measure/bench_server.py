"""``python -m service.measure.bench_server``: ``passeur serve`` for the benchmark's service
run, its workers started as ``python -m service.measure.bench_worker`` (forced output
lengths). Every setting comes from the environment (``PASSEUR_*``), as
:mod:`service.measure.bench_service` sets it.
"""

from __future__ import annotations

import sys

__all__ = ["WORKER_COMMAND", "main"]

WORKER_COMMAND = [sys.executable, "-m", "service.measure.bench_worker"]


def main() -> int:
    """The API and the supervised bench workers, until SIGTERM."""
    from service.log import configure_logging
    from service.settings import Settings
    from service.wiring import serve

    settings = Settings()
    configure_logging(settings.log_level)
    return serve(settings, worker_command=WORKER_COMMAND)


if __name__ == "__main__":
    sys.exit(main())
