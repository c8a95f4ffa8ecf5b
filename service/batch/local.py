"""The batch script in this process: articles go through the pipeline in groups whose
sentences share batches, and come back in input order.

The models are loaded when the first group with something to translate is ready, as a
stage of the progress display: an input the pipeline would refuse (empty, too long) is
refused first, so a run with nothing to translate loads nothing."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Protocol

from service.articles import Article, ArticleOptions, ArticleResult, validate_article
from service.batch.io import InputItem
from service.batch.run import Status, Translate
from service.errors import InputError

__all__ = ["in_process"]

ProgressFn = Callable[[str, int, int], None]

# The pipeline's stages as the display names them, with what each counts.
STAGES = {"translation": ("translating", "sentences"), "summarisation": ("summarising", "articles")}


class Pipeline(Protocol):
    """What the batch script needs of :class:`service.pipeline.article.Pipeline`."""

    def run_jobs(
        self, items: Sequence[tuple[Article, ArticleOptions, ProgressFn | None]]
    ) -> list[ArticleResult | BaseException]: ...


def in_process(load: Callable[[], Pipeline], batch_articles: int, max_chars: int) -> Translate:
    """A :class:`~service.batch.run.Translate` that runs ``batch_articles`` articles at a
    time through the pipeline ``load()`` gives, called once, when the first group with an
    article of at most ``max_chars`` characters is ready."""
    loaded: list[Pipeline] = []

    def pipeline(status: Status) -> Pipeline:
        if not loaded:
            status.stage("loading models")
            loaded.append(load())
        return loaded[0]

    def translate(
        items: Iterator[InputItem], status: Status
    ) -> Generator[ArticleResult, None, None]:
        position = 0  # items handed to earlier groups, to number the articles shown

        def run_group(group: list[InputItem]) -> Generator[ArticleResult, None, None]:
            nonlocal position
            label = f"articles {position + 1}-{position + len(group)}"
            position += len(group)
            articles = [item.article for item in group if item.article is not None]
            outcomes: Iterator[ArticleResult | BaseException] = iter(())
            if articles:
                runner = pipeline(status)
                status.stage(f"translating {label}", unit="sentences")
                stages = _GroupStages(status, label)
                jobs = [(a, ArticleOptions(), stages.reporter(k)) for k, a in enumerate(articles)]
                outcomes = iter(runner.run_jobs(jobs))
            for item in group:
                outcome = next(outcomes) if item.article is not None else item.failed_result()
                if isinstance(outcome, BaseException):
                    raise outcome  # the reporters never raise: not a cancelled article
                yield outcome

        group: list[InputItem] = []
        for item in items:
            _refuse_early(item, max_chars)
            group.append(item)
            if sum(1 for g in group if g.article is not None) >= batch_articles:
                yield from run_group(group)
                group = []
        if group:
            yield from run_group(group)

    return translate


def _refuse_early(item: InputItem, max_chars: int) -> None:
    """The pipeline's own input check, before any model is loaded for the item."""
    if item.article is None:
        return
    try:
        validate_article(item.article.text, item.article.title, max_chars=max_chars)
    except InputError as exc:
        item.article, item.error = None, exc.to_dict()


class _GroupStages:
    """The progress of one group's articles, summed per stage for the display: sentences
    translated of the group's sentences, then articles summarised of those to summarise.
    Each stage keeps its own count, so a new stage never makes the last one's go back."""

    def __init__(self, status: Status, label: str) -> None:
        self.status = status
        self.label = label
        self.counts: dict[str, dict[int, tuple[int, int]]] = {}

    def reporter(self, k: int) -> ProgressFn:
        def report(stage: str, done: int, total: int) -> None:
            per_article = self.counts.setdefault(stage, {})
            per_article[k] = (done, total)
            verb, unit = STAGES.get(stage, (stage, "steps"))
            self.status.stage(
                f"{verb} {self.label}",
                sum(d for d, _ in per_article.values()),
                sum(t for _, t in per_article.values()),
                unit,
            )

        return report
