"""`passeur eval summaries`: ROUGE of our bullets against reference summaries, beside lead-3.

Reads JSONL as the public sets come: FRANK's CNN/DailyMail (``article`` and
``reference_tokenized``) and XSum (``document`` and ``summary``). Articles are taken as
already in the target language: they are split into sentences and summarised, with no
translation step. Scores are ROUGE-1/2/L F1 ×100 from ``rouge-score`` with stemming; for
languages other than English a Unicode-aware tokenizer replaces rouge-score's, which keeps
only ``[a-z0-9]``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import regex

from service.engines.protocol import Seq2SeqBackend
from service.errors import InputError
from service.pipeline.summaries import BulletSummariser, build_summariser
from service.settings import Settings
from service.text.segmentation import split_sentences

__all__ = [
    "EVAL_MODES",
    "MethodScore",
    "SummaryEvalOptions",
    "SummaryEvalReport",
    "SummaryExample",
    "UnicodeTokenizer",
    "evaluate_summaries",
    "format_table",
    "read_examples",
    "run_summary_eval",
]

log = logging.getLogger(__name__)

EVAL_MODES = ("extractive", "abstractive", "both")
LEAD = 3
TEXT_KEYS = ("article", "document", "text")
REFERENCE_KEYS = ("reference_tokenized", "reference", "summary", "highlights")


@dataclass(frozen=True)
class SummaryExample:
    id: str
    text: str
    reference: str


def read_examples(path: Path, limit: int | None = None) -> list[SummaryExample]:
    """The articles and reference summaries of a JSONL file, in order (the first ``limit``)."""
    examples: list[SummaryExample] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if limit is not None and len(examples) >= limit:
                break
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {lineno}: not valid JSON ({exc.msg})") from exc
            text = next((obj[k] for k in TEXT_KEYS if isinstance(obj.get(k), str)), None)
            reference = next((obj[k] for k in REFERENCE_KEYS if obj.get(k)), None)
            if text is None or reference is None:
                raise InputError(
                    f"{path} line {lineno}: expected an article ({' or '.join(TEXT_KEYS)}) and a "
                    f"reference summary ({' or '.join(REFERENCE_KEYS)})"
                )
            if isinstance(reference, list):  # highlights given as a list of sentences
                reference = "\n".join(str(r) for r in reference)
            examples.append(SummaryExample(str(obj.get("id", lineno)), text, str(reference)))
    return examples


class UnicodeTokenizer:
    """rouge-score tokenizer for any language: lower-cased runs of letters and digits of
    any script, stemmed with nltk's Snowball stemmer where it has the language."""

    _WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")

    def __init__(self, lang: str) -> None:
        from nltk.stem.snowball import SnowballStemmer  # type: ignore[import-untyped]

        names = {
            "fr": "french",
            "de": "german",
            "es": "spanish",
            "it": "italian",
            "pt": "portuguese",
            "nl": "dutch",
            "ro": "romanian",
            "en": "english",
        }
        name = names.get(lang)
        self._stemmer = SnowballStemmer(name) if name in SnowballStemmer.languages else None

    def tokenize(self, text: str) -> list[str]:
        words = self._WORD.findall(text.lower())
        if self._stemmer is None:
            return words
        return [self._stemmer.stem(w) if len(w) > 3 else w for w in words]


def _rouge_scorer(lang: str) -> Any:
    from rouge_score.rouge_scorer import RougeScorer  # type: ignore[import-untyped]

    tokenizer = None if lang == "en" else UnicodeTokenizer(lang)
    return RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True, tokenizer=tokenizer)


@dataclass
class MethodScore:
    """Mean ROUGE F1 ×100 of one method over the articles, and what it produced."""

    method: str
    rouge1: float
    rouge2: float
    rougeL: float  # noqa: N815 - rouge-score's name
    articles: int
    bullets: float  # mean bullets (or sentences) per article
    seconds: float
    flags: dict[str, int] = field(default_factory=dict)  # articles flagged, per code


@dataclass
class SummaryEvalReport:
    data: str
    articles: int
    bullets: int
    lang: str
    scores: list[MethodScore]
    summariser: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SummaryEvalOptions:
    data: Path
    mode: str = "extractive"
    limit: int | None = None
    bullets: int = 3
    lang: str = "en"


def evaluate_summaries(
    examples: list[SummaryExample],
    summariser: BulletSummariser,
    modes: tuple[str, ...],
    *,
    bullets: int,
    lang: str = "en",
) -> list[MethodScore]:
    """Lead-3 first, then each mode in ``modes``, scored on every example."""
    scorer = _rouge_scorer(lang)
    split = [[ex.text[a:b] for a, b in split_sentences(ex.text, lang)] for ex in examples]
    methods = [f"lead-{LEAD}", *modes]
    totals = {m: [0.0, 0.0, 0.0, 0.0, 0.0] for m in methods}  # r1, r2, rL, items, seconds
    flagged: dict[str, Counter[str]] = {m: Counter() for m in methods}
    for ex, sentences in zip(examples, split, strict=True):
        for method in methods:
            started = time.perf_counter()
            if method in modes:
                found, flags = summariser.summarise(
                    sentences, mode=method, count=bullets, drop_unsupported=False
                )
                items = [b.text for b in found]
                flagged[method].update({f.code for f in flags})
            else:
                items = sentences[:LEAD]
            elapsed = time.perf_counter() - started
            score = scorer.score(ex.reference, "\n".join(items))
            row = totals[method]
            row[0] += score["rouge1"].fmeasure
            row[1] += score["rouge2"].fmeasure
            row[2] += score["rougeL"].fmeasure
            row[3] += len(items)
            row[4] += elapsed
    n = max(len(examples), 1)
    return [
        MethodScore(
            m,
            rouge1=round(100 * totals[m][0] / n, 2),
            rouge2=round(100 * totals[m][1] / n, 2),
            rougeL=round(100 * totals[m][2] / n, 2),
            articles=len(examples),
            bullets=round(totals[m][3] / n, 2),
            seconds=round(totals[m][4], 2),
            flags=dict(flagged[m]),
        )
        for m in methods
    ]


def format_table(report: SummaryEvalReport) -> str:
    """A plain-text table: one row per method."""
    head = f"{report.data}: {report.articles} articles, {report.bullets} bullets for our modes"
    rows = [("method", "ROUGE-1", "ROUGE-2", "ROUGE-L", "items/article", "seconds")]
    rows += [
        (
            s.method,
            f"{s.rouge1:.2f}",
            f"{s.rouge2:.2f}",
            f"{s.rougeL:.2f}",
            f"{s.bullets:.2f}",
            f"{s.seconds:.1f}",
        )
        for s in report.scores
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for row in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    for s in report.scores:
        if s.flags:
            counts = ", ".join(f"{code} {n}" for code, n in sorted(s.flags.items()))
            lines.append(f"{s.method}: articles flagged: {counts}")
    if report.summariser:
        lines.append(f"summariser: {report.summariser['name']}@{report.summariser['revision']}")
    return "\n".join(lines)


def load_summary_backend(settings: Settings) -> Seq2SeqBackend:
    """Resolve the summariser (fails fast, before torch, when it is missing), then load it
    on the backend the settings ask for, built as a worker builds it."""
    from service.engines.build import make_backend
    from service.wiring import TARGET_LANG, load_registry

    registry = load_registry(settings)
    spec = (
        settings.summary_model or registry.for_pair("summarisation", TARGET_LANG, TARGET_LANG).name
    )
    model = registry.resolve(spec, "summarisation")
    backend = make_backend(
        model, settings, max_source_tokens=model.generation.get("max_source_tokens")
    )
    backend.load()
    return backend


def run_summary_eval(settings: Settings, options: SummaryEvalOptions) -> SummaryEvalReport:
    """Read the data, load the summariser if a mode needs it, score every method."""
    if options.mode not in EVAL_MODES:
        raise InputError(f"unknown mode {options.mode!r}: use {', '.join(EVAL_MODES)}")
    modes = ("extractive", "abstractive") if options.mode == "both" else (options.mode,)
    examples = read_examples(options.data, options.limit)
    if not examples:
        raise InputError(f"{options.data} holds no articles")
    backend = load_summary_backend(settings) if "abstractive" in modes else None
    summariser = build_summariser(settings, backend)
    log.info("scoring %s on %d articles of %s", ", ".join(modes), len(examples), options.data)
    scores = evaluate_summaries(
        examples, summariser, modes, bullets=options.bullets, lang=options.lang
    )
    return SummaryEvalReport(
        data=options.data.name,
        articles=len(examples),
        bullets=options.bullets,
        lang=options.lang,
        scores=scores,
        summariser=summariser.info("abstractive") if backend is not None else None,
    )
