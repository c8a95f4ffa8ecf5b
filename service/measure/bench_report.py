"""The report of ``passeur bench``: the machine it ran on, each run's medians, the ratios
between runs, and the plain-text table ``passeur bench`` prints."""

from __future__ import annotations

import os
import platform
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["brief", "format_table", "machine", "ratios", "summarise_run"]


def machine() -> dict[str, Any]:
    """The CPU, cores, memory and library versions, for the report."""
    cpu = platform.processor() or "unknown"
    memory_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for package in ("torch", "ctranslate2", "transformers", "tokenizers"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "load_average_at_start": list(os.getloadavg()),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise_run(raw: dict[str, Any], articles: int) -> dict[str, Any]:
    """Medians over the repeats of the figures the report shows; the raw record follows.
    Every repeat must say how many target tokens it decoded: a run never borrows the
    plan's figure, so a run that did less (or more) work than planned shows it."""
    per_repeat = []
    for number, rep in enumerate(raw["repeats"], start=1):
        tokens = rep.get("target_tokens")
        if isinstance(tokens, bool) or not isinstance(tokens, int | float):
            raise RuntimeError(
                f"repeat {number} reports no target_tokens (what it decoded): {sorted(rep)}"
            )
        per_repeat.append(
            {
                "articles_per_min": articles / rep["wall_s"] * 60,
                "target_tokens_per_s": tokens / rep["wall_s"],
                "p50_s": _percentile(rep["latencies_s"], 0.5),
                "p95_s": _percentile(rep["latencies_s"], 0.95),
                "wall_s": rep["wall_s"],
                "target_tokens": tokens,
                "forced_cost_ratio": rep.get("forced_cost_ratio"),
            }
        )
    out: dict[str, Any] = {}
    for key in per_repeat[0]:
        values = [r[key] for r in per_repeat if r[key] is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    out["peak_rss_mb"] = raw.get("peak_rss_mb")
    if raw.get("interactive_latencies_s"):
        out["interactive_p95_s"] = round(_percentile(raw["interactive_latencies_s"], 0.95), 3)
    out.update({k: v for k, v in raw.items() if k not in out})
    return out


def _ratio(runs: dict[str, Any], a: str, b: str) -> float | None:
    x = runs.get(a, {}).get("articles_per_min")
    y = runs.get(b, {}).get("articles_per_min")
    return round(x / y, 3) if x and y else None


def ratios(runs: dict[str, Any]) -> dict[str, float | None]:
    """The service's articles per minute over each other run's (None where one is missing)."""
    return {
        "service_vs_baseline": _ratio(runs, "service", "baseline"),
        "service_vs_peer": _ratio(runs, "service", "peer"),
        "service_vs_engine": _ratio(runs, "service", "engine_limit"),
    }


def brief(run: dict[str, Any]) -> str:
    """One run in a few figures, for the log."""
    if "skipped" in run:
        return "skipped"
    keys = ("articles_per_min", "p95_s", "peak_rss_mb")
    return ", ".join(f"{k} {run[k]}" for k in keys if run.get(k) is not None)


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table, machine and ratios below."""
    header = ("run", "articles/min", "target tok/s", "p50 s", "p95 s", "peak RSS MB", "forced")
    rows = [header]
    for name, run in report["runs"].items():
        if "skipped" in run:
            rows.append((name, "skipped", "", "", "", "", ""))
            continue
        cells = [run.get(k) for k in ("articles_per_min", "target_tokens_per_s", "p50_s", "p95_s")]
        rss, forced = run.get("peak_rss_mb"), run.get("forced_cost_ratio")
        rows.append(
            (
                name,
                *(f"{c:.1f}" if c is not None else "-" for c in cells),
                f"{rss:.0f}" if rss is not None else "-",
                f"{forced:.2f}x" if forced is not None else "-",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    m, c = report["machine"], report["config"]
    lines.append("")
    for name, run in report["runs"].items():
        if "skipped" in run:
            lines.append(f"{name} skipped: {run['skipped']}")
        if run.get("interactive_p95_s") is not None:
            lines.append(
                f"interactive: POST /v1/translate of 100 words with {run['interactive_backlog']} "
                f"batch jobs queued: p95 {run['interactive_p95_s']:.2f} s over "
                f"{len(run['interactive_latencies_s'])} requests"
            )
    lines.append(
        "forced: decoding cost with forced lengths over the cost with rows that end on their "
        "own (cost model in service.measure.bench_support); the service runs the inprocess path"
    )
    ratios = ", ".join(f"{k} {v:.2f}" for k, v in report["ratios"].items() if v is not None)
    if ratios:
        lines.append(f"ratios (articles/min): {ratios}")
    lines.append(
        f"{c['articles']} articles x {c['repeat']} repeat(s) (medians), beam {c['beam']}, "
        f"{c['threads']} thread(s), {c['size']} models; {m['cpu']}, {m['cores']} cores, "
        f"torch {m['versions']['torch']}, ctranslate2 {m['versions']['ctranslate2']}"
    )
    return "\n".join(lines)
