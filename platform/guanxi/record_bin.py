"""Soft delete, restore and purge (BIN-01..03): the write seams a recycle bin stands on.

`soft_delete` marks a record (and the records its deletion would cascade to) with
`deleted_at`/`deleted_by` instead of removing rows, so it keeps its values, tags, files and
relations; the core's query condition (defaults/binned.py) hides it from every read.
`restore` clears the marks after checking what may clash with records written since
(duplicate rules, references to records still in the bin). `purge` removes a binned record
for good: its row, tags, files, history and notifications, leaving one trace (number, title,
who, when) without the content. Each writes through the record pipeline: history rows via
`record_stored` (ops "delete", "restore", "purge"), events after commit.

Who may restore or purge beyond the module's delete right is the recycle-bin plugin's policy;
purging needs an administrator (PERM-06) here as well.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import attachments, clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.errors import FieldError, LockedError, PermissionDenied, ValidationFailed
from guanxi.events import RecordEvent
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.meta.registry import Snapshot
from guanxi.store import tagging
from guanxi.store.system_tables import history, notification, stage_history

if TYPE_CHECKING:
    from guanxi.records import RecordService

MAX_DEPTH = 5  # as deep as a cascade goes, hard or soft
BIN_MARKS = frozenset({"deleted_at", "deleted_by"})


class BinOperations:
    """Mixed into RecordService: the recycle bin's writes, through the same pipeline."""

    def soft_delete(
        self: RecordService,
        actor: Actor,
        entity_name: str,
        record_id: int,
        *,
        reason: str | None = None,
        version: int | None = None,
    ) -> list[tuple[str, int]]:
        """Mark a record deleted, with every live record its deletion cascades to (one
        transaction); returns (entity, id) of each marked record, the record itself last.
        References with on_delete "set_null" keep pointing at it, so a restore brings the
        relation back; "restrict" ones refuse as a hard delete would."""
        events: list[RecordEvent] = []
        marked: list[tuple[str, int]] = []
        with self._write() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "delete")
            old = self._fetch(
                connection, snapshot, entity, record_id, access, "delete", for_update=True
            )
            self._check_version(access, entity, old, version)
            if old["locked"]:
                raise LockedError(_("This record is locked; unlock it to delete"))
            now = clock.now_utc()
            self._bin_tree(
                connection, snapshot, entity, old, actor, reason, now, events, marked, set()
            )
        self._after_commit(events)
        return marked

    def _bin_tree(
        self: RecordService,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        old: dict[str, Any],
        actor: Actor,
        reason: str | None,
        now: datetime,
        events: list[RecordEvent],
        marked: list[tuple[str, int]],
        seen: set[tuple[str, int]],
        depth: int = 0,
    ) -> None:
        seen.add((entity.name, old["id"]))  # against cycles and records reached twice
        for child_entity, field, children in referencing(connection, snapshot, entity, old):
            live = [
                c
                for c in children
                if c["deleted_at"] is None and (child_entity.name, c["id"]) not in seen
            ]
            if not live or field.on_delete == "set_null":
                continue
            if field.on_delete == "restrict" or depth >= MAX_DEPTH:
                raise still_used(len(live), child_entity)
            if any(child["locked"] for child in live):
                raise related_locked(child_entity)
            for child in live:
                child = self._with_tags(connection, child_entity, child)
                self._bin_tree(
                    connection, snapshot, child_entity, child, actor, reason, now, events,
                    marked, seen, depth + 1,
                )  # fmt: skip
        marks = {"deleted_at": now, "deleted_by": actor.user_id}
        events.append(
            self._store_update(
                connection,
                snapshot,
                entity,
                old,
                {**old, **marks},
                set(BIN_MARKS),
                actor,
                reason,
                {},
                op="delete",
                touch=False,
            )  # fmt: skip
        )
        marked.append((entity.name, old["id"]))

    def restore(
        self: RecordService,
        actor: Actor,
        entity_name: str,
        record_id: int,
        *,
        reason: str | None = None,
        confirm_duplicates: bool = False,
    ) -> dict[str, Any]:
        """Take a record out of the bin, as it was. Refused (nothing written) when it refers
        to a record still in the bin, or when a duplicate rule finds a record created since;
        a warning-level duplicate is restored once the caller confirms it. Needs the module's
        delete right and the record within the actor's delete scope."""
        with self._write() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "delete")
            old = self._fetch(
                connection, snapshot, entity, record_id, access, "restore", for_update=True
            )
            record = {**old, "deleted_at": None, "deleted_by": None}
            errors = _binned_references(connection, snapshot, entity, record)
            for found in self.pm.hook.validate_record(
                platform=self.platform, entity=entity, record=record, old=None, actor=actor,
                op="restore", reason=reason,
            ):  # fmt: skip
                errors.extend(found or [])
            confirmed = self._confirmed(errors, confirm_duplicates)
            if errors and not confirmed:
                raise ValidationFailed(errors)
            event = self._store_update(
                connection, snapshot, entity, old, record, set(BIN_MARKS), actor, reason, {},
                op="restore", confirmed=confirmed, touch=False,
            )  # fmt: skip
        self._after_commit([event])
        return access.mask(entity).apply(event.record or {})

    def purge(
        self: RecordService,
        actor: Actor,
        entity_name: str,
        record_id: int,
        *,
        reason: str | None = None,
    ) -> int:
        """Delete a binned record for good, with the binned records that refer to it (its
        deletion batch); live references with on_delete "set_null" are cleared. Only
        administrators (and jobs) purge. Returns how many records were removed."""
        events: list[RecordEvent] = []
        files: list[Path] = []
        with self._write() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "delete")
            if not (actor.is_system or access.is_admin):
                raise PermissionDenied(
                    _("Only administrators may delete records permanently"), code="admin_only"
                )
            old = self._fetch(
                connection, snapshot, entity, record_id, access, "purge", for_update=True
            )
            self._purge_tree(connection, snapshot, entity, old, actor, reason, events, files)
        self._after_commit(events)
        for path in files:  # only once the rows are gone for good
            path.unlink(missing_ok=True)
        return sum(1 for event in events if event.op == "purge")

    def _purge_tree(
        self: RecordService,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        old: dict[str, Any],
        actor: Actor,
        reason: str | None,
        events: list[RecordEvent],
        files: list[Path],
        depth: int = 0,
    ) -> None:
        for child_entity, field, children in referencing(connection, snapshot, entity, old):
            for child in children:
                if child_entity.name == entity.name and child["id"] == old["id"]:
                    continue  # refers to itself: goes with the row
                if field.on_delete == "set_null":  # live or binned on its own: let go
                    events.append(
                        self._clear_reference(
                            connection, snapshot, child_entity, child, field.key, actor, reason
                        )
                    )
                elif child["deleted_at"] is not None and depth < MAX_DEPTH:
                    self._purge_tree(
                        connection, snapshot, child_entity, child, actor, reason, events,
                        files, depth + 1,
                    )  # fmt: skip
                else:
                    raise still_used(1, child_entity)
        key = (entity.name, old["id"])
        tagging.replace_tags(connection, entity.name, old["id"], [])
        files.extend(attachments.drop_for_record(self.platform, connection, *key))
        for table, entity_column, id_column in _RECORD_TABLES:
            connection.execute(
                sa.delete(table).where(entity_column == entity.name, id_column == old["id"])
            )
        table = snapshot.tables[entity.name]
        connection.execute(sa.delete(table).where(table.c.id == old["id"]))
        trace = _trace(entity, old)
        audit.write(connection, actor, "record_purged", f"{entity.name}:{old['id']}", trace)
        changes = {key: (value, None) for key, value in trace.items() if value is not None}
        event = RecordEvent(
            entity.name, "purge", old["id"], actor, clock.now_utc(), None, old, changes, reason
        )
        self.pm.hook.record_stored(
            platform=self.platform, connection=connection, entity=entity, event=event
        )
        events.append(event)


# What a record leaves behind elsewhere that holds its content (history diffs, notification
# texts); a purge removes them with the row.
_RECORD_TABLES = (
    (history, history.c.entity, history.c.record_id),
    (stage_history, stage_history.c.entity, stage_history.c.record_id),
    (notification, notification.c.source_entity, notification.c.source_id),
)


def _trace(entity: EntityDef, old: dict[str, Any]) -> dict[str, Any]:
    """What outlives a purge: the number and the title, nothing else."""
    trace = {"number": old.get("number")}
    if entity.title_field != "number":
        trace[entity.title_field] = old.get(entity.title_field)
    return trace


def referencing(
    connection: Connection, snapshot: Snapshot, entity: EntityDef, old: dict[str, Any]
) -> list[tuple[EntityDef, Any, list[dict[str, Any]]]]:
    """(entity, reference field, rows) for every row, live or binned, pointing at `old`."""
    found = []
    for child_entity in snapshot.entities.values():
        child_table = snapshot.tables[child_entity.name]
        for field in child_entity.fields:
            if field.type != "reference" or field.reference != entity.name:
                continue
            rows = [
                dict(row._mapping)
                for row in connection.execute(
                    sa.select(child_table).where(child_table.c[field.column] == old["id"])
                )
            ]
            if rows:
                found.append((child_entity, field, rows))
    return found


def _binned_references(
    connection: Connection, snapshot: Snapshot, entity: EntityDef, record: dict[str, Any]
) -> list[FieldError]:
    """A restored record may not point at a record that is still in the bin."""
    errors = []
    for field in entity.input_fields:
        value = record.get(field.key)
        if field.type != "reference" or value is None or field.reference not in snapshot.tables:
            continue
        table = snapshot.tables[field.reference]
        binned = connection.execute(
            sa.select(table.c.id).where(table.c.id == value, table.c.deleted_at.is_not(None))
        ).first()
        if binned is not None:
            errors.append(
                FieldError(
                    field.key,
                    "binned_reference",
                    _(
                        "{field} refers to a record in the recycle bin; restore that one first",
                        field=field.label,
                    ),
                )
            )
    return errors


def related_locked(entity: EntityDef) -> LockedError:
    return LockedError(
        _("A related {entity} record is locked; unlock it first", entity=entity.label)
    )


def still_used(count: int, entity: EntityDef) -> ValidationFailed:
    return ValidationFailed(
        [
            FieldError(
                None,
                "referenced",
                _(
                    "Still used by {count} {entity} records; remove them first",
                    count=count,
                    entity=entity.label,
                ),
            )
        ]
    )
