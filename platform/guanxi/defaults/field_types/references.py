"""References to records, users and departments."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from guanxi.defaults.field_types.text import normalize_text
from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.meta.field_types import (
    EQUALITY_OPS,
    FieldType,
    FieldValueError,
)


class ReferenceType(FieldType):
    """The id of a record of another entity (field.reference names it)."""

    name = "reference"
    widget = "reference"
    operators = EQUALITY_OPS
    label = {"zh-CN": "关联", "en": "Reference"}
    max_id = 2**63 - 1  # module records: BIGINT ids

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["integer", "null"], "minimum": 1}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        try:
            number = int(normalize_text(value))
        except (ValueError, TypeError):
            raise FieldValueError("reference", _("Must be the id of a record")) from None
        if number < 1 or number > self.max_id:
            raise FieldValueError("reference", _("Must be the id of a record"))
        return number


class UserType(ReferenceType):
    name = "user"
    widget = "user"
    label = {"zh-CN": "用户", "en": "User"}
    max_id = 2**31 - 1  # gx_user.id is INTEGER: a larger id would overflow PostgreSQL's look-up


class DepartmentType(ReferenceType):
    name = "department"
    widget = "department"
    label = {"zh-CN": "部门", "en": "Department"}
    max_id = 2**31 - 1  # gx_department.id is INTEGER
