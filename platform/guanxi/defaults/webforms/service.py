"""Web form definitions (API-04): what an admin may configure, checked against the entity and
the owner's permissions (submissions are created as that owner), stored in gx_web_form with an
audit row per change. Only administrators manage forms."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit, identity
from guanxi.auth.fields import Level
from guanxi.errors import FieldError, NotFound, ValidationFailed
from guanxi.i18n import LOCALES, _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldValueError
from guanxi.store.system_tables import user, web_form, web_form_submission

# Widgets a visitor can fill in without staff-only pickers (references, users, tags need them).
PUBLIC_WIDGETS = frozenset({
    "text", "textarea", "select", "multiselect", "checkbox", "phone", "email", "url", "number",
    "money", "percent", "rating", "date", "datetime",
})  # fmt: skip
LIST_WIDGETS = ("multiselect", "tags")
OWNED_KEYS = ("owner_id", "department_id")  # the form's owner decides these
NAME_MAX = 100
THANK_YOU_MAX = 2000
URL_MAX = 2000
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
AUDIT_KIND = "web_form"
RECEIVED = ("created", "duplicate")  # outcomes that reached the CRM
LABELS = {
    "name": {"zh-CN": "表单名称", "en": "Form name"},
    "owner_id": {"zh-CN": "负责人", "en": "Owner"},
    "fields": {"zh-CN": "表单字段", "en": "Form fields"},
}


@dataclass(frozen=True)
class WebForm:
    """One public form; `fields` in the order the page shows them."""

    id: int
    key: str
    name: str
    entity: str
    fields: tuple[str, ...]
    defaults: Mapping[str, Any]
    match_fields: tuple[str, ...]
    thank_you: Mapping[str, str]
    redirect_url: str | None
    owner_id: int
    active: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WebForm:
        return cls(
            id=int(row["id"]),
            key=row["key"],
            name=row["name"],
            entity=row["entity"],
            fields=tuple(row["fields"] or ()),
            defaults=dict(row["defaults"] or {}),
            match_fields=tuple(row["match_fields"] or ()),
            thank_you=dict(row["thank_you"] or {}),
            redirect_url=row["redirect_url"],
            owner_id=int(row["owner_id"]),
            active=bool(row["active"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def settings(self) -> dict[str, Any]:
        """What an admin edits, in the shape `create_form` / `update_form` take."""
        return {
            "name": self.name,
            "entity": self.entity,
            "fields": list(self.fields),
            "defaults": dict(self.defaults),
            "match_fields": list(self.match_fields),
            "thank_you": dict(self.thank_you),
            "redirect_url": self.redirect_url or "",
            "owner_id": self.owner_id,
            "active": self.active,
        }


# -- checking a definition ---------------------------------------------------------------------


def check_settings(platform: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The definition as stored, or ValidationFailed listing every problem by field."""
    errors: list[FieldError] = []
    name = str(values.get("name") or "").strip()
    if not name:
        errors.append(
            FieldError("name", "required", _("{field} is required", field=LABELS["name"]))
        )
    elif len(name) > NAME_MAX:
        errors.append(
            FieldError("name", "too_long", _("At most {limit} characters", limit=NAME_MAX))
        )
    entity = platform.registry.snapshot().entities.get(str(values.get("entity") or ""))
    if entity is None:
        errors.append(FieldError("entity", "unknown_module", _(
            "Unknown module '{name}'", name=str(values.get("entity") or ""))))  # fmt: skip
    owner = _owner(platform, values.get("owner_id"), errors)
    fields = _keys(values.get("fields"))
    defaults = {
        str(k): v for k, v in dict(values.get("defaults") or {}).items() if v not in (None, "", [])
    }
    match_fields = _keys(values.get("match_fields"))
    if entity is not None:
        errors += _field_errors(platform, entity, owner, fields, defaults, match_fields)
    thank_you: dict[str, str] = {}
    for locale in LOCALES:
        text = str(dict(values.get("thank_you") or {}).get(locale) or "").strip()
        if len(text) > THANK_YOU_MAX:
            errors.append(FieldError(f"thank_you.{locale}", "too_long",
                                     _("At most {limit} characters", limit=THANK_YOU_MAX)))  # fmt: skip
        if text:
            thank_you[locale] = text
    redirect_url = str(values.get("redirect_url") or "").strip()
    if redirect_url and not _https_url(redirect_url):
        errors.append(FieldError("redirect_url", "https_only", _(
            "The redirect address must be a full https:// address")))  # fmt: skip
    if errors:
        raise ValidationFailed(errors)
    assert entity is not None and owner is not None
    return {
        "name": name,
        "entity": entity.name,
        "fields": fields,
        "defaults": {k: _stored_default(platform, entity.field(k), v) for k, v in defaults.items()},
        "match_fields": match_fields,
        "thank_you": thank_you,
        "redirect_url": redirect_url or None,
        "owner_id": owner.user_id,
        "active": bool(values.get("active", True)),
    }


def _keys(raw: Any) -> list[str]:
    """Field keys in the given order, each once."""
    if isinstance(raw, str):
        raw = [raw]
    keys: list[str] = []
    for item in raw or ():
        key = str(item).strip()
        if key and key not in keys:
            keys.append(key)
    return keys


def _owner(platform: Any, raw: Any, errors: list[FieldError]) -> Actor | None:
    try:
        owner_id = int(raw)
    except (TypeError, ValueError):
        errors.append(FieldError("owner_id", "required", _(
            "{field} is required", field=LABELS["owner_id"])))  # fmt: skip
        return None
    with platform.db.read() as connection:
        owner = identity.load_actor(connection, owner_id)
    if owner is None:
        errors.append(FieldError("owner_id", "inactive_owner", _(
            "The owner must be an active user")))  # fmt: skip
    return owner


def _field_errors(
    platform: Any,
    entity: EntityDef,
    owner: Actor | None,
    fields: list[str],
    defaults: dict[str, Any],
    match_fields: list[str],
) -> list[FieldError]:
    """Fields exist, are writable by the owner, public ones have a public widget, and every
    required field of the entity is on the form or has a fixed value."""
    errors: list[FieldError] = []
    inputs = {f.key: f for f in entity.input_fields if f.key not in OWNED_KEYS}
    mask = None
    if owner is not None:
        access = platform.records.access(owner)
        if not access.allows(entity.name, "create"):
            errors.append(FieldError("owner_id", "forbidden", _(
                "The owner may not create {entity} records", entity=entity.label)))  # fmt: skip
        mask = access.mask(entity)
    if not fields:
        errors.append(FieldError("fields", "required", _("Choose at least one field for the form")))
    for key in [*fields, *defaults]:
        where = "fields" if key in fields else f"defaults.{key}"
        field = inputs.get(key)
        if field is None:
            errors.append(
                FieldError(where, "unknown_field", _("Unknown field '{field}'", field=key))
            )
        elif mask is not None and mask.level(key) != Level.WRITE:
            errors.append(FieldError(where, "forbidden", _(
                "The owner may not change {field}", field=field.label)))  # fmt: skip
        elif key in fields and platform.types.for_field(field).widget not in PUBLIC_WIDGETS:
            errors.append(FieldError(where, "not_public", _(
                "{field} cannot be filled in on a public form", field=field.label)))  # fmt: skip
    for key, value in defaults.items():
        field = inputs.get(key)
        if field is None:
            continue
        if key in fields:
            errors.append(FieldError(f"defaults.{key}", "on_form", _(
                "{field} is on the form and has a fixed value: choose one", field=field.label)))  # fmt: skip
            continue
        try:
            platform.types.for_field(field).parse(_stored_default(platform, field, value), field)
        except FieldValueError as error:
            errors.append(FieldError(f"defaults.{key}", error.code, error.message))
    for field in inputs.values():
        if field.required and field.default is None and field.key not in (*fields, *defaults):
            errors.append(FieldError("fields", "required_field", _(
                "{entity} needs {field}: put it on the form or give it a fixed value",
                entity=entity.label, field=field.label)))  # fmt: skip
    for key in match_fields:
        if key not in fields:
            label = inputs[key].label if key in inputs else key
            errors.append(FieldError("match_fields", "not_on_form", _(
                "{field} is not on the form, so submissions cannot be matched on it",
                field=label)))  # fmt: skip
        elif key in inputs and "eq" not in platform.types.for_field(inputs[key]).operators:
            errors.append(FieldError("match_fields", "not_matchable", _(
                "{field} cannot be compared to find duplicates", field=inputs[key].label)))  # fmt: skip
    return errors


def _stored_default(platform: Any, field: FieldDef, value: Any) -> Any:
    """A fixed value as the admin typed it; list fields take comma-separated codes."""
    if platform.types.for_field(field).widget in LIST_WIDGETS and isinstance(value, str):
        return [part.strip() for part in re.split(r"[,，]", value) if part.strip()]
    return value


def _https_url(url: str) -> bool:
    if len(url) > URL_MAX or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and not parts.username


# -- admin operations ---------------------------------------------------------------------------


def create_form(platform: Any, actor: Actor, values: Mapping[str, Any]) -> WebForm:
    platform.authorizer.check_admin(actor)
    settings = check_settings(platform, values)
    now = clock.now_utc()
    with platform.db.unit_of_work() as connection:
        form_id = connection.execute(
            sa.insert(web_form).values(
                key=secrets.token_urlsafe(12), created_at=now, updated_at=now, **settings
            )
        ).inserted_primary_key[0]
        audit.write(connection, actor, AUDIT_KIND, f"web_form:{form_id}", _summary(settings))
    return get_form(platform, actor, int(form_id))


def update_form(platform: Any, actor: Actor, form_id: int, values: Mapping[str, Any]) -> WebForm:
    platform.authorizer.check_admin(actor)
    before = get_form(platform, actor, form_id).settings()
    settings = check_settings(platform, values)
    before["redirect_url"] = before["redirect_url"] or None
    changes = {k: [before[k], v] for k, v in settings.items() if before.get(k) != v}
    if not changes:
        return get_form(platform, actor, form_id)
    with platform.db.unit_of_work() as connection:
        _update(connection, form_id, {**settings, "updated_at": clock.now_utc()})
        audit.write(connection, actor, AUDIT_KIND, f"web_form:{form_id}", changes)
    return get_form(platform, actor, form_id)


def set_active(platform: Any, actor: Actor, form_id: int, active: bool) -> WebForm:
    platform.authorizer.check_admin(actor)
    form = get_form(platform, actor, form_id)
    if form.active != active:
        with platform.db.unit_of_work() as connection:
            _update(connection, form_id, {"active": active, "updated_at": clock.now_utc()})
            audit.write(connection, actor, AUDIT_KIND, f"web_form:{form_id}",
                        {"active": [form.active, active]})  # fmt: skip
    return get_form(platform, actor, form_id)


def delete_form(platform: Any, actor: Actor, form_id: int) -> None:
    """The form and its submission log go; records it created stay."""
    platform.authorizer.check_admin(actor)
    form = get_form(platform, actor, form_id)
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.delete(web_form_submission).where(web_form_submission.c.form_id == form_id)
        )
        connection.execute(sa.delete(web_form).where(web_form.c.id == form_id))
        audit.write(connection, actor, AUDIT_KIND, f"web_form:{form_id}",
                    {"name": [form.name, None], "entity": form.entity})  # fmt: skip


def _update(connection: Any, form_id: int, values: dict[str, Any]) -> None:
    connection.execute(sa.update(web_form).where(web_form.c.id == form_id).values(**values))


def _summary(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: settings[k] for k in ("name", "entity", "fields", "owner_id", "active")}


# -- reading ----------------------------------------------------------------------------------


def get_form(platform: Any, actor: Actor, form_id: int) -> WebForm:
    platform.authorizer.check_admin(actor)
    with platform.db.read() as connection:
        row = connection.execute(sa.select(web_form).where(web_form.c.id == form_id)).first()
    if row is None:
        raise NotFound(_("No such web form"))
    return WebForm.from_row(row._mapping)


def list_forms(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    """Every form with its owner's name and what it received in the last 7 days."""
    platform.authorizer.check_admin(actor)
    since = clock.now_utc() - timedelta(days=7)
    received = web_form_submission.c.outcome.in_(RECEIVED)
    counted = (
        sa.select(web_form_submission.c.form_id, received, sa.func.count())
        .where(web_form_submission.c.at >= since)
        .group_by(web_form_submission.c.form_id, received)
    )
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(web_form, user.c.username, user.c.display_name)
            .join(user, user.c.id == web_form.c.owner_id)
            .order_by(web_form.c.name, web_form.c.id)
        ).mappings().all()  # fmt: skip
        counts: dict[tuple[int, bool], int] = {
            (int(form_id), bool(received)): int(n)
            for form_id, received, n in connection.execute(counted)
        }
    return [
        {
            "form": WebForm.from_row(row),
            "owner_name": row["display_name"] or row["username"],
            "received_7d": counts.get((int(row["id"]), True), 0),
            "rejected_7d": counts.get((int(row["id"]), False), 0),
        }
        for row in rows
    ]


def submissions(
    platform: Any,
    actor: Actor,
    form_id: int,
    *,
    outcome: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The form's submission log, newest first (`before`: an id, for the next page)."""
    get_form(platform, actor, form_id)
    conditions = [web_form_submission.c.form_id == form_id]
    if outcome:
        conditions.append(web_form_submission.c.outcome == outcome)
    if before is not None:
        conditions.append(web_form_submission.c.id < before)
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(web_form_submission).where(*conditions)
            .order_by(web_form_submission.c.id.desc()).limit(limit)
        ).mappings().all()  # fmt: skip
    return [dict(row) for row in rows]


def public_form(platform: Any, key: str) -> WebForm | None:
    """The active form behind a public address, or None (unknown and inactive look alike)."""
    if not KEY_PATTERN.match(key):
        return None
    with platform.db.read() as connection:
        row = connection.execute(
            sa.select(web_form).where(web_form.c.key == key, web_form.c.active.is_(True))
        ).first()
    return WebForm.from_row(row._mapping) if row is not None else None
