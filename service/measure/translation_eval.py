"""`passeur eval translation`: chrF and BLEU (sacrebleu) of one translation model, three ways.

The same source lines are translated by three systems and scored against the same
references, so a difference between rows is the cost of one choice:

- ``pipeline``: the configured backend and compute type (e.g. CTranslate2 int8 on CPU)
  through our pipeline: segmentation, length-sorted batching, guards; each line is one
  article, so every output lines up with its reference;
- ``transformers-fp32``: the same model run by transformers in float32 through the same
  pipeline (the reference backend: int8 or another engine costs what this row gains);
- ``sentences``: the configured backend on each raw line, batched, with no segmentation
  and no guards (what the pipeline's segmentation and guards cost or gain).

COMET is added when ``unbabel-comet`` is installed and its checkpoint is available.
A random-weight model (``service.measure.devmodels``) runs, and the report says its figures mean
nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from service.articles import Article
from service.engines.build import backend_for
from service.engines.protocol import GenerationOptions, Seq2SeqBackend
from service.errors import InputError
from service.settings import Settings

__all__ = [
    "DEFAULT_COMET_MODEL",
    "SYSTEMS",
    "SystemScore",
    "TranslationEvalOptions",
    "TranslationEvalReport",
    "format_table",
    "read_parallel",
    "run_translation_eval",
    "score",
]

log = logging.getLogger(__name__)

SOURCE_LANG = "fr"
SYSTEMS = ("pipeline", "transformers-fp32", "sentences")
DEFAULT_COMET_MODEL = "Unbabel/wmt22-comet-da"


@dataclass(frozen=True)
class TranslationEvalOptions:
    src: Path
    ref: Path
    limit: int | None = None  # first N lines only
    comet_model: str | None = DEFAULT_COMET_MODEL  # None: no COMET even when installed


@dataclass
class SystemScore:
    """One system's corpus scores over all lines, and how it ran."""

    system: str
    setup: str  # backend, compute type, device, and how the input went in
    chrf: float
    bleu: float
    comet: float | None
    seconds: float
    flagged: int  # lines whose output the guards flagged (pipeline systems only)
    failed: int  # lines the pipeline refused (their output scored as empty)
    samples: list[str] = field(default_factory=list)  # first outputs, for a look


@dataclass
class TranslationEvalReport:
    src: str
    ref: str
    lines: int
    model: dict[str, str]
    beam: int
    random_model: bool
    signatures: dict[str, str]
    comet: str  # the COMET model used, or why COMET was skipped
    scores: list[SystemScore]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_parallel(src: Path, ref: Path, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Source and reference lines, one segment a line, aligned (the first ``limit``)."""
    sources = src.read_text(encoding="utf-8").splitlines()
    references = ref.read_text(encoding="utf-8").splitlines()
    if len(sources) != len(references):
        raise InputError(
            f"{src} has {len(sources)} lines but {ref} has {len(references)}: "
            "the files must be parallel, one segment a line"
        )
    if limit is not None:
        sources, references = sources[:limit], references[:limit]
    blank = [i + 1 for i, line in enumerate(sources) if not line.strip()]
    if blank:
        raise InputError(f"{src} line {blank[0]} is empty: every source line needs text")
    if not sources:
        raise InputError(f"{src} has no lines to translate")
    return [s.strip() for s in sources], [r.strip() for r in references]


def score(hypotheses: list[str], references: list[str]) -> tuple[float, float, dict[str, str]]:
    """Corpus chrF and BLEU (sacrebleu defaults), and each metric's signature."""
    from sacrebleu.metrics import BLEU, CHRF

    chrf, bleu = CHRF(), BLEU()
    chrf_score = chrf.corpus_score(hypotheses, [references]).score
    bleu_score = bleu.corpus_score(hypotheses, [references]).score
    signatures = {"chrF": str(chrf.get_signature()), "BLEU": str(bleu.get_signature())}
    return round(chrf_score, 2), round(bleu_score, 2), signatures


def _backend_setup(name: str, backend: Any) -> str:
    compute = getattr(backend, "compute_type", None) if name == "ctranslate2" else "float32"
    return f"{name} {compute} on {getattr(backend, 'device', '?')}"


@dataclass
class _Run:
    """One system's outputs, before scoring."""

    setup: str
    outputs: list[str]
    seconds: float = 0.0
    flagged: int = 0
    failed: int = 0


def _through_pipeline(pipeline: Any, lines: list[str], setup: str) -> _Run:
    """Each line as one article through the pipeline."""
    started = time.perf_counter()
    articles = [
        Article(id=str(i), text=line, source_lang=SOURCE_LANG) for i, line in enumerate(lines)
    ]
    run = _Run(f"{setup}, our pipeline", [])
    for result in pipeline.run_many(articles):
        if result.error:
            run.failed += 1
            log.warning("line %d failed: %s", int(result.id) + 1, result.error.get("message"))
        if any(f.code != "random_model" for f in result.flags):
            run.flagged += 1
        run.outputs.append(" ".join(p.translation for p in result.paragraphs).strip())
    run.seconds = round(time.perf_counter() - started, 2)
    return run


def _sentence_by_sentence(
    backend: Seq2SeqBackend, lines: list[str], setup: str, beam: int, batch_tokens: int
) -> _Run:
    """Each raw line straight to the backend, batched: no segmentation, no guards."""
    from service.pipeline.translate import generate_batched

    started = time.perf_counter()
    lengths = [backend.count_tokens(line) for line in lines]
    outs = generate_batched(
        backend,
        lines,
        lengths,
        options=GenerationOptions(num_beams=beam),
        batch_tokens=batch_tokens,
    )
    texts = [out.text if out is not None else "" for out in outs]
    return _Run(
        f"{setup}, raw lines, no segmentation or guards",
        texts,
        round(time.perf_counter() - started, 2),
    )


def _comet(
    model_name: str | None, sources: list[str], references: list[str], runs: dict[str, _Run]
) -> tuple[dict[str, float], str]:
    """COMET system scores ×100 per system, or none and the reason."""
    if model_name is None:
        return {}, "skipped (--no-comet)"
    if importlib.util.find_spec("comet") is None:
        return {}, "skipped: unbabel-comet is not installed (pip install unbabel-comet)"
    try:
        from comet import download_model, load_from_checkpoint  # type: ignore[import-not-found]

        model = load_from_checkpoint(download_model(model_name))
        found = {}
        for system, run in runs.items():
            data = [
                {"src": s, "mt": h, "ref": r}
                for s, h, r in zip(sources, run.outputs, references, strict=True)
            ]
            predicted = model.predict(data, batch_size=32, progress_bar=False)
            found[system] = round(100 * float(predicted.system_score), 2)
        return found, model_name
    except Exception as exc:  # noqa: BLE001 - COMET is optional; its failures come in many types
        return {}, f"skipped: {model_name} could not be loaded or run ({type(exc).__name__}: {exc})"


def run_translation_eval(
    settings: Settings, options: TranslationEvalOptions
) -> TranslationEvalReport:
    """Translate the source lines with the three systems and score them."""
    from service.wiring import load_pipeline, load_registry, plan_models

    sources, references = read_parallel(options.src, options.ref, options.limit)
    settings = settings.model_copy(update={"summary_mode": "none"})
    registry = load_registry(settings)
    plan = plan_models(settings, registry)  # fails fast on a missing model, before torch
    model = plan.translation[SOURCE_LANG]
    beam = settings.beam or int(model.generation.get("num_beams", 4))
    name = backend_for(model, settings.backend)

    pipeline = load_pipeline(settings, plan, registry)
    backend = pipeline.translators[SOURCE_LANG]
    setup = _backend_setup(name, backend)
    random_model = bool(backend.random_weights)
    log.info("translating %d lines with %s, beam %d", len(sources), setup, beam)
    piped = _through_pipeline(pipeline, sources, setup)
    raw = _sentence_by_sentence(backend, sources, setup, beam, settings.batch_tokens)
    warnings: list[str] = []
    if random_model:
        warnings.append(
            f"translation model {model.name} has random weights (a test or benchmark build): "
            "these figures mean nothing about translation quality"
        )
    if name == "transformers":
        reference = piped
        warnings.append("the configured backend is transformers float32: rows 1 and 2 are one run")
    else:
        del pipeline, backend  # free the configured backend before loading the reference
        ref_pipeline = load_pipeline(
            settings.model_copy(update={"backend": "transformers"}), plan, registry
        )
        ref_setup = _backend_setup("transformers", ref_pipeline.translators[SOURCE_LANG])
        reference = _through_pipeline(ref_pipeline, sources, ref_setup)
    runs = {"pipeline": piped, "transformers-fp32": reference, "sentences": raw}

    comet, comet_note = _comet(options.comet_model, sources, references, runs)
    scores: list[SystemScore] = []
    signatures: dict[str, str] = {}
    for system, run in runs.items():
        chrf, bleu, signatures = score(run.outputs, references)
        scores.append(
            SystemScore(
                system,
                run.setup,
                chrf,
                bleu,
                comet.get(system),
                run.seconds,
                run.flagged,
                run.failed,
                run.outputs[:3],
            )
        )
    return TranslationEvalReport(
        src=str(options.src),
        ref=str(options.ref),
        lines=len(sources),
        model={**model.info(), "backend": name},
        beam=beam,
        random_model=random_model,
        signatures=signatures,
        comet=comet_note,
        scores=scores,
        warnings=warnings,
    )


def format_table(report: TranslationEvalReport) -> str:
    """The scores as a plain-text table, with the signatures and any warnings."""
    lines = [f"WARNING: {w}" for w in report.warnings]
    lines.append(
        f"{report.lines} lines of {report.src} against {report.ref}; "
        f"model {report.model['name']} ({report.model['revision']}), beam {report.beam}"
    )
    rows = [("system", "chrF", "BLEU", "COMET", "flagged", "failed", "seconds", "setup")]
    for s in report.scores:
        comet = "-" if s.comet is None else f"{s.comet:.2f}"
        rows.append(
            (
                s.system,
                f"{s.chrf:.2f}",
                f"{s.bleu:.2f}",
                comet,
                str(s.flagged),
                str(s.failed),
                f"{s.seconds:.1f}",
                s.setup,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    lines.extend(f"{metric} signature: {sig}" for metric, sig in report.signatures.items())
    lines.append(f"COMET: {report.comet}")
    return "\n".join(lines)
