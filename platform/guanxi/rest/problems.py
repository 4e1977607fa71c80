"""API errors (API-01): one JSON shape for every refusal, `{"errors": [{"field", "code",
"message", "messages"}]}`, in the request's language, and the HTTP-level refusals (400, 401,
405, 413, 415, 428, 429) as GuanxiErrors so the endpoint renders them like service errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from guanxi.errors import GuanxiError
from guanxi.i18n import Message, _


class ApiProblem(GuanxiError):
    """A refusal decided by the API layer itself, with its own status and headers."""

    def __init__(
        self,
        message: Message,
        *,
        status: int,
        code: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code
        self.headers = dict(headers or {})


def bad_request(message: Message, *, field: str | None, code: str) -> ApiProblem:
    return ApiProblem(message, status=400, code=code, field=field)


def unauthenticated() -> ApiProblem:
    return ApiProblem(
        _("Sign in or send an API token"),
        status=401,
        code="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="guanxi"'},
    )


def method_not_allowed(method: str, allowed: list[str]) -> ApiProblem:
    return ApiProblem(
        _("{method} is not allowed here; use {allowed}", method=method, allowed=", ".join(allowed)),
        status=405,
        code="method_not_allowed",
        headers={"Allow": ", ".join(allowed)},
    )


def too_large(limit_kb: int) -> ApiProblem:
    return ApiProblem(
        _("The request body is larger than {kb} KB", kb=limit_kb), status=413, code="too_large"
    )


def unsupported_type(content_type: str) -> ApiProblem:
    return ApiProblem(
        _("Send the body as application/json, not {type}", type=content_type or "-"),
        status=415,
        code="unsupported_media_type",
    )


def version_required() -> ApiProblem:
    return ApiProblem(
        _('Send If-Match: "<version>" or a version field, so a newer change is not overwritten'),
        status=428,
        code="version_required",
        field="version",
    )


def rate_limited(retry_after: int, headers: Mapping[str, str]) -> ApiProblem:
    return ApiProblem(
        _("Too many requests; try again in {seconds} s", seconds=retry_after),
        status=429,
        code="rate_limited",
        headers={**headers, "Retry-After": str(retry_after)},
    )


def error_response(
    error: GuanxiError, locale: str, *, extra: Mapping[str, Any] | None = None
) -> JSONResponse:
    """The error as JSON with its status (and, for ApiProblem, its headers)."""
    body = error.to_dict(locale)
    if extra:
        body.update(extra)
    headers = getattr(error, "headers", None)
    return JSONResponse(body, status_code=error.status, headers=headers or None)
