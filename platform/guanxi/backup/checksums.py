"""Row counts and content checksums per table, equal for equal data on the same dialect.

Rows are read in primary-key order (text keys in byte order, so a server with another
collation sorts them the same way) and every value is canonicalized before it is hashed:
JSON with sorted keys, aware times in UTC, numbers and bytes in a tagged form. A table without
a primary key is hashed order-independently (the sorted hashes of its rows).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHUNK = 1024 * 1024
# Sealed values (DATA-12) read "gxe1:<key id>:...", also inside JSON: which keys the data needs.
SEALED_PREFIX = b"gxe1:"
SEALED_KEY_ID = re.compile(rb"gxe1:([A-Za-z0-9_.-]{1,64}):")


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sha256": self.sha256}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def driver_sql(statement: str) -> str:
    """For exec_driver_sql on psycopg, which reads any % as a placeholder."""
    return statement.replace("%", "%%")


# -- canonical values ---------------------------------------------------------------------------


def canonical(value: Any) -> Any:
    """A JSON-able form of a driver value that tells types apart (1 vs "1" vs 1.0)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": bytes(value).hex()}
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return {"t": value.isoformat()}
    if isinstance(value, date | time):
        return {"t": value.isoformat()}
    if isinstance(value, timedelta):
        return {"d": repr(value.total_seconds())}
    if isinstance(value, dict | list):
        return {"j": json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)}
    if isinstance(value, UUID):
        return {"u": str(value)}
    return {"s": str(value)}


def _encoded(row: Sequence[Any]) -> bytes:
    text = json.dumps([canonical(v) for v in row], ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass") + b"\n"


def digest_rows(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    ordered: bool,
    key_ids: set[str] | None = None,
) -> TableDigest:
    """sha256 over the column names and then every row; `ordered=False` for tables without a
    primary key, whose row order is not defined. Key ids of sealed values go into `key_ids`."""
    digest = hashlib.sha256(_encoded(list(columns)))
    row_hashes: list[bytes] = []
    count = 0
    for row in rows:
        data = _encoded(row)
        if key_ids is not None and SEALED_PREFIX in data:
            key_ids.update(m.decode() for m in SEALED_KEY_ID.findall(data))
        if ordered:
            digest.update(data)
        else:
            row_hashes.append(hashlib.sha256(data).digest())
        count += 1
    for row_hash in sorted(row_hashes):
        digest.update(row_hash)
    return TableDigest(count, digest.hexdigest())


# -- SQLite -------------------------------------------------------------------------------------


def sqlite_digests(path: Path, key_ids: set[str] | None = None) -> dict[str, TableDigest]:
    """Every table of a SQLite file (not SQLite's own sqlite_* tables), opened read-only."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        ]
        return {name: _sqlite_table(connection, name, key_ids) for name in names}
    finally:
        connection.close()


def _sqlite_table(
    connection: sqlite3.Connection, name: str, key_ids: set[str] | None
) -> TableDigest:
    info = connection.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    columns = sorted(row[1] for row in info)
    key = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    # Identifiers come from the catalog and are quoted; there are no values in the query.
    select = f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(name)}"  # noqa: S608
    if key:
        select += " ORDER BY " + ", ".join(quote(c) for c in key)
    rows = connection.execute(select)
    return digest_rows(columns, rows, ordered=bool(key), key_ids=key_ids)


# -- PostgreSQL ---------------------------------------------------------------------------------


def pg_tables(connection: Connection, schema: str) -> list[str]:
    """Ordinary tables of one schema (partitioned parents hold no rows of their own)."""
    return list(
        connection.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind = 'r' ORDER BY c.relname"
            ),
            {"schema": schema},
        ).scalars()
    )


def pg_digests(
    connection: Connection, schema: str, key_ids: set[str] | None = None
) -> dict[str, TableDigest]:
    """Every table of `schema`; call inside a transaction (rows are streamed by a cursor)."""
    inspector = sa.inspect(connection)
    return {
        name: _pg_table(connection, inspector, schema, name, key_ids)
        for name in pg_tables(connection, schema)
    }


def _pg_table(
    connection: Connection, inspector: Any, schema: str, name: str, key_ids: set[str] | None
) -> TableDigest:
    live = {c["name"]: c["type"] for c in inspector.get_columns(name, schema=schema)}
    columns = sorted(live)
    key = inspector.get_pk_constraint(name, schema=schema).get("constrained_columns") or []
    table = f"{quote(schema)}.{quote(name)}"
    select = f"SELECT {', '.join(quote(c) for c in columns)} FROM {table}"  # noqa: S608
    if key:
        select += " ORDER BY " + ", ".join(
            quote(c) + (' COLLATE "C"' if isinstance(live[c], sa.String) else "") for c in key
        )
    rows = connection.execution_options(stream_results=True, max_row_buffer=2000).exec_driver_sql(
        driver_sql(select)
    )
    return digest_rows(columns, rows, ordered=bool(key), key_ids=key_ids)
