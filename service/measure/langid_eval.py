"""Measure language identification on line-aligned data such as FLORES-200.

Each line is judged as a one-sentence article, and each run of ``paragraph_size``
consecutive lines, joined with a space, as a one-paragraph article, through
``LanguageIdentifier.detect_article`` exactly as ``passeur detect`` runs it. A fallback
to the default language counts as right only when the default is the true language.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from service.engines.langid import LanguageIdentifier
from service.measure.data import FLORES_FILES

__all__ = ["FLORES_FILES", "evaluate_langid", "load_flores"]

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


def _score(
    identifier: LanguageIdentifier, texts: Sequence[str], truth: str, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    correct = fallbacks = 0
    confusions: Counter[str] = Counter()
    for text in texts:
        result = identifier.detect_article(text)
        fallbacks += result.fallback
        if result.lang == truth:
            correct += 1
            continue
        confusions[result.lang] += 1
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
    }


def evaluate_langid(
    identifier: LanguageIdentifier,
    corpus: Mapping[str, Sequence[str]],
    paragraph_size: int = 5,
    every: int = 1,
) -> dict[str, Any]:
    """Sentence and paragraph accuracy per language and overall.

    ``corpus`` maps a language code to its lines. ``every`` keeps one line in ``every``
    and one paragraph in ``every`` (the first of each run), a fixed subset for quick
    checks. The report carries counts, confusions (detected language: count), a few
    error examples, and the time taken after the detector was loaded.
    """
    if paragraph_size < 1:
        raise ValueError(f"paragraph_size must be at least 1, got {paragraph_size}")
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    identifier.load()
    began = time.perf_counter()
    per_lang: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    n_chars = 0
    for lang, lines in corpus.items():
        sentences = list(lines[::every])
        paragraphs = [
            " ".join(lines[i : i + paragraph_size]) for i in range(0, len(lines), paragraph_size)
        ][::every]
        n_chars += sum(map(len, sentences)) + sum(map(len, paragraphs))
        per_lang[lang] = {
            "sentences": _score(identifier, sentences, lang, errors),
            "paragraphs": _score(identifier, paragraphs, lang, errors),
        }
    seconds = time.perf_counter() - began
    return {
        "languages": per_lang,
        "overall": {
            "sentences": _total([r["sentences"] for r in per_lang.values()]),
            "paragraphs": _total([r["paragraphs"] for r in per_lang.values()]),
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
        "errors": errors,
    }
