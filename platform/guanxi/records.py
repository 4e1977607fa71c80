"""THE write path: prepare -> validate -> authorize -> store + history (one transaction) -> events.

Every create, update, delete, copy and lock of any entity goes through RecordService, so
validation, permissions, numbering and history cannot be bypassed by a screen or a plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from guanxi import clock
from guanxi.actor import Actor
from guanxi.authorization import Access
from guanxi.crypto.columns import fill_blind_indexes
from guanxi.errors import (
    ConflictError,
    FieldError,
    LockedError,
    PermissionDenied,
    ValidationFailed,
)
from guanxi.events import RecordEvent
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.meta.registry import Snapshot
from guanxi.reads import RecordReader
from guanxi.record_checks import IGNORED_INPUT, WRITABLE_SYSTEM, RecordChecks
from guanxi.store import numbering, tagging
from guanxi.store.system_tables import user

if TYPE_CHECKING:
    from guanxi.core import Guanxi

log = logging.getLogger(__name__)


@dataclass
class RowOutcome:
    """One row of `create_many`: the new id, or the errors that kept it out."""

    index: int
    record_id: int | None
    errors: list[FieldError] = dataclass_field(default_factory=list)


@lru_cache(maxsize=256)
def _insert_statement(table: sa.Table) -> sa.Insert:
    return sa.insert(table).returning(table.c.id)


class RecordService(RecordReader):
    def __init__(self, platform: Guanxi) -> None:
        super().__init__(platform)
        self.checks = RecordChecks(platform, self._tag_fields, self._visible_record)

    # -- create ----------------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        entity_name: str,
        data: Mapping[str, Any],
        *,
        reason: str | None = None,
        confirm_duplicates: bool = False,
    ) -> dict[str, Any]:
        """Create a record. A duplicate rule set to "warn" refuses it with a warning the user
        may confirm: `confirm_duplicates=True` saves anyway and the choice is audited."""
        return self._create(actor, entity_name, data, reason, "create", confirm_duplicates)

    def _create(
        self,
        actor: Actor,
        entity_name: str,
        data: Mapping[str, Any],
        reason: str | None,
        op: str,
        confirm_duplicates: bool = False,
    ) -> dict[str, Any]:
        with self.db.unit_of_work() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "create")
            mask = access.mask(entity)
            event = self._create_in(
                connection, snapshot, entity, access, data, reason, op, confirm_duplicates
            )
        self._after_commit([event])
        return mask.apply(event.record or {})

    def create_many(
        self,
        actor: Actor,
        entity_name: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        dry_run: bool = False,
        within: Callable[[Connection, list[RowOutcome]], None] | None = None,
        confirm_duplicates: bool = False,
    ) -> list[RowOutcome]:
        """Create many records in ONE transaction (imports, DATA-09), each through the same
        pipeline as `create`; a row with errors is not written and comes back with them.
        `within(connection, outcomes)` runs in that transaction before commit, so progress
        kept by the caller commits with the rows (a crash loses both or neither). With
        `dry_run`, everything is checked and rolled back; `within` then runs on its own."""
        outcomes: list[RowOutcome] = []
        events: list[RecordEvent] = []
        with self.db.unit_of_work() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "create")
            for index, data in enumerate(rows):
                savepoint = connection.begin_nested()
                try:
                    event = self._create_in(
                        connection, snapshot, entity, access, data, None, "create",
                        confirm_duplicates,
                    )  # fmt: skip
                except (ValidationFailed, PermissionDenied) as refused:
                    savepoint.rollback()
                    outcomes.append(RowOutcome(index, None, refused.errors))
                    continue
                savepoint.commit()
                events.append(event)
                outcomes.append(RowOutcome(index, event.record_id, []))
            if dry_run:
                connection.rollback()
            elif within is not None:
                within(connection, outcomes)
        if dry_run:
            if within is not None:
                with self.db.unit_of_work() as connection:
                    within(connection, outcomes)
            return outcomes
        self._after_commit(events)
        return outcomes

    def _create_in(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        access: Access,
        data: Mapping[str, Any],
        reason: str | None,
        op: str,
        confirm_duplicates: bool,
    ) -> RecordEvent:
        actor = access.actor
        record, errors = self.checks.parse_input(entity, data, access.mask(entity))
        given_owner = "owner_id" in record
        self.checks.apply_defaults(entity, record, actor)
        if given_owner:
            self._follow_owner(connection, record, "department_id" not in data, actor)
        self.pm.hook.prepare_record(
            platform=self.platform, entity=entity, record=record, old=None, actor=actor, op=op
        )
        errors += self.checks.validate(
            connection, snapshot, entity, record, None, access, op, reason
        )
        confirmed = self._confirmed(errors, confirm_duplicates)
        if errors and not confirmed:
            raise ValidationFailed(errors)
        assigned = self._check_assign(
            access,
            entity,
            (record.get("owner_id"), record.get("department_id")),
            (actor.user_id, actor.department_id),
        )
        event = self._insert(connection, snapshot, entity, record, actor, reason, confirmed)
        if not assigned:
            self._check_in_scope(connection, snapshot, entity, access, event.record_id, record)
        return event

    @staticmethod
    def _confirmed(errors: list[FieldError], confirm: bool) -> tuple[FieldError, ...]:
        """The warnings the user confirmed: all errors when every one is a warning."""
        if confirm and errors and all(e.warning for e in errors):
            return tuple(errors)
        return ()

    def _check_assign(
        self, access: Access, entity: EntityDef, ownership: tuple[Any, Any], before: tuple[Any, Any]
    ) -> bool:
        """Giving a record to another owner or department needs the module's assign permission
        (PERM-02); True when the record was handed over (it may then leave the actor's scope).
        `ownership` and `before` are (owner_id, department_id) pairs."""
        if ownership == before or access.actor.is_system:
            return False
        if not access.allows(entity.name, "assign"):
            raise PermissionDenied(
                _("You may not give {entity} records to another owner", entity=entity.label),
                field="owner_id",
            )
        return True

    def _check_in_scope(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        access: Access,
        record_id: int,
        record: dict[str, Any],
    ) -> None:
        """A write must leave the record inside the actor's edit scope: a rep cannot move a
        customer to another region or department they could not have edited (PERM-04).
        Owner and department scopes are decided from the values; others re-read the row."""
        decided = access.record_in_scope(connection, snapshot, entity, record, "edit")
        if decided is True:
            return
        if decided is False:
            raise PermissionDenied(
                _("The record would be outside the records you may edit"), code="out_of_scope"
            )
        table = snapshot.tables[entity.name]
        scope = access.scope_clause(connection, snapshot, entity, "edit")
        if scope is None:
            return
        found = connection.execute(
            sa.select(table.c.id).where(table.c.id == record_id, scope)
        ).first()
        if found is None:
            raise PermissionDenied(
                _("The record would be outside the records you may edit"), code="out_of_scope"
            )

    def _follow_owner(
        self,
        connection: Connection,
        record: dict[str, Any],
        department_follows: bool,
        actor: Actor,
    ) -> None:
        """A new owner brings their department along unless the input set one explicitly."""
        if not department_follows or record.get("owner_id") is None:
            return
        if record["owner_id"] == actor.user_id:  # the acting user: no look-up needed
            record["department_id"] = actor.department_id
            return
        department_id = connection.execute(
            sa.select(user.c.department_id).where(user.c.id == record["owner_id"])
        ).scalar()
        record["department_id"] = department_id

    def _insert(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        record: dict[str, Any],
        actor: Actor,
        reason: str | None,
        confirmed: tuple[FieldError, ...] = (),
    ) -> RecordEvent:
        now = clock.now_utc()
        table = snapshot.tables[entity.name]
        number_field = entity.field("number")
        number_format = number_field.number_format or entity.number_format
        # Every column, NULL where absent: one statement shape, so SQLAlchemy compiles the
        # INSERT once instead of once per combination of filled fields (~0.3 ms each).
        row = {column.key: record.get(column.key) for column in table.columns if column.key != "id"}
        row.update(
            number=numbering.allocate(
                connection, entity.name, "number", number_format, clock.to_local(now)
            ),
            created_at=now,
            updated_at=now,
            created_by=actor.user_id,
            updated_by=actor.user_id,
            version=1,
            locked=False,
        )
        fill_blind_indexes(table, row)
        try:
            record_id = connection.execute(_insert_statement(table), row).scalar_one()
        except IntegrityError as error:
            raise self.checks.integrity_error(entity, error) from None
        stored = {**row, "id": record_id}
        for field in self._tag_fields(entity):
            codes = record.get(field.key) or []
            stored[field.key] = (
                self._store_tags(connection, entity, record_id, codes) if codes else []
            )
        present = self.present(entity, stored)
        changes = {
            k: (None, v)
            for k, v in self.to_json(entity, present).items()
            if v not in (None, [], "") and k not in IGNORED_INPUT
        }
        event = RecordEvent(
            entity.name, "create", record_id, actor, now, present, None, changes, reason,
            confirmed=confirmed,
        )  # fmt: skip
        self.pm.hook.record_stored(
            platform=self.platform, connection=connection, entity=entity, event=event
        )
        return event

    # -- update ----------------------------------------------------------------------------

    def update(
        self,
        actor: Actor,
        entity_name: str,
        record_id: int,
        changes: Mapping[str, Any],
        *,
        version: int,
        reason: str | None = None,
        field_reasons: Mapping[str, str] | None = None,
        confirm_duplicates: bool = False,
    ) -> dict[str, Any]:
        """Apply `changes` if `version` is still current; a stale version raises ConflictError."""
        field_reasons = dict(field_reasons or {})
        with self.db.unit_of_work() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "edit")
            mask = access.mask(entity)
            old = self._fetch(
                connection, snapshot, entity, record_id, access, "edit", for_update=True
            )
            if old["version"] != version:
                raise ConflictError(
                    _("Someone else saved this record first; reload to see their change"),
                    current=mask.apply(old),
                )
            if old["locked"]:
                raise LockedError(_("This record is locked; unlock it to edit"))
            parsed, errors = self.checks.parse_input(entity, changes, mask)
            record = {**old, **parsed}
            if "owner_id" in parsed and parsed["owner_id"] != old.get("owner_id"):
                self._follow_owner(
                    connection,
                    record,
                    isinstance(changes, Mapping) and "department_id" not in changes,
                    actor,
                )
            self.pm.hook.prepare_record(
                platform=self.platform,
                entity=entity,
                record=record,
                old=old,
                actor=actor,
                op="update",
            )
            changed = {k for k in record if k not in IGNORED_INPUT and record[k] != old.get(k)}
            if not changed and not errors:
                return mask.apply(old)
            errors += self.checks.validate(
                connection, snapshot, entity, record, old, access, "update", reason
            )
            errors += self.checks.reason_errors(entity, changed, reason, field_reasons)
            confirmed = self._confirmed(errors, confirm_duplicates)
            if errors and not confirmed:
                raise ValidationFailed(errors)
            assigned = self._check_assign(
                access,
                entity,
                (record.get("owner_id"), record.get("department_id")),
                (old.get("owner_id"), old.get("department_id")),
            )
            event = self._store_update(
                connection, snapshot, entity, old, record, changed, actor, reason, field_reasons,
                confirmed=confirmed,
            )  # fmt: skip
            if not assigned:
                self._check_in_scope(connection, snapshot, entity, access, old["id"], record)
        self._after_commit([event])
        return mask.apply(event.record or {})

    def update_field(
        self,
        actor: Actor,
        entity_name: str,
        record_id: int,
        field: str,
        value: Any,
        *,
        version: int,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Single-field inline edit (DATA-02): the same pipeline, one field."""
        return self.update(
            actor, entity_name, record_id, {field: value}, version=version, reason=reason
        )

    def _store_update(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        old: dict[str, Any],
        record: dict[str, Any],
        changed: set[str],
        actor: Actor,
        reason: str | None,
        field_reasons: Mapping[str, str],
        op: str = "update",
        confirmed: tuple[FieldError, ...] = (),
    ) -> RecordEvent:
        table = snapshot.tables[entity.name]
        now = clock.now_utc()
        values = {key: record[key] for key in changed if key in table.c}
        fill_blind_indexes(table, values)
        values.update(updated_at=now, updated_by=actor.user_id, version=old["version"] + 1)
        try:
            result = connection.execute(
                sa.update(table)
                .where(table.c.id == old["id"], table.c.version == old["version"])
                .values(values)
            )
        except IntegrityError as error:
            raise self.checks.integrity_error(entity, error) from None
        if result.rowcount != 1:
            raise ConflictError(
                _("Someone else saved this record first; reload to see their change")
            )
        stored = {**old, **{k: record[k] for k in changed}, **values}
        for field in self._tag_fields(entity):
            if field.key in changed:
                stored[field.key] = self._store_tags(
                    connection, entity, old["id"], record[field.key] or []
                )
        present = self.present(entity, stored)
        old_json, new_json = self.to_json(entity, old), self.to_json(entity, present)
        diff = {k: (old_json.get(k), new_json.get(k)) for k in sorted(changed) if k in new_json}
        event = RecordEvent(
            entity.name, op, old["id"], actor, now, present, old, diff, reason,
            dict(field_reasons), confirmed,
        )  # fmt: skip
        self.pm.hook.record_stored(
            platform=self.platform, connection=connection, entity=entity, event=event
        )
        return event

    def lock(
        self, actor: Actor, entity_name: str, record_id: int, *, reason: str | None = None
    ) -> dict[str, Any]:
        """Make a record read-only (DATA-03) until unlocked."""
        return self._set_locked(actor, entity_name, record_id, True, reason)

    def unlock(
        self, actor: Actor, entity_name: str, record_id: int, *, reason: str | None = None
    ) -> dict[str, Any]:
        return self._set_locked(actor, entity_name, record_id, False, reason)

    def _set_locked(
        self, actor: Actor, entity_name: str, record_id: int, locked: bool, reason: str | None
    ) -> dict[str, Any]:
        with self.db.unit_of_work() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "edit")
            mask = access.mask(entity)
            old = self._fetch(
                connection, snapshot, entity, record_id, access, "edit", for_update=True
            )
            if old["locked"] == locked:
                return mask.apply(old)
            record = {**old, "locked": locked}
            event = self._store_update(
                connection,
                snapshot,
                entity,
                old,
                record,
                {"locked"},
                actor,
                reason,
                {},
                op="lock" if locked else "unlock",
            )
        self._after_commit([event])
        return mask.apply(event.record or {})

    # -- copy and delete -------------------------------------------------------------------

    def copy(
        self,
        actor: Actor,
        entity_name: str,
        record_id: int,
        overrides: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new record from an existing one (DATA-04): unique and numbered values are not copied."""
        with self.db.read() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "view")
            source = self._fetch(connection, snapshot, entity, record_id, access, "view")
        writable = access.mask(entity).writable
        data = {
            f.key: source.get(f.key)
            for f in entity.input_fields
            if not f.unique
            and f.type != "autonumber"
            and f.key not in WRITABLE_SYSTEM
            and f.key in writable
        }
        data.update(overrides or {})
        return self._create(actor, entity_name, self.to_json(entity, data), None, "copy")

    def delete(
        self,
        actor: Actor,
        entity_name: str,
        record_id: int,
        *,
        reason: str | None = None,
        version: int | None = None,
    ) -> str:
        """Delete a record; a plugin (recycle bin, approval) may take over. Returns the outcome.
        With `version`, a record saved by someone else since raises ConflictError instead."""
        with self.db.read() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "delete")
            record = self._fetch(connection, snapshot, entity, record_id, access, "delete")
        self._check_version(access, entity, record, version)
        if record["locked"]:
            raise LockedError(_("This record is locked; unlock it to delete"))
        approval = self._delete_rule_outcome(access, entity, record, reason)
        if approval:
            return approval
        outcome = self.pm.hook.delete_record(
            platform=self.platform, entity=entity, record=record, actor=actor, reason=reason
        )
        if outcome:
            return str(outcome)
        events: list[RecordEvent] = []
        with self.db.unit_of_work() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "delete")
            old = self._fetch(
                connection, snapshot, entity, record_id, access, "delete", for_update=True
            )
            self._check_version(access, entity, old, version)  # and again under the row lock
            if old["locked"]:  # again, inside the transaction: a lock may have come in between
                raise LockedError(_("This record is locked; unlock it to delete"))
            self._delete_tree(connection, snapshot, entity, old, actor, reason, events, depth=0)
        self._after_commit(events)
        return "deleted"

    def _check_version(
        self, access: Access, entity: EntityDef, record: dict[str, Any], version: int | None
    ) -> None:
        if version is not None and record["version"] != version:
            raise ConflictError(
                _("Someone else saved this record first; reload to see their change"),
                current=access.mask(entity).apply(record),
            )

    def _delete_rule_outcome(
        self, access: Access, entity: EntityDef, record: dict[str, Any], reason: str | None
    ) -> str | None:
        """PERM-06: "admin_only" refuses everyone but admins; "approval" lets those allowed to
        approve delete directly and hands everyone else's request to an approval plugin."""
        rule = access.delete_rule(entity.name)
        actor = access.actor
        if rule == "admin_only" and not (actor.is_system or getattr(access, "is_admin", False)):
            raise PermissionDenied(
                _("Only administrators may delete {entity} records", entity=entity.label),
                code="admin_only",
            )
        if rule == "approval" and not access.allows(entity.name, "approve_delete"):
            outcome = self.pm.hook.request_delete_approval(
                platform=self.platform, entity=entity, record=record, actor=actor, reason=reason
            )
            if outcome:
                return str(outcome)
            raise PermissionDenied(
                _("Deleting {entity} records needs a manager's approval", entity=entity.label),
                code="needs_approval",
            )
        return None

    def _delete_tree(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        old: dict[str, Any],
        actor: Actor,
        reason: str | None,
        events: list[RecordEvent],
        depth: int,
    ) -> None:
        """Apply each referencing field's on_delete rule (restrict/cascade/set_null), then delete."""
        for child_entity in snapshot.entities.values():
            child_table = snapshot.tables[child_entity.name]
            for field in child_entity.fields:
                if field.type != "reference" or field.reference != entity.name:
                    continue
                children = [
                    dict(row._mapping)
                    for row in connection.execute(
                        sa.select(child_table).where(child_table.c[field.column] == old["id"])
                    )
                ]
                if not children:
                    continue
                if field.on_delete == "restrict" or depth > 5:
                    raise ValidationFailed(
                        [
                            FieldError(
                                None,
                                "referenced",
                                _(
                                    "Still used by {count} {entity} records; remove them first",
                                    count=len(children),
                                    entity=child_entity.label,
                                ),
                            )
                        ]
                    )
                if any(child["locked"] for child in children):
                    raise LockedError(
                        _(
                            "A related {entity} record is locked; unlock it first",
                            entity=child_entity.label,
                        )
                    )
                for child in children:
                    child = self._with_tags(connection, child_entity, child)
                    if field.on_delete == "cascade":
                        self._delete_tree(
                            connection,
                            snapshot,
                            child_entity,
                            child,
                            actor,
                            reason,
                            events,
                            depth + 1,
                        )
                    else:
                        events.append(
                            self._store_update(
                                connection,
                                snapshot,
                                child_entity,
                                child,
                                {**child, field.key: None},
                                {field.key},
                                actor,
                                reason,
                                {},
                            )
                        )
        table = snapshot.tables[entity.name]
        tagging.replace_tags(connection, entity.name, old["id"], [])
        connection.execute(sa.delete(table).where(table.c.id == old["id"]))
        changes = {
            k: (v, None)
            for k, v in self.to_json(entity, old).items()
            if v not in (None, [], "") and k not in IGNORED_INPUT
        }
        event = RecordEvent(
            entity.name, "delete", old["id"], actor, clock.now_utc(), None, old, changes, reason
        )
        self.pm.hook.record_stored(
            platform=self.platform, connection=connection, entity=entity, event=event
        )
        events.append(event)

    def _store_tags(
        self, connection: Connection, entity: EntityDef, record_id: int, codes: list[str]
    ) -> list[str]:
        ids = tagging.tag_ids(connection, entity.name, codes)
        tagging.replace_tags(connection, entity.name, record_id, ids.values())
        return sorted(codes)

    def _after_commit(self, events: list[RecordEvent]) -> None:
        for event in events:
            try:
                self.pm.hook.record_changed(platform=self.platform, event=event)
            except Exception:  # a failing subscriber must not undo a committed write
                log.exception(
                    "record_changed handler failed for %s %s", event.entity, event.record_id
                )
