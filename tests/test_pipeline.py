"""One article end to end: nothing dropped, cuts and guards reported, errors per article."""

from __future__ import annotations

import pytest
from conftest import SAMPLES
from fakes import FakeBackend, pseudo_english

from service.articles import Article, ArticleOptions, sources_cover_text
from service.errors import PasseurError
from service.pipeline.article import Pipeline


def _pipeline(settings, backend=None) -> Pipeline:
    return Pipeline({"fr": backend or FakeBackend()}, None, settings)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.txt")), ids=lambda p: p.stem)
def test_samples_nothing_dropped(settings, path) -> None:
    text = path.read_text(encoding="utf-8")
    result = _pipeline(settings).run(Article(path.stem, text)).to_dict()
    assert result["error"] is None
    assert sources_cover_text(result, text)
    assert all(s["translation"] for s in result["sentences"])
    assert [p["source"] for p in result["paragraphs"]] == [text.strip()]


def test_every_piece_of_an_over_budget_sentence_is_translated_and_flagged(settings) -> None:
    long_sentence = (
        "Le conseil municipal, réuni en séance extraordinaire ce lundi soir, a adopté le budget "
        "de la ville, qui prévoit une hausse des investissements dans les écoles, les crèches, "
        "les transports en commun et la rénovation thermique des bâtiments publics."
    )
    text = "Une courte phrase d'abord. " + long_sentence
    backend = FakeBackend(max_source_tokens=12)
    result = _pipeline(settings, backend).run(Article("a", text)).to_dict()
    assert sources_cover_text(result, text)
    second = result["sentences"][1]
    assert second["source"] == long_sentence
    # Every word of the long sentence made it through one piece or another.
    assert second["translation"] == pseudo_english(long_sentence)
    [flag] = [f for f in result["flags"] if f["code"] == "sentence_split"]
    assert flag["sentence"] == 1 and "clause punctuation" in flag["detail"]
    assert all(backend.count_tokens(t) <= 12 for texts, _ in backend.calls for t in texts)


def test_guard_flags_point_at_their_sentence(settings) -> None:
    text = "Il fait beau aujourd'hui à Paris. Le bilan est de 155 morts selon la préfecture."
    backend = FakeBackend(lambda t, o: pseudo_english(t).replace("155", "15"))
    result = _pipeline(settings, backend).run(Article("a", text)).to_dict()
    assert [(f["code"], f["sentence"]) for f in result["flags"]] == [("number_mismatch", 1)]


def test_title_is_translated_and_kept_apart(settings) -> None:
    text = "Le texte de l'article commence ici."
    result = _pipeline(settings).run(Article("a", text, title="Un titre de 12 mots")).to_dict()
    assert result["title"] == {
        "source": "Un titre de 12 mots",
        "translation": pseudo_english("Un titre de 12 mots"),
    }
    assert sources_cover_text(result, text)


def test_segments_of_several_articles_share_batches(settings) -> None:
    backend = FakeBackend()
    articles = [Article(str(i), f"Première phrase {i}. Deuxième phrase {i}.") for i in range(5)]
    results = _pipeline(settings, backend).run_many(articles)
    assert [r.id for r in results] == [a.id for a in articles]
    assert len(backend.calls) == 1 and len(backend.calls[0][0]) == 10
    for r, a in zip(results, articles, strict=True):
        assert r.sentences[1].translation == pseudo_english(f"Deuxième phrase {a.id}.")


def test_a_backend_that_streams_its_batches_gets_fewer_larger_calls() -> None:
    # A backend that keeps its replicas busy across its own cuts (CTranslate2 with several
    # replicas) is handed several budgets a call when the output limit is the same for all
    # (summary windows): fewer calls, fewer waits at their ends. Translation, whose limit
    # follows each batch's longest segment, keeps its batches.
    from service.engines.protocol import GenerationOptions
    from service.pipeline.translate import STREAMED_BUDGETS_PER_CALL, generate_batched

    texts = [f"Phrase numéro {k} de l'article {k % 7}." for k in range(96)]
    plain, streams = FakeBackend(), FakeBackend()
    streams.streams_batches = True

    def calls(backend: FakeBackend, limit: int | None) -> list[int]:
        backend.calls.clear()
        options = GenerationOptions(num_beams=1, max_new_tokens=limit)
        lengths = [backend.count_tokens(t) for t in texts]
        outputs = generate_batched(backend, texts, lengths, options=options, batch_tokens=64)
        assert [o.text for o in outputs if o] == [pseudo_english(t) for t in texts]
        return [len(t) * max(map(backend.count_tokens, t)) for t, _ in backend.calls]

    assert max(calls(plain, 40)) <= 64 and len(calls(plain, 40)) >= 10
    merged = calls(streams, 40)
    assert max(merged) <= 64 * STREAMED_BUDGETS_PER_CALL
    assert len(merged) <= -(-len(calls(plain, 40)) // (STREAMED_BUDGETS_PER_CALL - 1))
    assert calls(streams, None) == calls(plain, None)


def test_bad_article_fails_alone(settings) -> None:
    settings.max_article_chars = 200
    articles = [
        Article("ok", "Une phrase."),
        Article("empty", "  \n "),
        Article("long", "Mot. " * 100),
        Article("de", "Ein Satz.", source_lang="de"),
    ]
    results = {r.id: r for r in _pipeline(settings).run_many(articles)}
    assert results["ok"].error is None
    assert results["empty"].error["code"] == "empty_text"
    assert results["long"].error["code"] == "text_too_long"
    assert results["long"].error["limit"] == 200 and results["long"].error["size"] == 500
    assert results["de"].error["code"] == "unsupported_language"


def test_english_source_is_not_translated(settings) -> None:
    backend = FakeBackend()
    text = "The council met on Monday. It adopted the budget."
    result = _pipeline(settings, backend).run(Article("en", text, source_lang="en")).to_dict()
    assert [s["translation"] for s in result["sentences"]] == [
        s["source"] for s in result["sentences"]
    ]
    assert result["models"]["translation"] is None and backend.calls == []


def test_beam_option_reaches_the_model(settings) -> None:
    backend = FakeBackend()
    _pipeline(settings, backend).run(Article("a", "Une phrase."), ArticleOptions(beam=2))
    assert backend.calls[0][1].num_beams == 2


def test_progress_can_stop_the_work(settings) -> None:
    class Cancelled(PasseurError):
        code = "cancelled"

    def progress(stage: str, done: int, total: int) -> None:
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        _pipeline(settings).run(Article("a", "Une phrase. Une autre."), progress=progress)


def test_tiny_marian_end_to_end(settings, marian_backend, orangesum_articles) -> None:
    """The real transformers path on 6 OrangeSum articles: nothing dropped, honest flags."""
    pipeline = Pipeline({"fr": marian_backend}, None, settings)
    articles = [Article(str(i), text) for i, text in enumerate(orangesum_articles[:6])]
    results = pipeline.run_many(articles, ArticleOptions(beam=2))
    for article, result in zip(articles, results, strict=True):
        data = result.to_dict()
        assert data["error"] is None
        assert sources_cover_text(data, article.text)
        assert data["flags"][0]["code"] == "random_model"
        assert data["models"]["translation"]["revision"].startswith("local")


def test_summary_windows_of_several_articles_share_batches(settings) -> None:
    from fakes_summary import FakeSummariser

    from service.pipeline.summaries import build_summariser

    summariser_backend = FakeSummariser()
    settings = settings.model_copy(update={"abstractive_min_words": 0})  # short articles
    summariser = build_summariser(settings, summariser_backend)
    pipeline = Pipeline(
        {"fr": FakeBackend(lambda t, o: f"Sentence {len(t)} is here.")}, summariser, settings
    )
    articles = [
        Article(str(i), " ".join(f"Phrase {k} de l'article {i}." for k in range(6)))
        for i in range(4)
    ]
    results = pipeline.run_many(articles, ArticleOptions(summary_mode="abstractive", bullets=2))
    assert len(summariser_backend.calls) == 1
    assert len(summariser_backend.calls[0][0]) == 4  # one window per article, one batch
    assert all(r.error is None and 1 <= len(r.bullets) <= 2 for r in results)
    assert all(r.models["summarisation"]["name"] == "fake-summariser" for r in results)
