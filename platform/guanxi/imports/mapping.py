"""Which column fills which field: headers matched to field labels (zh-CN or en) or keys, then
the user's saved mapping for the entity on top. Only fields the user may write are offered."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.errors import FieldError, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.store.system_tables import import_mapping

REQUIRED_MARK = "*"


def normalize_header(text: str) -> str:
    """The header as compared: full-width as half-width, case and spaces ignored, the "*"
    templates put after required fields dropped."""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    return "".join(folded.split()).rstrip(REQUIRED_MARK)


def _candidates(header: str) -> list[str]:
    """The whole header first, then each side of "中文 / English" (the template's form)."""
    whole = normalize_header(header)
    parts = [normalize_header(part) for part in header.replace("／", "/").split("/")]
    return [whole, *(part for part in parts if part and part != whole)]


def importable_fields(entity: EntityDef, writable: frozenset[str] | set[str]) -> list[FieldDef]:
    """The fields a column may fill: the entity's input fields this user may write."""
    return [f for f in entity.input_fields if f.key in writable]


def field_names(fields: Sequence[FieldDef]) -> dict[str, str]:
    """Normalized key and labels -> field key; the first field claiming a name keeps it."""
    names: dict[str, str] = {}
    for field in fields:
        for name in (field.key, *field.label.values()):
            names.setdefault(normalize_header(name), field.key)
    return names


def auto_map(
    headers: Sequence[str], fields: Sequence[FieldDef], saved: Mapping[str, str] | None = None
) -> list[str | None]:
    """One field key (or None) per column. A saved choice wins over a label match ("" in the
    saved mapping means the user ignores that column); each field is filled by one column."""
    names = field_names(fields)
    allowed = {f.key for f in fields}
    saved = saved or {}
    chosen: list[str | None] = []
    taken: set[str] = set()
    for header in headers:
        key: str | None = None
        normalized = normalize_header(header)
        if normalized in saved:
            key = saved[normalized] or None
            key = key if key in allowed else None
        elif header.strip():
            key = next((names[c] for c in _candidates(header) if c in names), None)
        if key in taken:
            key = None
        if key:
            taken.add(key)
        chosen.append(key)
    return chosen


def check_mapping(
    headers: Sequence[str], mapping: Sequence[str | None], fields: Sequence[FieldDef]
) -> list[str | None]:
    """A user's choices, checked: known writable fields, each at most once, one per column."""
    allowed = {f.key: f for f in fields}
    errors: list[FieldError] = []
    if len(mapping) != len(headers):
        raise ValidationFailed(
            [FieldError("mapping", "bad_mapping", _("Choose a field (or none) for every column"))]
        )
    seen: dict[str, str] = {}
    cleaned: list[str | None] = []
    for header, key in zip(headers, mapping, strict=True):
        key = key or None
        if key is not None and key not in allowed:
            errors.append(
                FieldError(
                    "mapping",
                    "unknown_field",
                    _(
                        "Column {column}: you may not import into '{field}'",
                        column=header,
                        field=key,
                    ),
                )
            )
            key = None
        if key is not None and key in seen:
            errors.append(
                FieldError(
                    "mapping",
                    "mapped_twice",
                    _(
                        "Columns {first} and {second} both fill {field}",
                        first=seen[key],
                        second=header,
                        field=allowed[key].label,
                    ),
                )
            )
        if key is not None:
            seen.setdefault(key, header)
        cleaned.append(key)
    if not any(cleaned) and not errors:
        errors.append(
            FieldError("mapping", "empty_mapping", _("Choose a field for at least one column"))
        )
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def missing_required(entity: EntityDef, mapping: Sequence[str | None]) -> list[FieldDef]:
    """Required fields no column fills and no default provides: every new row would fail."""
    mapped = {key for key in mapping if key}
    return [
        f
        for f in entity.input_fields
        if f.required
        and f.default is None
        and f.key not in mapped
        and f.key not in ("owner_id", "department_id")
    ]


# -- saved mappings ------------------------------------------------------------------------------


def load_saved(connection: Connection, user_id: int | None, entity: str) -> dict[str, str]:
    if user_id is None:
        return {}
    found = connection.execute(
        sa.select(import_mapping.c.mapping).where(
            import_mapping.c.user_id == user_id, import_mapping.c.entity == entity
        )
    ).scalar()
    return dict(found or {})


def save(
    connection: Connection,
    user_id: int,
    entity: str,
    headers: Sequence[str],
    mapping: Sequence[str | None],
) -> dict[str, str]:
    """Remember this file's choices for the user's next file of the entity (merged: headers
    of other files they imported stay remembered)."""
    stored = load_saved(connection, user_id, entity)
    for header, key in zip(headers, mapping, strict=True):
        if header.strip():
            stored[normalize_header(header)] = key or ""
    now = clock.now_utc()
    updated = connection.execute(
        sa.update(import_mapping)
        .where(import_mapping.c.user_id == user_id, import_mapping.c.entity == entity)
        .values(mapping=stored, updated_at=now)
    ).rowcount
    if not updated:
        connection.execute(
            sa.insert(import_mapping).values(
                user_id=user_id, entity=entity, mapping=stored, updated_at=now
            )
        )
    return stored


def describe(fields: Sequence[FieldDef], locale: str) -> list[dict[str, Any]]:
    """The choices a mapping screen offers, in layout order."""
    return [{"key": f.key, "label": f.title(locale), "required": f.required} for f in fields]
