"""Compiled validators per entity version -> every field error at once, in zh-CN and en.

Building a Draft 2020-12 validator costs ~0.1 ms and checking a record ~120 µs, so one
validator is compiled per (entity, version) and reused.
"""

from __future__ import annotations

import threading
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from guanxi.errors import FieldError
from guanxi.i18n import Message, _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldTypeRegistry


def _message(error: ValidationError, field: FieldDef | None) -> Message:
    keyword = error.validator
    limit = error.validator_value
    if field is not None and field.type == "phone" and keyword == "pattern":
        return _("A mobile number has 11 digits starting with 13-19 (or +country code)")
    if keyword == "maxLength":
        return _("At most {limit} characters", limit=limit)
    if keyword == "minLength":
        return _("At least {limit} characters", limit=limit)
    if keyword in ("minimum", "exclusiveMinimum"):
        return _("Must be at least {limit}", limit=limit)
    if keyword in ("maximum", "exclusiveMaximum"):
        return _("Must be at most {limit}", limit=limit)
    if keyword == "enum":
        return _("Not one of the options of this field")
    if keyword == "format":
        return _("Has the wrong format ({format})", format=limit)
    if keyword == "pattern":
        return _("Has the wrong format")
    if keyword in ("maxItems", "minItems", "uniqueItems"):
        return _("Has the wrong number of items")
    return _("Has the wrong type")


class EntityValidator:
    def __init__(self, entity: EntityDef, types: FieldTypeRegistry) -> None:
        self.entity = entity
        self.types = types
        properties: dict[str, Any] = {}
        for field in entity.input_fields:
            fragment = dict(types.for_field(field).json_schema(field))
            fragment.update(field.constraints)
            properties[field.key] = fragment
        self.schema = {"type": "object", "properties": properties}
        self.validator = Draft202012Validator(
            self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        # The schema is assembled only from field-type fragments and checked admin constraints
        # (the keywords below exist in draft 7 too), so fastjsonschema's generated code is safe
        # to compile: it answers "valid" in ~7 µs; jsonschema then names every error.
        self.fast_check = fastjsonschema.compile(
            {"$schema": "http://json-schema.org/draft-07/schema#", **self.schema}
        )

    def errors(self, document: dict[str, Any]) -> list[FieldError]:
        """Errors for the JSON form of a record: type, format and constraint violations."""
        try:
            self.fast_check(document)
            return []
        except fastjsonschema.JsonSchemaException:
            pass
        found = []
        for error in self.validator.iter_errors(document):
            key = str(error.absolute_path[0]) if error.absolute_path else None
            field = self.entity.get_field(key) if key else None
            found.append(FieldError(key, str(error.validator), _message(error, field)))
        return found

    def required_errors(self, record: dict[str, Any]) -> list[FieldError]:
        found = []
        for field in self.entity.input_fields:
            if field.required and self.types.for_field(field).is_empty(record.get(field.key)):
                found.append(
                    FieldError(field.key, "required", _("{field} is required", field=field.label))
                )
        return found


class Validators:
    """Cache of compiled validators keyed by entity name and metadata version."""

    def __init__(self, types: FieldTypeRegistry) -> None:
        self.types = types
        self._cache: dict[tuple[str, int], EntityValidator] = {}
        self._lock = threading.Lock()

    def for_entity(self, entity: EntityDef) -> EntityValidator:
        key = (entity.name, entity.version)
        validator = self._cache.get(key)
        if validator is None:
            with self._lock:
                validator = self._cache.get(key)
                if validator is None:
                    self._cache = {k: v for k, v in self._cache.items() if k[0] != entity.name}
                    validator = self._cache[key] = EntityValidator(entity, self.types)
        return validator
