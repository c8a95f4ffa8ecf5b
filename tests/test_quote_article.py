"""`passeur translate` on an article quoting several sentences: one entry per sentence."""

from __future__ import annotations

import json
from pathlib import Path

from service.articles import sources_cover_text
from service.cli import main

# Written for this test, in the shape of a wire story: a six-sentence quote closed by its
# attribution, a two-sentence quote, and a quote inside a sentence.
ARTICLE = """Le ministre a visité lundi une usine d'armement près de Kharkiv.

« Mais nous ne pouvons pas gagner cette guerre sans drones. L'héroïsme seul ne suffit pas \
face aux missiles. L'Ukraine a besoin de capacités. De haute qualité. En grande quantité. \
Et rapidement », a souligné M. Kovalenko devant les ouvriers.

Son homologue a répondu : « Nous avons entendu. Les livraisons commenceront en mars. » \
Il a ajouté que le mot « urgence » était « le bon ».
"""

EXPECTED = [
    "Le ministre a visité lundi une usine d'armement près de Kharkiv.",
    "« Mais nous ne pouvons pas gagner cette guerre sans drones.",
    "L'héroïsme seul ne suffit pas face aux missiles.",
    "L'Ukraine a besoin de capacités.",
    "De haute qualité.",
    "En grande quantité.",
    "Et rapidement », a souligné M. Kovalenko devant les ouvriers.",
    "Son homologue a répondu : « Nous avons entendu.",
    "Les livraisons commenceront en mars. »",
    "Il a ajouté que le mot « urgence » était « le bon ».",
]


def test_each_quoted_sentence_is_its_own_entry(tiny_marian: Path, tmp_path: Path) -> None:
    src = tmp_path / "quote.txt"
    src.write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "translate",
            str(src),
            "--out",
            str(out),
            "--translation-model",
            str(tiny_marian),
            "--summary-mode",
            "none",
            "--beam",
            "1",
        ]
    )
    assert code == 0
    [record] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [s["source"] for s in record["sentences"]] == EXPECTED
    assert [s["paragraph"] for s in record["sentences"]] == [0] + [1] * 6 + [2] * 3
    assert sources_cover_text(record, ARTICLE)
    pos = 0  # exactly: each source is the article's own text, only whitespace between
    for sentence in record["sentences"]:
        start = ARTICLE.index(sentence["source"], pos)
        assert not ARTICLE[pos:start].strip()
        pos = start + len(sentence["source"])
    assert not ARTICLE[pos:].strip()
    assert all(s["translation"] for s in record["sentences"])
