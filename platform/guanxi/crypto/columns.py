"""Sealed columns: a sensitive text field is stored encrypted, with a blind-index column beside
it (`<column>_bidx`) so exact filters, unique checks and duplicate rules still use an index.

The column type seals on the way in and opens on the way out, so every read path that selects
the table's columns gets plain values without knowing; only equality on the value must go
through the blind index (`sealed_clause`), and writes fill it (`fill_blind_indexes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from guanxi.crypto.cipher import Cipher
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldTypeRegistry

BLIND_SUFFIX = "_bidx"
BLIND_LENGTH = 24
SEALED_OPS = ("eq", "ne", "in", "not_in", "is_empty", "not_empty")


class SealedText(TypeDecorator[str]):
    """Text sealed with AES-GCM under the ring's current key; `context` is "entity.field"."""

    impl = sa.Text
    cache_ok = True

    def __init__(self, cipher: Cipher, context: str, match: Callable[[Any], str]) -> None:
        super().__init__()
        self.cipher = cipher
        self.context = context
        self.match = match

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return self.cipher.seal(str(value), self.context)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return self.cipher.open(value, self.context)

    def blind(self, value: Any) -> str | None:
        return None if value is None else self.cipher.blind(self.match(value), self.context)

    def blinds(self, value: Any) -> list[str]:
        return self.cipher.blinds(self.match(value), self.context)


def is_sealable(field: FieldDef, types: FieldTypeRegistry) -> bool:
    """Sensitive text-like fields are sealed; a sensitive number or date is only masked."""
    field_type = types.get(field.type)
    if not field.sensitive or field.system or not field_type.stored_in_column:
        return False
    return isinstance(field_type.column_type(field), sa.String | sa.Text)


def field_operators(field: FieldDef, types: FieldTypeRegistry) -> tuple[str, ...]:
    """The filter operators a screen may offer for the field: exact ones only when sealed."""
    operators = types.get(field.type).operators
    if is_sealable(field, types):
        return tuple(op for op in operators if op in SEALED_OPS)
    return operators


def field_sortable(field: FieldDef, types: FieldTypeRegistry) -> bool:
    return types.get(field.type).sortable and not is_sealable(field, types)


def sealed_fields(entity: EntityDef, types: FieldTypeRegistry) -> list[FieldDef]:
    return [f for f in entity.fields if is_sealable(f, types)]


def blind_column(name: str) -> str:
    return f"{name}{BLIND_SUFFIX}"


def sealed_type(column: Any) -> SealedText | None:
    kind = getattr(column, "type", None)
    return kind if isinstance(kind, SealedText) else None


def fill_blind_indexes(table: sa.Table, values: MutableMapping[str, Any]) -> None:
    """Set `<column>_bidx` for every sealed column present in `values` (a row being written)."""
    for key in list(values):
        column = table.c.get(key)
        kind = sealed_type(column)
        if kind is not None:
            values[blind_column(key)] = kind.blind(values[key])


def equals(table: sa.Table, column_name: str, value: Any) -> sa.ColumnElement[bool]:
    """`column = value`, through the blind index when the column is sealed."""
    column = table.c[column_name]
    kind = sealed_type(column)
    if kind is None:
        return column == value
    return table.c[blind_column(column_name)].in_(kind.blinds(value))


def sealed_clause(table: sa.Table, column_name: str, op: str, value: Any) -> sa.ColumnElement[bool]:
    """A filter on a sealed column: equality through the blind index, emptiness on the value."""
    column = table.c[column_name]
    kind = sealed_type(column)
    assert kind is not None
    index = table.c[blind_column(column_name)]

    def hashes(values: Iterable[Any]) -> list[str]:
        return [h for v in values if v is not None for h in kind.blinds(v)]

    if op == "is_empty" or (op == "eq" and value is None):
        return column.is_(None)
    if op == "not_empty" or (op == "ne" and value is None):
        return column.is_not(None)
    if op == "eq":
        return index.in_(hashes([value]))
    if op == "ne":
        return sa.or_(index.not_in(hashes([value])), index.is_(None))
    if op == "in":
        return index.in_(hashes(value))
    if op == "not_in":
        return sa.or_(index.not_in(hashes(value)), index.is_(None))
    raise KeyError(op)
