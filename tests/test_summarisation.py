"""Bullet summaries: windows, fragments, duplicates, selection, grounding, faithfulness.

A fake summariser at the model seam makes these exact; the tiny BART model runs the real
path in test_summary_cli.py.
"""

from __future__ import annotations

import pytest
from fakes_summary import FakeSummariser, long_article

from service.articles import Bullet
from service.errors import InputError
from service.pipeline.bullets import summary_sentences
from service.pipeline.summaries import build_summariser
from service.pipeline.windows import plan_windows
from service.settings import Settings
from service.text.extractive import ends_sentence
from service.text.faithfulness import unsupported_words
from service.text.grounding import content_words


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", summary_mode="abstractive", device="cpu")


def summarise(backend, sentences, *, count=5, drop=False, mode="abstractive"):
    summariser = build_summariser(Settings(summary_mode="abstractive"), backend)
    return summariser.summarise(sentences, mode=mode, count=count, drop_unsupported=drop)


def codes(flags) -> list[str]:
    return [f.code for f in flags]


# -- windows -------------------------------------------------------------------


def test_a_5000_word_article_is_summarised_window_by_window_to_its_end() -> None:
    sentences = long_article(5000)
    assert sum(len(s.split()) for s in sentences) >= 5000
    backend = FakeSummariser(max_source_tokens=200)

    bullets, _ = summarise(backend, sentences, count=10)

    windows = plan_windows(sentences, backend.count_tokens, 200)
    seen = backend.windows_seen
    assert len(windows) >= 25
    assert sorted(seen) == sorted(w.text for w in windows)  # every window summarised, once
    assert all(backend.count_tokens(t) <= 200 for t in seen)
    covered = [i for w in windows for i in w.sentences]
    assert covered == list(range(len(sentences)))  # in order, each sentence exactly once
    assert " ".join(w.text for w in windows) == " ".join(sentences)
    # The last window's own summary is a candidate like any other: the end is not lost.
    assert max(i for b in bullets for i in b.sentences) > 0.8 * len(sentences)


def test_a_sentence_over_the_budget_is_cut_into_pieces_that_fit() -> None:
    clauses = [f"the {w} committee approved the plan" for w in ("north", "south", "east", "west")]
    run_on = "In the end, " + ", ".join(clauses * 12) + "."
    sentences = ["A short opening sentence about the plan.", run_on, "A short closing sentence."]
    backend = FakeSummariser(max_source_tokens=40)

    windows = plan_windows(sentences, backend.count_tokens, 40)

    assert backend.count_tokens(run_on) > 40
    assert all(w.tokens <= 40 and backend.count_tokens(w.text) <= 40 for w in windows)
    assert sum(1 for w in windows if 1 in w.sentences) >= 3
    assert " ".join(w.text for w in windows).split() == " ".join(sentences).split()


def test_windows_are_checked_on_their_joined_text() -> None:
    # A tokenizer for which joining costs extra tokens: the sum of the parts underestimates.
    def count(text: str) -> int:
        return len(text.split()) + 2 + 3 * text.count(". ")

    sentences = [f"Sentence number {w} says little about anything." for w in "abcdefghijklmnop"]
    windows = plan_windows(sentences, count, 30)
    assert all(count(w.text) <= 30 for w in windows)
    assert [i for w in windows for i in w.sentences] == list(range(len(sentences)))


def test_windows_are_balanced() -> None:
    sentences = [f"This is sentence {w} of the article here." for w in "abcdefghijk"]  # 8 words
    windows = plan_windows(sentences, lambda t: len(t.split()) + 2, 60)
    # 88 words + 2 fit in two windows of 60: two of about 45, not 58 and a scrap of 32.
    assert [len(w.sentences) for w in windows] in ([6, 5], [5, 6])


# -- what the summariser says -----------------------------------------------------


def test_fragments_are_never_shown() -> None:
    assert summary_sentences("The mayor resigned . He was cut off by the") == [
        "The mayor resigned."
    ]
    bullets, _ = summarise(FakeSummariser(), long_article(600), count=10)
    assert bullets
    assert all(ends_sentence(b.text) for b in bullets)
    assert not any("Meanwhile" in b.text for b in bullets)


@pytest.mark.parametrize("count", [1, 3, 5, 10])
def test_the_count_is_honoured(count: int) -> None:
    bullets, _ = summarise(FakeSummariser(), long_article(5000), count=count)
    assert len(bullets) == count


def test_a_count_out_of_range_is_refused() -> None:
    with pytest.raises(InputError, match="between 1 and 10"):
        summarise(FakeSummariser(), ["One sentence."], count=11)


ARTICLE = [
    "The mayor opened the new library in the old town on Monday.",  # 0
    "The mayor told the council that the library cost less than planned.",  # 1
    "Heavy rain flooded the northern farms after the storm.",  # 2
    "Farmers in the north asked the region for help after the flood.",  # 3
    "The hospital hired forty nurses for the winter.",  # 4
    "The hospital director said the nurses would start in December.",  # 5
]
LIBRARY = "The mayor opened the new library in the old town."
LIBRARY_AGAIN = "The mayor opened the new library in the old town on Monday."
COUNCIL = "The mayor told the council on Monday that the library cost less."
FLOOD = "Heavy rain flooded the northern farms after the storm."
NURSES = "The hospital hired forty nurses for the winter."


def test_near_duplicates_are_merged() -> None:
    backend = FakeSummariser(
        lambda text: f"{LIBRARY} {LIBRARY_AGAIN} {FLOOD}", max_source_tokens=25
    )
    bullets, _ = summarise(backend, ARTICLE, count=10)
    assert len(backend.windows_seen) >= 3  # every window said the same thing
    assert [b.text for b in bullets] == [LIBRARY_AGAIN, FLOOD]  # the fuller one is kept


def test_too_many_bullets_keep_those_covering_the_article_in_article_order() -> None:
    # Two bullets on the library (different enough to stay), one each on the other stories,
    # given in reverse order: three are asked for.
    backend = FakeSummariser(lambda text: f"{NURSES} {FLOOD} {COUNCIL} {LIBRARY}")
    bullets, _ = summarise(backend, ARTICLE, count=3)
    texts = [b.text for b in bullets]
    assert len(texts) == 3 and texts[1:] == [FLOOD, NURSES]
    assert texts[0] in (LIBRARY, COUNCIL)
    firsts = [b.sentences[0] for b in bullets]
    assert firsts == sorted(firsts)


def test_grounding_points_at_sentences_sharing_words_with_the_bullet() -> None:
    sentences = long_article(3000)
    bullets, _ = summarise(FakeSummariser(), sentences, count=10)
    assert len(bullets) == 10
    for bullet in bullets:
        assert bullet.sentences and bullet.sentences == sorted(set(bullet.sentences))
        for i in bullet.sentences:
            assert 0 <= i < len(sentences)
            assert set(content_words(bullet.text)) & set(content_words(sentences[i]))
    # A bullet copied from a sentence is grounded on that very sentence first.
    for bullet in bullets:
        assert bullet.text in [sentences[i] for i in bullet.sentences]


def test_a_bullet_sharing_no_word_with_the_article_is_not_shown() -> None:
    backend = FakeSummariser(lambda text: f"Quantum zebras juggle purple violins. {FLOOD}")
    bullets, _ = summarise(backend, ARTICLE)
    assert [b.text for b in bullets] == [FLOOD]


# -- faithfulness -------------------------------------------------------------------


PLANTED = "The mayor opened the library with 42 new shelves, said Dupont."


def test_the_guard_flags_a_planted_number_and_name() -> None:
    backend = FakeSummariser(lambda text: f"{PLANTED} {FLOOD}")
    bullets, flags = summarise(backend, ARTICLE)
    assert [b.text for b in bullets] == [PLANTED, FLOOD]
    [flag] = [f for f in flags if f.code == "unsupported_bullet"]
    assert "42" in flag.detail and "Dupont" in flag.detail and "bullet 1" in flag.detail


def test_drop_unsupported_removes_the_bullet_and_says_so() -> None:
    backend = FakeSummariser(lambda text: f"{PLANTED} {FLOOD}")
    bullets, flags = summarise(backend, ARTICLE, drop=True)
    assert [b.text for b in bullets] == [FLOOD]
    [flag] = [f for f in flags if f.code == "unsupported_bullet"]
    assert "removed" in flag.detail and "Dupont" in flag.detail


def test_dropping_every_bullet_leaves_an_honest_empty_summary() -> None:
    bullets, flags = summarise(FakeSummariser(lambda text: PLANTED), ARTICLE, drop=True)
    assert bullets == []
    assert codes(flags) == ["unsupported_bullet", "summary_empty"]


@pytest.mark.parametrize(
    ("bullet", "source", "missing"),
    [
        ("The minister said 1,200 jobs would go.", "He spoke of 1200 jobs.", []),
        ("Inflation reached 2.5 percent.", "L'inflation a atteint 2,5 %.", []),
        ("Officials said 15 people died.", "Officials said 155 people died.", ["15"]),
        ("Police arrested Martin Dupont.", "Police arrested a man.", ["Martin", "Dupont"]),
        ("Police arrested a man in Paris.", "The arrest was made in Paris.", []),
        ('He said: "We will win." Then he left.', "he said we will win then left", []),
        ("Macron visited the plant.", "The president visited a plant.", []),  # first word
        ("Two Americans were hurt.", "An American tourist was hurt.", []),  # same stem
        ("The firm released Android 4.0.3 today.", "Android 4.0.3 is out.", []),
        ("The U.S. army left.", "The army left.", []),  # single letters are not names
    ],
)
def test_unsupported_words(bullet: str, source: str, missing: list[str]) -> None:
    assert unsupported_words(bullet, source) == missing


# -- modes and fallbacks -----------------------------------------------------------


def test_when_every_window_gives_a_fragment_the_best_sentence_stands_in_and_is_flagged() -> None:
    backend = FakeSummariser(
        lambda text: "the council said that the budget would be", random_weights=True
    )
    bullets, flags = summarise(backend, ARTICLE, count=3)
    assert codes(flags) == ["random_model", "summary_fallback"]
    [bullet] = bullets
    assert bullet == Bullet(ARTICLE[bullet.sentences[0]], bullet.sentences)


def test_abstractive_without_a_model_says_how_to_get_one() -> None:
    summariser = build_summariser(Settings(summary_mode="extractive"), None)
    bullets, flags = summariser.summarise(
        ARTICLE, mode="abstractive", count=3, drop_unsupported=False
    )
    assert bullets == []
    [flag] = flags
    assert flag.code == "summary_skipped"
    assert (
        "passeur models pull distilbart-cnn-12-6" in flag.detail
        and "--summary-model" in flag.detail
    )
    assert summariser.info("abstractive") is None


def test_extractive_needs_no_model_and_returns_sentences_of_the_article() -> None:
    summariser = build_summariser(Settings(summary_mode="extractive"), None)
    bullets, flags = summariser.summarise(
        ARTICLE, mode="extractive", count=3, drop_unsupported=True
    )
    assert flags == []
    assert len(bullets) == 3
    assert all(b.text == ARTICLE[i] and b.sentences == [i] for b in bullets for i in b.sentences)
    assert [b.sentences for b in bullets] == sorted(b.sentences for b in bullets)
    assert summariser.info("extractive") == {"name": "extractive:lead-centrality", "revision": "1"}


def test_extractive_skips_a_sentence_repeating_one_already_taken() -> None:
    article = [
        ARTICLE[0],
        "The mayor opened the new library in the old town on Monday morning.",
        *ARTICLE[2:],
    ]
    summariser = build_summariser(Settings(), None)
    bullets, _ = summariser.summarise(article, mode="extractive", count=3, drop_unsupported=False)
    assert [b.sentences for b in bullets][:1] == [[0]]
    assert [1] not in [b.sentences for b in bullets]


def test_the_registry_decoding_settings_reach_the_model() -> None:
    backend = FakeSummariser(
        generation={"num_beams": 2, "max_new_tokens": 60, "min_new_tokens": 10}
    )
    summarise(backend, long_article(1000))
    options = {o for _, o in backend.calls}
    assert {(o.num_beams, o.max_new_tokens, o.min_new_tokens) for o in options} == {(2, 60, 10)}
    assert all(o.no_repeat_ngram_size == 3 for o in options)  # distilbart's, not overridden


def test_pipeline_carries_bullets_flags_and_the_summariser(settings) -> None:
    from fakes import FakeBackend

    from service.articles import Article, ArticleOptions
    from service.pipeline.article import Pipeline

    text = "Le maire a inauguré la bibliothèque. Il a plu sur les fermes du nord. Fin."
    pipeline = Pipeline(
        {"fr": FakeBackend()}, build_summariser(settings, FakeSummariser()), settings
    )
    result = pipeline.run(Article("a", text), ArticleOptions(bullets=2, summary_mode="extractive"))
    assert result.models["summarisation"] == {"name": "extractive:lead-centrality", "revision": "1"}
    assert len(result.bullets) == 2
    assert all(b.text == result.sentences[b.sentences[0]].translation for b in result.bullets)
    result = pipeline.run(Article("a", text), ArticleOptions(summary_mode="abstractive"))
    assert result.models["summarisation"]["name"] == "fake-summariser"
    assert 1 <= len(result.bullets) <= 5


def test_auto_mode_summarises_long_texts_and_gives_short_ones_their_own_sentences(
    settings,
) -> None:
    from fakes import FakeBackend

    from service.articles import Article, ArticleOptions
    from service.pipeline.article import Pipeline

    settings = settings.model_copy(update={"summary_mode": "auto", "abstractive_min_words": 40})
    backend = FakeSummariser()
    pipeline = Pipeline({"fr": FakeBackend()}, build_summariser(settings, backend), settings)
    short = "Le maire a inauguré la bibliothèque. Il a plu sur les fermes du nord. Fin."
    result = pipeline.run(Article("a", short), ArticleOptions(bullets=2))
    assert backend.calls == []  # no model ran
    assert result.models["summarisation"] == {"name": "extractive:lead-centrality", "revision": "1"}
    [flag] = [f for f in result.flags if f.code == "summary_extractive_short_text"]
    assert "fewer than the 40" in flag.detail and "PASSEUR_ABSTRACTIVE_MIN_WORDS" in flag.detail
    assert all(b.text == result.sentences[b.sentences[0]].translation for b in result.bullets)
    # Asked for by name, abstractive runs whatever the length.
    result = pipeline.run(Article("a", short), ArticleOptions(summary_mode="abstractive"))
    assert len(backend.calls) == 1 and result.models["summarisation"]["name"] == "fake-summariser"
    assert "summary_extractive_short_text" not in [f.code for f in result.flags]
    # A text past the threshold is summarised in auto mode.
    long_text = " ".join(
        f"Le conseil {k} a voté le budget de la ville hier soir." for k in range(8)
    )
    result = pipeline.run(Article("b", long_text), ArticleOptions())
    assert len(backend.calls) == 2 and result.models["summarisation"]["name"] == "fake-summariser"


def test_auto_mode_resolves_in_summarise_too() -> None:
    backend = FakeSummariser()
    summariser = build_summariser(Settings(abstractive_min_words=10_000), backend)
    bullets, flags = summariser.summarise(ARTICLE, mode="auto", count=2, drop_unsupported=False)
    assert codes(flags) == ["summary_extractive_short_text"] and len(bullets) == 2
    assert backend.calls == []


def test_summary_windows_are_batched_under_their_own_budget() -> None:
    # 5,000 words in windows of at most 200 tokens: PASSEUR_SUMMARY_BATCH_TOKENS, not the
    # translation's PASSEUR_BATCH_TOKENS, bounds each call (a window's cross-attention
    # cache is what fills a worker's memory).
    sentences = long_article(5000)
    for budget in (400, 4000):
        backend = FakeSummariser(max_source_tokens=200)
        settings = Settings(
            summary_mode="abstractive", batch_tokens=64, summary_batch_tokens=budget
        )
        build_summariser(settings, backend).summarise(
            sentences, mode="abstractive", count=3, drop_unsupported=False
        )
        sizes = [len(texts) for texts, _ in backend.calls]
        longest = [max(map(backend.count_tokens, texts)) for texts, _ in backend.calls]
        assert all(n * top <= budget or n == 1 for n, top in zip(sizes, longest, strict=True))
        assert max(sizes) >= budget // 200 - 1, sizes
