"""Measure language identification on line-aligned data such as FLORES-200.

Each line is judged as a one-sentence article, and each run of ``paragraph_size``
consecutive lines, joined with a space, as a one-paragraph article, through
``LanguageIdentifier.detect_article`` exactly as ``passeur detect`` runs it. A fallback
to the default language counts as right only when the default is the true language.
``confident_wrong`` counts the texts given another language with confidence of
:data:`CONFIDENT` or more: a wrong route no threshold catches; ``confident_configured``
those of them given one of the configured languages (a text in another language sent to a
configured language's model). The report puts the configured languages apart from the
others, with the detector's memory (peak RSS) and CPU time.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from service.engines.langid import LanguageIdentifier
from service.measure.data import FLORES_FILES

__all__ = [
    "FLORES_FILES",
    "NEIGHBOUR_MIN_COUNT",
    "evaluate_langid",
    "first_stage_confusions",
    "flores_languages",
    "load_flores",
]

CONFIDENT = 0.9
# A language the first stage names this often for one configured language's sentences is
# one of its neighbours (service.engines.langid.NEIGHBOURS).
NEIGHBOUR_MIN_COUNT = 2
_EXAMPLES = 10  # errors shown in the report
_EXAMPLE_CHARS = 100


def load_flores(
    data_dir: Path, languages: Sequence[str], split: str = "devtest"
) -> dict[str, list[str]]:
    """Lines of ``{code}_Latn.{split}`` in ``data_dir`` per language code. Raises
    ``FileNotFoundError`` naming the missing files, ``ValueError`` for a language with
    no FLORES file name here."""
    unknown = [code for code in languages if code not in FLORES_FILES]
    if unknown:
        raise ValueError(
            f"no FLORES file name for {', '.join(unknown)}; known: {', '.join(FLORES_FILES)}"
        )
    paths = {code: data_dir / f"{FLORES_FILES[code]}.{split}" for code in languages}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing FLORES files: {', '.join(missing)}")
    corpus = {}
    for code, path in paths.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        corpus[code] = [line.strip() for line in lines if line.strip()]
    return corpus


def flores_languages(
    data_dir: Path, configured: Sequence[str], split: str = "devtest"
) -> list[str]:
    """The configured languages, then every other language with a FLORES file in
    ``data_dir``: what ``passeur eval langid`` measures."""
    others = [
        code
        for code, name in FLORES_FILES.items()
        if code not in configured and (data_dir / f"{name}.{split}").is_file()
    ]
    return [*configured, *others]


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes there, KiB here


def _score(
    identifier: LanguageIdentifier, texts: Sequence[str], truth: str, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    correct = fallbacks = confident_wrong = confident_configured = 0
    confusions: Counter[str] = Counter()
    for text in texts:
        result = identifier.detect_article(text)
        fallbacks += result.fallback
        if result.lang == truth:
            correct += 1
            continue
        confusions[result.lang] += 1
        confident = result.confidence >= CONFIDENT
        confident_wrong += confident
        confident_configured += confident and result.lang in identifier.languages
        if len(errors) < _EXAMPLES:
            errors.append(
                {
                    "lang": truth,
                    "detected": result.lang,
                    "confidence": round(result.confidence, 3),
                    "fallback": result.fallback,
                    "text": text[:_EXAMPLE_CHARS],
                }
            )
    n = len(texts)
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "fallbacks": fallbacks,
        "confident_wrong": confident_wrong,
        "confident_configured": confident_configured,
        "confusions": dict(confusions.most_common()),
    }


def _total(parts: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(p["n"] for p in parts)
    correct = sum(p["correct"] for p in parts)
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else None,
        "fallbacks": sum(p["fallbacks"] for p in parts),
        "confident_wrong": sum(p["confident_wrong"] for p in parts),
        "confident_configured": sum(p["confident_configured"] for p in parts),
    }


def evaluate_langid(
    identifier: LanguageIdentifier,
    corpus: Mapping[str, Sequence[str]],
    paragraph_size: int = 5,
    every: int = 1,
) -> dict[str, Any]:
    """Sentence and paragraph accuracy per language, overall, and for the configured
    languages apart from the others.

    ``corpus`` maps a language code to its lines. ``every`` keeps one line in ``every``
    and one paragraph in ``every`` (the first of each run), a fixed subset for quick
    checks. The report carries counts, confusions (detected language: count), a few
    error examples, the CPU time per text after the detector was loaded, and the
    process's peak RSS before loading, after loading and after the run (a fresh process
    measures the detector alone).
    """
    if paragraph_size < 1:
        raise ValueError(f"paragraph_size must be at least 1, got {paragraph_size}")
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    rss_before = _peak_rss_mib()
    cpu = time.process_time()
    identifier.load()
    load_cpu = time.process_time() - cpu
    rss_loaded = _peak_rss_mib()
    began = time.perf_counter()
    per_lang: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    cpu_s = {"sentences": 0.0, "paragraphs": 0.0}
    n_chars = 0
    for lang, lines in corpus.items():
        texts = {
            "sentences": list(lines[::every]),
            "paragraphs": [
                " ".join(lines[i : i + paragraph_size])
                for i in range(0, len(lines), paragraph_size)
            ][::every],
        }
        per_lang[lang] = {}
        for kind, batch in texts.items():
            n_chars += sum(map(len, batch))
            cpu = time.process_time()
            per_lang[lang][kind] = _score(identifier, batch, lang, errors)
            cpu_s[kind] += time.process_time() - cpu
    seconds = time.perf_counter() - began
    kinds = ("sentences", "paragraphs")
    overall = {kind: _total([r[kind] for r in per_lang.values()]) for kind in kinds}
    return {
        "languages": per_lang,
        "overall": overall,
        # What must be recognised and routed, apart from what must be named and not
        # relabelled (``confident_configured`` there: the wrong routes).
        "groups": {
            group: {
                kind: _total([r[kind] for code, r in per_lang.items() if pick(code)])
                for kind in kinds
            }
            for group, pick in (
                ("configured", lambda code: code in identifier.languages),
                ("others", lambda code: code not in identifier.languages),
            )
        },
        "paragraph_size": paragraph_size,
        "every": every,
        "detector": {
            "languages": list(identifier.languages),
            "default": identifier.default,
            "min_confidence": identifier.min_confidence,
            "min_chars": identifier.min_chars,
        },
        "seconds": round(seconds, 2),
        "us_per_char": round(seconds / n_chars * 1e6, 2) if n_chars else None,
        "cost": {
            "load_cpu_s": round(load_cpu, 2),
            "cpu_ms_per_sentence": _per(cpu_s["sentences"], overall["sentences"]["n"]),
            "cpu_ms_per_paragraph": _per(cpu_s["paragraphs"], overall["paragraphs"]["n"]),
            "peak_rss_mib": {
                "before_load": round(rss_before),
                "after_load": round(rss_loaded),
                "after_run": round(_peak_rss_mib()),
            },
        },
        "errors": errors,
    }


def _per(seconds: float, n: int) -> float | None:
    return round(seconds / n * 1000, 3) if n else None


def first_stage_confusions(
    identifier: LanguageIdentifier,
    corpus: Mapping[str, Sequence[str]],
    min_count: int = NEIGHBOUR_MIN_COUNT,
) -> dict[str, Any]:
    """For each configured language in ``corpus``, the languages outside the configured
    ones that the low-accuracy stage names for its lines, with counts, and the neighbours
    they give (named at least ``min_count`` times): how ``NEIGHBOURS`` was derived."""
    named: dict[str, Counter[str]] = {}
    for lang, lines in corpus.items():
        if lang not in identifier.languages:
            continue
        counts: Counter[str] = Counter()
        for line in lines:
            top = identifier.first_stage(line)
            if top is not None and top not in identifier.languages:
                counts[top] += 1
        named[lang] = counts
    return {
        "min_count": min_count,
        "named": {lang: dict(c.most_common()) for lang, c in named.items()},
        "neighbours": {
            lang: [other for other, n in c.most_common() if n >= min_count]
            for lang, c in named.items()
            if any(n >= min_count for n in c.values())
        },
    }
