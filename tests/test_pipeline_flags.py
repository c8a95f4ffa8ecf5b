"""The README's output flags through the whole pipeline: a model output that is cut at the
length limit, empty, or far shorter or longer than its source is kept (nothing dropped) and
flagged on its own sentence in the article's result, and its neighbours are not.

The model is the exact fake of ``tests/fakes.py``; each behaviour misbehaves on one
sentence and on any piece of it (the pipeline may translate a bad output again in
pieces), like a model that fails on that text.
"""

from __future__ import annotations

import itertools

from fakes import FakeBackend, pseudo_english

from service.articles import Article, ArticleResult, sources_cover_text
from service.pipeline.article import Pipeline
from service.pipeline.translate import output_limit

CLEAN = "Le conseil municipal se réunit chaque lundi soir."
BAD = "La préfecture a publié un communiqué détaillé sur la situation dans la région."
TEXT = f"{CLEAN} {BAD} Les écoles restent ouvertes."
OTHER = Article("other", "Les trains circulent normalement sur toutes les lignes.")


def _run(settings, behaviour, **backend_options) -> tuple[ArticleResult, ArticleResult]:
    def model(text: str, options) -> str:
        return behaviour(text) if text in BAD else pseudo_english(text)

    pipeline = Pipeline({"fr": FakeBackend(model, **backend_options)}, None, settings)
    flagged, other = pipeline.run_many([Article("a", TEXT), OTHER])
    assert flagged.error is None and other.error is None
    assert sources_cover_text(flagged.to_dict(), TEXT)
    assert other.flags == []
    return flagged, other


def _flags(result: ArticleResult) -> list[tuple[str, int | None]]:
    return [(f.code, f.sentence) for f in result.flags]


def test_an_output_cut_at_the_length_limit_is_flagged_output_truncated(settings) -> None:
    runaway = (f"x{k}" for k in itertools.count())  # never ends, never repeats

    def endless(text: str) -> str:
        return " ".join(itertools.islice(runaway, 1000))

    result, _ = _run(settings, endless, stops_at_limit=True)
    [bad] = [s for s in result.sentences if s.source == BAD]
    assert bad.translation  # the cut output is kept
    assert _flags(result) == [("output_truncated", 1)]
    # The limit is the batch's: room for twice the longest source, plus 16 tokens.
    longest = max(len(s.split()) + 1 for s in (CLEAN, BAD, "Les écoles restent ouvertes."))
    assert result.flags[0].detail == (
        f"decoding stopped at the length limit ({output_limit(longest)} tokens)"
    )
    assert len(bad.translation.split()) == output_limit(longest)


def test_an_empty_output_is_flagged_empty_translation(settings) -> None:
    result, _ = _run(settings, lambda text: "")
    assert _flags(result) == [("empty_translation", 1)]
    assert result.flags[0].detail == "the model produced no text"
    assert result.sentences[1].source == BAD and result.sentences[1].translation == ""
    assert [s.translation for s in result.sentences[::2]] == [
        pseudo_english(CLEAN),
        pseudo_english("Les écoles restent ouvertes."),
    ]


def test_an_output_far_shorter_than_its_source_is_flagged_length_ratio(settings) -> None:
    result, _ = _run(settings, lambda text: "Yes.")
    assert _flags(result) == [("length_ratio", 1)]
    assert result.flags[0].detail == f"{len('Yes.')} characters out for {len(BAD)} in"
    assert result.sentences[1].translation == "Yes."


def test_an_output_far_longer_than_its_source_is_flagged_length_ratio(settings) -> None:
    def verbose(text: str) -> str:  # within the length limit, over three times the characters
        return " ".join(
            f"{w}-at-great-length-{k}" for k, w in enumerate(pseudo_english(text).split())
        )

    result, _ = _run(settings, verbose)
    out = result.sentences[1].translation
    assert len(out) > 3 * len(BAD)
    assert _flags(result) == [("length_ratio", 1)]
    assert result.flags[0].detail == f"{len(out)} characters out for {len(BAD)} in"
