"""Inserts that a batch write groups: rows a hook adds inside `grouped` (history, stage
history, duplicate keys of an import chunk) are sent as one executemany per table when the
block ends, instead of one statement per record. Outside a block, a row is inserted at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_KEY = "guanxi.grouped_inserts"  # connection.info: the open Group


@lru_cache(maxsize=64)
def _statement(table: sa.Table) -> sa.Insert:
    return sa.insert(table)


@dataclass
class Group:
    transaction: Any
    rows: dict[sa.Table, list[dict[str, Any]]] = field(default_factory=dict)

    def mark(self) -> dict[sa.Table, int]:
        """Where the rows stand now: `rewind` to it when a savepoint is rolled back."""
        return {table: len(rows) for table, rows in self.rows.items()}

    def rewind(self, mark: dict[sa.Table, int]) -> None:
        for table, rows in self.rows.items():
            del rows[mark.get(table, 0) :]

    def flush(self, connection: Connection) -> None:
        for table, rows in self.rows.items():
            if rows:
                connection.execute(_statement(table), rows)
        self.rows.clear()


def insert(connection: Connection, table: sa.Table, row: dict[str, Any]) -> None:
    """Insert `row` now, or with the open group's flush; every row of one table in a group
    must have the same keys (one executemany)."""
    group = connection.info.get(_KEY)
    if group is not None and group.transaction is connection.get_transaction():
        group.rows.setdefault(table, []).append(row)
        return
    connection.execute(_statement(table), row)


@contextmanager
def grouped(connection: Connection) -> Iterator[Group]:
    """Group the inserts of the block; they are written when it ends without an error (still
    inside the caller's transaction). Reads in the block do not see the grouped rows."""
    group = Group(connection.get_transaction())
    outer = connection.info.get(_KEY)
    connection.info[_KEY] = group
    try:
        yield group
    finally:
        if outer is None:
            connection.info.pop(_KEY, None)
        else:
            connection.info[_KEY] = outer
    group.flush(connection)
