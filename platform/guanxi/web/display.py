"""Field values as people read them: option labels, reference titles, user names, tag chips,
Chinese dates and money. A Presenter resolves every reference of a whole page in one read per
referenced module (not one per row), through the read path, so scopes and masks apply."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.auth.fields import FieldMask, Level
from guanxi.errors import GuanxiError
from guanxi.i18n import pick_label
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.store.system_tables import department, user

REFERENCE_WIDGETS = ("reference", "user", "department")


@dataclass(frozen=True)
class Cell:
    """One displayed value: text, plus a link or chips where the widget has them."""

    text: str
    href: str | None = None
    chips: tuple[tuple[str, str | None], ...] = ()  # (label, colour)
    masked: bool = False
    color: str | None = None
    raw: Any = None

    def __str__(self) -> str:
        return self.text


class Presenter:
    """Formats the fields of one entity for one actor and locale."""

    def __init__(
        self, platform: Any, actor: Actor, entity: EntityDef, locale: str, mask: FieldMask
    ) -> None:
        self.platform = platform
        self.actor = actor
        self.entity = entity
        self.locale = locale
        self.mask = mask
        self.types = platform.types
        self._titles: dict[str, dict[int, str]] = defaultdict(dict)
        self._tags: dict[str, tuple[str, str | None]] | None = None

    # -- batch loading -------------------------------------------------------------------------

    def load(self, records: Iterable[Mapping[str, Any]], fields: Iterable[FieldDef]) -> Presenter:
        """Fetch what the given fields of these records refer to: one read per target."""
        records = list(records)
        wanted: dict[str, set[int]] = defaultdict(set)
        for field in fields:
            widget = self.types.for_field(field).widget
            if widget not in REFERENCE_WIDGETS or self.mask.level(field.key) < Level.READ:
                continue
            target = field.reference if widget == "reference" else widget
            for record in records:
                value = record.get(field.key)
                if isinstance(value, int):
                    wanted[target or ""].add(value)
        for target, ids in wanted.items():
            missing = ids - set(self._titles[target])
            if missing:
                self._titles[target].update(self._fetch_titles(target, sorted(missing)))
        return self

    def _fetch_titles(self, target: str, ids: list[int]) -> dict[int, str]:
        if target in ("user", "department"):
            table = user if target == "user" else department
            label = table.c.display_name if target == "user" else table.c.name
            with self.platform.db.read() as connection:
                rows = connection.execute(sa.select(table.c.id, label).where(table.c.id.in_(ids)))
                return {row[0]: row[1] for row in rows}
        try:
            referenced = self.platform.registry.snapshot().entity(target)
            page = self.platform.records.query(
                self.actor,
                target,
                {"field": "id", "op": "in", "value": ids},
                limit=len(ids),
            )
        except GuanxiError:
            return {}  # a module the actor may not view: the id stays a number
        title_field = referenced.title_field
        return {
            row["id"]: str(row.get(title_field) or row.get("number") or row["id"])
            for row in page.rows
        }

    def tag_labels(self) -> dict[str, tuple[str, str | None]]:
        if self._tags is None:
            self._tags = {
                row["code"]: (pick_label(row["label"], self.locale), row.get("color"))
                for row in self.platform.admin.tags(self.entity.name)
            }
        return self._tags

    def title_of(self, target: str, record_id: int) -> str | None:
        return self._titles.get(target, {}).get(record_id)

    # -- one value -----------------------------------------------------------------------------

    def cell(self, field: FieldDef, record: Mapping[str, Any]) -> Cell:
        value = record.get(field.key)
        level = self.mask.level(field.key)
        if level == Level.MASKED:
            return Cell("" if value is None else str(value), masked=True)
        field_type = self.types.for_field(field)
        widget = field_type.widget
        if value is None or value == "" or value == []:
            return Cell("", raw=value)
        if widget in REFERENCE_WIDGETS:
            target = field.reference if widget == "reference" else widget
            title = self._titles.get(target or "", {}).get(value)
            href = f"/r/{target}/{value}" if widget == "reference" and title else None
            return Cell(title or f"#{value}", href=href, raw=value)
        if widget == "tags":
            labels = self.tag_labels()
            chips = tuple(labels.get(code, (code, None)) for code in value)
            return Cell("、".join(c[0] for c in chips), chips=chips, raw=value)
        if widget in ("select", "stage"):
            option = field.option(value)
            return Cell(
                field_type.format(value, field, self.locale),
                color=option.color if option else None,
                raw=value,
            )
        if widget == "url":
            return Cell(str(value), href=str(value) if _is_web_url(value) else None, raw=value)
        if widget == "email":
            return Cell(str(value), href=f"mailto:{value}", raw=value)
        if widget == "phone":
            return Cell(str(value), href=f"tel:{value}", raw=value)
        return Cell(field_type.format(value, field, self.locale), raw=value)

    def text(self, field: FieldDef, record: Mapping[str, Any]) -> str:
        return self.cell(field, record).text


def _is_web_url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def input_value(platform: Any, field: FieldDef, value: Any) -> Any:
    """The value as a form control holds it: ISO dates, local datetime-local text, codes."""
    if value is None:
        return ""
    widget = platform.types.for_field(field).widget
    if widget == "datetime":
        from guanxi import clock

        return clock.to_local(value).strftime("%Y-%m-%dT%H:%M")
    if widget == "date":
        return value.isoformat()
    if widget in ("multiselect", "tags"):
        return list(platform.types.for_field(field).to_json(value) or [])
    if widget == "checkbox":
        return bool(value)
    return platform.types.for_field(field).to_json(value)


def options_of(field: FieldDef, locale: str) -> list[tuple[str, str]]:
    return [(option.code, pick_label(option.label, locale)) for option in field.options]


def by_key(fields: Iterable[FieldDef]) -> dict[str, FieldDef]:
    return {field.key: field for field in fields}


def readable_fields(entity: EntityDef, mask: FieldMask) -> list[FieldDef]:
    return [f for f in entity.visible_fields if mask.level(f.key) >= Level.MASKED]


def entity_title(entity: EntityDef, record: Mapping[str, Any]) -> str:
    return str(record.get(entity.title_field) or record.get("number") or f"#{record.get('id')}")


def format_moment(value: Any, locale: str) -> str:
    """A stored UTC moment in business time (see clock.format_moment)."""
    from guanxi import clock

    return clock.format_moment(value, locale)
