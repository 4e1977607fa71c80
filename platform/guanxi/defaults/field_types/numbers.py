"""Numbers: integer, decimal, money (CNY), percent, rating."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from babel.numbers import format_currency, format_decimal

from guanxi.defaults.field_types.text import normalize_text
from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.meta.field_types import (
    EQUALITY_OPS,
    ORDER_OPS,
    FieldType,
    FieldValueError,
)

_BABEL_LOCALE = {"zh-CN": "zh_CN", "en": "en"}


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
