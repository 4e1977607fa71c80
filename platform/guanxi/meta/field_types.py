"""The field-type protocol and registry: a type owns its column, schema, parsing and filters."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from guanxi.i18n import Message, _
from guanxi.meta.entity import FieldDef

EMPTY_OPS = ("is_empty", "not_empty")
EQUALITY_OPS = ("eq", "ne", "in", "not_in", *EMPTY_OPS)
ORDER_OPS = ("lt", "lte", "gt", "gte", "between")
TEXT_OPS = (*EQUALITY_OPS, "contains", "not_contains", "starts_with", "ends_with")
RELATIVE_DATE_OPS = (
    "today",
    "yesterday",
    "tomorrow",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_quarter",
    "this_year",
    "last_year",
    "last_n_days",
    "next_n_days",
)


class FieldValueError(ValueError):
    """A value a field type cannot accept; carries a code and a translatable message."""

    def __init__(self, code: str, message: Message) -> None:
        super().__init__(message.render("en"))
        self.code = code
        self.message = message


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


MASK = "****"


def mask_text(text: str, keep_start: int, keep_end: int) -> str:
    """ "13812344321" -> "138****4321": keep a few characters at each end, star the middle."""
    if len(text) <= keep_start + keep_end:
        return text[:1] + MASK
    return text[:keep_start] + MASK + (text[-keep_end:] if keep_end else "")


class FieldType:
    """Base of every field type; a subclass overrides what differs (about ten methods)."""

    name: ClassVar[str] = ""
    widget: ClassVar[str] = "text"
    operators: ClassVar[tuple[str, ...]] = EQUALITY_OPS
    stored_in_column: ClassVar[bool] = True
    sortable: ClassVar[bool] = True
    aggregatable: ClassVar[bool] = False
    label: ClassVar[dict[str, str]] = {}

    def column_type(self, field: FieldDef) -> sa.types.TypeEngine[Any]:
        raise NotImplementedError

    def json_schema(self, field: FieldDef) -> dict[str, Any]:
        """JSON Schema fragment for the JSON form of the value (null allowed: required is separate)."""
        return {}

    def parse(self, value: Any, field: FieldDef) -> Any:
        """Turn API, form or CSV input into the stored Python value; raise FieldValueError."""
        return value

    def to_json(self, value: Any) -> Any:
        return value

    def schema_value(self, value: Any) -> Any:
        """The value as the JSON Schema validator checks it (numbers stay numbers)."""
        return self.to_json(value)

    def format(self, value: Any, field: FieldDef, locale: str = "zh-CN") -> str:
        return "" if value is None else str(value)

    def match_text(self, value: Any) -> str:
        """The stored value as exact matching compares it (blind indexes, duplicate keys):
        full-width folded, case-folded, trimmed — "A@B.cn" and "a@b.cn" are one address."""
        return unicodedata.normalize("NFKC", str(value)).strip().casefold()

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == []

    def mask(self, value: Any) -> Any:
        """The value as a role with masked access sees it (DATA-12): never the value itself.
        Empty stays empty; anything else becomes a fixed "****" unless a type knows better."""
        return value if self.is_empty(value) else MASK

    def parse_filter_value(self, op: str, value: Any, field: FieldDef) -> Any:
        if op in ("in", "not_in", "any", "all", "none"):
            values = value if isinstance(value, list | tuple) else [value]
            return [self.parse(v, field) for v in values]
        if op == "between":
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise FieldValueError("between", _("'between' needs two values [from, to]"))
            return [None if v in (None, "") else self.parse(v, field) for v in value]
        if op in EMPTY_OPS or op in RELATIVE_DATE_OPS:
            return value
        return self.parse(value, field)

    def filter_clause(
        self, column: sa.ColumnElement[Any], op: str, value: Any, field: FieldDef
    ) -> sa.ColumnElement[bool]:
        builder = _STANDARD_FILTERS.get(op)
        if builder is None:
            raise KeyError(op)
        return builder(column, value)


class CaseInsensitiveLike(sa.ColumnElement[bool]):
    """`ILIKE` on PostgreSQL (served by pg_trgm indexes); plain `LIKE` on SQLite, which already
    ignores ASCII case — SQLAlchemy's ilike would wrap both sides in lower() and cost ~1.5 ms
    per 40k rows scanned."""

    inherit_cache = True
    type = sa.types.NULLTYPE  # a predicate, not a boolean value: no "= 1" on SQLite
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: sa.ColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.pattern = sa.bindparam(None, pattern, type_=sa.String())


@compiles(CaseInsensitiveLike)
def _ilike_default(element: CaseInsensitiveLike, compiler: Any, **kw: Any) -> str:
    column, pattern = (
        compiler.process(element.column, **kw),
        compiler.process(element.pattern, **kw),
    )
    return f"({column} ILIKE {pattern} ESCAPE '\\')"


@compiles(CaseInsensitiveLike, "sqlite")
def _ilike_sqlite(element: CaseInsensitiveLike, compiler: Any, **kw: Any) -> str:
    column, pattern = (
        compiler.process(element.column, **kw),
        compiler.process(element.pattern, **kw),
    )
    return f"({column} LIKE {pattern} ESCAPE '\\')"


def _between(column: sa.ColumnElement[Any], value: list[Any]) -> sa.ColumnElement[bool]:
    low, high = value
    parts = []
    if low is not None:
        parts.append(column >= low)
    if high is not None:
        parts.append(column <= high)
    return sa.and_(*parts) if parts else sa.true()


def _empty(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    if isinstance(column.type, sa.String | sa.Text):
        return sa.or_(column.is_(None), column == "")
    return column.is_(None)


_STANDARD_FILTERS: dict[str, Callable[[sa.ColumnElement[Any], Any], sa.ColumnElement[bool]]] = {
    "eq": lambda c, v: c.is_(None) if v is None else c == v,
    "ne": lambda c, v: c.is_not(None) if v is None else sa.or_(c != v, c.is_(None)),
    "in": lambda c, v: c.in_(v),
    "not_in": lambda c, v: sa.or_(c.not_in(v), c.is_(None)),
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "between": _between,
    "is_empty": lambda c, v: _empty(c),
    "not_empty": lambda c, v: sa.not_(_empty(c)),
    # An empty search text is no condition (an empty search box), never an error.
    "contains": lambda c, v: CaseInsensitiveLike(c, f"%{like_escape(v)}%") if v else sa.true(),
    "not_contains": lambda c, v: (
        sa.or_(sa.not_(CaseInsensitiveLike(c, f"%{like_escape(v)}%")), c.is_(None))
        if v
        else sa.true()
    ),
    "starts_with": lambda c, v: CaseInsensitiveLike(c, f"{like_escape(v)}%") if v else sa.true(),
    "ends_with": lambda c, v: CaseInsensitiveLike(c, f"%{like_escape(v)}") if v else sa.true(),
}


def relative_date_range(op: str, value: Any, today: date) -> tuple[date, date]:
    """[start, end) dates for a relative operator such as this_week or last_n_days."""
    if op == "today":
        return today, today + timedelta(days=1)
    if op == "yesterday":
        return today - timedelta(days=1), today
    if op == "tomorrow":
        return today + timedelta(days=1), today + timedelta(days=2)
    if op in ("this_week", "last_week"):
        start = today - timedelta(days=today.weekday())
        if op == "last_week":
            start -= timedelta(days=7)
        return start, start + timedelta(days=7)
    if op in ("this_month", "last_month"):
        start = today.replace(day=1)
        if op == "last_month":
            start = (start - timedelta(days=1)).replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return start, end
    if op == "this_quarter":
        start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
        end_month = start.month + 3
        end = start.replace(year=start.year + (end_month > 12), month=(end_month - 1) % 12 + 1)
        return start, end
    if op in ("this_year", "last_year"):
        year = today.year - (op == "last_year")
        return date(year, 1, 1), date(year + 1, 1, 1)
    days = _positive_int(value)
    if op == "last_n_days":
        return today - timedelta(days=days - 1), today + timedelta(days=1)
    if op == "next_n_days":
        return today, today + timedelta(days=days)
    raise KeyError(op)


def _positive_int(value: Any) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if days < 1 or days > 36600:
        raise FieldValueError("days", _("Give a number of days between 1 and 36600"))
    return days


class FieldTypeRegistry:
    """Name -> field type; filled by the register_field_types hook (built-ins are a plugin too)."""

    def __init__(self, types: Iterable[FieldType] = ()) -> None:
        self._types: dict[str, FieldType] = {}
        for field_type in types:
            self.add(field_type)

    def add(self, field_type: FieldType) -> None:
        if not field_type.name:
            raise ValueError(f"{type(field_type).__name__} has no name")
        self._types[field_type.name] = field_type

    def get(self, name: str) -> FieldType:
        return self._types[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def for_field(self, field: FieldDef) -> FieldType:
        return self._types[field.type]
