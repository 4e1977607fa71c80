"""JSON Schemas of records for the OpenAPI document (API-02), from each field type's own
fragment (FieldType.json_schema) plus the field's constraints, exactly what the write path
validates against; then adapted to the API's wire form:

- reads describe what a response may hold: type and date formats only (a value stored before
  an admin tightened a rule still comes back), decimals as exact strings, masked fields as text;
- writes are the validation schema; decimals may be sent as numbers or exact strings.
"""

from __future__ import annotations

from typing import Any

from guanxi.auth.fields import FieldMask
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldTypeRegistry
from guanxi.rest.serialize import json_types

DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
KEPT_FORMATS = ("date", "date-time")  # what to_json guarantees for every stored value


def _label(field: FieldDef, locale: str) -> dict[str, Any]:
    return {"title": field.title(locale)}


def _enum_types(values: list[Any]) -> list[str]:
    found = []
    for value in values:
        name = "null" if value is None else "string" if isinstance(value, str) else "integer"
        if name not in found:
            found.append(name)
    return found


def read_schema(
    types: FieldTypeRegistry, field: FieldDef, masked: bool, locale: str
) -> dict[str, Any]:
    """What a response holds for this field."""
    fragment = types.for_field(field).json_schema(field)
    kinds = json_types(fragment) or _enum_types(list(fragment.get("enum", []))) or ["string"]
    if masked:  # the masked text, or the empty value left as it was
        shown = ["string", "array", "null"] if "array" in kinds else ["string", "null"]
        return {"type": shown, **_label(field, locale), "description": "masked"}
    schema: dict[str, Any] = {**_label(field, locale)}
    if "number" in kinds:
        kinds = ["string" if kind == "number" else kind for kind in kinds]
        schema["pattern"] = DECIMAL_TEXT
    schema["type"] = kinds
    if fragment.get("format") in KEPT_FORMATS:
        schema["format"] = fragment["format"]
    items = fragment.get("items")
    if isinstance(items, dict):
        item_kinds = json_types(items) or _enum_types(list(items.get("enum", []))) or ["string"]
        schema["items"] = {"type": item_kinds[0] if len(item_kinds) == 1 else item_kinds}
    return schema


def write_schema(
    types: FieldTypeRegistry, field: FieldDef, required: bool, locale: str
) -> dict[str, Any]:
    """What a client may send for this field (the validator's schema, in wire form)."""
    schema: dict[str, Any] = {**types.for_field(field).json_schema(field), **field.constraints}
    kinds = json_types(schema)
    if "number" in kinds:
        kinds = [*kinds, "string"]
        schema["pattern"] = DECIMAL_TEXT
    if required and "null" in kinds:
        kinds = [kind for kind in kinds if kind != "null"]
    if kinds:
        schema["type"] = kinds
    if "enum" in schema:
        options = list(schema["enum"])
        schema["enum"] = [v for v in options if v is not None] if required else options
    if field.help:
        schema["description"] = field.help.get(locale) or next(iter(field.help.values()), "")
    return {**_label(field, locale), **schema}


def record_schema(
    types: FieldTypeRegistry, entity: EntityDef, mask: FieldMask, locale: str
) -> dict[str, Any]:
    """A record as this caller receives it: only the fields their mask shows."""
    masked = set(mask.maskers)
    properties = {
        field.key: read_schema(types, field, field.key in masked, locale)
        for field in entity.fields
        if field.key in mask.levels
    }
    return {
        "type": "object",
        "title": entity.title(locale),
        "properties": properties,
        "required": list(properties),
    }


def input_fields(entity: EntityDef, mask: FieldMask) -> list[FieldDef]:
    return [field for field in entity.input_fields if field.key in mask.writable]


def create_schema(
    types: FieldTypeRegistry, entity: EntityDef, mask: FieldMask, locale: str
) -> dict[str, Any]:
    fields = input_fields(entity, mask)
    required = [f.key for f in fields if f.required and f.default is None]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.key: write_schema(types, f, f.key in required, locale) for f in fields},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def update_schema(
    types: FieldTypeRegistry, entity: EntityDef, mask: FieldMask, locale: str
) -> dict[str, Any]:
    properties = {f.key: write_schema(types, f, False, locale) for f in input_fields(entity, mask)}
    properties["version"] = {
        "type": "integer",
        "minimum": 1,
        "description": "The version the change is based on (or send If-Match)",
    }
    return {"type": "object", "properties": properties, "additionalProperties": False}


def filterable_fields(
    types: FieldTypeRegistry, entity: EntityDef, mask: FieldMask
) -> list[FieldDef]:
    """Fields the caller may filter on with `filter[<field>]=` (readable, with `eq`)."""
    return [
        field
        for field in entity.visible_fields
        if field.key in mask.readable and "eq" in types.for_field(field).operators
    ]


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {
                        "type": ["string", "null"],
                        "description": "The field or parameter at fault (null: the request)",
                    },
                    "code": {"type": "string", "description": "Stable, for programs"},
                    "message": {"type": "string", "description": "In the request's language"},
                    "messages": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "The message in every language (zh-CN, en)",
                    },
                },
            },
        },
        "current": {
            "type": "object",
            "description": "409 only: the record as it is now (merge and retry)",
        },
    },
}
