"""Domain errors. Each has a stable ``code`` that the CLI, the batch records and the
HTTP edge report as they are, and an HTTP status for the API."""

from __future__ import annotations

from typing import Any


class PasseurError(Exception):
    """Base class: a message written for the user, with the fix where there is one."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class ConfigError(PasseurError):
    """A setting or registry entry is invalid."""

    code = "config_error"


class UnknownModel(PasseurError):
    """A model name that is neither a registry entry, a hub id nor a folder."""

    code = "unknown_model"
    http_status = 422


class ModelNotAvailable(PasseurError):
    """A model that is known but not on disk; serving never downloads."""

    code = "model_not_available"
    http_status = 503


class InputError(PasseurError):
    """The article itself is unusable; retrying will not help."""

    code = "invalid_input"
    http_status = 422


class EmptyText(InputError):
    code = "empty_text"


class InvalidText(InputError):
    """Text that is not Unicode that UTF-8 can encode: a lone surrogate (``"\\ud800"``)."""

    code = "invalid_text"


class TextTooLong(InputError):
    code = "text_too_long"


class UnknownFormat(InputError):
    """An article ``format`` other than ``text``, ``markdown`` or ``html``."""

    code = "unknown_format"


class EmptyDocument(EmptyText):
    """A Markdown or HTML document with no translatable text (only code, markup, scripts)."""

    code = "empty_document"


class DocumentTooDeep(InputError):
    """A Markdown or HTML document nested deeper than its parser reads (``limit``, and
    where): what lies deeper would be left out of the translation."""

    code = "document_too_deep"


class UnsupportedLanguage(InputError):
    code = "unsupported_language"


class UnreadableInput(InputError):
    """A file that is not UTF-8 text (binary, other encoding) or not valid JSON."""

    code = "unreadable_input"
