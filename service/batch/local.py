"""The batch script in this process: articles go through the pipeline in groups whose
sentences share batches, and come back in input order."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Protocol

from service.articles import Article, ArticleResult
from service.batch.io import InputItem
from service.batch.run import Status, Translate

__all__ = ["in_process"]


class Pipeline(Protocol):
    """What the batch script needs of :class:`service.pipeline.article.ArticlePipeline`."""

    def run_many(
        self, articles: list[Article], *, progress: Callable[[str, int, int], None] | None = None
    ) -> list[ArticleResult]: ...


def in_process(pipeline: Pipeline, batch_articles: int) -> Translate:
    """A :class:`~service.batch.run.Translate` that runs ``batch_articles`` articles at a
    time through ``pipeline``."""

    def translate(
        items: Iterator[InputItem], status: Status
    ) -> Generator[ArticleResult, None, None]:
        sentences = 0  # done by earlier groups, for the progress note

        def run_group(group: list[InputItem]) -> Generator[ArticleResult, None, None]:
            nonlocal sentences
            articles = [item.article for item in group if item.article is not None]
            base = sentences

            def progress(stage: str, done: int, of: int) -> None:
                status(f"{stage}: {base + done} sentences")

            results = iter(pipeline.run_many(articles, progress=progress) if articles else [])
            for item in group:
                result = next(results) if item.article is not None else item.failed_result()
                sentences += len(result.sentences)
                yield result

        group: list[InputItem] = []
        for item in items:
            group.append(item)
            if sum(1 for g in group if g.article is not None) >= batch_articles:
                yield from run_group(group)
                group = []
        if group:
            yield from run_group(group)

    return translate
