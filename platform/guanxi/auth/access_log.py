"""The access log (PERM-08): who viewed which record of a logged module, who exported what.

Views are logged only for modules an admin marked (customers and contacts by default): a
view is a read, and a write per read is a cost paid only where the law or policy wants it.
View rows are buffered and written in batches (every FLUSH_SECONDS, or at BATCH rows): one
write transaction per batch instead of one per page view, which on SQLite took the write lock
on every API get (354 req/s, p95 392 ms on 2 workers). The price: a process killed without
shutdown loses at most the last FLUSH_SECONDS of view rows. Exports are written at once.
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.store.db import Database
from guanxi.store.system_tables import access_log

_INSERT = sa.insert(access_log)
FLUSH_SECONDS = 0.25
BATCH = 500


class _ViewBuffer:
    """Pending view rows of one Database, written by a daemon thread."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()  # one batch at a time keeps rows in order
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="guanxi-access-log", daemon=True)
        self.thread.start()

    def add(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)
            full = len(self.rows) >= BATCH
        if full:
            self.wake.set()

    def flush(self) -> None:
        with self.write_lock:
            with self.lock:
                rows, self.rows = self.rows, []
            if not rows:
                return
            try:
                with self.db.unit_of_work() as connection:
                    connection.execute(_INSERT, rows)
            except Exception:
                with self.lock:  # kept, in order, for the next try
                    self.rows[:0] = rows
                raise

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        self.thread.join(5)
        self.flush()

    def _run(self) -> None:
        while not self.stopping:
            self.wake.wait(FLUSH_SECONDS)
            self.wake.clear()
            try:
                self.flush()
            except Exception:  # the database is away: keep the rows, try again
                import logging

                logging.getLogger(__name__).exception("access log: writing views failed")


_BUFFERS: weakref.WeakKeyDictionary[Database, _ViewBuffer] = weakref.WeakKeyDictionary()
_BUFFERS_LOCK = threading.Lock()


def _buffer(db: Database) -> _ViewBuffer:
    with _BUFFERS_LOCK:
        found = _BUFFERS.get(db)
        if found is None:
            found = _BUFFERS[db] = _ViewBuffer(db)
        return found


def close(db: Database) -> None:
    """Write what is pending and stop the writer (the platform is closing)."""
    with _BUFFERS_LOCK:
        found = _BUFFERS.pop(db, None)
    if found is not None:
        found.stop()


def flush(db: Database) -> None:
    """Write pending view rows now (before reading the log, and at shutdown)."""
    found = _BUFFERS.get(db)
    if found is not None:
        found.flush()


def _row(actor: Actor, action: str, entity: str, **values: Any) -> dict[str, Any]:
    return {
        "at": clock.now_utc(),
        "user_id": actor.user_id,
        "username": actor.username,
        "ip": actor.ip,
        "action": action,
        "entity": entity,
        "record_id": None,
        "row_count": None,
        "filters": None,
        **values,
    }


def record_view(db: Database, actor: Actor, entity: str, record_id: int) -> None:
    if actor.is_system:
        return
    _buffer(db).add(_row(actor, "view", entity, record_id=record_id))


def record_export(db: Database, actor: Actor, entity: str, row_count: int, filters: Any) -> None:
    """Exports are always logged, with the filter as given (made JSON-safe)."""
    safe = json.loads(json.dumps(filters, ensure_ascii=False, default=str))
    with db.unit_of_work() as connection:
        connection.execute(
            _INSERT, _row(actor, "export", entity, row_count=row_count, filters=safe)
        )


def entries(
    db: Database, *, entity: str | None = None, record_id: int | None = None,
    user_id: int | None = None, limit: int = 200,
) -> list[dict[str, Any]]:  # fmt: skip
    """Newest first: who saw this customer, or what did this user look at."""
    flush(db)
    query = sa.select(access_log).order_by(access_log.c.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(access_log.c.entity == entity)
    if record_id is not None:
        query = query.where(access_log.c.record_id == record_id)
    if user_id is not None:
        query = query.where(access_log.c.user_id == user_id)
    with db.read() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
