"""A short output is repaired, not only flagged: fakes that drop a sentence or stop early."""

from __future__ import annotations

import regex
from fakes import FakeBackend

from service.articles import Article, sources_cover_text
from service.engines.protocol import Generated, GenerationOptions
from service.pipeline.article import Pipeline
from service.pipeline.translate import shortfalls, translate_segments

_WORD = regex.compile(r"\p{L}+")
_FIRST_SENTENCE = regex.compile(r"^.*?[.!?](?=\s)")


def mock_english(text: str) -> str:
    """Every word becomes ``w<len>`` (``W<len>`` when capitalised), punctuation kept."""
    return _WORD.sub(lambda m: f"{'W' if m[0][0].isupper() else 'w'}{len(m[0])}", text)


def drops_second_sentence(text: str, options: GenerationOptions) -> str:
    """What a sentence-level model does with two sentences: translate the first only."""
    first = _FIRST_SENTENCE.match(text)
    return mock_english(first.group() if first else text)


class StopsEarly(FakeBackend):
    """Inputs over ``limit`` tokens stop half-way, at the length limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(lambda t, o: mock_english(t))
        self.limit = limit

    def generate(self, texts: list[str], options: GenerationOptions) -> list[Generated]:
        self.calls.append((list(texts), options))
        out = []
        for text in texts:
            words = mock_english(text).split()
            if self.count_tokens(text) > self.limit:
                out.append(Generated(" ".join(words[: len(words) // 4]), len(words) // 4, True))
            else:
                out.append(Generated(" ".join(words), len(words), False))
        return out


# The splitter keeps "plan B. Marie" whole: "B." may be an initial before a name.
TWO_SENTENCES = "Le gouvernement a choisi le plan B. Marie Dupont a quitté le ministère hier soir."
LONG = (
    "Le conseil municipal, réuni en séance extraordinaire ce lundi soir, a adopté le budget "
    "de la ville, qui prévoit une hausse des investissements dans les écoles et les crèches."
)


def _codes(flags: list[tuple[str, str]]) -> list[str]:
    return [code for code, _ in flags]


def test_a_dropped_sentence_is_translated_again_in_pieces() -> None:
    backend = FakeBackend(drops_second_sentence)
    [outcome] = translate_segments(backend, [TWO_SENTENCES], beam=1, batch_tokens=256)
    assert outcome.translation == mock_english(TWO_SENTENCES)
    assert _codes(outcome.flags) == ["short_output_repaired"]
    assert "sentences" in outcome.flags[0][1]
    assert sorted(backend.calls[-1][0]) == [
        "Le gouvernement a choisi le plan B.",
        "Marie Dupont a quitté le ministère hier soir.",
    ]


def test_an_early_stop_is_translated_again_cut_at_clause_punctuation() -> None:
    backend = StopsEarly(limit=20)
    [outcome] = translate_segments(backend, [LONG], beam=1, batch_tokens=256)
    assert outcome.translation == mock_english(LONG)
    assert _codes(outcome.flags) == ["short_output_repaired"]
    assert "truncated" in outcome.flags[0][1]
    pieces = backend.calls[-1][0]
    assert len(pieces) > 1 and all(p.endswith((",", ".")) for p in pieces)
    assert all(backend.count_tokens(p) <= 20 for p in pieces)


def test_a_retry_that_is_no_better_keeps_the_first_output_and_its_flags() -> None:
    backend = FakeBackend(lambda t, o: "")
    [outcome] = translate_segments(backend, [LONG], beam=1, batch_tokens=256)
    assert outcome.translation == ""
    assert _codes(outcome.flags) == ["empty_translation"]
    assert len(backend.calls) == 2  # it was tried again

    # Three words of anything, no sentence end: the pieces are no better.
    three_words = FakeBackend(lambda t, o: " ".join(mock_english(t).split()[:3]).strip("."))
    [outcome] = translate_segments(three_words, [TWO_SENTENCES], beam=1, batch_tokens=256)
    assert _codes(outcome.flags) == ["sentence_count", "length_ratio"]


def test_sentences_merged_without_loss_are_left_alone() -> None:
    # "D.K. Arya" -> "D K Arya": fewer sentence ends, nothing lost.
    merged = FakeBackend(lambda t, o: mock_english(t).replace("W1.", "W1"))
    [outcome] = translate_segments(merged, [TWO_SENTENCES], beam=1, batch_tokens=256)
    assert outcome.translation == mock_english(TWO_SENTENCES).replace("W1.", "W1")
    assert outcome.flags == []


def test_sound_outputs_are_not_retried() -> None:
    backend = FakeBackend(lambda t, o: mock_english(t))
    outcomes = translate_segments(backend, [TWO_SENTENCES, LONG], beam=1, batch_tokens=256)
    assert [o.flags for o in outcomes] == [[], []]
    assert len(backend.calls) == 1
    # An abbreviation is not a sentence end: "M. Dupont" -> "Mr Dupont" is sound.
    out = Generated("Mr Dupont came back yesterday.", 5, False)
    assert shortfalls("M. Dupont est revenu hier.", out, lang="fr") == []


def test_the_pipeline_shows_the_repaired_sentence(settings) -> None:
    text = f"Une première phrase courte. {TWO_SENTENCES}"
    backend = FakeBackend(drops_second_sentence)
    result = Pipeline({"fr": backend}, None, settings).run(Article("a", text)).to_dict()
    assert sources_cover_text(result, text)
    assert result["sentences"][1]["translation"] == mock_english(TWO_SENTENCES)
    assert [(f["code"], f["sentence"]) for f in result["flags"]] == [("short_output_repaired", 1)]


def test_the_result_counts_every_token_decoded_repairs_included(settings) -> None:
    """``work`` says what the model decoded for the article (what ``passeur bench`` checks
    the service against): the first outputs and the pieces translated again."""
    text = f"Une première phrase courte. {TWO_SENTENCES}"
    backend = FakeBackend(drops_second_sentence)
    result = Pipeline({"fr": backend}, None, settings).run(Article("a", text)).to_dict()
    decoded = 0
    for texts, options in backend.calls:
        decoded += sum(len(drops_second_sentence(t, options).split()) for t in texts)
    assert len(backend.calls) == 2  # the first pass, then the repair
    assert result["work"] == {
        "segments": 2,
        "translated_tokens": decoded,
        "summary_windows": 0,
        "summary_tokens": 0,
    }
