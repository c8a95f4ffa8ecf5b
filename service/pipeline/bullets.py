"""Abstractive summaries, what comes out: the complete sentences of the summaries, merged
and chosen to cover the article, and the faithfulness check every bullet goes through."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import regex

from service.articles import Bullet, Flag
from service.text.extractive import ends_sentence
from service.text.faithfulness import unsupported_words
from service.text.grounding import ArticleIndex, content_words, document_counts, overlap, word_count
from service.text.guards import find_repetition, joined
from service.text.segmentation import split_sentences

__all__ = [
    "check_faithfulness",
    "choose_bullets",
    "clean_summary_text",
    "merge_duplicates",
    "select_covering",
    "summary_sentences",
]

log = logging.getLogger(__name__)

DUPLICATE_OVERLAP = 0.7  # share of the smaller bullet's content words found in the other
MIN_BULLET_WORDS = 3
_SPACE_BEFORE_PUNCT = regex.compile(r"\s+(?=[.,;:!?%)\]’”»])|(?<=[(\[“«])\s+")
_SPACES = regex.compile(r"\s+")


def clean_summary_text(text: str) -> str:
    """One line, no space before closing punctuation (CNN-trained models write "word .")."""
    return _SPACE_BEFORE_PUNCT.sub("", _SPACES.sub(" ", text)).strip()


def summary_sentences(text: str) -> list[str]:
    """The complete sentences of a generated summary; fragments and loops left out."""
    text = clean_summary_text(text)
    out = []
    for start, end in split_sentences(text, "en"):
        sentence = text[start:end]
        if (
            ends_sentence(sentence)
            and word_count(sentence) >= MIN_BULLET_WORDS
            and not find_repetition(sentence)
        ):
            out.append(sentence)
    return out


@dataclass
class _Candidate:
    text: str
    words: set[str]
    support: list[int] = field(default_factory=list)


def merge_duplicates(candidates: list[_Candidate]) -> list[_Candidate]:
    """Keep one of each group of near-duplicates: the one with more content words."""
    kept: list[_Candidate] = []
    for cand in candidates:
        twin = next((k for k in kept if overlap(k.words, cand.words) >= DUPLICATE_OVERLAP), None)
        if twin is None:
            kept.append(cand)
        elif len(cand.words) > len(twin.words):
            kept[kept.index(twin)] = cand
    return kept


def select_covering(
    candidates: list[_Candidate], index: ArticleIndex, count: int
) -> list[_Candidate]:
    """Up to ``count`` candidates that together cover the article best.

    The article is divided into ``count`` equal parts by sentence position, and each part
    with a candidate grounded in it gives one bullet; remaining places go to the others.
    Within each step the candidate adding the most content words not yet covered wins,
    each word weighted by how often the article uses it (central words count more).
    """
    weights: Counter[str] = document_counts(index)
    n = max(len(index.sentences), 1)
    chosen: list[_Candidate] = []
    covered: set[str] = set()

    def take(pool: list[_Candidate]) -> None:
        gains = [sum(weights[w] for w in c.words - covered) for c in pool]
        best = pool[max(range(len(pool)), key=lambda i: (gains[i], -i))]
        covered.update(best.words)
        chosen.append(best)

    for part in range(count):
        pool = [c for c in candidates if c not in chosen and c.support[0] * count // n == part]
        if pool:
            take(pool)
    while len(chosen) < count and len(chosen) < len(candidates):
        take([c for c in candidates if c not in chosen])
    return chosen


def choose_bullets(index: ArticleIndex, summaries: Sequence[str], count: int) -> list[Bullet]:
    """Up to ``count`` bullets from the windows' ``summaries``, in article order: their
    complete sentences grounded in the article, near-duplicates merged, chosen to cover it.
    Empty when no summary gives such a sentence."""
    candidates: list[_Candidate] = []
    complete = 0
    for summary in summaries:
        sentences = summary_sentences(summary)
        complete += bool(sentences)
        for text in sentences:
            support = index.ground(text)
            if support:  # a sentence sharing no word with the article summarises nothing
                candidates.append(_Candidate(text, set(content_words(text)), support))
    log.debug(
        "%d windows, %d with a complete sentence, %d candidates",
        len(summaries),
        complete,
        len(candidates),
    )
    chosen = select_covering(merge_duplicates(candidates), index, count)
    chosen.sort(key=lambda c: (c.support[0], sum(c.support) / len(c.support)))
    return [Bullet(c.text, c.support) for c in chosen]


def check_faithfulness(
    bullets: list[Bullet], sentences: Sequence[str], drop: bool
) -> tuple[list[Bullet], list[Flag]]:
    """Flag (or drop) bullets with numbers or names the translation does not contain."""
    source = joined(sentences)
    kept: list[Bullet] = []
    flags: list[Flag] = []
    for bullet in bullets:
        missing = unsupported_words(bullet.text, source)
        if not missing:
            kept.append(bullet)
            continue
        words = ", ".join(missing)
        if drop:
            detail = f"bullet removed, {words} not found in the translation: {bullet.text!r}"
        else:
            detail = f"bullet {len(kept) + 1}: {words} not found in the translation"
            kept.append(bullet)
        flags.append(Flag("unsupported_bullet", None, detail))
    return kept, flags
