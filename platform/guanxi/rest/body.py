"""Request bodies (API-01): JSON only, refused above settings.api_max_body_kb before being read
whole (Content-Length first, then the streamed chunks are counted), and checked for text no
database can store (NUL characters, lone surrogates) so bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import ClientDisconnect, Request

from guanxi.errors import FieldError, ValidationFailed
from guanxi.i18n import _
from guanxi.rest.problems import bad_request, too_large, unsupported_type

JSON_TYPES = ("application/json", "application/merge-patch+json")


def _no_constants(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


async def read_json_object(request: Request, limit_kb: int) -> dict[str, Any]:
    """The body as a JSON object; ApiProblem 400/413/415 or ValidationFailed (422) otherwise."""
    limit = limit_kb * 1024
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    declared = request.headers.get("content-length")
    if declared is not None:
        if not re.fullmatch(r"[0-9]{1,15}", declared):
            raise bad_request(_("Content-Length is not a number"), field=None, code="bad_length")
        if int(declared) > limit:
            raise too_large(limit_kb)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit_kb)
            chunks.append(chunk)
    except ClientDisconnect:
        raise bad_request(_("The request body was cut off"), field=None, code="bad_body") from None
    raw = b"".join(chunks)
    if raw.strip() and media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise unsupported_type(media_type)
    if not raw.strip():
        raise bad_request(_("The request body must be a JSON object"), field=None, code="bad_body")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise bad_request(
            _("The request body is not valid JSON"), field=None, code="bad_json"
        ) from None
    if not isinstance(body, dict):
        raise bad_request(_("The request body must be a JSON object"), field=None, code="bad_body")
    problems = [key for key, value in body.items() if not storable(value)]
    if problems:
        raise ValidationFailed(
            [
                FieldError(
                    key,
                    "bad_text",
                    _(
                        "{field}: text must not contain NUL or unpaired surrogate characters",
                        field=key,
                    ),
                )
                for key in problems
            ]
        )
    return body


def storable(value: Any, depth: int = 0) -> bool:
    """False when a string anywhere in `value` holds a character neither database can store."""
    if isinstance(value, str):
        return text_is_storable(value)
    if depth > 32:  # no field type accepts structures this deep: they fail as wrong types
        return True
    if isinstance(value, list):
        return all(storable(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            text_is_storable(key) and storable(item, depth + 1) for key, item in value.items()
        )
    return True


def text_is_storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
