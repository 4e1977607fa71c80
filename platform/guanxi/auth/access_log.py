"""The access log (PERM-08): who viewed which record of a logged module, who exported what.

Views are logged only for modules an admin marked (customers and contacts by default): a
view is a read, and a write per read is a cost paid only where the law or policy wants it.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.store.db import Database
from guanxi.store.system_tables import access_log

_INSERT = sa.insert(access_log)


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
    with db.unit_of_work() as connection:
        connection.execute(_INSERT, _row(actor, "view", entity, record_id=record_id))


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
    query = sa.select(access_log).order_by(access_log.c.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(access_log.c.entity == entity)
    if record_id is not None:
        query = query.where(access_log.c.record_id == record_id)
    if user_id is not None:
        query = query.where(access_log.c.user_id == user_id)
    with db.read() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]
