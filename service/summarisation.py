"""Bullet summaries. Placeholder until the summaries issue lands: no bullets yet."""

from __future__ import annotations

from service.settings import Settings


def build_summariser(settings: Settings, backend: object | None) -> None:
    """The summariser for these settings (None: the pipeline flags ``summary_skipped``)."""
    return None
