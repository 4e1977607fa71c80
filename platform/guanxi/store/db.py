"""Engines tuned per database and the unit of work (one transaction per service call)."""

from __future__ import annotations

import contextvars
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

# SQLite has no DECIMAL type; values round-trip through its NUMERIC affinity. PostgreSQL is exact.
warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal objects natively.*")

_write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=False)


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use psycopg 3; create SQLite's parent folder."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///") :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return url


def create_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60}, **kwargs)
        _tune_sqlite(engine)
    else:
        options = "-c plan_cache_mode=force_custom_plan -c max_parallel_workers_per_gather=0"
        if schema:
            options += f" -c search_path={schema},public"
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = sa.create_engine(
            url, connect_args={"options": options}, pool_pre_ping=True, **kwargs
        )
    return engine


def _tune_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE for writes so writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA cache_size=-65536")
        # Memory-mapped reads share the OS page cache across pooled connections instead of
        # copying pages into each connection's cache: creates on a 1M-row table 591 -> 874/s.
        cursor.execute("PRAGMA mmap_size=1073741824")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


class Database:
    """One engine and the two ways to use it: read() and unit_of_work() (a write transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(create_engine(url, **kwargs))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def unit_of_work(self) -> Iterator[Connection]:
        token = _write_intent.set(True)
        try:
            with self.engine.begin() as connection:
                yield connection
        finally:
            _write_intent.reset(token)

    @contextmanager
    def read(self, *, transaction: bool = False) -> Iterator[Connection]:
        """A connection for reads. On PostgreSQL it runs in autocommit unless `transaction`
        is asked for: no BEGIN/ROLLBACK round trips (~0.5 ms per call on loopback).
        A read inside a unit of work is a plain (deferred) read on SQLite: it sees committed
        data and never queues behind the enclosing write for the write lock."""
        token = _write_intent.set(False)
        try:
            with self.engine.connect() as connection:
                if not transaction and self.dialect == "postgresql":
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                yield connection
        finally:
            _write_intent.reset(token)

    def dispose(self) -> None:
        self.engine.dispose()
