"""The guards, alone and through the translation step with translators that misbehave on purpose."""

from __future__ import annotations

import pytest
from fakes import FakeBackend, pseudo_english

from service.engines.batching import pack_batches
from service.pipeline.translate import translate_segments
from service.text.guards import (
    find_repetition,
    is_passthrough,
    length_ratio_ok,
    missing_numbers,
    numbers_in,
    unsupported_numbers,
)


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


# Each reading comes from a pair of human translations the guard used to flag (issue 18):
# the translator wrote the number another way, and nothing is missing.
@pytest.mark.parametrize(
    ("source", "translation"),
    [
        # English number words, and scale words after digits or words
        ("Il a dormi 6 heures.", "He slept six hours."),
        ("Elle a 3 enfants.", "She has three children."),
        ("Une pièce d'1 cent.", "A coin of one penny."),
        ("Plus de 4 000 000 personnes.", "Over four million people."),
        ("Elle a 21 ans.", "She is twenty-one."),
        ("Depuis plus de 1000 ans.", "For over a thousand years."),
        ("Il a acheté 12 œufs.", "He bought a dozen eggs."),
        ("Pourtant, 80 % de nos biens.", "Yet eighty percent of our goods."),
        ("Un budget de 2 milliards.", "A budget of 2 billion."),
        ("Un budget de 2,5 milliards.", "A budget of $2.5bn."),
        ("Un coût de 2 500 000 000 euros.", "A cost of 2.5 billion euros."),
        ("Un coût de 1,5 million.", "A cost of 1,500,000."),
        # ordinals, French and English
        ("La 10ème tempête.", "The tenth storm."),
        ("Il est arrivé 11e, puis 16e.", "He finished eleventh, then sixteenth."),
        ("Le 1er mai.", "On May 1st."),
        ("Le 1er mai.", "On the first of May."),
        ("Le 21e siècle.", "The twenty-first century."),
        # thousands grouped with any space: thin (U+2009), no-break, narrow no-break
        ("6\u2009000 sur 330\u2009000.", "6,000 of the 330,000."),
        ("Environ 10\u00a0000 ans.", "Roughly 10,000 years."),
        ("Environ 800\u202f000 soldats.", "Over 800,000 soldiers."),
        # a number glued to its unit
        ("Les fréquences 2,4 GHz et 5,0 GHz.", "The 2.4Ghz and 5.0Ghz frequencies."),
        # French clock times, exact
        ("Vers 12 h 00 GMT.", "At approximately 1200 GMT."),
        ("Vers 12 h 00.", "At noon."),
        ("À 12h30.", "At 12:30."),
        ("Entre 22 h\u00a000 et 23\u00a0h\u00a000.", "Between 10:00-11:00 pm."),
        ("À 22 h 08.", "At 10:08 p.m."),
        ("À 7 h 19 (21 h 19 GMT).", "At 07:19 a.m. (09:19 p.m. GMT)."),
        ("À 20 h 30 (15 h 00 UTC).", "At 8:30 p.m. (15.00 UTC)."),
        ("À 15 h.", "At 3pm."),
        ("Le match a duré 2 h 30.", "The match lasted 2 hours 30 minutes."),  # a duration
        # years and decades written short
        ("Au premier trimestre 2015.", "In Q1/15."),
        ("Pendant les années 20.", "During the 1920s."),
    ],
)
def test_a_number_written_another_way_is_found(source: str, translation: str) -> None:
    assert missing_numbers(source, translation) == []


# No reading may blind the guard: a number dropped or changed is still caught.
@pytest.mark.parametrize(
    ("source", "translation", "missing"),
    [
        ("Il y a 6 personnes.", "There are sixty people.", ["6"]),
        ("Il y a 60 personnes.", "There are six people.", ["60"]),
        ("Il y a 16 blessés.", "There are sixty injured.", ["16"]),
        ("Il y a 21 morts.", "There were twenty deaths.", ["21"]),
        ("Il y a 6 000 morts.", "There were 6 deaths.", ["6 000"]),
        ("Il y a 6\u2009000 morts.", "There were 6 or 000 deaths.", ["6\u2009000"]),
        ("Un budget de 2 milliards.", "A budget of 2 million.", ["2 milliards"]),
        ("Un budget de 4 millions.", "A budget of four billion.", ["4 millions"]),
        ("Plus de 4 000 000 personnes.", "Over forty million people.", ["4 000 000"]),
        ("Il pesait 450 kg.", "It weighed 1,000 pounds.", ["450"]),  # a unit conversion
        ("La 10ème tempête.", "The eleventh storm.", ["10"]),
        ("À 22 h 08.", "At 10:08 a.m.", ["22 h 08"]),
        ("À 22 h 08.", "At 10:18 p.m.", ["22 h 08"]),
        ("Vers 12 h 00 GMT.", "At 1300 GMT.", ["12 h 00"]),
        ("Vers 12 h 00.", "At midnight.", ["12 h 00"]),
        ("Entre 6 h 30 et 7 h 30.", "Between 06:30 and 06:30.", ["7 h 30"]),
        ("Un temps de 4:41.31.", "A time of 4:41.30.", ["41.31"]),
        ("Pendant les années 20.", "During the 1930s.", ["20"]),
        ("En 2015.", "In Q1/16.", ["2015"]),
        ("Le 3 et le 3 mai.", "Three and May.", ["3"]),
    ],
)
def test_a_number_dropped_or_changed_is_still_caught(
    source: str, translation: str, missing: list[str]
) -> None:
    assert missing_numbers(source, translation) == missing


def test_numbers_are_read_whole_and_by_value() -> None:
    assert numbers_in("6\u2009000 sur 330\u00a0000", "fr") == [
        ("6\u2009000", {"6000"}),
        ("330\u00a0000", {"330000"}),
    ]
    assert numbers_in("2,5 milliards, 1 billion", "fr") == [
        ("2,5 milliards", {"2500000000"}),
        ("1 billion", {"1000000000000"}),  # a French billion is a million million
    ]
    assert numbers_in("1 billion, 5m") == [("1 billion", {"1000000000"}), ("5m", {"5", "5000000"})]
    assert numbers_in("à 14 h 30, 2:30 p.m.") == [
        ("14 h 30", {"14:30", "1430"}),
        ("2:30 p.m.", {"14:30"}),
    ]
    assert numbers_in("version 4.0.3") == [("4.0.3", {"4.0.3"})]


def test_bullet_numbers_are_matched_against_numbers_in_words() -> None:
    source = "Over four million people came; 6,000 were hurt at noon."
    assert unsupported_numbers("4,000,000 came and 6000 were hurt at 12:00.", source) == []
    assert unsupported_numbers("40 million came.", source) == ["40 million"]


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
