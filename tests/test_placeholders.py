"""Placeholders: mask a sentence's holds into tokens, resolve them in the model's output."""

from __future__ import annotations

from service.text.placeholders import Hold, close_id, mask, unmask

TEXT = "Avant. Le chef de l'OTAN a parlé à Kiev."
OTAN = TEXT.index("OTAN")
KIEV = TEXT.index("Kiev")


def term(start: int, source: str, target: str) -> Hold:
    return Hold(start, start + len(source), "term", target, f"{source} → {target}")


def test_mask_replaces_each_hold_inside_the_text_with_a_numbered_token() -> None:
    holds = [term(OTAN, "OTAN", "NATO"), term(KIEV, "Kiev", "Kyiv"), term(0, "Avant", "Before")]
    sentence = TEXT[7:]
    masked, tokens = mask(sentence, 7, holds)
    assert masked == "Le chef de l'{1} a parlé à {2}."
    assert [(t, h.target) for t, h in tokens] == [("{1}", "NATO"), ("{2}", "Kyiv")]


def test_unmask_puts_the_targets_back_in_any_order() -> None:
    _, tokens = mask(TEXT[7:], 7, [term(OTAN, "OTAN", "NATO"), term(KIEV, "Kiev", "Kyiv")])
    done = unmask("In {2}, the head of {1} spoke.", tokens)
    assert done.text == "In Kyiv, the head of NATO spoke."
    assert done.missing == []


def test_a_token_dropped_or_duplicated_is_missing() -> None:
    holds = [term(OTAN, "OTAN", "NATO"), term(KIEV, "Kiev", "Kyiv")]
    _, tokens = mask(TEXT[7:], 7, holds)
    assert [h.target for h in unmask("The head of the alliance spoke in {2}.", tokens).missing] == [
        "NATO"
    ]
    twice = unmask("{1} {1} spoke in {2}.", tokens)
    assert [h.target for h in twice.missing] == ["NATO"]


def test_a_spaced_out_token_still_counts() -> None:
    _, tokens = mask(TEXT[7:], 7, [term(OTAN, "OTAN", "NATO")])
    done = unmask("The head of { 1 } spoke.", tokens)
    assert (done.text, done.missing) == ("The head of NATO spoke.", [])


def test_tokens_never_collide_with_braces_the_text_already_has() -> None:
    text = "Le format {2} et l'OTAN."
    masked, tokens = mask(text, 0, [term(text.index("OTAN"), "OTAN", "NATO")])
    assert masked == "Le format {2} et l'{3}."
    done = unmask("The {2} format and {3}.", tokens)
    assert done.text == "The {2} format and NATO."
    assert done.missing == []


def test_markup_boundaries_land_where_the_model_put_them() -> None:
    text = "Le président a parlé."
    a, b = text.index("président"), text.index(" a parlé")
    holds = [Hold(a, a, "open", "m1", "emphasis"), Hold(b, b, "close", close_id("m1"), "emphasis")]
    masked, tokens = mask(text, 0, holds)
    assert masked == "Le {1}président{2} a parlé."
    done = unmask("The {1} president {2} spoke.", tokens)
    assert done.text == "The president spoke."
    assert done.positions == {"m1": 4, "/m1": 13}
    assert done.text[4:13] == "president"
    assert done.missing == []


def test_a_close_before_its_open_is_missing() -> None:
    text = "Le président a parlé."
    a, b = text.index("président"), text.index(" a parlé")
    holds = [Hold(a, a, "open", "m1", "link"), Hold(b, b, "close", "/m1", "link")]
    _, tokens = mask(text, 0, holds)
    done = unmask("The {2}president{1} spoke.", tokens)
    assert [h.kind for h in done.missing] == ["close"]


def test_a_boundary_inside_a_term_moves_to_its_edge_and_the_term_stays_whole() -> None:
    text = "Vladimir Poutine parle."
    p = text.index("Poutine")
    holds = [
        Hold(0, len("Vladimir Poutine"), "keep", "Vladimir Poutine", "Vladimir Poutine"),
        Hold(p, p, "open", "m1", "emphasis"),
        Hold(p + 7, p + 7, "close", "/m1", "emphasis"),
    ]
    masked, tokens = mask(text, 0, holds)
    assert masked == "{1}{2}{3} parle."
    assert [h.kind for _, h in tokens] == ["open", "keep", "close"]


def test_holds_outside_the_text_and_overlapping_terms_are_left_out() -> None:
    text = "Le Parti socialiste."
    start = text.index("Parti")
    holds = [term(start, "Parti socialiste", "Socialist Party"), term(start, "Parti", "Party")]
    masked, tokens = mask(text, 100, [term(0, "x", "y")])
    assert (masked, tokens) == (text, [])
    masked, tokens = mask(text, 0, holds)
    assert masked == "Le {1}."
    assert [h.target for _, h in tokens] == ["Socialist Party"]
