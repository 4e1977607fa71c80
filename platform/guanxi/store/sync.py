"""Schema sync: diff the wanted table against the live one; add columns and indexes online.

It never drops or alters a column: removing a field hides it and its data stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.store.db import Database
from guanxi.store.system_tables import system_metadata


@dataclass
class SyncReport:
    created_tables: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    added_indexes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created_tables or self.added_columns or self.added_indexes)


def sync_system_tables(db: Database) -> None:
    """Create the platform's tables, and add columns a newer release added (never drops)."""
    report = SyncReport()
    with db.unit_of_work() as connection:
        for table in system_metadata.sorted_tables:
            ensure_columns(connection, table, report)
    for table in system_metadata.sorted_tables:
        ensure_indexes(db, table, report)


def sync_table(db: Database, table: sa.Table, report: SyncReport | None = None) -> SyncReport:
    """Create the table, or add its missing columns and indexes. Safe to run from many workers."""
    report = report if report is not None else SyncReport()
    with db.unit_of_work() as connection:
        ensure_columns(connection, table, report)
    ensure_indexes(db, table, report)
    return report


def ensure_columns(connection: Connection, table: sa.Table, report: SyncReport) -> None:
    """Create a missing table (with its indexes) or add missing columns, in the caller's
    transaction so metadata rows and DDL commit together."""
    inspector = sa.inspect(connection)
    if not inspector.has_table(table.name):
        table.create(connection, checkfirst=True)
        report.created_tables.append(table.name)
        report.added_indexes.extend(str(i.name) for i in table.indexes)
        return
    live_columns = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name not in live_columns:
            _add_column(connection, table, column)
            report.added_columns.append(f"{table.name}.{column.name}")


def _add_column(connection: Connection, table: sa.Table, column: sa.Column) -> None:  # type: ignore[type-arg]
    preparer = connection.dialect.identifier_preparer
    spec = str(sa.schema.CreateColumn(column).compile(dialect=connection.dialect))
    for foreign_key in column.foreign_keys:
        target = foreign_key.column.table.name
        spec += f" REFERENCES {preparer.quote(target)} (id)"
    if_not_exists = "IF NOT EXISTS " if connection.dialect.name == "postgresql" else ""
    connection.exec_driver_sql(
        f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {if_not_exists}{spec}"
    )


def ensure_indexes(db: Database, table: sa.Table, report: SyncReport) -> None:
    with db.read() as connection:
        live = {i["name"] for i in sa.inspect(connection).get_indexes(table.name)}
    missing = [index for index in table.indexes if index.name not in live]
    if not missing:
        return
    if db.dialect == "postgresql":
        # CONCURRENTLY keeps the table writable while a large index builds; it needs autocommit.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for index in missing:
                index.dialect_options["postgresql"]["concurrently"] = True
                connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))
                report.added_indexes.append(str(index.name))
        return
    with db.unit_of_work() as connection:
        for index in missing:
            connection.execute(sa.schema.CreateIndex(index, if_not_exists=True))
            report.added_indexes.append(str(index.name))
