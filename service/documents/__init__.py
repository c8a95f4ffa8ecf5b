"""Documents: Markdown and HTML in, the same document out, translated.

:func:`parse_document` turns a source into a :class:`Document` whose ``text`` the pipeline
translates like any article; :meth:`Document.render` writes the translation back into the
document, and :meth:`Document.check_tree` proves the block tree and the links survived.
"""

from __future__ import annotations

from service.documents.model import Block, Document, Mark, RenderedSentence
from service.errors import EmptyDocument, UnknownFormat

__all__ = [
    "FORMATS",
    "Block",
    "Document",
    "Mark",
    "RenderedSentence",
    "load_document",
    "parse_document",
]

FORMATS = ("text", "markdown", "html")


def parse_document(source: str, fmt: str) -> Document:
    """Parse ``source`` written in ``fmt`` (``markdown`` or ``html``)."""
    if fmt == "markdown":
        from service.documents.markdown import MarkdownDocument

        return MarkdownDocument(source)
    if fmt == "html":
        from service.documents.html import HtmlDocument

        return HtmlDocument(source)
    raise UnknownFormat(
        f"unknown article format {fmt!r}: use one of {', '.join(FORMATS)}",
        format=fmt,
        accepted=list(FORMATS),
    )


def load_document(source: str, fmt: str) -> Document:
    """:func:`parse_document`, refusing a document with no translatable text
    (:class:`EmptyDocument`): only code, markup or scripts."""
    document = parse_document(source, fmt)
    if not document.text.strip():
        raise EmptyDocument(
            f"the {fmt} document has no text to translate (only markup, code or scripts): "
            "send the article itself, or format 'text'"
        )
    return document
