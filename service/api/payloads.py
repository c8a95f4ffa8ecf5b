"""Request bodies at the HTTP edge and the job payload they become.

The payload a job carries, which the worker reads, is exactly::

    {
        "article": {"title": str | None, "text": str, "source_lang": str},
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
from service.idempotency import content_hash
from service.settings import BULLETS_MAX, BULLETS_MIN, DEFAULT_SOURCE_LANG, SummaryMode

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


# Somewhere in the text, a character that is neither whitespace nor invisible.
_VISIBLE = f"[^\\s{INVISIBLE_CHARS}]"


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
    options: ArticleOptionsIn = Field(default_factory=ArticleOptionsIn)

    @field_validator("text", "title", mode="before")
    @classmethod
    def _encodable(cls, value: object, info: ValidationInfo) -> object:
        # Raises InvalidText itself, not a ValueError, so that the answer is 422
        # invalid_text with the field and position, whichever field it is in.
        if isinstance(value, str):
            check_text(value, str(info.field_name))
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
    return {
        "article": {"title": title, "text": request.text, "source_lang": request.source_lang},
        "options": request.options.model_dump(exclude_none=True),
    }


def body_hash(payload: dict[str, Any], priority: str) -> str:
    """The content hash of what a job would run: equal requests, equal hash."""
    return content_hash({"payload": payload, "priority": priority})
