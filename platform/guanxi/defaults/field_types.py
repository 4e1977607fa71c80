"""Built-in field types, registered through the same hook third-party types use."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from babel.numbers import format_decimal

from guanxi import clock
from guanxi.hookspecs import hookimpl
from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.meta.field_types import (
    EQUALITY_OPS,
    ORDER_OPS,
    RELATIVE_DATE_OPS,
    TEXT_OPS,
    FieldType,
    FieldValueError,
    relative_date_range,
)

_BABEL_LOCALE = {"zh-CN": "zh_CN", "en": "en"}


def normalize_text(value: Any) -> str:
    """Full-width to half-width (NFKC) and trimmed: what Chinese keyboards and Excel produce."""
    return unicodedata.normalize("NFKC", str(value)).strip()


class TextType(FieldType):
    name = "text"
    operators = TEXT_OPS
    label = {"zh-CN": "单行文本", "en": "Text"}

    def max_length(self, field: FieldDef) -> int:
        return int(field.constraints.get("maxLength", 255))

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(self.max_length(field))

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": self.max_length(field)}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None:
            return None
        if isinstance(value, dict | list):
            raise FieldValueError("type", _("Must be text"))
        text = str(value).strip()
        return text or None


class LongTextType(TextType):
    name = "longtext"
    widget = "textarea"
    operators = (*EQUALITY_OPS[-2:], "contains", "not_contains")
    sortable = False
    label = {"zh-CN": "多行文本", "en": "Long text"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Text()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "type": ["string", "null"],
            "maxLength": int(field.constraints.get("maxLength", 20000)),
        }


class IntegerType(FieldType):
    name = "integer"
    widget = "number"
    operators = (*EQUALITY_OPS, *ORDER_OPS)
    aggregatable = True
    label = {"zh-CN": "整数", "en": "Integer"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["integer", "null"]}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise FieldValueError("type", _("Must be a whole number"))
        try:
            number = Decimal(normalize_text(value).replace(",", ""))
        except InvalidOperation:
            raise FieldValueError("type", _("Must be a whole number")) from None
        if number != number.to_integral_value():
            raise FieldValueError("type", _("Must be a whole number"))
        return int(number)


class DecimalType(FieldType):
    name = "decimal"
    widget = "number"
    operators = (*EQUALITY_OPS, *ORDER_OPS)
    aggregatable = True
    label = {"zh-CN": "小数", "en": "Decimal"}
    scale = 4
    strip_chars = ""

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Numeric(18, int(field.settings.get("scale", self.scale)))

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["number", "null"]}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise FieldValueError("type", _("Must be a number"))
        text = normalize_text(value).replace(",", "")
        for char in self.strip_chars:
            text = text.replace(char, "")
        try:
            number = Decimal(text.strip())
        except InvalidOperation:
            raise FieldValueError("type", _("Must be a number")) from None
        if not number.is_finite() or abs(number) >= Decimal(10) ** 14:
            raise FieldValueError("range", _("The number is too large"))
        scale = int(field.settings.get("scale", self.scale))
        return number.quantize(Decimal(1).scaleb(-scale))

    def to_json(self, value: Any) -> Any:
        return None if value is None else float(value)

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        if value is None:
            return ""
        return format_decimal(value, locale=_BABEL_LOCALE.get(locale, "zh_CN"))


class MoneyType(DecimalType):
    name = "money"
    widget = "money"
    label = {"zh-CN": "金额", "en": "Money"}
    scale = 2
    strip_chars = "¥￥$元RMBCNY "

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        if value is None:
            return ""
        from babel.numbers import format_currency

        currency = str(field.settings.get("currency", "CNY"))
        return format_currency(value, currency, locale=_BABEL_LOCALE.get(locale, "zh_CN"))


class PercentType(DecimalType):
    name = "percent"
    widget = "percent"
    label = {"zh-CN": "百分比", "en": "Percent"}
    scale = 2
    strip_chars = "%"

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        return "" if value is None else f"{super().format(value, field, locale)}%"


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


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def parse_date_text(text: str) -> date:
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                break
    raise FieldValueError("date", _("Must be a date such as 2024-03-05"))


class DateType(FieldType):
    name = "date"
    widget = "date"
    operators = (*EQUALITY_OPS, *ORDER_OPS, *RELATIVE_DATE_OPS)
    label = {"zh-CN": "日期", "en": "Date"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.Date()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "format": "date"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return clock.to_local(clock.to_utc(value)).date()
        if isinstance(value, date):
            return value
        text = normalize_text(value)
        if "T" in text or " " in text:
            text = text.replace("T", " ").split(" ")[0]
        return parse_date_text(text)

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        if value is None:
            return ""
        return (
            f"{value.year}年{value.month}月{value.day}日"
            if locale == "zh-CN"
            else value.isoformat()
        )

    def filter_clause(self, column, op, value, field):  # type: ignore[no-untyped-def]
        if op in RELATIVE_DATE_OPS:
            start, end = relative_date_range(op, value, clock.today_local())
            return sa.and_(column >= start, column < end)
        return super().filter_clause(column, op, value, field)


class DateTimeType(FieldType):
    name = "datetime"
    widget = "datetime"
    operators = DateType.operators
    label = {"zh-CN": "日期时间", "en": "Date & time"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.DateTime()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "format": "date-time"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return clock.to_utc(value)
        if isinstance(value, date):
            return clock.local_midnight_utc(value)
        text = normalize_text(value).replace("Z", "+00:00")
        text = re.sub(r"^(\d{4})年(\d{1,2})月(\d{1,2})日\s*", r"\1-\2-\3 ", text).replace("/", "-")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
            except ValueError:
                try:
                    return clock.local_midnight_utc(parse_date_text(text.strip()))
                except FieldValueError:
                    raise FieldValueError(
                        "datetime", _("Must be a date and time such as 2024-03-05 14:30")
                    ) from None
        return clock.to_utc(moment)

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat() + "Z"

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        if value is None:
            return ""
        local = clock.to_local(value)
        if locale == "zh-CN":
            return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
        return local.strftime("%Y-%m-%d %H:%M")

    def filter_clause(self, column, op, value, field):  # type: ignore[no-untyped-def]
        if op in RELATIVE_DATE_OPS:
            start, end = relative_date_range(op, value, clock.today_local())
            return sa.and_(
                column >= clock.local_midnight_utc(start), column < clock.local_midnight_utc(end)
            )
        return super().filter_clause(column, op, value, field)


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
        text = normalize_text(value)
        for option in field.options:
            if option.matches(text):
                return option.code
        raise FieldValueError("option", _("Not one of the options of this field"))

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        option = field.option(value) if value is not None else None
        from guanxi.i18n import pick_label

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
        items = value
        if isinstance(value, str):
            stripped = value.strip("|")
            items = re.split(r"[|,，、;；]", stripped) if stripped else []
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


MOBILE_CN = re.compile(r"^1[3-9]\d{9}$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class PhoneType(TextType):
    """CN mobile (1[3-9] + 9 digits) or E.164; spaces, dashes, +86 and full-width digits accepted."""

    name = "phone"
    widget = "phone"
    label = {"zh-CN": "手机号", "en": "Phone"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.String(20)

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "pattern": r"^(1[3-9]\d{9}|\+[1-9]\d{6,14})$"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        text = re.sub(r"[\s\-()（）.]", "", normalize_text(value))
        if text.startswith("+86"):
            text = text[3:]
        elif text.startswith("0086"):
            text = text[4:]
        elif text.startswith("86") and len(text) == 13:
            text = text[2:]
        if MOBILE_CN.match(text) or E164.match(text):
            return text
        raise FieldValueError(
            "phone", _("A mobile number has 11 digits starting with 13-19 (or +country code)")
        )

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        if value and MOBILE_CN.match(value):
            return f"{value[:3]} {value[3:7]} {value[7:]}"
        return value or ""


class EmailType(TextType):
    name = "email"
    widget = "email"
    label = {"zh-CN": "邮箱", "en": "Email"}
    _PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    def max_length(self, field: FieldDef) -> int:
        return 254

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": 254, "format": "email"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        text = normalize_text(value).replace("＠", "@")
        if not self._PATTERN.match(text):
            raise FieldValueError("email", _("Must be an email address such as name@example.com"))
        local, domain = text.rsplit("@", 1)
        return f"{local}@{domain.lower()}"


class UrlType(TextType):
    name = "url"
    widget = "url"
    label = {"zh-CN": "网址", "en": "URL"}

    def max_length(self, field: FieldDef) -> int:
        return 2048

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": 2048, "format": "uri"}

    def parse(self, value: Any, field: FieldDef) -> Any:
        if value is None or value == "":
            return None
        text = normalize_text(value)
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
            text = "https://" + text
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", text):
            raise FieldValueError("url", _("Must be a web address such as https://example.com"))
        return text


class ReferenceType(FieldType):
    """The id of a record of another entity (field.reference names it)."""

    name = "reference"
    widget = "reference"
    operators = EQUALITY_OPS
    label = {"zh-CN": "关联", "en": "Reference"}

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
        except ValueError:
            raise FieldValueError("reference", _("Must be the id of a record")) from None
        if number < 1:
            raise FieldValueError("reference", _("Must be the id of a record"))
        return number


class UserType(ReferenceType):
    name = "user"
    widget = "user"
    label = {"zh-CN": "用户", "en": "User"}


class DepartmentType(ReferenceType):
    name = "department"
    widget = "department"
    label = {"zh-CN": "部门", "en": "Department"}


class AutoNumberType(TextType):
    """A human-readable number assigned on create (store/numbering.py); never typed in."""

    name = "autonumber"
    widget = "readonly"
    label = {"zh-CN": "自动编号", "en": "Auto number"}

    def max_length(self, field: FieldDef) -> int:
        return 40


class StageType(SelectType):
    """A select whose options are the stages of the entity's pipeline for this field."""

    name = "stage"
    widget = "stage"
    label = {"zh-CN": "阶段", "en": "Stage"}


class RatingType(IntegerType):
    name = "rating"
    widget = "rating"
    label = {"zh-CN": "评分", "en": "Rating"}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        return sa.SmallInteger()

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        return {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": int(field.settings.get("max", 5)),
        }

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        return (
            "" if value is None else "★" * value + "☆" * (int(field.settings.get("max", 5)) - value)
        )


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
        items = re.split(r"[,，、;；|]", value) if isinstance(value, str) else list(value)
        return sorted({normalize_text(item) for item in items if str(item).strip()})

    def parse_filter_value(self, op: str, value: Any, field: FieldDef) -> Any:
        return value if op in ("is_empty", "not_empty") else self.parse(value, field)

    def to_json(self, value: Any) -> Any:
        return list(value or [])

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        return "、".join(value or [])


BUILTIN_TYPES: tuple[FieldType, ...] = (
    TextType(),
    LongTextType(),
    IntegerType(),
    DecimalType(),
    MoneyType(),
    PercentType(),
    BooleanType(),
    DateType(),
    DateTimeType(),
    SelectType(),
    MultiSelectType(),
    PhoneType(),
    EmailType(),
    UrlType(),
    ReferenceType(),
    UserType(),
    DepartmentType(),
    AutoNumberType(),
    StageType(),
    RatingType(),
    TagsType(),
)


@hookimpl
def register_field_types() -> list[FieldType]:
    return list(BUILTIN_TYPES)
