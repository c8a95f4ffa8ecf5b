"""Request bodies at the HTTP edge and the job payload they become.

The payload a job carries, which the worker reads, is exactly::

    {
        "article": {"title": str | None, "text": str, "source_lang": str,
                    "format"?: "markdown" | "html",
                    "glossary"?: [{"source": str, "target": str}],
                    "do_not_translate"?: [str]},
        "options": {"bullets"?: int, "summary_mode"?: str, "beam"?: int,
                    "drop_unsupported"?: bool},
    }

``source_lang`` is lower-case, 2 or 3 letters (whether a model exists for it is the
worker's business); ``text`` and ``title`` are text UTF-8 can encode (no lone surrogate:
422 ``invalid_text`` with the field and the position); ``text`` shows something (not only
whitespace or zero-width characters) and, with the title, is within ``max_article_chars``
(:func:`service.articles.validate_article`, which the worker's pipeline applies too). An
option the client left out is absent from ``options``: the worker applies the settings' default.

Numbers and booleans are strict: ``"bullets": true`` or ``"bullets": "3"`` is a 422, not 1 or
3 (``3.0`` is 3: JSON, and JSON Schema's ``integer``, make no difference between the two).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from service.articles import INVISIBLE_CHARS, check_text, is_blank, validate_article
from service.documents import FORMATS, load_document
from service.errors import UnknownFormat
from service.idempotency import content_hash
from service.settings import BULLETS_MAX, BULLETS_MIN, DEFAULT_SOURCE_LANG, SummaryMode
from service.text.terms import MAX_TERM_CHARS, MAX_TERMS, term_problem

__all__ = ["ArticleOptionsIn", "ArticleRequest", "JobAccepted", "body_hash", "job_payload"]


def _json_integer(value: object) -> object:
    # A float that is a whole number is that integer in JSON; anything else goes on to
    # StrictInt, which refuses booleans, strings and fractions.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# After the bounds, or the JSON schema loses them ("ge" instead of "minimum").
_WHOLE_FLOAT = BeforeValidator(_json_integer)


class ArticleOptionsIn(BaseModel):
    """Per-request options; each one left out takes the server's default."""

    model_config = ConfigDict(extra="forbid")

    bullets: Annotated[StrictInt, Field(ge=BULLETS_MIN, le=BULLETS_MAX), _WHOLE_FLOAT] | None = (
        Field(default=None, description="bullets in the summary")
    )
    summary_mode: SummaryMode | None = None
    beam: Annotated[StrictInt, Field(ge=1, le=16), _WHOLE_FLOAT] | None = Field(
        default=None, description="beam size for translation"
    )
    drop_unsupported: StrictBool | None = Field(
        default=None,
        description="drop bullets no source sentence supports, instead of flagging them",
    )


def _term(value: str) -> str:
    problem = term_problem(value)
    if problem:
        raise ValueError(f"the term {problem}")
    return value.strip()


# A glossary term: 1 to MAX_TERM_CHARS characters, not blank, no control character (the
# pattern says it to schema-driven clients; term_problem gives the message).
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
_TERM_PATTERN = f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"
Term = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TERM_CHARS, json_schema_extra={"pattern": _TERM_PATTERN}),
    AfterValidator(_term),
]


class GlossaryEntryIn(BaseModel):
    """A house rendering: where ``source`` occurs, the translation holds ``target``."""

    model_config = ConfigDict(extra="forbid")

    source: Term
    target: Term


# Somewhere in the text, a character that is neither whitespace nor invisible. U+001C-U+001F
# and U+0085 are whitespace to Python (is_blank) but not to ECMA-262's \s: named, the pattern
# means the same in both.
_VISIBLE = f"[^\\s\\u001c-\\u001f\\u0085{INVISIBLE_CHARS}]"


class ArticleRequest(BaseModel):
    """One article to translate and summarise."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Le trafic SNCF quasi normal",
                    "text": "Après quatre jours de perturbation, le trafic est normal ce mardi.",
                    "source_lang": "fr",
                    "options": {"bullets": 3},
                }
            ]
        },
    )

    title: str | None = Field(default=None, max_length=2000)
    # The patterns document what the checks below and validate_article refuse, for
    # clients and schema-driven testers; the checks themselves give the stable codes.
    text: str = Field(
        description="the article; not only whitespace or invisible characters "
        "(else 422 empty_text)",
        json_schema_extra={"minLength": 1, "pattern": _VISIBLE},
    )
    source_lang: str = Field(
        default=DEFAULT_SOURCE_LANG,
        description="ISO 639-1 code of the article's language, or auto to detect it per "
        "article and paragraph",
        json_schema_extra={"pattern": r"^\s*([A-Za-z]{2,3}|[Aa][Uu][Tt][Oo])\s*$"},
    )
    format: str = Field(
        default="text",
        description="what `text` holds: plain text, or a Markdown or HTML document, "
        "translated into the same document (docs/documents.md; else 422 unknown_format). "
        "A document must hold some text outside code, scripts and markup (else 422 "
        "empty_document) and nest no deeper than its parser reads: 256 elements in HTML, "
        "20 block quotes and lists in Markdown (else 422 document_too_deep)",
        json_schema_extra={"enum": list(FORMATS)},
    )
    glossary: list[GlossaryEntryIn] = Field(
        default_factory=list,
        max_length=MAX_TERMS,
        description="house renderings, over the deployment's glossary (docs/glossary.md); "
        "a sentence whose translation lacks a target is flagged glossary_miss",
    )
    do_not_translate: list[Term] = Field(
        default_factory=list,
        max_length=MAX_TERMS,
        description="terms the translation must hold as written (docs/glossary.md)",
    )
    options: ArticleOptionsIn = Field(default_factory=ArticleOptionsIn)

    @field_validator("text", "title", mode="before")
    @classmethod
    def _encodable(cls, value: object, info: ValidationInfo) -> object:
        # Raises InvalidText itself, not a ValueError, so that the answer is 422
        # invalid_text with the field and position, whichever field it is in.
        if isinstance(value, str):
            check_text(value, str(info.field_name))
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, value: object) -> object:
        # UnknownFormat itself, not a ValueError: 422 unknown_format with the accepted ones.
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in FORMATS:
                raise UnknownFormat(
                    f"unknown article format {value!r}: use one of {', '.join(FORMATS)}",
                    accepted=list(FORMATS),
                )
        return value

    @field_validator("source_lang")
    @classmethod
    def _language_code(cls, value: str) -> str:
        code = value.strip().lower()
        if code == "auto":
            return code
        if not (2 <= len(code) <= 3 and code.isascii() and code.isalpha()):
            raise ValueError(
                f"source_lang must be an ISO 639 code of 2 or 3 letters, not {value!r}"
            )
        return code


class JobAccepted(BaseModel):
    """The answer to a submission: the job id and where to poll it."""

    id: str
    state: str
    links: dict[str, str]


def job_payload(request: ArticleRequest, *, max_chars: int) -> dict[str, Any]:
    """The job payload for ``request`` (the shape in this module's docstring).

    Raises :class:`InvalidText` for a lone surrogate, :class:`EmptyText` for a blank text and
    :class:`TextTooLong` (with ``limit`` and ``size``) for a text and title over ``max_chars``
    (:func:`validate_article`).
    """
    title = request.title.strip() if request.title and not is_blank(request.title) else None
    validate_article(request.text, title, max_chars=max_chars)
    article: dict[str, Any] = {
        "title": title,
        "text": request.text,
        "source_lang": request.source_lang,
    }
    if request.format != "text":  # a text job's payload (and hash) is what it always was
        load_document(request.text, request.format)  # 422 empty_document before it is stored
        article["format"] = request.format
    if request.glossary:  # absent when empty: a job without terms hashes as it always did
        article["glossary"] = [e.model_dump() for e in request.glossary]
    if request.do_not_translate:
        article["do_not_translate"] = list(request.do_not_translate)
    return {"article": article, "options": request.options.model_dump(exclude_none=True)}


def body_hash(payload: dict[str, Any], priority: str) -> str:
    """The content hash of what a job would run: equal requests, equal hash."""
    return content_hash({"payload": payload, "priority": priority})
