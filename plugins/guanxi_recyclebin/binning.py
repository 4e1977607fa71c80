"""Into the bin and out again (BIN-01..03): deletions, restores, purges and who may do them.

A deletion the core hands over (`delete_record`) becomes `records.soft_delete`; while it runs,
`record_stored` writes one bin_deletion row and a bin_item per binned record in the same
transaction, so the bin never disagrees with the records. A restore brings the whole
deletion back in one `records.batch()`, parents first; a purge removes it for good.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import Actor, EntityDef, PermissionDenied, RecordEvent, _
from guanxi_recyclebin.settings import Settings
from guanxi_recyclebin.tables import deletion, item


@dataclass
class _Deleting:
    """The deletion `records.soft_delete` is writing right now (one per call)."""

    entity: str
    record_id: int
    actor: Actor
    reason: str | None
    deletion_id: int | None = None
    position: int = 0


_DELETING: ContextVar[_Deleting | None] = ContextVar("guanxi_recyclebin_deleting", default=None)


@contextmanager
def deleting(entity: str, record_id: int, actor: Actor, reason: str | None) -> Iterator[None]:
    token = _DELETING.set(_Deleting(entity, record_id, actor, reason))
    try:
        yield
    finally:
        _DELETING.reset(token)


def bin_record(
    platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor, reason: str | None
) -> list[tuple[str, int]]:
    with deleting(entity.name, record["id"], actor, reason):
        return platform.records.soft_delete(
            actor, entity.name, record["id"], reason=reason, version=record["version"]
        )


def note_stored(connection: Any, event: RecordEvent) -> None:
    """Keep bin_deletion/bin_item in step with the records, in their transaction."""
    if event.op == "delete":
        current = _DELETING.get()
        if current is None:
            return  # a hard delete (the bin was not asked), nothing to keep
        if current.deletion_id is None:
            current.deletion_id = connection.execute(
                sa.insert(deletion).returning(deletion.c.id),
                {
                    "entity": current.entity,
                    "record_id": current.record_id,
                    "deleted_by": current.actor.user_id,
                    "deleted_by_name": current.actor.display_name or current.actor.username,
                    "deleted_at": event.at,
                    "reason": current.reason,
                },
            ).scalar_one()
        current.position += 1
        # Left from a restore run while the plugin was off (`guanxi bin restore-all`).
        _forget(connection, event.entity, event.record_id)
        connection.execute(
            sa.insert(item),
            {
                "entity": event.entity,
                "record_id": event.record_id,
                "deletion_id": current.deletion_id,
                "position": current.position,
            },
        )
    elif event.op in ("restore", "purge"):
        _forget(connection, event.entity, event.record_id)


def _forget(connection: Any, entity: str, record_id: int) -> None:
    """Drop a record from the bin's bookkeeping, and its deletion once empty."""
    where = sa.and_(item.c.entity == entity, item.c.record_id == record_id)
    found = connection.execute(sa.select(item.c.deletion_id).where(where)).scalar()
    if found is None:
        return
    connection.execute(sa.delete(item).where(where))
    left = sa.select(item.c.record_id).where(item.c.deletion_id == found).exists()
    connection.execute(sa.delete(deletion).where(deletion.c.id == found, ~left))


@dataclass(frozen=True)
class Deletion:
    """A deletion as the bin shows it: what the user deleted, by whom, when and why."""

    id: int | None  # None: binned without the plugin's bookkeeping (restored on its own)
    entity: str
    record_id: int
    deleted_by: int | None
    deleted_by_name: str | None
    deleted_at: datetime | None
    reason: str | None
    members: tuple[tuple[str, int], ...]  # in binning order: children first, the record last


def deletion_of(platform: Any, entity: str, record_id: int) -> Deletion | None:
    """The deletion a binned record belongs to."""
    with platform.db.read() as connection:
        found = connection.execute(
            sa.select(deletion)
            .join(item, item.c.deletion_id == deletion.c.id)
            .where(item.c.entity == entity, item.c.record_id == record_id)
        ).first()
        if found is None:
            return None
        members = connection.execute(
            sa.select(item.c.entity, item.c.record_id)
            .where(item.c.deletion_id == found.id)
            .order_by(item.c.position)
        ).all()
    return Deletion(
        found.id, found.entity, found.record_id, found.deleted_by, found.deleted_by_name,
        found.deleted_at, found.reason, tuple((str(e), int(i)) for e, i in members),
    )  # fmt: skip


def deletions_by_record(
    platform: Any, entity: str, record_ids: list[int]
) -> dict[int, tuple[Deletion, int]]:
    """record id -> (its deletion, how many records it holds), one read for a page."""
    if not record_ids:
        return {}
    members = item.alias("members")
    size = (
        sa.select(sa.func.count())
        .select_from(members)
        .where(members.c.deletion_id == deletion.c.id)
        .scalar_subquery()
        .label("size")
    )
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(item.c.record_id, deletion, size)
            .join(deletion, deletion.c.id == item.c.deletion_id)
            .where(item.c.entity == entity, item.c.record_id.in_(record_ids))
        ).all()
    return {
        int(row.record_id): (
            Deletion(
                row.id,
                row.entity,
                row.record_id,
                row.deleted_by,
                row.deleted_by_name,
                row.deleted_at,
                row.reason,
                (),
            ),  # fmt: skip
            int(row.size),
        )
        for row in rows
    }


# -- who may take records out -------------------------------------------------------------------


def is_admin(platform: Any, actor: Actor) -> bool:
    return actor.is_system or bool(platform.records.access(actor).is_admin)


def may_restore(
    settings: Settings, actor: Actor, admin: bool, deleted_by: int | None, at: datetime | None
) -> bool:
    """Admins (`admin`: is_admin, read once per page) always; the person who deleted it
    within the self-restore window."""
    if admin:
        return True
    if actor.user_id is None or deleted_by != actor.user_id or at is None:
        return False
    return clock.now_utc() - at <= timedelta(days=settings.self_restore_days)


def restore(
    platform: Any,
    settings: Settings,
    actor: Actor,
    entity: str,
    record_id: int,
    *,
    confirm_duplicates: bool = False,
) -> list[tuple[str, int]]:
    """Bring a record's whole deletion back (one transaction, parents first); returns the
    records restored. Refused, with nothing written, when any of them cannot come back."""
    # Read as the actor first: a record outside their scope is not there (NotFound).
    stored = platform.records.get(actor, entity, record_id, action="binned", log_view=False)
    found = deletion_of(platform, entity, record_id)
    deleted_by = found.deleted_by if found else stored.get("deleted_by")
    deleted_at = found.deleted_at if found else stored.get("deleted_at")
    if not may_restore(settings, actor, is_admin(platform, actor), deleted_by, deleted_at):
        raise PermissionDenied(
            _(
                "Only administrators, or whoever deleted it within {days} days, may restore it",
                days=settings.self_restore_days,
            ),
            code="not_restorer",
        )
    members = list(reversed(found.members)) if found else [(entity, record_id)]
    with platform.records.batch():
        for member_entity, member_id in members:
            platform.records.restore(
                actor, member_entity, member_id, confirm_duplicates=confirm_duplicates
            )
    return members


def purge(platform: Any, actor: Actor, entity: str, record_id: int) -> int:
    """Delete a record's whole deletion for good (administrators and the purge job)."""
    if not is_admin(platform, actor):
        raise PermissionDenied(
            _("Only administrators may delete records permanently"), code="admin_only"
        )
    found = deletion_of(platform, entity, record_id)
    root = (found.entity, found.record_id) if found else (entity, record_id)
    return int(platform.records.purge(actor, *root))
