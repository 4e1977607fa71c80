"""What every organisation and permission screen shares: the admin gate, form parsing that
answers a 4xx naming the field, and service errors turned into per-field messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from guanxi.errors import GuanxiError, MetadataError, NotFound
from guanxi.i18n import _
from guanxi.web.screen import Screen, screen

FORM = "_form"  # the key of a message that belongs to no single field


def admin_screen(handler: Callable[[Screen], Response]) -> Callable[[Request], Any]:
    """A screen for administrators only; the services check again, this answers 403 early."""

    @functools.wraps(handler)
    def guarded(s: Screen) -> Response:
        s.platform.authorizer.check_admin(s.actor)
        return handler(s)

    return screen(guarded)


def text(s: Screen, key: str) -> str:
    value = s.form.get(key) if s.form is not None else None
    return str(value).strip() if isinstance(value, str) else ""


def optional_id(s: Screen, key: str) -> int | None:
    """An id from a select; "" is none, anything else that is not a number a 400 naming it."""
    raw = text(s, key)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise MetadataError(_("Not a valid choice"), field=key, code="bad_choice") from None


def path_id(s: Screen, key: str = "id") -> int:
    try:
        return int(s.path_params[key])
    except (KeyError, ValueError):
        raise NotFound(_("Not found")) from None


def field_messages(
    s: Screen, error: GuanxiError, rename: dict[str, str] | None = None
) -> dict[str, str]:
    """Service errors as {form field: message}; unnamed or unknown ones go under FORM."""
    rename = rename or {}
    messages: dict[str, str] = {}
    for item in error.errors:
        key = rename.get(item.field or "", item.field or FORM)
        message = item.message.render(s.locale)
        messages[key] = f"{messages[key]}；{message}" if key in messages else message
    return messages


def is_locked(row: dict[str, Any], now: Any) -> bool:
    until = row.get("locked_until")
    if until is None:
        return False
    if until.tzinfo is None and getattr(now, "tzinfo", None) is not None:
        now = now.replace(tzinfo=None)
    return bool(until > now)
