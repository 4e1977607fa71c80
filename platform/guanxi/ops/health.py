"""Probes for load balancers and orchestrators (OPS-03): /healthz says the process answers
(no database: it is asked every second), /readyz that the database answers and holds every
table, column and index the effective metadata wants (checked off the event loop, at most
one check at a time, the result kept a few seconds)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse

from guanxi.store.system_tables import system_metadata

if TYPE_CHECKING:
    from guanxi.core import Guanxi

READY_TTL_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 2.0
NO_STORE = {"Cache-Control": "no-store"}
SYNC_HINT = (
    "run `guanxi init` (or restart `guanxi serve`, which syncs first) to add what is missing"
)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def readyz(request: Request) -> JSONResponse:
    probe = getattr(request.app.state, "readiness", None)
    if probe is None:
        probe = request.app.state.readiness = ReadinessProbe(request.app.state.platform)
    readiness = await probe.readiness()
    return JSONResponse(
        readiness.body(), status_code=200 if readiness.ready else 503, headers=NO_STORE
    )


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(c["status"] == "ok" for c in self.checks.values())

    def body(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


class ReadinessProbe:
    """Runs check_readiness in its own daemon thread: a database that hangs costs one thread,
    not the request thread pool, and every probe meanwhile answers 503 after the timeout."""

    def __init__(
        self,
        platform: Guanxi,
        *,
        ttl: float = READY_TTL_SECONDS,
        timeout: float = CHECK_TIMEOUT_SECONDS,
    ) -> None:
        self.platform = platform
        self.ttl = ttl
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: Future[Readiness] | None = None
        self._last: tuple[float, Readiness] | None = None

    async def readiness(self) -> Readiness:
        pending = self._check()
        try:
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(pending)), self.timeout
            )
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
            return Readiness({"database": {"status": "error", "error": error}})

    def _check(self) -> Future[Readiness]:
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.ttl:
                done: Future[Readiness] = Future()
                done.set_result(self._last[1])
                return done
            if self._running is None:
                self._running = Future()
                self._running.set_running_or_notify_cancel()
                threading.Thread(
                    target=self._run, args=(self._running,), name="guanxi-readyz", daemon=True
                ).start()
            return self._running

    def _run(self, future: Future[Readiness]) -> None:
        try:
            readiness = check_readiness(self.platform, self.timeout)
        except BaseException as error:  # the waiting probes must get an answer whatever happens
            readiness = Readiness({"database": {"status": "error", "error": describe(error)}})
        with self._lock:
            self._last = (time.monotonic(), readiness)
            self._running = None
        future.set_result(readiness)


def check_readiness(platform: Guanxi, timeout: float = CHECK_TIMEOUT_SECONDS) -> Readiness:
    """{"database": ..., "schema": ...}, each {"status": "ok"} or {"status": "error", ...}."""
    checks: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    try:
        with platform.db.read(transaction=True) as connection:
            if connection.dialect.name == "postgresql":  # LOCAL: ends with this transaction
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
            connection.exec_driver_sql("SELECT 1")
            checks["database"] = {"status": "ok", "ms": _ms_since(started)}
            checks["schema"] = _schema_check(platform, connection)
    except Exception as error:  # any failure to reach the database is the answer, not a 500
        if "database" in checks:
            checks["schema"] = {"status": "error", "error": describe(error)}
        else:
            checks["database"] = {"status": "error", "error": describe(error)}
    return Readiness(checks)


def _schema_check(platform: Guanxi, connection: Connection) -> dict[str, Any]:
    missing = schema_drift(connection, system_metadata.sorted_tables)
    if missing:  # without the system tables the metadata cannot be read
        return {"status": "error", "missing": missing, "hint": SYNC_HINT}
    tables = list(platform.registry.snapshot(connection).tables.values())
    missing = schema_drift(connection, tables)
    if missing:
        return {"status": "error", "missing": missing, "hint": SYNC_HINT}
    return {"status": "ok", "tables": len(system_metadata.tables) + len(tables)}


def schema_drift(connection: Connection, tables: Iterable[sa.Table]) -> list[str]:
    """What store.sync would add for these tables ("table x", "column x.y", "index ix"), read
    from the live database without changing it: sync only ever adds, so anything it would add
    is something the running code expects and cannot find."""
    wanted = list(tables)
    inspector = sa.inspect(connection)
    live_tables = set(inspector.get_table_names())
    present = [t.name for t in wanted if t.name in live_tables]
    columns: dict[str, set[str]] = {}
    indexes: dict[str, set[str]] = {}
    if present:
        for (_schema, name), found in inspector.get_multi_columns(filter_names=present).items():
            columns[name] = {c["name"] for c in found}
        for (_schema, name), found in inspector.get_multi_indexes(filter_names=present).items():
            indexes[name] = {str(i["name"]) for i in found}
    missing: list[str] = []
    for table in wanted:
        if table.name not in live_tables:
            missing.append(f"table {table.name}")
            continue
        missing.extend(
            f"column {table.name}.{c.name}"
            for c in table.columns
            if c.name not in columns.get(table.name, ())
        )
        missing.extend(
            f"index {i.name}" for i in table.indexes if i.name not in indexes.get(table.name, ())
        )
    return missing


def describe(error: BaseException) -> str:
    """The error's class and first line (the driver's own message, never the SQL or URL)."""
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first_line}"[:300]


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
