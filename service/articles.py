"""The article and its result: plain dataclasses, serialised to the JSON every surface
returns (batch records, API responses), and :func:`validate_article`, the one check of an
article's text that the API (at submission), the batch script's inputs and the pipeline all
make (:func:`check_text` is its first step, on each text field alone).

The ``source`` fields of ``sentences``, joined, give back the article text (whitespace
aside): anyone can check that nothing was dropped with :func:`sources_cover_text`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from service.errors import EmptyText, InvalidText, TextTooLong

# Characters that show nothing. A text made only of these and whitespace is empty: soft
# hyphen, Mongolian vowel separator, zero-width space, non-joiner and joiner, left-to-right
# and right-to-left marks, word joiner, invisible operators, byte order mark.
INVISIBLE_CHARS = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
_BLANK = re.compile(f"[\\s{INVISIBLE_CHARS}]*")


@dataclass(frozen=True)
class Hold:
    """A span of the article text the translation must carry (:mod:`service.text.placeholders`).

    ``start``/``end`` are absolute offsets in the article text (``start == end`` for an
    insertion point). ``kind`` is ``"term"`` (the span becomes ``target`` in the
    translation), ``"keep"`` (the span must appear verbatim; ``target`` is the span text),
    ``"open"`` or ``"close"`` (a zero-width inline-markup boundary; ``target`` is an opaque
    id, and a close's id is its open's id with a leading ``/``:
    :func:`service.text.placeholders.close_id`).
    ``label`` names the hold for a reader: ``"OTAN → NATO"``, ``"link to https://x"``.
    """

    start: int
    end: int
    kind: str
    target: str
    label: str


@dataclass(frozen=True)
class Article:
    """One article to translate. ``source_lang`` is an ISO 639-1 code.

    ``glossary`` holds ``(source, target)`` pairs and ``do_not_translate`` terms to keep as
    written (docs/glossary.md); ``holds`` the spans the translation must carry: the pipeline
    adds the glossary's, a document's inline markup brings its own.
    """

    id: str
    text: str
    title: str | None = None
    source_lang: str = "fr"
    glossary: tuple[tuple[str, str], ...] = ()
    do_not_translate: tuple[str, ...] = ()
    holds: tuple[Hold, ...] = ()
    # "text", "markdown" or "html" (docs/documents.md). For a document, ``text`` holds the
    # source as sent until the pipeline parses it: then ``document`` holds the source and
    # ``text`` the translatable text of its blocks.
    format: str = "text"
    document: str | None = None


def article_size(text: str, title: str | None = None) -> int:
    """The characters an article counts against ``max_article_chars``: text and title."""
    return len(text) + len(title or "")


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: whitespace and :data:`INVISIBLE_CHARS` only."""
    return _BLANK.fullmatch(text) is not None


def check_text(value: str, field: str = "text") -> None:
    """Refuse text that UTF-8 cannot encode (:class:`InvalidText`, with ``field`` and the
    ``position`` of the first bad character, counted in characters from 0).

    Only a lone surrogate does that: JSON's ``"\\ud800"`` escape not followed by its low
    half. Such text reaches no store, hash or file: each would fail on it.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidText(
            f"the article {field} has a lone surrogate (U+{ord(value[exc.start]):04X}) at "
            f"position {exc.start}: send Unicode text; in JSON a \\ud800-\\udbff escape must "
            "be followed by a \\udc00-\\udfff one",
            field=field,
            position=exc.start,
        ) from None


def validate_article(text: str, title: str | None = None, *, max_chars: int) -> None:
    """Refuse an article no model run can help: text or title with a lone surrogate
    (:class:`InvalidText`, :func:`check_text`), a text that shows nothing (:class:`EmptyText`,
    :func:`is_blank`), or one whose text and title together pass ``max_chars`` characters
    (:class:`TextTooLong`, with ``limit`` and ``size``).

    The API calls it before a job is stored, the batch script on each input and the pipeline
    before it translates, with the same ``max_article_chars``: a job the API accepts never
    fails this check in the worker.
    """
    check_text(text, "text")
    if title is not None:
        check_text(title, "title")
    if is_blank(text):
        raise EmptyText(
            "the article text is empty (whitespace or invisible characters only): send the "
            "article itself in the `text` field"
        )
    size = article_size(text, title)
    if size > max_chars:
        raise TextTooLong(
            f"the article has {size} characters (text and title), over the limit of "
            f"{max_chars} (PASSEUR_MAX_ARTICLE_CHARS): split it or raise the limit",
            limit=max_chars,
            size=size,
        )


@dataclass(frozen=True)
class ArticleOptions:
    """Per-request options; ``None`` means the settings' or the registry's default."""

    beam: int | None = None
    bullets: int | None = None
    summary_mode: str | None = None
    drop_unsupported: bool | None = None


@dataclass
class Flag:
    """Something a reader should know: a cut, a suspicious output, a dropped bullet.

    ``sentence`` indexes ``sentences`` (None for the title or the whole article).
    """

    code: str
    sentence: int | None
    detail: str


@dataclass
class SentenceResult:
    paragraph: int
    source: str
    translation: str


@dataclass
class ParagraphResult:
    source: str
    translation: str
    # The paragraph's language and the model that translated it (None: kept as it is):
    # its route, visible when an article mixes languages.
    lang: str | None = None
    model: str | None = None


@dataclass
class Bullet:
    text: str
    sentences: list[int]


@dataclass
class TitleResult:
    source: str
    translation: str


@dataclass
class ArticleResult:
    id: str
    source_lang: str
    target_lang: str = "en"
    title: TitleResult | None = None
    paragraphs: list[ParagraphResult] = field(default_factory=list)
    sentences: list[SentenceResult] = field(default_factory=list)
    bullets: list[Bullet] = field(default_factory=list)
    models: dict[str, dict[str, str] | None] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    # For source_lang "auto": the detected language, confidence and per-paragraph languages.
    language: dict[str, Any] | None = None
    # What the models decoded for this article: segments translated and their target tokens,
    # summary windows summarised and their tokens (what a benchmark checks its plan against).
    work: dict[str, int] = field(default_factory=dict)
    # "text", "markdown" or "html"; for a document, the translated document (None for text).
    format: str = "text"
    document: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failed(cls, article_id: str, source_lang: str, error: dict[str, Any]) -> ArticleResult:
        return cls(id=article_id, source_lang=source_lang, error=error)


_SPACE = re.compile(r"\s+")


def sources_cover_text(result: dict[str, Any], text: str) -> bool:
    """True when the result's sentence sources, joined, are the article text (whitespace aside)."""
    joined = "".join(s["source"] for s in result["sentences"])
    return _SPACE.sub("", joined) == _SPACE.sub("", text)
