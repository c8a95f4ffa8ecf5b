"""The report of ``passeur bench``: the machine it ran on and whether it was idle, each
run's medians and its work checked against the plan, the ratios between runs (raw, and
corrected by the forced-length cost model), and the plain-text table ``passeur bench``
prints."""

from __future__ import annotations

import os
import platform
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "IDLE_BUSY_CORES",
    "WorkMismatch",
    "brief",
    "check_work",
    "format_table",
    "machine",
    "machine_busy",
    "ratios",
    "summarise_run",
]

# Cores' worth of CPU time others may use while a run starts, and still count as idle.
IDLE_BUSY_CORES = 0.15
BUSY_SAMPLE_S = 1.0


class WorkMismatch(RuntimeError):
    """A run decoded other work than the plan: its figures would compare unlike things."""


def machine_busy(sample_s: float = BUSY_SAMPLE_S) -> float | None:
    """Cores' worth of CPU time the whole machine spent over ``sample_s`` seconds, from
    ``/proc/stat`` (this process sleeps meanwhile, so it is everyone else); None off Linux.

    The load average would not do: it still counts the previous run for minutes."""
    import time

    def ticks() -> tuple[int, int] | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except (OSError, IndexError):
            return None
        values = [int(v) for v in fields[:8]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    first = ticks()
    time.sleep(sample_s)
    second = ticks()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    cores = os.cpu_count() or 1
    return round((total - idle) / total * cores, 3)


def check_work(name: str, raw: dict[str, Any], plan: dict[str, Any]) -> None:
    """Refuse a run whose repeats decoded other target tokens than the plan (and, where the
    run says per article, other segments or windows): :class:`WorkMismatch`."""
    expected = plan["target_tokens"]
    for number, rep in enumerate(raw["repeats"], start=1):
        if rep["target_tokens"] != expected:
            raise WorkMismatch(
                f"the {name} run decoded {rep['target_tokens']} target tokens in repeat "
                f"{number}, the plan {expected}: it did other work than the service, so its "
                "figures are refused"
            )
        per_article = rep.get("per_article")
        if per_article is None:
            continue
        if len(per_article) != len(plan["per_article"]):
            raise WorkMismatch(
                f"the {name} run reports {len(per_article)} articles in repeat {number}, "
                f"the plan {len(plan['per_article'])}: its figures are refused"
            )
        for i, (done, planned) in enumerate(zip(per_article, plan["per_article"], strict=True)):
            for key in ("segments", "windows"):
                if done[key] != planned[key]:
                    raise WorkMismatch(
                        f"the {name} run's article {i} had {done[key]} {key} in repeat "
                        f"{number}, the plan {planned[key]}: its figures are refused"
                    )


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
                "decoded_tokens": rep.get("decoded_tokens"),
                "forced_cost_ratio": rep.get("forced_cost_ratio"),
                # What the run would do if rows ended on their own, under the cost model.
                "corrected_articles_per_min": articles
                / rep["wall_s"]
                * 60
                * (rep.get("forced_cost_ratio") or 1.0),
            }
        )
    out: dict[str, Any] = {}
    for key in per_repeat[0]:
        values = [r[key] for r in per_repeat if r[key] is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    out["peak_rss_mb"] = raw.get("peak_rss_mb")
    busy = [rep.get("busy_before") for rep in raw["repeats"]]
    out["idle"] = all(b is not None and b <= IDLE_BUSY_CORES for b in busy)
    if raw.get("interactive_latencies_s"):
        out["interactive_p95_s"] = round(_percentile(raw["interactive_latencies_s"], 0.95), 3)
    out.update({k: v for k, v in raw.items() if k not in out})
    return out


RATIO_RUNS = ("baseline", "baseline-int8", "naive", "peer", "inprocess", "engine_limit")
# How far the service may be above the engine limit before the limit is called wrong: the
# spread between repeats of one run on this machine is a few percent.
LIMIT_NOISE = 0.05


def _ratio(runs: dict[str, Any], a: str, b: str, key: str) -> float | None:
    x = runs.get(a, {}).get(key)
    y = runs.get(b, {}).get(key)
    return round(x / y, 3) if x and y else None


def ratios(runs: dict[str, Any]) -> dict[str, Any]:
    """The service's articles per minute over each other run's, raw and corrected by the
    cost model (None where one is missing), and whether the engine limit held."""
    out: dict[str, Any] = {
        "raw": {
            f"service_vs_{b}": _ratio(runs, "service", b, "articles_per_min") for b in RATIO_RUNS
        },
        "corrected": {
            f"service_vs_{b}": _ratio(runs, "service", b, "corrected_articles_per_min")
            for b in RATIO_RUNS
        },
    }
    limit = out["raw"]["service_vs_engine_limit"]
    if limit is not None and limit > 1 + LIMIT_NOISE:
        out["engine_limit_wrong"] = (
            f"the service ran {limit:.2f}x the engine limit, beyond the noise "
            f"({1 + LIMIT_NOISE:.2f}x): the limit is not one; its sweep missed a faster setting"
        )
    return out


def brief(run: dict[str, Any]) -> str:
    """One run in a few figures, for the log."""
    if "skipped" in run:
        return "skipped"
    keys = ("articles_per_min", "p95_s", "peak_rss_mb")
    return ", ".join(f"{k} {run[k]}" for k in keys if run.get(k) is not None)


def format_table(report: dict[str, Any]) -> str:
    """The report as a plain-text table, machine and ratios below."""
    header = (
        "run",
        "articles/min",
        "corrected",
        "target tok/s",
        "p50 s",
        "p95 s",
        "peak RSS MB",
        "target tok",
        "decoded",
        "forced",
        "idle",
    )
    rows = [header]
    for name, run in report["runs"].items():
        if "skipped" in run:
            rows.append((name, "skipped", *[""] * (len(header) - 2)))
            continue
        keys = ("articles_per_min", "corrected_articles_per_min", "target_tokens_per_s")
        cells = [run.get(k) for k in (*keys, "p50_s", "p95_s")]
        rss, forced = run.get("peak_rss_mb"), run.get("forced_cost_ratio")
        target, decoded = run.get("target_tokens"), run.get("decoded_tokens")
        rows.append(
            (
                name,
                *(f"{c:.1f}" if c is not None else "-" for c in cells),
                f"{rss:.0f}" if rss is not None else "-",
                f"{target:.0f}" if target is not None else "-",
                f"{decoded:.0f}" if decoded is not None else "-",
                f"{forced:.2f}x" if forced is not None else "-",
                "yes" if run.get("idle") else "NO",
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
        elif not run.get("idle"):
            lines.append(
                f"{name}: the machine was not idle before a repeat (cores busy: "
                f"{[r.get('busy_before') for r in run['repeats']]}): its figures are low"
            )
        repeats = len(run.get("repeats", []))
        if "skipped" not in run and repeats != c["repeat"]:
            lines.append(
                f"{name}: {repeats} repeat(s), not {c['repeat']}: kept for context "
                "(--context-repeat)"
            )
        if run.get("interactive_p95_s") is not None:
            lines.append(
                f"interactive: POST /v1/translate of 100 words with {run['interactive_backlog']} "
                f"batch jobs queued: p95 {run['interactive_p95_s']:.2f} s over "
                f"{len(run['interactive_latencies_s'])} requests"
                + (
                    f", {run['interactive_timeouts']} past the sync timeout (504, cancelled)"
                    if run.get("interactive_timeouts")
                    else ""
                )
            )
    lines.append(
        "decoded: decoding steps, padding and special tokens included; forced: decoding cost "
        "with forced lengths over the cost with rows that end on their own (cost model in "
        "service.measure.bench_support); corrected: articles/min x forced"
    )
    for kind in ("raw", "corrected"):
        values = report["ratios"].get(kind, {})
        text = ", ".join(f"{k} {v:.2f}" for k, v in values.items() if v is not None)
        if text:
            lines.append(f"ratios ({kind}, articles/min): {text}")
    if report["ratios"].get("engine_limit_wrong"):
        lines.append("WARNING: " + report["ratios"]["engine_limit_wrong"])
    gpu = {
        name: run["peak_gpu_mb"] for name, run in report["runs"].items() if run.get("peak_gpu_mb")
    }
    if gpu:
        lines.append(
            "peak GPU memory (torch's allocator; CTranslate2 has no such figure): "
            + ", ".join(f"{name} {mb:.0f} MB" for name, mb in gpu.items())
        )
    # Reports written before --device ran on the CPU: int8 and float32.
    device = c.get("device", "cpu")
    lines.append(
        f"{c['articles']} articles x {c['repeat']} repeat(s) (medians), beam {c['beam']}, "
        f"{c['threads']} thread(s), {c['size']} models; device {device}: CTranslate2 "
        f"{c.get('compute_type', 'int8')}, transformers {c.get('transformers_dtype', 'float32')}; "
        + (f"{m['gpu']}, " if m.get("gpu") else "")
        + f"{m['cpu']}, {m['cores']} cores, "
        f"torch {m['versions']['torch']}, ctranslate2 {m['versions']['ctranslate2']}"
    )
    return "\n".join(lines)
