"""The faithfulness guard: numbers and names in a bullet that the article never mentions.

Abstractive summarisers invent facts, and the invented facts that matter most are
numbers and names. A bullet's number is supported when the translation holds a number
with a common reading (``1,200`` and ``1200``, ``2.5`` and ``2,5`` match, as in the
translation guards). A name is a capitalised word that does not open a sentence (nor a
quotation or a clause after a colon) and is longer than one letter; it is supported when
the translation has the same word in any case, or a word with the same stem
("Americans" for "American"). A capitalised first word is not taken for a name, so a name
that opens a bullet escapes the check: the price of not flagging every "The" and "Police".
"""

from __future__ import annotations

import regex

from service.text.grounding import stem
from service.text.guards import unsupported_numbers

__all__ = ["unsupported_words"]

_WORD = regex.compile(r"\p{L}[\p{L}\p{M}]*")
# Where a new sentence or quotation starts, a capital says nothing about names.
_OPENER = regex.compile(r"(?:^|[.!?…:;]|[«\"“‘(\[]|\s[-–—])\s*$")


def _names(text: str) -> list[str]:
    names = []
    for m in _WORD.finditer(text):
        word = m.group()
        if len(word) < 2 or not word[0].isupper():
            continue
        if _OPENER.search(text[: m.start()]):
            continue
        names.append(word)
    return names


def unsupported_words(bullet: str, source: str) -> list[str]:
    """The numbers and names of ``bullet`` that ``source`` does not contain, in order."""
    missing = unsupported_numbers(bullet, source)
    words = {w.casefold() for w in _WORD.findall(source)}
    stems = {stem(w) for w in words}
    for name in _names(bullet):
        folded = name.casefold()
        if folded not in words and stem(folded) not in stems and name not in missing:
            missing.append(name)
    return missing
