"""Hostile documents: characters an lxml tree cannot hold, line ends Markdown reads its own
way, nesting past what a parser reads, thousands of inline elements. Each is translated
and written back, or refused with a stable code (``document_too_deep``); none raises
anything else, none loses text silently, none takes quadratic time."""

from __future__ import annotations

import time

import pytest
from test_documents_html import keeps, run

from service.documents import load_document
from service.errors import DocumentTooDeep

BAD_FLAGS = {"document_not_rendered", "document_tree_changed", "document_block_kept"}


def _codes(result) -> set[str]:
    return {f.code for f in result.flags}


@pytest.mark.parametrize(
    "source",
    [
        "<p>Le train\x01 part\x0b à midi.</p><pre>\x02garder</pre>",
        "\x01Le train part\ufffe à midi.",  # loose text first: lxml sets it as a root's text
        '<p title="Le quai\x1f B">Le train part\uffff à midi.</p>',
    ],
)
def test_html_control_characters_are_read_as_spaces_and_written_back(source: str) -> None:
    result = run(source, keeps, "html")
    assert result.document is not None and not _codes(result) & BAD_FLAGS, result.flags
    assert "LE TRAIN PART" in result.document.replace("  ", " ")
    assert not any(c in result.document for c in "\x01\x0b\ufffe\uffff\x1f")


def test_markdown_lines_break_where_markdown_it_breaks_them() -> None:
    # NUL is U+FFFD to markdown-it; a form feed and U+2028 are inside a line for it (not
    # for str.splitlines); CRLF and a lone CR end lines.
    source = "Un\x00deux trois.\r\n\r\nQuatre\x0ccinq\u2028six.\rSept huit.\n"
    result = run(source, keeps, "markdown")
    assert not _codes(result) & BAD_FLAGS, result.flags
    assert result.document is not None
    assert "UN\ufffdDEUX TROIS." in result.document
    assert "QUATRE" in result.document and "SIX." in result.document
    assert "SEPT HUIT." in result.document


@pytest.mark.parametrize(
    ("source", "fmt", "limit"),
    [
        ("<p>avant</p>" + "<div>" * 300 + "profond" + "</div>" * 300 + "<p>après</p>", "html", 256),
        ("<p>avant " + "<span>" * 300 + "profond" + "</span>" * 300 + "</p>", "html", 256),
        ("avant\n\n" + ">" * 25 + " profond\n\naprès", "markdown", 20),
        ("".join(" " * (2 * i) + "- point\n" for i in range(25)), "markdown", 20),
    ],
)
def test_nesting_past_the_parser_is_refused_not_cut(source: str, fmt: str, limit: int) -> None:
    """libxml2 stops reading at 256 elements deep and markdown-it skips blocks nested 20
    deep: what lies there (and, in HTML, all that follows) would vanish from the output."""
    with pytest.raises(DocumentTooDeep) as raised:
        load_document(source, fmt)
    assert raised.value.code == "document_too_deep"
    assert raised.value.details["limit"] == limit


def test_nesting_just_inside_the_limits_loses_nothing() -> None:
    html = "<p>avant</p>" + "<div>" * 250 + "profond" + "</div>" * 250 + "<p>après</p>"
    assert load_document(html, "html").text.split("\n\n") == ["avant", "profond", "après"]
    markdown = "avant\n\n" + ">" * 19 + " profond\n\naprès"
    assert load_document(markdown, "markdown").text.split("\n\n") == ["avant", "profond", "après"]


SHAPES = {
    "inline marks": (lambda n: "<p>" + "<b>x</b> " * n + "</p>", "html"),
    "nested emphasis": (lambda n: "Le " + "*" * n + "train" + "*" * n + " part.", "markdown"),
    "html blocks": (lambda n: "<p>x</p>" * n, "html"),
    "markdown blocks": (lambda n: "x\n\n" * n, "markdown"),
}


def _seconds(source: str, fmt: str) -> float:
    best = float("inf")
    for _ in range(2):  # the better of two: the machine is shared
        started = time.perf_counter()
        result = run(source, keeps, fmt)
        best = min(best, time.perf_counter() - started)
        assert result.document is not None and not _codes(result) & BAD_FLAGS, result.flags
    return best


@pytest.mark.parametrize("shape", SHAPES)
def test_thousands_of_marks_and_blocks_take_linear_time(shape: str) -> None:
    """Marks compared field by field, or sentences matched against every block, made these
    quadratic (minutes at the size limit). Four times the input now takes about four times
    as long, not sixteen."""
    build, fmt = SHAPES[shape]
    small, large = _seconds(build(1000), fmt), _seconds(build(4000), fmt)
    # 8x and a quarter second of slack for a shared machine; quadratic would be 16x.
    assert large < 8 * small + 0.25, f"{small:.2f} s -> {large:.2f} s"
