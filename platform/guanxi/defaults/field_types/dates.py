"""Dates and times: Chinese and ISO input, stored as dates / naive UTC."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.defaults.field_types.text import normalize_text
from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.meta.field_types import (
    EQUALITY_OPS,
    ORDER_OPS,
    RELATIVE_DATE_OPS,
    FieldType,
    FieldValueError,
    relative_date_range,
)

_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?$"),
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


def _safe(convert: Any) -> Any:
    """Run a conversion; dates at the edge of the calendar (year 1, 9999 with a zone) overflow."""
    try:
        return convert()
    except FieldValueError:
        raise
    except (OverflowError, ValueError):
        raise FieldValueError("date", _("The date is out of range")) from None


def _clock_time(match: re.Match[str]) -> str:
    hour, minute, second = match.groups()
    return f"{hour}:{minute}" + (f":{second}" if second else "")


def _strptime(text: str) -> datetime | None:
    """Unpadded forms fromisoformat refuses: "2024-3-5 9:05", "2024-3-5 9:05:30"."""
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


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
            return _safe(lambda: clock.to_local(clock.to_utc(value)).date())
        if isinstance(value, date):
            return value
        if not isinstance(value, str):
            raise FieldValueError("date", _("Must be a date such as 2024-03-05"))
        text = normalize_text(value)
        if "T" in text or " " in text:
            try:  # an instant with a zone is the local (business) day of that instant
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return parse_date_text(text.replace("T", " ").split(" ")[0])
            if moment.tzinfo is None:
                return moment.date()
            return _safe(lambda: clock.to_local(clock.to_utc(moment)).date())
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
        return _safe(lambda: self._parse(value))

    def _parse(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return clock.to_utc(value)
        if isinstance(value, date):
            return clock.local_midnight_utc(value)
        if not isinstance(value, str):
            raise FieldValueError("datetime", _("Must be a date and time such as 2024-03-05 14:30"))
        text = normalize_text(value).replace("Z", "+00:00")
        text = re.sub(r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]\s*", r"\1-\2-\3 ", text)
        text = text.replace("/", "-")
        # "14时30分(05秒)", as Chinese Excel writes times, is 14:30(:05)
        text = re.sub(r"(\d{1,2})[时點点](\d{1,2})分(?:(\d{1,2})秒)?$", _clock_time, text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = _strptime(text.strip())
            if moment is None:
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
        return clock.format_moment(value, locale)

    def filter_clause(self, column, op, value, field):  # type: ignore[no-untyped-def]
        if op in RELATIVE_DATE_OPS:
            start, end = relative_date_range(op, value, clock.today_local())
            return sa.and_(
                column >= clock.local_midnight_utc(start), column < clock.local_midnight_utc(end)
            )
        return super().filter_clause(column, op, value, field)
