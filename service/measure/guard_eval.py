"""`passeur eval guards`: how often the translation guards flag a correct translation.

A human reference translation is correct by definition, so every flag the guards raise
on (source, reference) pairs is a false alarm. Each pair goes through the guards exactly
as a model output would: :func:`service.text.guards.find_repetition` (which would trigger a
re-decode) and :func:`service.pipeline.translate.check_segment` (passthrough, numbers, empty or
out-of-proportion output). ``output_truncated`` needs a decode and is not measured here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from service.engines.protocol import Generated
from service.pipeline.translate import check_segment
from service.text.guards import find_repetition

__all__ = [
    "GUARDS",
    "FalseAlarm",
    "GuardEvalReport",
    "evaluate_guards",
    "format_table",
    "guard_flags",
    "read_pairs",
]

# Flag codes, in the order a segment meets them.
GUARDS = ("repetition", "passthrough", "number_mismatch", "empty_translation", "length_ratio")


@dataclass(frozen=True)
class FalseAlarm:
    """One guard flag on one reference pair (``line`` counts from 1)."""

    line: int
    guard: str
    detail: str
    source: str
    reference: str


@dataclass
class GuardEvalReport:
    """False alarms per guard over ``pairs`` reference pairs, and each one to read."""

    pairs: int
    counts: dict[str, int]
    alarms: list[FalseAlarm] = field(default_factory=list)
    seconds: float = 0.0
    data: dict[str, str] = field(default_factory=dict)

    def rate(self, guard: str) -> float:
        """False alarms of ``guard`` over the pairs (0.0 for no pairs)."""
        return self.counts.get(guard, 0) / self.pairs if self.pairs else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rates": {g: round(self.rate(g), 5) for g in self.counts},
        }


def read_pairs(src: Path, ref: Path) -> list[tuple[str, str]]:
    """Line-aligned (source, reference) pairs; blank pairs are skipped. Raises
    ``FileNotFoundError`` for a missing file, ``ValueError`` when the line counts differ."""
    for path in (src, ref):
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
    sources = src.read_text(encoding="utf-8").splitlines()
    references = ref.read_text(encoding="utf-8").splitlines()
    if len(sources) != len(references):
        raise ValueError(
            f"{src} has {len(sources)} lines and {ref} {len(references)}: not line-aligned"
        )
    return [(s.strip(), r.strip()) for s, r in zip(sources, references, strict=True)]


def guard_flags(source: str, translation: str) -> list[tuple[str, str]]:
    """The ``(code, detail)`` flags the guards raise on ``translation`` of ``source``."""
    flags: list[tuple[str, str]] = []
    unit = find_repetition(translation)
    if unit:
        flags.append(("repetition", f"repeats {unit!r}"))
    flags.extend(check_segment(source, Generated(translation, 0, False)))
    return flags


def evaluate_guards(pairs: Sequence[tuple[str, str]]) -> GuardEvalReport:
    """Run every guard on each (source, reference) pair and count its flags.

    Pairs where either side is blank are left out of the count.
    """
    started = time.perf_counter()
    counts = dict.fromkeys(GUARDS, 0)
    alarms: list[FalseAlarm] = []
    used = 0
    for line, (source, reference) in enumerate(pairs, start=1):
        if not source or not reference:
            continue
        used += 1
        for code, detail in guard_flags(source, reference):
            counts[code] = counts.get(code, 0) + 1
            alarms.append(FalseAlarm(line, code, detail, source, reference))
    return GuardEvalReport(used, counts, alarms, time.perf_counter() - started)


def format_table(report: GuardEvalReport, *, verbose: bool = False) -> str:
    """The false alarms per guard as a Markdown table; with ``verbose``, every flagged pair."""
    lines = [f"{report.pairs:,} reference pairs ({report.seconds:.2f} s)", ""]
    if report.data:
        lines[1:1] = [f"{k}: {v}" for k, v in report.data.items()]
    lines += ["| guard | false alarms | rate |", "|---|---|---|"]
    for guard, count in report.counts.items():
        lines.append(f"| `{guard}` | {count} | {report.rate(guard):.1%} |")
    if verbose:
        for alarm in report.alarms:
            lines += [
                "",
                f"line {alarm.line} [{alarm.guard}] {alarm.detail}",
                f"  src: {alarm.source}",
                f"  ref: {alarm.reference}",
            ]
    return "\n".join(lines)
