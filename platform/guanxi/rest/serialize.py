"""Records as API JSON (API-01): each value through its field type's to_json (dates ISO 8601,
moments in UTC with "Z", tags and multi-selects as lists), every decimal number (money,
percent, decimal) as an exact string such as "12000.50", masked values as the masked text.
The ETag of a record is its version."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from guanxi.auth.fields import FieldMask
from guanxi.meta.entity import EntityDef
from guanxi.meta.field_types import FieldTypeRegistry

# (key, to_json, decimal as text) for each field of one entity version
Shape = dict[str, tuple[Callable[[Any], Any], bool]]
_ETAG = re.compile(r'\s*(?:W/)?"?(\d{1,18})"?\s*')


def json_types(fragment: Mapping[str, Any]) -> list[str]:
    """The JSON Schema "type" of a field-type fragment as a list ([] when it has none)."""
    found = fragment.get("type")
    if isinstance(found, str):
        return [found]
    return list(found) if isinstance(found, list | tuple) else []


class RecordWriter:
    """Serializes records per entity version; the shapes are built once per version."""

    def __init__(self, types: FieldTypeRegistry) -> None:
        self.types = types
        self._shapes: dict[tuple[str, int], Shape] = {}
        self._lock = threading.Lock()

    def shape(self, entity: EntityDef) -> Shape:
        key = (entity.name, entity.version)
        shape = self._shapes.get(key)
        if shape is None:
            shape = {}
            for field in entity.fields:
                field_type = self.types.for_field(field)
                numeric = "number" in json_types(field_type.json_schema(field))
                shape[field.key] = (field_type.to_json, numeric)
            with self._lock:
                self._shapes = {k: v for k, v in self._shapes.items() if k[0] != entity.name}
                self._shapes[key] = shape
        return shape

    def record(
        self, entity: EntityDef, mask: FieldMask, record: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One record (already masked by the read path) as JSON values."""
        shape = self.shape(entity)
        masked = mask.maskers
        out: dict[str, Any] = {}
        for key, value in record.items():
            converter = shape.get(key)
            if value is None or converter is None or key in masked:
                out[key] = value  # a masked value is the masked text (or the empty value)
                continue
            to_json, numeric = converter
            value = to_json(value)
            if numeric and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                value = _decimal_text(value)
            out[key] = value
        return out

    def records(
        self, entity: EntityDef, mask: FieldMask, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return [self.record(entity, mask, row) for row in rows]


def _decimal_text(value: int | float | Decimal) -> str:
    return str(value) if not isinstance(value, float) else format(Decimal(repr(value)), "f")


def etag(version: Any) -> str:
    return f'"{int(version)}"'


def parse_etags(header: str | None) -> set[int] | str | None:
    """If-Match / If-None-Match -> "*", the set of versions named, or None when absent.
    Weak tags (W/"3", as some proxies rewrite them) count too: the tag is the version."""
    if header is None or not header.strip():
        return None
    if header.strip() == "*":
        return "*"
    versions = set()
    for part in header.split(","):
        match = _ETAG.fullmatch(part)
        if match:
            versions.add(int(match.group(1)))
    return versions
