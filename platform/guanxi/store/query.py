"""The query language -> SELECT: filters (nested and/or), sorts (up to four), keyset or offset
pages, capped counts and group-by aggregates. Scope conditions arrive as extra filters.

Filter tree:  {"field": "stage", "op": "in", "value": ["a", "b"]}
              {"and": [...]} | {"or": [...]} | {"not": {...}} | [...] (a list is an "and")
Sort:         ["-created_at", "name"] or [("created_at", "desc"), ...]
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from guanxi.crypto.columns import SEALED_OPS, sealed_clause, sealed_type
from guanxi.errors import QueryError
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldTypeRegistry, FieldValueError
from guanxi.store.system_tables import tag, tag_link

MAX_SORT_LEVELS = 4
MAX_FILTER_DEPTH = 8
MAX_CONDITIONS = 100
MAX_PAGE_SIZE = 500
AGGREGATES = ("count", "sum", "avg", "min", "max")


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    limit: int


@dataclass(frozen=True)
class CountResult:
    value: int
    exact: bool  # False when the count reached the cap: show "10,000+"


class QueryCompiler:
    """Compiles filters and sorts for one entity version against its table."""

    def __init__(self, entity: EntityDef, table: sa.Table, types: FieldTypeRegistry) -> None:
        self.entity = entity
        self.table = table
        self.types = types
        self._conditions = 0
        # Fields this caller may filter, sort, search and group on (None = every visible one):
        # a hidden field is "unknown", a masked one is refused, so no query reveals its values.
        self.readable: frozenset[str] | None = None
        self.visible: frozenset[str] = frozenset()

    def restricted(self, readable: frozenset[str], visible: frozenset[str]) -> QueryCompiler:
        """A compiler for a caller's input: only `readable` fields are accepted; `visible` but
        unreadable (masked) ones are refused by name, all others are unknown."""
        compiler = QueryCompiler(self.entity, self.table, self.types)
        compiler.readable, compiler.visible = readable, visible
        return compiler

    # -- filters ---------------------------------------------------------------------------

    def where(self, filters: Any) -> sa.ColumnElement[bool]:
        self._conditions = 0
        if filters is None or filters == [] or filters == {}:
            return sa.true()
        return self._node(filters, depth=0)

    def _node(self, node: Any, depth: int) -> sa.ColumnElement[bool]:
        if depth > MAX_FILTER_DEPTH:
            raise QueryError(_("Filters are nested too deeply"), code="too_deep")
        if isinstance(node, list | tuple):
            return sa.and_(sa.true(), *(self._node(child, depth + 1) for child in node))
        if not isinstance(node, dict):
            raise QueryError(_("A filter must be an object or a list"), code="bad_filter")
        if "and" in node or "or" in node:
            key = "and" if "and" in node else "or"
            children = node[key]
            if not isinstance(children, list | tuple):
                raise QueryError(_("'{key}' needs a list of filters", key=key), code="bad_filter")
            clauses = [self._node(child, depth + 1) for child in children]
            if not clauses:
                return sa.true()
            return sa.and_(*clauses) if key == "and" else sa.or_(*clauses)
        if "not" in node:
            return sa.not_(self._node(node["not"], depth + 1))
        return self._condition(node)

    def _condition(self, node: dict[str, Any]) -> sa.ColumnElement[bool]:
        self._conditions += 1
        if self._conditions > MAX_CONDITIONS:
            raise QueryError(_("Too many filter conditions"), code="too_many")
        key = node.get("field")
        op = node.get("op", "eq")
        field = self.field(key)
        field_type = self.types.for_field(field)
        sealed = sealed_type(self.table.c.get(field.column)) is not None
        if sealed and op in field_type.operators and op not in SEALED_OPS:
            raise QueryError(
                _("{field} is stored encrypted: search it by the whole value", field=field.label),
                field=field.key,
                code="bad_operator",
            )
        if op not in field_type.operators:
            raise QueryError(
                _("Field '{field}' does not support the operator '{op}'", field=field.label, op=op),
                field=field.key,
                code="bad_operator",
            )
        try:
            value = field_type.parse_filter_value(op, node.get("value"), field)
        except FieldValueError as error:
            raise QueryError(error.message, field=field.key, code="bad_value") from None
        if not field_type.stored_in_column:
            return self._tag_clause(op, value)
        if sealed:  # encrypted (DATA-12): exact matches through the blind index
            return sealed_clause(self.table, field.column, op, value)
        try:
            return field_type.filter_clause(self.table.c[field.column], op, value, field)
        except FieldValueError as error:
            raise QueryError(error.message, field=field.key, code="bad_value") from None

    def _tag_clause(self, op: str, codes: list[str]) -> sa.ColumnElement[bool]:
        def tagged(with_codes: list[str] | None) -> sa.Exists:
            query = sa.select(sa.literal(1)).select_from(
                tag_link.join(tag, tag.c.id == tag_link.c.tag_id)
            )
            query = query.where(
                tag_link.c.entity == self.entity.name, tag_link.c.record_id == self.table.c.id
            )
            if with_codes is not None:
                query = query.where(tag.c.code.in_(with_codes))
            return query.exists()

        if op == "is_empty":
            return sa.not_(tagged(None))
        if op == "not_empty":
            return tagged(None)
        if op == "any":
            return tagged(codes)
        if op == "all":
            return sa.and_(sa.true(), *(tagged([code]) for code in codes))
        return sa.not_(tagged(codes))

    def field(self, key: Any) -> FieldDef:
        field = self.entity.get_field(key) if isinstance(key, str) else None
        readable = self.readable
        if (
            field is None
            or field.hidden
            or (readable is not None and key not in readable and key not in self.visible)
        ):
            raise QueryError(
                _("Unknown field '{field}' in {entity}", field=str(key), entity=self.entity.label),
                field=str(key),
                code="unknown_field",
            )
        if readable is not None and key not in readable:
            raise QueryError(
                _("{field} is masked for you: it cannot be filtered, sorted or grouped on",
                  field=field.label),
                field=field.key,
                code="masked_field",
            )  # fmt: skip
        return field

    # -- sorting and pages -------------------------------------------------------------------

    def sort_keys(self, sort: Any) -> list[SortKey]:
        items = [sort] if isinstance(sort, str) else list(sort or [])
        if len(items) > MAX_SORT_LEVELS:
            raise QueryError(_("Sort on at most four fields"), code="too_many_sorts")
        keys: list[SortKey] = []
        for item in items:
            if isinstance(item, str):
                key, descending = item.lstrip("-+"), item.startswith("-")
            elif isinstance(item, dict):
                key, descending = item.get("field"), str(item.get("dir", "asc")).lower() == "desc"
            elif isinstance(item, list | tuple) and len(item) == 2:
                key, descending = item[0], str(item[1]).lower() == "desc"
            else:
                raise QueryError(_("A sort item must be a field name"), code="bad_sort")
            field = self.field(key)
            sealed = sealed_type(self.table.c.get(field.column)) is not None
            if not self.types.for_field(field).sortable or sealed:
                raise QueryError(
                    _("Field '{field}' cannot be sorted on", field=field.label),
                    field=field.key,
                    code="not_sortable",
                )
            keys.append(SortKey(field.column, descending))
        if not keys:  # newest first, unless the caller may not see when records were created
            readable = self.readable is None or "created_at" in self.readable
            keys.append(SortKey("created_at" if readable else "id", True))
        if keys[-1].field != "id":
            keys.append(SortKey("id", keys[-1].descending))  # a total order for stable pages
        return keys

    def order_by(self, keys: list[SortKey], columns: Any = None) -> list[sa.ColumnElement[Any]]:
        """ORDER BY for the keys, on the table or on `columns` of a subquery wrapping it."""
        source = self.table.c if columns is None else columns
        clauses = []
        for key in keys:
            column = source[key.field]
            ordered = column.desc() if key.descending else column.asc()
            if self.table.c[key.field].nullable:
                # NULL sorts as the largest value on both databases (PostgreSQL's default).
                ordered = ordered.nulls_first() if key.descending else ordered.nulls_last()
            clauses.append(ordered)
        return clauses

    def after(self, keys: list[SortKey], cursor: str) -> sa.ColumnElement[bool]:
        """Rows after the cursor, as `k1 >= v1 AND (k1 > v1 OR (k2 >= v2 AND (...)))`: the
        leading range on k1 lets the database walk one index range instead of OR-merging."""
        values = decode_cursor(cursor, len(keys))
        columns = [self.table.c[k.field] for k in keys]
        try:
            values = [
                self._cursor_value(column, value)
                for column, value in zip(columns, values, strict=True)
            ]
        except (ValueError, TypeError, ArithmeticError):
            raise QueryError(
                _("The page cursor is invalid or belongs to another sort"), code="bad_cursor"
            ) from None
        condition: sa.ColumnElement[bool] = _beyond(columns[-1], values[-1], keys[-1].descending)
        for column, value, key in reversed(list(zip(columns, values, keys, strict=True))[:-1]):
            condition = sa.and_(
                _at_or_beyond(column, value, key.descending),
                sa.or_(_beyond(column, value, key.descending), condition),
            )
        return condition

    def _cursor_value(self, column: sa.Column[Any], value: Any) -> Any:
        """Decode one cursor value with the column's type; anything else is a tampered cursor."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(value)
        if isinstance(column.type, sa.Integer) and not isinstance(value, int):
            raise TypeError(value)
        if isinstance(column.type, sa.String) and not isinstance(value, str):
            raise TypeError(value)
        if isinstance(column.type, sa.DateTime):
            return datetime.fromisoformat(value)
        if isinstance(column.type, sa.Date):
            return date.fromisoformat(value)
        if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Integer):
            return Decimal(value)
        return value


def _at_or_beyond(column: sa.Column[Any], value: Any, descending: bool) -> sa.ColumnElement[bool]:
    """Rows at `value` or after it in this key's order, with NULL as the largest value."""
    if descending:
        return sa.true() if value is None else column <= value
    if value is None:
        return column.is_(None)
    return sa.or_(column >= value, column.is_(None)) if column.nullable else column >= value


def _beyond(column: sa.Column[Any], value: Any, descending: bool) -> sa.ColumnElement[bool]:
    """Rows strictly after `value` in this key's order, with NULL as the largest value."""
    if descending:
        if value is None:
            return column.is_not(None)
        return column < value
    if value is None:
        return sa.false()
    return sa.or_(column > value, column.is_(None)) if column.nullable else column > value


def encode_cursor(values: Sequence[Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return value

    raw = json.dumps([plain(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != length:
        raise QueryError(
            _("The page cursor is invalid or belongs to another sort"), code="bad_cursor"
        )
    return values


def check_limit(limit: Any) -> int:
    try:
        number = int(limit)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or number > MAX_PAGE_SIZE:
        raise QueryError(_("Page size must be between 1 and 500"), code="bad_limit")
    return number
