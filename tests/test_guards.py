"""The guards, alone and through the translation step with translators that misbehave on purpose."""

from __future__ import annotations

import pytest
from fakes import FakeBackend, pseudo_english

from service.batching import pack_batches
from service.guards import find_repetition, is_passthrough, length_ratio_ok, missing_numbers
from service.translation import translate_segments


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("the the the the end", "the"),
        ("In Paris, in Paris, in Paris, in Paris, again.", "in paris"),
        ("Ha ha ha ha ha", "ha"),
        ("hahahahahahahahahahaha", "ha"),
        ("The president of the republic met the president of the senate.", None),
        ("Yes, yes, yes.", None),
    ],
)
def test_find_repetition(text: str, unit: str | None) -> None:
    assert find_repetition(text) == unit


@pytest.mark.parametrize(
    ("source", "translation", "missing"),
    [
        ("Il y a 1 200 000 habitants.", "There are 1,200,000 inhabitants.", []),
        ("Il y a 1\u202f200 habitants.", "There are 1200 inhabitants.", []),
        ("Une hausse de 2,4 %.", "An increase of 2.4%.", []),
        ("Une hausse de 2,4 %.", "An increase of 24%.", ["2,4"]),
        ("Il y a eu 155 morts en 2019.", "There were 15 deaths in 2019.", ["155"]),
        ("Rendez-vous à 14 h 30.", "Meeting at 2:30 p.m.", []),
        ("Le 3 et le 3 mai.", "The 3rd and May 3.", []),
        ("Le 3 et le 3 mai.", "The 3rd of May.", ["3"]),
        ("Le 1er janvier.", "On 1 January.", []),
    ],
)
def test_missing_numbers(source: str, translation: str, missing: list[str]) -> None:
    assert missing_numbers(source, translation) == missing


def test_passthrough_and_length() -> None:
    src = "Le gouvernement a présenté mercredi son projet de loi."
    assert is_passthrough(src, src)
    assert is_passthrough(src, "Le gouvernement a présenté mercredi son projet de loi !")
    assert not is_passthrough(src, "The government presented its bill on Wednesday.")
    assert not is_passthrough("Emmanuel Macron.", "Emmanuel Macron.")  # names stay as they are
    assert length_ratio_ok(src, "The government presented its bill on Wednesday.")
    assert not length_ratio_ok(src, "Yes.")
    assert not length_ratio_ok(src, "word " * 100)


def _codes(outcome) -> list[str]:
    return [code for code, _ in outcome.flags]


def test_well_behaved_translator_raises_no_flag() -> None:
    segs = ["Le chômage a baissé de 2,4 % en 2019.", "Il y a 1 200 salariés sur le site."]
    outcomes = translate_segments(FakeBackend(), segs, beam=4, batch_tokens=256)
    assert [o.flags for o in outcomes] == [[], []]


def test_echoing_translator_is_flagged_passthrough() -> None:
    seg = "Le gouvernement a présenté mercredi son projet de loi."
    [outcome] = translate_segments(FakeBackend(lambda t, o: t), [seg], beam=4, batch_tokens=256)
    assert "passthrough" in _codes(outcome)


def test_number_dropping_translator_is_flagged() -> None:
    seg = "Le bilan est de 155 morts et 2,4 % de hausse."
    backend = FakeBackend(lambda t, o: pseudo_english(t).replace("155", "15"))
    [outcome] = translate_segments(backend, [seg], beam=4, batch_tokens=256)
    assert ("number_mismatch", "not found in the translation: 155") in outcome.flags


def test_loop_fixed_by_redecoding() -> None:
    def loops_without_controls(text: str, options) -> str:
        return (
            pseudo_english(text)
            if options.no_repeat_ngram_size
            else "the city the city the city the city the city"
        )

    backend = FakeBackend(loops_without_controls)
    seg = "La ville de Lyon a voté un nouveau budget."
    [outcome] = translate_segments(backend, [seg], beam=4, batch_tokens=256)
    assert outcome.translation == pseudo_english(seg)
    assert _codes(outcome) == ["repetition_redecoded"]
    assert len(backend.calls) == 2 and backend.calls[1][1].no_repeat_ngram_size == 3


def test_persistent_loop_is_flagged() -> None:
    backend = FakeBackend(lambda t, o: "no no no no no no no no")
    [outcome] = translate_segments(
        backend, ["Non, a-t-il répété plusieurs fois."], beam=4, batch_tokens=256
    )
    assert "repetition" in _codes(outcome)


def test_batches_respect_the_token_budget_and_order() -> None:
    lengths = [3, 40, 7, 7, 100, 12, 1, 60]
    batches = pack_batches(lengths, budget=120)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 120


def test_out_of_memory_batch_is_split_and_retried() -> None:
    segs = [f"Phrase numéro {i} du texte." for i in range(8)]
    backend = FakeBackend(fail_above=2)
    outcomes = translate_segments(backend, segs, beam=4, batch_tokens=10_000)
    assert [o.translation for o in outcomes] == [pseudo_english(s) for s in segs]
    assert all(len(texts) <= 2 for texts, _ in backend.calls)
