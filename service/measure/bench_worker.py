"""``python -m service.measure.bench_worker``: the product's worker (``passeur worker``) with
every backend wrapped in :class:`~service.measure.bench_support.ForcedLength`, so that
random-weight models decode the lengths trained ones would. Settings come from the
environment (``PASSEUR_*``), as the supervisor of :mod:`service.measure.bench_server` gives
them.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> int:
    """One worker with forced output lengths, until SIGTERM."""
    from service.log import configure_logging
    from service.measure.bench_support import ForcedLength
    from service.settings import Settings
    from service.wiring import run_worker

    settings = Settings()
    configure_logging(settings.log_level)
    return run_worker(settings, wrap=ForcedLength)


if __name__ == "__main__":
    sys.exit(main())
