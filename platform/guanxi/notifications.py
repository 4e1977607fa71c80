"""The in-app notification centre (UI-12, DATA-17): one row per person and message.

A reminder is a notification with `due_at`: it appears (and counts as unread) from that
moment on, so "remind me at 15:00" needs no timer process.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.store.db import Database
from guanxi.store.system_tables import notification

PAGE_SIZE = 50


def notify(
    connection: Connection,
    user_id: int,
    kind: str,
    title: Mapping[str, str],
    *,
    body: str | None = None,
    link: str | None = None,
    due_at: datetime | None = None,
    source: tuple[str, int] | None = None,
) -> int:
    """Queue a message for one user inside the caller's transaction (it lands with the write
    that caused it, or not at all)."""
    result = connection.execute(
        sa.insert(notification).values(
            user_id=user_id,
            kind=kind,
            title=dict(title),
            body=body,
            link=link,
            due_at=due_at,
            created_at=clock.now_utc(),
            source_entity=source[0] if source else None,
            source_id=source[1] if source else None,
        )
    )
    return int(result.inserted_primary_key[0])


def _shown(actor: Actor, now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        notification.c.user_id == actor.user_id,
        sa.or_(notification.c.due_at.is_(None), notification.c.due_at <= now),
    )


def unread_count(db: Database, actor: Actor) -> int:
    if actor.user_id is None:
        return 0
    with db.read() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(notification)
                .where(_shown(actor, clock.now_utc()), notification.c.read_at.is_(None))
            ).scalar_one()
        )


def entries(db: Database, actor: Actor, *, unread_only: bool = False) -> list[dict[str, Any]]:
    """The actor's notifications that are due, newest first (one page)."""
    if actor.user_id is None:
        return []
    where = _shown(actor, clock.now_utc())
    if unread_only:
        where = sa.and_(where, notification.c.read_at.is_(None))
    with db.read() as connection:
        rows = connection.execute(
            sa.select(notification)
            .where(where)
            .order_by(
                sa.func.coalesce(notification.c.due_at, notification.c.created_at).desc(),
                notification.c.id.desc(),
            )
            .limit(PAGE_SIZE)
        )
        return [dict(row) for row in rows.mappings()]


def mark_read(db: Database, actor: Actor, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every due) notification of the actor read."""
    if actor.user_id is None:
        return 0
    where = sa.and_(_shown(actor, clock.now_utc()), notification.c.read_at.is_(None))
    if notification_id is not None:
        where = sa.and_(where, notification.c.id == notification_id)
    with db.unit_of_work() as connection:
        result = connection.execute(
            sa.update(notification).where(where).values(read_at=clock.now_utc())
        )
        return result.rowcount or 0


def cancel_for_source(connection: Connection, entity: str, record_id: int, kind: str) -> None:
    """Drop unread reminders a record no longer needs (e.g. its task was completed)."""
    connection.execute(
        sa.delete(notification).where(
            notification.c.source_entity == entity,
            notification.c.source_id == record_id,
            notification.c.kind == kind,
            notification.c.read_at.is_(None),
        )
    )
