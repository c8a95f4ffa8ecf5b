"""Request bodies at the HTTP edge and the job payload they become.

The payload a job carries, which the worker reads, is exactly::

    {
        "article": {"title": str | None, "text": str, "source_lang": str},
        "options": {"bullets"?: int, "summary_mode"?: str, "beam"?: int,
                    "drop_unsupported"?: bool},
    }

``source_lang`` is lower-case, 2 or 3 letters (whether a model exists for it is the
worker's business); ``text`` is non-empty and, with the title, within ``max_article_chars``
(:func:`service.articles.validate_article`, which the worker's pipeline applies too). An
option the client left out is absent from ``options``: the worker applies the settings' default.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.articles import validate_article
from service.idempotency import content_hash
from service.settings import BULLETS_MAX, BULLETS_MIN, DEFAULT_SOURCE_LANG, SummaryMode

__all__ = ["ArticleOptionsIn", "ArticleRequest", "JobAccepted", "body_hash", "job_payload"]


class ArticleOptionsIn(BaseModel):
    """Per-request options; each one left out takes the server's default."""

    model_config = ConfigDict(extra="forbid")

    bullets: int | None = Field(
        default=None, ge=BULLETS_MIN, le=BULLETS_MAX, description="bullets in the summary"
    )
    summary_mode: SummaryMode | None = None
    beam: int | None = Field(default=None, ge=1, le=16, description="beam size for translation")
    drop_unsupported: bool | None = Field(
        default=None,
        description="drop bullets no source sentence supports, instead of flagging them",
    )


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
    text: str
    source_lang: str = Field(
        default=DEFAULT_SOURCE_LANG,
        description="ISO 639-1 code of the article's language, or auto to detect it per "
        "article and paragraph",
    )
    options: ArticleOptionsIn = Field(default_factory=ArticleOptionsIn)

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

    Raises :class:`EmptyText` for a blank text and :class:`TextTooLong` (with ``limit`` and
    ``size``) for a text and title over ``max_chars`` (:func:`validate_article`).
    """
    title = request.title.strip() if request.title and request.title.strip() else None
    validate_article(request.text, title, max_chars=max_chars)
    return {
        "article": {"title": title, "text": request.text, "source_lang": request.source_lang},
        "options": request.options.model_dump(exclude_none=True),
    }


def body_hash(payload: dict[str, Any], priority: str) -> str:
    """The content hash of what a job would run: equal requests, equal hash."""
    return content_hash({"payload": payload, "priority": priority})
