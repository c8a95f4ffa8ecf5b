"""Detection over every language lingua knows: FLORES paragraphs outside the nine default
languages are named as what they are, never given one of the nine with high confidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.engines.langid import DEFAULT_LANGUAGES, LanguageIdentifier
from service.measure.data import FLORES_FILES
from service.measure.langid_eval import CONFIDENT, evaluate_langid, load_flores

KOREAN = "정부는 수요일 연금 개혁 법안을 발표했다. 노조는 다음 주 전국 파업을 예고했다."


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    ident = LanguageIdentifier()
    ident.load()
    return ident


@pytest.fixture(scope="module")
def others(shared_data: Path) -> dict[str, list[str]]:
    codes = [code for code in FLORES_FILES if code not in DEFAULT_LANGUAGES]
    try:
        return load_flores(shared_data / "flores200_devtest", codes)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_polish_danish_czech_paragraphs_are_named(identifier, others) -> None:
    corpus = {code: others[code][:400] for code in ("pl", "da", "cs")}
    report = evaluate_langid(identifier, corpus, paragraph_size=5, every=2)
    for lang, result in report["languages"].items():
        paragraphs = result["paragraphs"]
        assert paragraphs["accuracy"] >= 0.97, (lang, paragraphs)
        assert not set(paragraphs["confusions"]) & set(DEFAULT_LANGUAGES), (lang, paragraphs)


def test_no_paragraph_outside_the_nine_is_confidently_given_one_of_them(identifier, others) -> None:
    for lang, lines in others.items():
        for i in range(0, 200, 10):
            paragraph = " ".join(lines[i : i + 5])
            found = identifier.detect_article(paragraph)
            if found.lang in DEFAULT_LANGUAGES:
                assert found.confidence < CONFIDENT, (lang, found.lang, paragraph[:80])


def test_an_unsupported_language_is_named_not_relabelled(identifier) -> None:
    found = identifier.detect_article(KOREAN)
    assert (found.lang, found.fallback) == ("ko", False) and found.confidence >= 0.9
    lang, confidence, fallback = identifier.detect(KOREAN, prior="fr")
    assert (lang, fallback) == ("ko", False)
