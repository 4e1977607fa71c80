"""PostgreSQL: `pg_dump --format=custom` of the Guanxi schema under the same snapshot the
checksums are read in, and `pg_restore` into an empty target schema (renamed if needed)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from guanxi.backup import pg_tools
from guanxi.backup.checksums import TableDigest, driver_sql, pg_digests, pg_tables, quote
from guanxi.backup.errors import BackupError, RestoreRefused
from guanxi.store.db import create_engine


@dataclass(frozen=True)
class PgDump:
    schema: str
    tables: dict[str, TableDigest]
    server_version: str
    extensions: dict[str, str]  # name -> schema it lives in
    key_ids: set[str]


def effective_schema(connection: Connection, setting: str | None) -> str:
    """The schema Guanxi's tables are in: the setting, else the first on the search path."""
    if setting:
        return setting
    return str(connection.exec_driver_sql("SELECT current_schema()").scalar() or "public")


def server_major(connection: Connection) -> int:
    number = int(connection.exec_driver_sql("SHOW server_version_num").scalar() or 0)
    return number // 10000


def extensions(connection: Connection) -> dict[str, str]:
    rows = connection.exec_driver_sql(
        "SELECT e.extname, n.nspname FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'"
    )
    return {str(name): str(schema) for name, schema in rows}


def dump(engine: Engine, url: str, schema_setting: str | None, target: Path) -> PgDump:
    """Dump the schema to `target` and checksum its tables, both as of one snapshot: the
    transaction here exports it, pg_dump imports it (--snapshot) while checksums are read."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            schema = effective_schema(connection, schema_setting)
            tool = pg_tools.find_tool("pg_dump", server_major(connection))
            version = str(connection.exec_driver_sql("SHOW server_version").scalar())
            installed = extensions(connection)
            snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
            command = [
                str(tool),
                "--format=custom",
                f"--schema={pg_tools.quoted_pattern(schema)}",
                "--strict-names",
                f"--snapshot={snapshot}",
                f"--file={target}",
            ]
            env = pg_tools.client_env(url, "guanxi-backup")
            with tempfile.TemporaryFile() as errors:
                try:
                    process = subprocess.Popen(
                        command, env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, stderr=errors,
                    )  # fmt: skip
                except OSError as error:
                    raise BackupError(f"could not run {tool}: {error}") from None
                key_ids: set[str] = set()
                try:
                    tables = pg_digests(connection, schema, key_ids)
                finally:
                    code = process.wait()  # the snapshot must outlive pg_dump's start
                if code != 0:
                    errors.seek(0)
                    raise BackupError(f"pg_dump failed: {pg_tools.tail(errors.read())}")
    return PgDump(schema, tables, version, installed, key_ids)


# -- restore ------------------------------------------------------------------------------------


def guanxi_tables(connection: Connection, schema: str) -> list[str]:
    return list(
        connection.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') "
                "AND (c.relname LIKE 'gx\\_%' OR c.relname LIKE 'e\\_%') ORDER BY c.relname"
            ),
            {"schema": schema},
        ).scalars()
    )


def schema_state(connection: Connection, schema: str) -> str:
    """'missing', 'empty' (no tables, sequences, functions or types) or 'used'."""
    found = connection.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid) "
            "+ (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid) "
            "+ (SELECT count(*) FROM pg_type WHERE typnamespace = n.oid) "
            "FROM pg_namespace n WHERE n.nspname = :schema"
        ),
        {"schema": schema},
    ).scalar()
    if found is None:
        return "missing"
    return "empty" if found == 0 else "used"


@dataclass(frozen=True)
class PgTarget:
    url: str
    schema: str  # where the tables will be
    source_schema: str  # where they were (the dump creates them there)
    source_exists: bool  # (and is empty): the dump's CREATE SCHEMA is skipped, the schema kept
    other_tables: tuple[str, ...] = ()  # non-Guanxi tables already in the target schema


def check_target(url: str, schema_setting: str | None, source_schema: str) -> PgTarget:
    """Refuse a target schema holding Guanxi tables, or a rename that would collide."""
    engine = create_engine(url, schema=schema_setting)
    try:
        with engine.connect() as connection:
            schema = effective_schema(connection, schema_setting)
            present = guanxi_tables(connection, schema)
            others = tuple(pg_tables(connection, schema))
            source_state = schema_state(connection, source_schema)
    except sa.exc.OperationalError as error:
        raise BackupError(f"cannot connect to the target database: {error.orig}") from None
    finally:
        engine.dispose()
    if present:
        shown = ", ".join(present[:5]) + (" ..." if len(present) > 5 else "")
        raise RestoreRefused(
            f"the target schema {schema!r} already has Guanxi tables ({len(present)}: {shown}); "
            "restore only into an empty schema or database"
        )
    if source_schema != schema and source_state == "used":
        raise RestoreRefused(
            f"the backup's schema {source_schema!r} exists in the target database and is in "
            f"use, so the backup cannot be restored there and moved to {schema!r}; restore "
            "into another database, or once that schema is empty"
        )
    return PgTarget(url, schema, source_schema, source_state != "missing", others)


def restore(target: PgTarget, dump_file: Path, manifest_database: dict[str, Any]) -> None:
    """pg_restore in one transaction (all or nothing), then move the tables into the target
    schema when it is named differently from the backed-up one."""
    engine = create_engine(target.url)
    try:
        with engine.connect() as connection:
            tool = pg_tools.find_tool("pg_restore", server_major(connection))
        target = _create_extensions(engine, manifest_database.get("extensions") or {}, target)
        env = pg_tools.client_env(target.url, "guanxi-restore")
        listing = pg_tools.run_tool(
            [str(tool), "--list", str(dump_file)], env, "reading the dump's table of contents"
        )
        with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as entries:
            entries.write(_without_schema_entry(listing, target) + "\n")
            entries.flush()
            pg_tools.run_tool(
                [
                    str(tool),
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--use-list={entries.name}",
                    f"--dbname={pg_tools.conninfo_dbname(target.url)}",
                    str(dump_file),
                ],
                env,
                "pg_restore",
            )
        if target.schema != target.source_schema:
            _move_schema(engine, target.source_schema, target.schema, drop=not target.source_exists)
    finally:
        engine.dispose()


def _without_schema_entry(listing: str, target: PgTarget) -> str:
    """The dump creates its schema; when that schema exists (empty) keep it as it is."""
    if not target.source_exists:
        return listing
    name = re.escape(target.source_schema)
    entry = re.compile(rf"^\d+;\s+\d+\s+\d+\s+(SCHEMA\s+-|COMMENT\s+-\s+SCHEMA)\s+{name}\s")
    return "\n".join(line for line in listing.splitlines() if not entry.match(line))


def _create_extensions(engine: Engine, wanted: dict[str, str], target: PgTarget) -> PgTarget:
    """Extensions the dumped indexes use (pg_trgm) must exist before pg_restore runs: a dump
    of one schema never holds them. Returns the target, noting a source schema created here
    for an extension (the restore then goes into it as into an existing one)."""
    with engine.connect() as connection:
        present = extensions(connection)
    for name, schema in wanted.items():
        if name in present:
            continue
        try:
            with engine.begin() as connection:
                if schema == target.source_schema and not target.source_exists:
                    target = dataclasses.replace(target, source_exists=True)
                connection.exec_driver_sql(
                    driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
                )
                connection.exec_driver_sql(
                    driver_sql(
                        f"CREATE EXTENSION IF NOT EXISTS {quote(name)} SCHEMA {quote(schema)}"
                    )
                )
        except sa.exc.DBAPIError as error:
            raise BackupError(
                f"the backup needs the PostgreSQL extension {name} (in schema {schema}), which "
                f"could not be created: {error.orig}; run CREATE EXTENSION {name} as a "
                "superuser, then restore again"
            ) from None
    return target


_MOVABLE = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW"}


def _move_schema(engine: Engine, source: str, schema: str, *, drop: bool) -> None:
    """Move every relation of `source` into `schema` (indexes, constraints and owned
    sequences go with their tables), then drop `source` if the restore created it; one
    transaction."""
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"))
            relations = connection.execute(
                sa.text(
                    "SELECT c.relname, c.relkind FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND (c.relkind IN ('r', 'p', 'f', 'v', 'm') "
                    "OR (c.relkind = 'S' AND NOT EXISTS (SELECT 1 FROM pg_depend d "
                    "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
                    "AND d.deptype IN ('a', 'i'))))"
                ),
                {"schema": source},
            ).all()
            for name, kind in relations:
                statement = "SEQUENCE" if kind == "S" else _MOVABLE[kind]
                connection.exec_driver_sql(
                    driver_sql(
                        f"ALTER {statement} {quote(source)}.{quote(name)} "
                        f"SET SCHEMA {quote(schema)}"
                    )
                )
            if drop:
                connection.exec_driver_sql(driver_sql(f"DROP SCHEMA {quote(source)} RESTRICT"))
    except sa.exc.DBAPIError as error:
        raise BackupError(
            f"the backup was restored into schema {source!r} but could not be moved to "
            f"{schema!r}: {error.orig}"
        ) from None


def digests(url: str, schema: str) -> dict[str, TableDigest]:
    """Checksums of a restored schema (one transaction, so one consistent view)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            return pg_digests(connection, schema)
    finally:
        engine.dispose()
