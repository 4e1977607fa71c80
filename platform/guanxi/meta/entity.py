"""Frozen descriptions of entities, fields and stage pipelines: one immutable value per version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from guanxi.i18n import pick_label

SYSTEM_FIELDS = (
    "id",
    "number",
    "owner_id",
    "department_id",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
    "version",
    "locked",
    "deleted_at",
    "deleted_by",
)
CUSTOM_PREFIX = "cf_"


@dataclass(frozen=True)
class Option:
    code: str
    label: Mapping[str, str]
    color: str | None = None

    def matches(self, text: str) -> bool:
        return text == self.code or text in self.label.values()


@dataclass(frozen=True)
class Stage:
    code: str
    label: Mapping[str, str]
    probability: int = 0
    category: str = "open"  # open | won | lost
    required_fields: tuple[str, ...] = ()
    reason_required: bool = False
    transitions: tuple[str, ...] | None = None  # None: any stage may follow
    stale_days: int | None = None
    color: str | None = None


@dataclass(frozen=True)
class Pipeline:
    field: str
    stages: tuple[Stage, ...]
    reason_required: bool = False

    @cached_property
    def by_code(self) -> dict[str, Stage]:
        return {stage.code: stage for stage in self.stages}

    def allows(self, from_code: str | None, to_code: str) -> bool:
        if from_code is None or from_code == to_code:
            return True
        allowed = self.by_code[from_code].transitions if from_code in self.by_code else None
        return allowed is None or to_code in allowed


@dataclass(frozen=True)
class FieldDef:
    key: str
    type: str
    label: Mapping[str, str]
    required: bool = False
    system: bool = False
    custom: bool = False
    hidden: bool = False
    readonly: bool = False
    index: bool = False
    unique: bool = False
    sensitive: bool = False
    search: bool = False
    section: str | None = None
    position: int = 0
    default: Any = None
    options: tuple[Option, ...] = ()
    reference: str | None = None
    on_delete: str = (
        "restrict"  # what deleting the referenced record does: restrict|cascade|set_null
    )
    constraints: Mapping[str, Any] = field(default_factory=dict)
    help: Mapping[str, str] | None = None
    reason_required: bool = False
    number_format: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str:
        return self.key

    def title(self, locale: str = "zh-CN") -> str:
        return pick_label(self.label, locale) or self.key

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)


@dataclass(frozen=True)
class EntityDef:
    name: str
    label: Mapping[str, str]
    fields: tuple[FieldDef, ...]
    version: int = 0
    source: str = "core"
    title_field: str = "id"
    indexes: tuple[tuple[str, ...], ...] = ()
    pipelines: Mapping[str, Pipeline] = field(default_factory=dict)
    layouts: Mapping[str, Any] = field(default_factory=dict)
    number_format: str = "{seq:06d}"
    reason_required: bool = False
    table_prefix: str = "e_"

    @property
    def table(self) -> str:
        return f"{self.table_prefix}{self.name}"

    @cached_property
    def field_map(self) -> dict[str, FieldDef]:
        return {f.key: f for f in self.fields}

    def field(self, key: str) -> FieldDef:
        return self.field_map[key]

    def get_field(self, key: str) -> FieldDef | None:
        return self.field_map.get(key)

    @cached_property
    def visible_fields(self) -> tuple[FieldDef, ...]:
        """Fields users work with, in layout order (hidden ones keep their column only)."""
        return tuple(sorted((f for f in self.fields if not f.hidden), key=lambda f: f.position))

    @cached_property
    def input_fields(self) -> tuple[FieldDef, ...]:
        """Fields a client may write directly."""
        writable_system = {"owner_id", "department_id"}
        return tuple(
            f
            for f in self.visible_fields
            if (not f.system or f.key in writable_system) and not f.readonly
        )

    def title(self, locale: str = "zh-CN") -> str:
        return pick_label(self.label, locale) or self.name
