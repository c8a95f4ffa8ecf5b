"""Where the service's time goes (``passeur bench --profile DIR``): the bench workers run
under ``cProfile`` (:mod:`service.measure.bench_worker`) and this sums each function's own
time (``tottime``) into a few categories, across the workers' ``*.pstats`` files.

The categories are read from where a function lives; the first that matches wins:

- ``engine``: CTranslate2's ``translate_batch`` (the own time of the backend's
  ``generate``, which calls it) and torch: the decoding itself;
- ``loading``: loading models and importing libraries (once per worker);
- ``tokenisation``: transformers' and tokenizers' and sentencepiece's code;
- ``guards``: the checks on outputs and bullets (``service/text/guards``, ``grounding``,
  ``faithfulness``);
- ``segmentation``: sentence splitting and windows (``service/text/segmentation``,
  ``sentence_rules``, ``service/pipeline/windows``);
- ``store``: the job store (``service/jobs/store``) and sqlite3 / redis;
- ``http``: httpx / h11 / uvicorn / starlette (none in a worker: the API is its own process);
- ``waiting``: sleeping and waiting on locks or events (a worker with nothing to do);
- ``other``: the rest of Passeur and Python.
"""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

__all__ = ["CATEGORIES", "category", "profile_summary"]

CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # CTranslate2's C++ call is not a profiled function: its time is the own time of the
    # backend's generate() that makes it.
    (
        "engine",
        (
            "translate_batch",
            "ctranslate2",
            "/torch/",
            "engines/ct2.py:'generate'",
            "engines/hf.py:'generate'",
        ),
    ),
    (
        "loading",
        ("engines/ct2.py:'load'", "engines/hf.py:'load'", "create_dynamic", "import_utils"),
    ),
    ("tokenisation", ("/transformers/", "/tokenizers/", "sentencepiece")),
    ("guards", ("service/text/guards", "service/text/grounding", "service/text/faithfulness")),
    (
        "segmentation",
        ("service/text/segmentation", "service/text/sentence_rules", "service/pipeline/windows"),
    ),
    ("store", ("service/jobs/store", "sqlite3", "/redis/")),
    ("http", ("/httpx/", "/h11/", "/uvicorn/", "/starlette/", "/anyio/")),
    ("waiting", ("sleep", "acquire", "'wait'", "select", "poll")),
)


def category(function: tuple[str, int, str]) -> str:
    """The category of a ``pstats`` function key ``(file, line, name)``."""
    where = f"{function[0]}:{function[2]!r}"
    for name, needles in CATEGORIES:
        if any(needle in where for needle in needles):
            return name
    return "other"


def profile_summary(folder: Path, top: int = 15) -> dict[str, Any]:
    """Seconds and shares per category over every ``*.pstats`` in ``folder``, and the
    functions with the most own time."""
    files = sorted(folder.glob("*.pstats"))
    if not files:
        return {"error": f"no profile written under {folder}"}
    stats = pstats.Stats(str(files[0]))
    for path in files[1:]:
        stats.add(str(path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    seconds: dict[str, float] = {}
    busiest = []
    for function, (_, _, tottime, _, _) in table.items():
        kind = category(function)
        seconds[kind] = seconds.get(kind, 0.0) + tottime
        busiest.append((tottime, kind, f"{Path(function[0]).name}:{function[1]} {function[2]}"))
    total = sum(seconds.values()) or 1.0
    working = total - seconds.get("waiting", 0.0) or 1.0
    return {
        "files": [p.name for p in files],
        "seconds": {k: round(v, 2) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])},
        "share_of_work": {k: round(v / working, 3) for k, v in seconds.items() if k != "waiting"},
        "top_functions": [
            {"seconds": round(t, 2), "category": k, "function": name}
            for t, k, name in sorted(busiest, reverse=True)[:top]
        ],
    }
