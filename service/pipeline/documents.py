"""A Markdown or HTML article through the pipeline: parsed before segmentation, written back
after reassembly (docs/documents.md).

Before: the document's block text becomes the article text and its inline markup the
article's ``open``/``close`` holds (:func:`open_document`). After (:func:`finish_document`):
a sentence whose markup placeholders the model broke is translated again without them and
each link or emphasis it held is put around the whole translated sentence
(``inline_markup_moved``); the document is rendered and parsed again, and a block tree or
a link target that changed is flagged (``document_tree_changed``), never returned silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from service.articles import Article, ArticleResult, Flag, Hold, validate_article
from service.documents import Document, RenderedSentence, load_document
from service.pipeline.routing import Prepared
from service.text.guards import joined
from service.text.placeholders import MARKUP_KINDS, mask, unmask

__all__ = ["finish_document", "open_document"]

log = logging.getLogger(__name__)

Retranslate = Callable[[str, list[str]], list[str]]
"""``retranslate(lang, texts)``: the translations of ``texts`` by that language's model."""


def open_document(article: Article, max_chars: int) -> tuple[Article, Document | None]:
    """The article with its document parsed (text and markup holds), and the document.

    The size limit applies to the document as sent. A text article comes back as it is.
    """
    if article.format == "text":
        return article, None
    source = article.document if article.document is not None else article.text
    validate_article(source, article.title, max_chars=max_chars)
    document = load_document(source, article.format)
    parsed = replace(
        article, text=document.text, document=source, holds=(*document.holds, *article.holds)
    )
    return parsed, document


def _markup_in(prep: Prepared, index: int) -> list[Hold]:
    return [h for _, h in prep.masks.get(index, []) if h.kind in MARKUP_KINDS]


def _broken(prep: Prepared, index: int) -> bool:
    done = prep.unmasked.get(index)
    return done is not None and any(h.kind in MARKUP_KINDS for h in done.missing)


def finish_document(
    prep: Prepared,
    result: ArticleResult,
    document: Document,
    retranslate: Retranslate,
) -> None:
    """Fill ``result.format`` and ``result.document``; fall back where markup broke.

    A document that cannot be written back (a defect, not an input error) leaves
    ``document`` None with a ``document_not_rendered`` flag: the text results stand.
    """
    result.format = document.format
    try:
        _finish(prep, result, document, retranslate)
    except Exception as exc:  # noqa: BLE001 - the translation itself is still good
        log.exception("article %s: document not rendered", result.id)
        result.flags.append(
            Flag(
                "document_not_rendered",
                None,
                f"the translated document could not be "
                f"written back ({type(exc).__name__}); the text translation stands",
            )
        )


def _finish(
    prep: Prepared, result: ArticleResult, document: Document, retranslate: Retranslate
) -> None:
    broken = [i for i in range(len(prep.sentences)) if i not in prep.kept and _broken(prep, i)]
    if broken:
        _translate_without_markup(prep, result, broken, retranslate)
    rendered: list[RenderedSentence] = []
    for i, (sentence, out) in enumerate(zip(prep.sentences, result.sentences, strict=True)):
        if i in prep.kept:  # already in the target language: the markup stays where it was
            positions = {
                h.target: h.start - sentence.start
                for h in prep.article.holds
                if h.kind in MARKUP_KINDS and sentence.start <= h.start <= sentence.end
            }
        elif i in broken:
            positions = {}
        else:
            done = prep.unmasked.get(i)
            positions = dict(done.positions) if done else {}
        rendered.append(RenderedSentence(sentence.start, sentence.end, out.translation, positions))
    translated, moved = document.render(rendered)
    for i in broken:
        labels = list(dict.fromkeys(h.label for h in _markup_in(prep, i)))
        result.flags.append(
            Flag(
                "inline_markup_moved",
                i,
                "the translation lost its inline-markup placeholders; translated again "
                "without them: "
                + "; ".join(f"{label} put around the whole sentence" for label in labels),
            )
        )
    elsewhere = [note for note in moved if not any(note in f.detail for f in result.flags)]
    if elsewhere:
        result.flags.append(Flag("inline_markup_moved", None, "; ".join(elsewhere)))
    problems = document.check_tree(translated)
    if problems:
        result.flags.append(
            Flag(
                "document_tree_changed",
                None,
                "the translated document does not parse into the source's tree: "
                + "; ".join(problems),
            )
        )
    for note in getattr(document, "kept", []):
        result.flags.append(Flag("document_block_kept", None, note))
    result.document = translated


def _translate_without_markup(
    prep: Prepared, result: ArticleResult, broken: Sequence[int], retranslate: Retranslate
) -> None:
    """Translate the ``broken`` sentences again, their term holds still masked and their
    markup holds left out, and put the new translations in ``result``."""
    terms = [h for h in prep.article.holds if h.kind not in MARKUP_KINDS]
    lang_of = {owner: lang for owner, _, lang in prep.segments}
    by_lang: dict[str, list[int]] = {}
    for i in broken:
        by_lang.setdefault(lang_of.get(i, prep.article.source_lang), []).append(i)
    for lang, indices in by_lang.items():
        masked = [mask(prep.sentences[i].text, prep.sentences[i].start, terms) for i in indices]
        outputs = retranslate(lang, [text for text, _ in masked])
        for i, (_, tokens), output in zip(indices, masked, outputs, strict=True):
            result.sentences[i].translation = unmask(output, tokens).text if tokens else output
    for k, para in enumerate(result.paragraphs):
        para.translation = joined(s.translation for s in result.sentences if s.paragraph == k)
