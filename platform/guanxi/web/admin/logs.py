"""The audit log (PERM-07: who changed permissions, users, plugins and when) and the access
log (PERM-08: who viewed or exported which record), read-only and for admins only. Changes
are shown as "field: old → new" lines, never as raw JSON."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth import access_log, identity
from guanxi.errors import GuanxiError, QueryError
from guanxi.i18n import _
from guanxi.store.system_tables import audit, user
from guanxi.web.admin.org_common import admin_screen
from guanxi.web.screen import Screen, url_with

PAGE_SIZE = 50
KINDS = ("permission", "user", "department", "team", "position", "plugin", "login", "token",
         "session", "web_form", "webhook")  # fmt: skip


def readable(value: Any) -> str:
    """One value of a change, short and plain: lists joined, objects as key=value pairs."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, list | tuple):
        return ", ".join(readable(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={readable(v)}" for k, v in value.items())
    return str(value)


def change_lines(changes: Any) -> list[str]:
    """{"role": [None, "sales_rep"]} -> ["role: — → sales_rep"]; single values as "key: v"."""
    if not isinstance(changes, dict):
        return [readable(changes)]
    lines = []
    for key, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            lines.append(f"{key}: {readable(value[0])} → {readable(value[1])}")
        else:
            lines.append(f"{key}: {readable(value)}")
    return lines


def _day(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise QueryError(_("A date such as 2024-05-31"), field=field, code="bad_date") from None


def _int(raw: str, field: str) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise QueryError(_("A number, please"), field=field, code="bad_number") from None


@admin_screen
def audit_page(s: Screen) -> Response:
    filters = {key: s.params.get(key, "").strip() for key in ("kind", "user", "from", "to",
                                                             "before")}  # fmt: skip
    errors: dict[str, str] = {}
    conditions: list[Any] = []
    try:
        start, end = _day(filters["from"], "from"), _day(filters["to"], "to")
        before = _int(filters["before"], "before")
    except GuanxiError as error:
        errors[error.errors[0].field or "from"] = error.errors[0].message.render(s.locale)
        start = end = before = None
    if filters["kind"]:
        conditions.append(audit.c.kind == filters["kind"])
    if filters["user"]:
        conditions.append(audit.c.actor_name == filters["user"])
    if start:
        conditions.append(audit.c.at >= datetime.combine(start, time.min))
    if end:
        conditions.append(audit.c.at < datetime.combine(end + timedelta(days=1), time.min))
    if before:
        conditions.append(audit.c.id < before)
    query = (sa.select(audit).where(*conditions).order_by(audit.c.id.desc())
             .limit(PAGE_SIZE + 1))  # fmt: skip
    with s.platform.db.read() as connection:
        rows = [dict(r) for r in connection.execute(query).mappings()]
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        user_ids = {int(r["target"][5:]) for r in rows
                    if r["target"].startswith("user:") and r["target"][5:].isdigit()}  # fmt: skip
        names = dict(connection.execute(
            sa.select(user.c.id, user.c.username).where(user.c.id.in_(user_ids))).all()
        ) if user_ids else {}  # fmt: skip
    entries = []
    for row in rows:
        target = row["target"]
        if target.startswith("user:") and target[5:].isdigit() and int(target[5:]) in names:
            target = f"{target} ({names[int(target[5:])]})"
        entries.append({**row, "target_text": target, "lines": change_lines(row["changes"])})
    next_url = url_with(s.params, before=rows[-1]["id"]) if more and rows else None
    return s.render("admin/org/audit.html", status=422 if errors else 200, entries=entries,
                    filters=filters, errors=errors, kinds=KINDS, next_url=next_url,
                    first_url=url_with(s.params, before=None) if filters["before"] else None,
                    tab="audit")  # fmt: skip


@admin_screen
def access_page(s: Screen) -> Response:
    filters = {key: s.params.get(key, "").strip() for key in ("user", "entity", "record")}
    errors: dict[str, str] = {}
    user_id = record_id = None
    entity = filters["entity"] or None
    try:
        record_id = _int(filters["record"], "record")
        if filters["user"]:
            user_id = identity.user_id_for(s.platform.db, filters["user"])
    except GuanxiError as error:
        key = error.errors[0].field or "user"
        errors[key] = error.errors[0].message.render(s.locale)
    entries: list[dict[str, Any]] = []
    if not errors:
        entries = access_log.entries(s.platform.db, entity=entity, record_id=record_id,
                                     user_id=user_id, limit=PAGE_SIZE * 4)  # fmt: skip
    entities = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    titles = {e.name: e.title(s.locale) for e in entities}
    for row in entries:
        row["filter_text"] = "; ".join(change_lines(row["filters"])) if row["filters"] else ""
    return s.render("admin/org/access.html", status=(404 if "user" in errors else 422) if errors
                    else 200, entries=entries, filters=filters, errors=errors,
                    entities=entities, titles=titles, tab="audit")  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/audit", audit_page),
        Route("/admin/access", access_page),
    ]
