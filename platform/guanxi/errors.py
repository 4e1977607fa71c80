"""Errors a user can act on: each names the field, a stable code and a zh-CN/en message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guanxi.i18n import DEFAULT_LOCALE, Message


@dataclass(frozen=True)
class FieldError:
    field: str | None
    code: str
    message: Message
    # A warning the user may confirm (saved anyway when every error is one); `details` carries
    # what the screen shows with it, e.g. the records a duplicate rule matched.
    warning: bool = False
    details: tuple[dict[str, Any], ...] = ()

    def to_dict(self, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
        found: dict[str, Any] = {
            "field": self.field,
            "code": self.code,
            "message": self.message.render(locale),
            "messages": self.message.all_locales(),
        }
        if self.warning:
            found["warning"] = True
        if self.details:
            found["details"] = list(self.details)
        return found


class GuanxiError(Exception):
    """Base class; `status` is the HTTP status the web and API layers answer with."""

    status = 400
    code = "error"

    def __init__(self, message: Message, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message.render("en"))

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(self.field, self.code, self.message)]

    def to_dict(self, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
        return {"errors": [e.to_dict(locale) for e in self.errors]}


class ValidationFailed(GuanxiError):
    """All field errors of one write, collected; nothing was written."""

    status = 422
    code = "invalid"

    def __init__(self, field_errors: list[FieldError]) -> None:
        self.field_errors = list(field_errors)
        self.message = field_errors[0].message if field_errors else Message("Invalid input")
        self.field = None
        Exception.__init__(
            self, "; ".join(f"{e.field}: {e.message.render('en')}" for e in self.field_errors)
        )

    @property
    def errors(self) -> list[FieldError]:
        return list(self.field_errors)

    def fields(self) -> set[str | None]:
        return {e.field for e in self.field_errors}


class NotFound(GuanxiError):
    status = 404
    code = "not_found"


class PermissionDenied(GuanxiError):
    status = 403
    code = "forbidden"

    def __init__(self, message: Message, *, field: str | None = None, code: str = "forbidden"):
        super().__init__(message, field=field)
        self.code = code


class ConflictError(GuanxiError):
    """A stale version: someone else saved first. Carries the current record to show the diff."""

    status = 409
    code = "conflict"

    def __init__(self, message: Message, *, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current


class LockedError(GuanxiError):
    status = 423
    code = "locked"


class QueryError(GuanxiError):
    """An unknown field, operator or malformed filter/sort: the caller's input, never a 500."""

    status = 400
    code = "bad_query"

    def __init__(self, message: Message, *, field: str | None = None, code: str = "bad_query"):
        super().__init__(message, field=field)
        self.code = code


class MetadataError(GuanxiError):
    """An invalid admin change to fields, entities, stages or tags."""

    status = 400
    code = "bad_metadata"

    def __init__(self, message: Message, *, field: str | None = None, code: str = "bad_metadata"):
        super().__init__(message, field=field)
        self.code = code


@dataclass(frozen=True)
class SchemaProblem:
    """One problem in a schema file, located by file and JSON pointer."""

    source: str
    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}#{self.pointer or '/'}: {self.message}"


class SchemaFileError(Exception):
    def __init__(self, problems: list[SchemaProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PluginError(Exception):
    """A plugin failed to load or is misconfigured; the message names the plugin."""

    def __init__(self, plugin: str, reason: str) -> None:
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin {plugin!r}: {reason}")
