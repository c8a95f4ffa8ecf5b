"""HTML documents: parsed with ``lxml.html``, translated in place, serialised back.

The text of every element that is not inline (``p``, ``h1``-``h6``, ``li``, ``blockquote``,
``td``/``th``, ``figcaption``, ``dt``/``dd``, ``title``, and the loose text of a ``div``)
is translated run by run: a run is the inline content between two block children. Inline
elements inside a run (``a``, ``em``, ``strong``, ``span``, ``abbr``, ``sup`` ...) become
markup marks carried inside the translated sentence; ``code``/``kbd``/``samp`` with text
only are kept verbatim; ``br``, ``img``, comments and other atoms keep their place.
``pre``, ``script``, ``style``, ``template``, ``noscript``, ``textarea``, ``svg`` and
``math`` are never touched. ``alt`` and ``title`` attributes are translated; all other
attributes, and so every URL, are kept.

lxml keeps a real tree that is cheap to mutate and serialise (libxml2 2.14, bundled by
lxml 6, tokenises HTML the HTML5 way); html5lib is spec-exact but pure Python and several
times slower, selectolax cannot splice parsed fragments as freely. See docs/documents.md.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lxml.html  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from service.documents.model import Block, Document, Mark, TextBuilder
from service.errors import DocumentTooDeep

__all__ = ["HtmlDocument"]

INLINE = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "ins",
        "label",
        "mark",
        "q",
        "s",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
    ]
)
VERBATIM = frozenset(["code", "kbd", "samp", "tt", "var"])  # kept verbatim inside a sentence
ATOMS = frozenset(
    [
        "audio",
        "br",
        "button",
        "canvas",
        "embed",
        "iframe",
        "img",
        "input",
        "meter",
        "object",
        "output",
        "picture",
        "progress",
        "select",
        "video",
        "wbr",
    ]
)
UNTOUCHED = frozenset(["math", "noscript", "pre", "script", "style", "svg", "template", "textarea"])
TRANSLATED_ATTRIBUTES = ("alt", "title")
_LABELS = {"em": "emphasis", "i": "emphasis", "strong": "strong emphasis", "b": "bold"}


def _tag(node: Any) -> str | None:
    return node.tag.lower() if isinstance(node.tag, str) else None


def _is_inline(node: Any) -> bool:
    tag = _tag(node)
    if tag is None:  # a comment or processing instruction: kept where it is
        return True
    if tag in ATOMS or tag in VERBATIM:
        return True
    if tag not in INLINE:
        return False
    return not any(
        (t := _tag(d)) is not None and t not in INLINE | VERBATIM | ATOMS
        for d in node.iterdescendants()
    )


def _is_full_document(source: str) -> bool:
    """A whole page (doctype or ``<html>`` first) rather than a fragment of a body."""
    head = source.lstrip("\ufeff \t\r\n")[:15].lower()
    return head.startswith(("<!doctype", "<html"))


# What an lxml tree cannot hold (XML 1.0's Char): C0 controls save tab, newline and CR,
# U+FFFE/U+FFFF and surrogates. HTML calls them parse errors; they are read as spaces.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# libxml2 stops reading an HTML document this deep in elements (without XML_PARSE_HUGE).
MAX_DEPTH = 256


def xml_safe(text: str) -> str:
    """``text`` with the characters an lxml tree refuses (:data:`_NOT_XML`) as spaces."""
    return _NOT_XML.sub(" ", text)


def parse_html(source: str) -> tuple[Any, bool]:
    """The lxml root (a ``div`` holding a fragment) and whether it is a whole page.

    Raises :class:`DocumentTooDeep` where libxml2 stopped reading, elements nested past
    :data:`MAX_DEPTH`: all that follows would be lost from the document.
    """
    source = xml_safe(source)
    parser = lxml.html.HTMLParser()
    full = _is_full_document(source)
    if full:
        root = lxml.html.document_fromstring(source, parser=parser)
    else:
        root = lxml.html.fragment_fromstring(source, create_parent="div", parser=parser)
    for error in parser.error_log:
        if error.type_name == "ERR_RESOURCE_LIMIT":
            raise DocumentTooDeep(
                f"the html document nests elements deeper than {MAX_DEPTH} levels (line "
                f"{error.line}); the parser reads no further: flatten the markup",
                limit=MAX_DEPTH,
                line=error.line,
            )
    return root, full


@dataclass
class _Run:
    """Inline content of ``parent``: from ``parent.text`` (``anchor`` None) or from the tail
    of the block child ``anchor``, through the inline ``children``, to the next block."""

    parent: Any
    anchor: Any
    builder: TextBuilder = field(default_factory=TextBuilder)
    children: list[Any] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def add(self, text: str | None) -> None:
        if text:
            self.builder.add(text)
            self.texts.append(text)

    @property
    def lead(self) -> str:
        first = self.texts[0] if self.texts else ""
        return first[: len(first) - len(first.lstrip())]

    @property
    def trail(self) -> str:
        last = self.texts[-1] if self.texts else ""
        return last[len(last.rstrip()) :]


class HtmlDocument(Document):
    format = "html"

    def __init__(self, source: str) -> None:
        self.root, self.full = parse_html(source)
        self.doctype = self.root.getroottree().docinfo.doctype if self.full else ""
        self._ids = 0
        blocks = list(self._walk(self.root))
        super().__init__(source, blocks)

    # -- parsing ---------------------------------------------------------------

    def _next_id(self) -> str:
        self._ids += 1
        return f"m{self._ids}"

    def _attributes(self, node: Any) -> Iterator[Block]:
        for name in TRANSLATED_ATTRIBUTES:
            value = node.get(name)
            if value and value.strip():
                yield Block(" ".join(value.split()), kind="attr", ref=(node, name))

    def _walk(self, container: Any) -> Iterator[Block]:
        yield from self._attributes(container)
        run = _Run(container, None)
        run.add(container.text)
        for child in container:
            tag = _tag(child)
            if tag is not None and (tag in UNTOUCHED or not _is_inline(child)):
                yield from self._finish(run)
                if tag not in UNTOUCHED:
                    yield from self._walk(child)
                run = _Run(container, child)
            else:
                run.children.append(child)
                yield from self._inline(run, child)
            run.add(child.tail)
        yield from self._finish(run)

    def _inline(self, run: _Run, node: Any) -> Iterator[Block]:
        tag = _tag(node)
        b = run.builder
        if tag is None or tag in ATOMS:
            label = f"<{tag}>" if tag else "comment"
            if tag == "img":
                label = f"image {node.get('src', '')}".strip()
            if tag is not None:
                yield from self._attributes(node)
            b.open(self._next_id(), label, node, atom=True)
            if tag == "br":
                b.add(" ")  # a line break parts words as a space does
            return
        yield from self._attributes(node)
        if tag in VERBATIM:
            if len(node):
                b.open(self._next_id(), f"<{tag}>", node, atom=True)
                return
            mark = b.open(self._next_id(), "code", node, keep=True)
            run.add(node.text)
            b.close(mark)
            return
        href = node.get("href") if tag == "a" else None
        label = f"link to {href}" if href else _LABELS.get(tag, f"<{tag}>")
        mark = b.open(self._next_id(), label, node, href=href)
        run.add(node.text)
        for child in node:
            yield from self._inline(run, child)
            run.add(child.tail)
        b.close(mark)

    def _finish(self, run: _Run) -> Iterator[Block]:
        text, marks = run.builder.build()
        if text:
            yield Block(text, marks, "run", run)

    # -- writing ---------------------------------------------------------------

    def escape(self, text: str, verbatim: bool = False) -> str:
        return htmllib.escape(text, quote=False)

    def markup(self, mark: Mark) -> tuple[str, str]:
        node = mark.node
        if mark.atom:
            return lxml.html.tostring(node, with_tail=False, encoding="unicode"), ""
        attrs = "".join(f' {k}="{htmllib.escape(v, quote=True)}"' for k, v in node.attrib.items())
        return f"<{node.tag}{attrs}>", f"</{node.tag}>"

    def set_attr(self, block: Block, translation: str) -> None:
        node, name = block.ref
        node.set(name, xml_safe(translation))

    def write(self, outputs: dict[int, str]) -> str:
        for k, content in outputs.items():
            run: _Run = self.blocks[k].ref
            fragment = lxml.html.fragment_fromstring(
                xml_safe(run.lead + content + run.trail), create_parent="div"
            )
            parent = run.parent
            for child in run.children:
                parent.remove(child)
            if run.anchor is None:
                parent.text = fragment.text
            else:
                run.anchor.tail = fragment.text
            # Each new child goes after the one before it: no index lookups, linear in
            # the children however many a run holds.
            previous = run.anchor
            for child in list(fragment):
                if previous is None:
                    parent.insert(0, child)
                else:
                    previous.addnext(child)
                previous = child
        return serialise(self.root, self.full, self.doctype)

    def tree(self, source: str) -> tuple[list[Any], list[str]]:
        root, _ = parse_html(source)
        return block_tree(root), link_targets(root)


def serialise(root: Any, full: bool, doctype: str) -> str:
    if full:
        body = lxml.html.tostring(root, encoding="unicode")
        return f"{doctype}\n{body}" if doctype else body
    lead = htmllib.escape(root.text or "", quote=False)
    return lead + "".join(lxml.html.tostring(c, encoding="unicode") for c in root)


def block_tree(root: Any) -> list[Any]:
    """Every element that is not inline, in document order: tag, attributes save
    ``alt``/``title``, and the exact text of the untouched ones (``pre``, ``script`` ...)."""
    tree: list[Any] = []
    for node in root.iter():
        tag = _tag(node)
        if tag is None or tag in INLINE | VERBATIM | ATOMS:
            continue
        attrs = sorted((k, v) for k, v in node.attrib.items() if k not in TRANSLATED_ATTRIBUTES)
        kept = etree.tostring(node, method="text", encoding="unicode") if tag in UNTOUCHED else None
        tree.append((tag, attrs, kept))
    return tree


def link_targets(root: Any) -> list[str]:
    return [
        value
        for node in root.iter()
        if _tag(node) in {"a", "img", "link", "area", "source"}
        for value in (node.get("href"), node.get("src"))
        if value
    ]
