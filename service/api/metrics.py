"""``/metrics`` in the Prometheus text format, written by hand (no client library).

Everything comes from the store: jobs by state from :meth:`JobStore.counts`, and what the
live workers report in their heartbeats, summed over them::

    {"ready": bool, "models": {...},
     "stats": {"jobs_succeeded": n, "jobs_failed": n, "tokens_translated": n,
               "tokens_summarised": n,
               "stage_seconds": {"translation": {"count": n, "sum": s}, ...}}}

The worker figures are counters since each worker started, summed over the workers alive
now: a worker that stops takes its share with it (Prometheus' ``rate`` copes with resets).
The refusals are this API process's own counters since it started, by reason (a fixed
set: :data:`service.api.admission.REFUSAL_REASONS`).
Labels are states, stage names and refusal reasons only: never anything a client chooses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["CONTENT_TYPE", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def _number(value: Any) -> float:
    """A finite, non-negative number from a heartbeat, or 0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value >= 0 else 0.0


def _format(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


class _Families:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: list[tuple[str, str, float]]
    ) -> None:
        """One metric family: ``samples`` are (suffix, labels, value)."""
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            self.lines.append(f"{name}{suffix}{labels} {_format(value)}")


def render_metrics(
    counts: Mapping[str, int],
    workers: Mapping[str, Mapping[str, Any]],
    refusals: Mapping[str, int] | None = None,
) -> str:
    """The exposition text for the job ``counts``, the live ``workers``' heartbeat infos
    and this process's admission ``refusals`` by reason."""
    out = _Families()
    out.family(
        "passeur_jobs",
        "gauge",
        "Jobs in the store by state (terminal jobs until their retention ends).",
        [("", f'{{state="{state}"}}', float(n)) for state, n in sorted(counts.items())],
    )
    out.family(
        "passeur_queue_depth",
        "gauge",
        "Jobs waiting for a worker (queued, including those backing off before a retry).",
        [("", "", float(counts.get("queued", 0)))],
    )
    ready = sum(1 for info in workers.values() if info.get("ready") is True)
    out.family(
        "passeur_workers",
        "gauge",
        "Workers with a fresh heartbeat.",
        [("", "", float(len(workers)))],
    )
    out.family(
        "passeur_workers_ready",
        "gauge",
        "Live workers whose models are loaded.",
        [("", "", float(ready))],
    )

    outcomes = {"succeeded": 0.0, "failed": 0.0}
    tokens = {"translated": 0.0, "summarised": 0.0}
    stages: dict[str, list[float]] = {}
    for info in workers.values():
        stats = info.get("stats")
        if not isinstance(stats, Mapping):
            continue
        for outcome in outcomes:
            outcomes[outcome] += _number(stats.get(f"jobs_{outcome}"))
        for task in tokens:
            tokens[task] += _number(stats.get(f"tokens_{task}"))
        stage_seconds = stats.get("stage_seconds")
        if not isinstance(stage_seconds, Mapping):
            continue
        for stage, figures in stage_seconds.items():
            if not (
                isinstance(stage, str) and _STAGE_NAME.match(stage) and isinstance(figures, Mapping)
            ):
                continue
            total = stages.setdefault(stage, [0.0, 0.0])
            total[0] += _number(figures.get("count"))
            total[1] += _number(figures.get("sum"))
    out.family(
        "passeur_worker_jobs_total",
        "counter",
        "Jobs finished by the live workers since they started, by outcome.",
        [("", f'{{outcome="{outcome}"}}', n) for outcome, n in outcomes.items()],
    )
    out.family(
        "passeur_tokens_translated_total",
        "counter",
        "Tokens of the translations the live workers' models generated since they started.",
        [("", "", tokens["translated"])],
    )
    out.family(
        "passeur_tokens_summarised_total",
        "counter",
        "Tokens of the summaries the live workers' models generated since they started.",
        [("", "", tokens["summarised"])],
    )
    samples: list[tuple[str, str, float]] = []
    for stage in sorted(stages):
        count, seconds = stages[stage]
        samples.append(("_count", f'{{stage="{stage}"}}', count))
        samples.append(("_sum", f'{{stage="{stage}"}}', seconds))
    out.family(
        "passeur_stage_seconds",
        "summary",
        "Time spent per pipeline stage by the live workers since they started.",
        samples,
    )
    if refusals is not None:
        out.family(
            "passeur_refusals_total",
            "counter",
            "Requests this API process refused or gave up since it started, by reason "
            "(rate_limited, tenant_queue_full, queue_full, overloaded, shutting_down, timeout).",
            [("", f'{{reason="{r}"}}', float(n)) for r, n in sorted(refusals.items())],
        )
    return "\n".join(out.lines) + "\n"
