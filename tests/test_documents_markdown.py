"""Markdown articles: the translated text replaces each block's inline content in the
source, so front matter, code, tables' shape, link targets and reference definitions stay
byte for byte; inline markup is carried inside the sentence, or moved onto the whole
sentence (flagged) when the model breaks the placeholders."""

from __future__ import annotations

import json
from pathlib import Path

from test_documents_html import TOKEN, breaks, keeps, run

from service.articles import sources_cover_text
from service.documents import parse_document

ARTICLE = """---
title: Grève à la SNCF
tags: [transports, social]
---

# Le trafic *fortement* perturbé

La grève a commencé mardi. Selon [la direction](https://www.sncf.com/fr/infos "SNCF"), un
train sur trois circulera, avec le code `TGV-42` actif.

> « Nous ne céderons pas », a déclaré le **ministre**.

- Les TER sont **très** touchés.
- Les Intercités roulent normalement.

| Ligne | Trains |
|---|---|
| Paris-Lyon | Un sur trois |

```python
horaires = charger("sncf")
```

![La gare de Lyon déserte](https://img.example/gare.jpg)

Voir aussi [le site de la région][region].

[region]: https://example.org/region
"""
FENCE = '```python\nhoraires = charger("sncf")\n```\n'


def test_placeholders_kept_markup_inside_the_sentence_rest_byte_identical() -> None:
    result = run(ARTICLE, keeps, "markdown")
    doc = parse_document(ARTICLE, "markdown")
    out = result.document
    assert result.format == "markdown" and out is not None
    assert doc.check_tree(out) == []
    assert sources_cover_text(result.to_dict(), doc.text)
    assert out.startswith("---\ntitle: Grève à la SNCF\ntags: [transports, social]\n---\n")
    assert "# LE TRAFIC *FORTEMENT* PERTURBÉ\n" in out
    assert '[LA DIRECTION](https://www.sncf.com/fr/infos "SNCF"), UN TRAIN' in out
    assert "`TGV-42`" in out
    assert "> « NOUS NE CÉDERONS PAS », A DÉCLARÉ LE **MINISTRE**.\n" in out
    assert "- LES TER SONT **TRÈS** TOUCHÉS.\n" in out
    assert "| PARIS-LYON | UN SUR TROIS |\n" in out and "|---|---|\n" in out
    assert FENCE in out
    assert "![LA GARE DE LYON DÉSERTE](https://img.example/gare.jpg)" in out
    assert (
        "VOIR AUSSI [LE SITE DE LA RÉGION][region].\n\n[region]: https://example.org/region\n"
        in out
    )
    assert not [
        f for f in result.flags if f.code in ("inline_markup_moved", "document_tree_changed")
    ]


def test_broken_placeholders_move_markup_never_drop_a_link() -> None:
    result = run(ARTICLE, breaks, "markdown")
    doc = parse_document(ARTICLE, "markdown")
    out = result.document
    assert out is not None and doc.check_tree(out) == []
    details = " ".join(f.detail for f in result.flags if f.code == "inline_markup_moved")
    assert "link to https://www.sncf.com/fr/infos put around the whole sentence" in details
    assert "[VOIR AUSSI LE SITE DE LA RÉGION.][region]" in out
    assert not TOKEN.search(out)
    assert FENCE in out


def test_tree_check_catches_a_lost_link_and_a_changed_block() -> None:
    doc = parse_document(ARTICLE, "markdown")
    assert doc.check_tree(ARTICLE.replace("](https://img.example/gare.jpg)", "]")) == [
        "link targets lost: https://img.example/gare.jpg"
    ]
    assert doc.check_tree(ARTICLE.replace("- Les TER", "Les TER"))


def test_translation_that_looks_like_markup_is_escaped() -> None:
    result = run(
        "Un *mot* ici.\n\nLa suite.\n", lambda t, o: "- 1 " + t.replace("ici", "[x]"), "markdown"
    )
    doc = parse_document("Un *mot* ici.\n\nLa suite.\n", "markdown")
    assert doc.check_tree(result.document) == []
    assert result.document.startswith("\\- 1 Un *mot* \\[x\\].")


def test_cli_input_format_by_suffix(tmp_path: Path, tiny_marian: Path, monkeypatch) -> None:
    from service.cli import main

    monkeypatch.setenv("PASSEUR_CACHE_DIR", str(tmp_path / "empty-cache"))
    (tmp_path / "article.md").write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "r.jsonl"
    code = main(
        [
            "translate",
            "--translation-model",
            str(tiny_marian),
            "--summary-mode",
            "none",
            "--beam",
            "1",
            str(tmp_path / "article.md"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    [record] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert record["format"] == "markdown" and FENCE in record["document"]
    assert sources_cover_text(record, parse_document(ARTICLE, "markdown").text)
