"""Choices: boolean, select, multi select, stage, tags."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from guanxi.defaults.field_types.text import normalize_text
from guanxi.i18n import _, pick_label
from guanxi.meta.entity import FieldDef
from guanxi.meta.field_types import (
    EQUALITY_OPS,
    FieldType,
    FieldValueError,
)


def _fold(text: str) -> str:
    """Case, spaces, "_" and "-" ignored: how a person's spelling of an option compares."""
    return re.sub(r"[\s_\-]+", "", normalize_text(text).casefold())


class BooleanType(FieldType):
    name = "boolean"
    widget = "checkbox"
    operators = ("eq", "ne", "is_empty", "not_empty")
    label = {"zh-CN": "是/否", "en": "Yes/No"}
    _TRUE = {"1", "true", "yes", "y", "on", "是", "对", "真", "✓"}
    _FALSE = {"0", "false", "no", "n", "off", "否", "不", "假", ""}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Boolean()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["boolean", "null"]}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or isinstance(value, bool):
            return value
        text = normalize_text(value).lower()
        if text in self._TRUE:
            return True
        if text in self._FALSE:
            return False
        raise FieldValueError("type", _("Must be yes or no"))

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        if value is None:
            return ""
        if locale == "en":
            return "Yes" if value else "No"
        return "是" if value else "否"


class SelectType(FieldType):
    name = "select"
    widget = "select"
    operators = EQUALITY_OPS
    label = {"zh-CN": "单选", "en": "Single select"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(64)

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"enum": [o.code for o in field.options] + [None]}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str | int | float):
            raise FieldValueError("option", _("Not one of the options of this field"))
        text = normalize_text(value)
        for option in field.options:
            if option.matches(text):
                return option.code
        folded = _fold(text)  # "WEBSITE", "cold call", "Cold  Call" (imports, typed input)
        for option in field.options:
            if folded == _fold(option.code) or any(
                folded == _fold(label) for label in option.label.values()
            ):
                return option.code
        raise FieldValueError("option", _("Not one of the options of this field"))

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        option = field.option(value) if value is not None else None

        return pick_label(option.label, locale) if option else ("" if value is None else str(value))


class MultiSelectType(SelectType):
    """Stored as "|a|b|" in one text column so one LIKE finds a code; sorted and de-duplicated."""

    name = "multiselect"
    widget = "multiselect"
    operators = ("any", "all", "none", "is_empty", "not_empty")
    sortable = False
    label = {"zh-CN": "多选", "en": "Multi select"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(1000)

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "type": ["array", "null"],
            "items": {"enum": [o.code for o in field.options]},
            "uniqueItems": True,
        }

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "" or value == []:
            return None
        if isinstance(value, str):
            stripped = value.strip("|")
            items = re.split(r"[|,，、;；]", stripped) if stripped else []
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise FieldValueError("type", _("Choose from the options of this field"))
        codes = sorted(
            {super(MultiSelectType, self).parse(v, field) for v in items if str(v).strip()}
        )
        return "|" + "|".join(codes) + "|" if codes else None

    def parse_filter_value(self, op: str, value: Any, field: FieldDef) -> Any:
        if op in ("is_empty", "not_empty"):
            return value
        values = value if isinstance(value, list | tuple) else [value]
        return [SelectType.parse(self, v, field) for v in values]

    def to_json(self, value: Any) -> Any:
        return [code for code in value.strip("|").split("|") if code] if value else []

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        return "、".join(
            SelectType.format(self, code, field, locale) for code in self.to_json(value)
        )

    def filter_clause(self, column, op, value, field):  # type: ignore[no-untyped-def]
        if op in ("is_empty", "not_empty"):
            return super().filter_clause(column, op, value, field)
        matches = [column.like(f"%|{code}|%") for code in value]
        if op == "any":
            return sa.or_(*matches)
        if op == "all":
            return sa.and_(*matches)
        return sa.or_(column.is_(None), sa.not_(sa.or_(*matches)))


class StageType(SelectType):
    """A select whose options are the stages of the entity's pipeline for this field."""

    name = "stage"
    widget = "stage"
    label = {"zh-CN": "阶段", "en": "Stage"}


class TagsType(FieldType):
    """Tags live in gx_tag_link (one row per record and tag), so any/all/none use indexes."""

    name = "tags"
    widget = "tags"
    operators = ("any", "all", "none", "is_empty", "not_empty")
    stored_in_column = False
    sortable = False
    label = {"zh-CN": "标签", "en": "Tags"}

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["array", "null"], "items": {"type": "string"}, "uniqueItems": True}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            items = re.split(r"[,，、;；|]", value)
        elif isinstance(value, list | tuple) and all(isinstance(i, str) for i in value):
            items = list(value)
        else:
            raise FieldValueError("type", _("Tags must be a list of tag codes"))
        codes = {normalize_text(item) for item in items if item.strip()}
        if any(len(code) > 64 for code in codes):
            raise FieldValueError("type", _("Tags must be a list of tag codes"))
        return sorted(codes)

    def parse_filter_value(self, op: str, value: Any, field: FieldDef) -> Any:
        return value if op in ("is_empty", "not_empty") else self.parse(value, field)

    def to_json(self, value: Any) -> Any:
        return list(value or [])

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        return "、".join(value or [])
