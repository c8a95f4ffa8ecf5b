"""Word-level matching between bullets and the English sentences of an article.

Texts are compared on their content words: lower-cased, stop words removed, words of more
than three letters Porter-stemmed (as ROUGE does with stemming on). Each word is weighted
by how rare it is among the article's sentences, so "minister" or "Kilmarnock" counts
for more than "year". Pure functions and one small index class; no model.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import regex

__all__ = ["ArticleIndex", "content_words", "document_counts", "overlap", "stem", "word_count"]

_WORD = regex.compile(r"[\p{L}\p{N}]+")

# Kept as one string to read as prose; a list literal would run to a hundred lines.
STOP_WORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being
    it its this that these those he she they them his her their we our you your i me my not no
    so than then there here which who whom whose what when where why how will would can could
    should may might must has have had do does did s t said says say also just about after
    before into over up down out more most very""".split()  # noqa: SIM905
)


@cache
def _porter() -> Any:
    # nltk comes with rouge-score; imported on first use because it takes most of a second.
    from nltk.stem.porter import PorterStemmer  # type: ignore[import-untyped]

    return PorterStemmer()


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """The Porter stem of a lower-case word (words of up to three letters are kept)."""
    return _porter().stem(word) if len(word) > 3 else word


def content_words(text: str) -> list[str]:
    """The stemmed content words of ``text``, in order, repeats kept."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


def word_count(text: str) -> int:
    """Words of ``text``, stop words included."""
    return len(_WORD.findall(text))


def overlap(a: set[str], b: set[str]) -> float:
    """Share of the smaller set found in the other (1.0: one contains the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


@dataclass
class ArticleIndex:
    """The content words of each sentence of an article, and their rarity (idf)."""

    sentences: list[str]
    words: list[Counter[str]]
    idf: dict[str, float]

    @classmethod
    def build(cls, sentences: Sequence[str]) -> ArticleIndex:
        words = [Counter(content_words(s)) for s in sentences]
        df = Counter(w for counts in words for w in counts)
        n = len(sentences)
        idf = {w: math.log((n + 1) / d) for w, d in df.items()}
        return cls(list(sentences), words, idf)

    def weight(self, word: str) -> float:
        """A word the article never uses weighs as much as its rarest one."""
        return self.idf.get(word, math.log(len(self.sentences) + 1))

    def cosine(self, a: Counter[str], b: Counter[str]) -> float:
        """Cosine similarity of two bags of words, each word weighted by its idf."""
        dot = sum(n * b[w] * self.weight(w) ** 2 for w, n in a.items() if w in b)
        if not dot:
            return 0.0
        norm_a = math.sqrt(sum((n * self.weight(w)) ** 2 for w, n in a.items()))
        norm_b = math.sqrt(sum((n * self.weight(w)) ** 2 for w, n in b.items()))
        return dot / (norm_a * norm_b)

    def ground(self, text: str, *, limit: int = 3, min_gain: float = 0.2) -> list[int]:
        """Indices of the sentences that best support ``text``, in article order.

        Greedy cover of the text's content words, rarer words weighing more: the sentence
        sharing the most weight first, then others while each adds at least ``min_gain``
        of the text's weight not yet covered, up to ``limit`` sentences. Empty when no
        sentence shares a content word with the text.
        """
        wanted = set(content_words(text))
        total = sum(self.weight(w) for w in wanted)
        chosen: list[int] = []
        covered: set[str] = set()
        while len(chosen) < limit and total:
            best, best_gain = -1, 0.0
            for i, counts in enumerate(self.words):
                if i in chosen:
                    continue
                gain = sum(self.weight(w) for w in (wanted - covered) if w in counts)
                if gain > best_gain:
                    best, best_gain = i, gain
            if best < 0 or (chosen and best_gain < min_gain * total):
                break
            chosen.append(best)
            covered |= wanted & self.words[best].keys()
        return sorted(chosen)

    def shared_words(self, text: str, sentence: int) -> set[str]:
        """Content words ``text`` shares with sentence ``sentence``."""
        return set(content_words(text)) & self.words[sentence].keys()


def document_counts(index: ArticleIndex, skip: Iterable[int] = ()) -> Counter[str]:
    """All content words of the article, counted, leaving out the sentences in ``skip``."""
    skipped = set(skip)
    total: Counter[str] = Counter()
    for i, counts in enumerate(index.words):
        if i not in skipped:
            total.update(counts)
    return total
