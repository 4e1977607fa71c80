"""THE write path: prepare -> validate -> authorize -> store + history (one transaction) -> events.

Every create, update, delete, copy and lock of any entity goes through RecordService, so
validation, permissions, numbering and history cannot be bypassed by a screen or a plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
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
from guanxi.record_bin import (
    MAX_DEPTH,
    BinOperations,
    referencing,
    related_locked,
    still_used,
)
from guanxi.record_checks import IGNORED_INPUT, WRITABLE_SYSTEM, RecordChecks
from guanxi.record_sets import SetOperations
from guanxi.store import grouped, numbering, tagging
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


@lru_cache(maxsize=256)
def _insert_many_statement(table: sa.Table) -> sa.Insert:
    # RETURNING the number (unique within the batch) ties each id to its row without
    # sort_by_parameter_order, which makes SQLite fall back to one INSERT per row.
    return sa.insert(table).returning(table.c.id, table.c.number)


@dataclass
class _Prepared:
    """A create that passed its checks and waits for its INSERT."""

    record: dict[str, Any]
    confirmed: tuple[FieldError, ...]
    check_scope: bool  # the edit scope needs the stored row to decide


@dataclass
class _Batch:
    """The transaction service calls join inside `RecordService.batch()`, and their events."""

    connection: Connection
    events: list[RecordEvent]


_BATCH: ContextVar[_Batch | None] = ContextVar("guanxi_records_batch", default=None)
# What `delete()` answers when the record is gone from every read (hard delete, or into the
# recycle bin); any other outcome (e.g. "pending_approval") means it is still there.
GONE = frozenset({"deleted", "binned"})
RESERVED_OPS = frozenset(
    {"create", "copy", "update", "delete", "lock", "unlock", "restore", "purge"}
)


class RecordService(BinOperations, SetOperations, RecordReader):
    def __init__(self, platform: Guanxi) -> None:
        super().__init__(platform)
        self.checks = RecordChecks(platform, self._tag_fields, self._visible_record)

    # -- several writes, one transaction -------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[Connection]:
        """Run several service calls in ONE transaction (a merge re-links, deletes, updates).
        Each call inside still validates, checks permissions and writes its history, in a
        savepoint of this transaction; an error that leaves the block rolls every write back,
        and the calls' events fire only once it commits. Yields the connection for the
        caller's own rows (a log) that must commit with them. Does not nest; `create_many`
        keeps its own transaction and must not be called inside."""
        if _BATCH.get() is not None:
            raise RuntimeError("records.batch() does not nest")
        events: list[RecordEvent] = []
        with self.db.unit_of_work() as connection:
            token = _BATCH.set(_Batch(connection, events))
            try:
                yield connection
            finally:
                _BATCH.reset(token)
        self._fire(events)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One call's transaction: its own, or a savepoint of the open batch."""
        current = _BATCH.get()
        if current is None:
            with self.db.unit_of_work() as connection:
                yield connection
            return
        with current.connection.begin_nested():
            yield current.connection

    def _reading(self) -> AbstractContextManager[Connection]:
        """A read before a write: inside a batch it sees what the batch wrote so far."""
        current = _BATCH.get()
        return nullcontext(current.connection) if current is not None else self.db.read()

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
        with self._write() as connection:
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
        outcomes: dict[int, RowOutcome] = {}
        events: list[RecordEvent] = []
        with self.db.unit_of_work() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "create")
            with (
                self._number_block(connection, entity, len(rows)) as numbers,
                grouped.grouped(connection) as group,  # history, keys: one executemany each
            ):
                ready: dict[int, _Prepared] = {}
                for index, data in enumerate(rows):
                    try:
                        ready[index] = self._prepare_create(
                            connection, snapshot, entity, access, data, None, "create",
                            confirm_duplicates,
                        )  # fmt: skip
                    except (ValidationFailed, PermissionDenied) as refused:
                        outcomes[index] = RowOutcome(index, None, refused.errors)
                for index, event, errors in self._insert_ready(
                    connection, snapshot, entity, access, ready, group, numbers
                ):
                    outcomes[index] = RowOutcome(index, event.record_id if event else None, errors)
                    if event is not None:
                        events.append(event)
            ordered = [outcomes[index] for index in sorted(outcomes)]
            if dry_run:
                connection.rollback()
            elif within is not None:
                within(connection, ordered)
        if dry_run:
            if within is not None:
                with self.db.unit_of_work() as connection:
                    within(connection, ordered)
            return ordered
        self._after_commit(events)
        return ordered

    def _insert_ready(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        access: Access,
        ready: dict[int, _Prepared],
        group: grouped.Group,
        numbers: numbering.Block | None,
    ) -> list[tuple[int, RecordEvent | None, list[FieldError]]]:
        """Checked rows written with one multi-row INSERT; if that fails (two rows of the batch
        share a unique value, a scope only the stored row can decide refuses one), the batch
        is undone and written row by row, each in its own savepoint, to find the row at fault."""
        actor = access.actor
        savepoint, mark = connection.begin_nested(), group.mark()
        position = numbers.position() if numbers else None
        try:
            events = self._insert_batch(connection, snapshot, entity, actor, list(ready.values()))
            for prepared, event in zip(ready.values(), events, strict=True):
                if prepared.check_scope:
                    self._check_in_scope(
                        connection, snapshot, entity, access, event.record_id, prepared.record
                    )
        except (ValidationFailed, PermissionDenied):
            savepoint.rollback()
            group.rewind(mark)
            if numbers and position is not None:
                numbers.rewind(position)
        else:
            savepoint.commit()
            return [(index, event, []) for index, event in zip(ready, events, strict=True)]
        written: list[tuple[int, RecordEvent | None, list[FieldError]]] = []
        for index, prepared in ready.items():
            savepoint, mark = connection.begin_nested(), group.mark()
            try:
                event = self._insert_prepared(connection, snapshot, entity, access, prepared, None)
            except (ValidationFailed, PermissionDenied) as refused:
                savepoint.rollback()
                group.rewind(mark)
                written.append((index, None, refused.errors))
                continue
            savepoint.commit()
            written.append((index, event, []))
        return written

    @staticmethod
    def _number_block(
        connection: Connection, entity: EntityDef, count: int
    ) -> AbstractContextManager[numbering.Block | None]:
        """Record numbers for a batch reserved with one statement (see numbering.block)."""
        number_field = entity.get_field("number")
        if number_field is None:
            return nullcontext()
        number_format = number_field.number_format or entity.number_format
        name = numbering.sequence_name(
            entity.name, "number", number_format, clock.to_local(clock.now_utc())
        )
        return numbering.block(connection, name, count)

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
        prepared = self._prepare_create(
            connection, snapshot, entity, access, data, reason, op, confirm_duplicates
        )
        return self._insert_prepared(connection, snapshot, entity, access, prepared, reason)

    def _prepare_create(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        access: Access,
        data: Mapping[str, Any],
        reason: str | None,
        op: str,
        confirm_duplicates: bool,
    ) -> _Prepared:
        """Everything a create checks before it writes: parse, defaults, hooks, validation,
        the assign right and, when the values decide it, the edit scope."""
        actor = access.actor
        record, errors = self.checks.parse_input(
            entity, data, access.mask(entity), system=actor.is_system
        )
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
        check_scope = False
        if not assigned:
            decided = access.record_in_scope(connection, snapshot, entity, record, "edit")
            if decided is False:
                raise PermissionDenied(
                    _("The record would be outside the records you may edit"), code="out_of_scope"
                )
            check_scope = decided is None  # only the stored row can tell
        return _Prepared(record, confirmed, check_scope)

    def _insert_prepared(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        access: Access,
        prepared: _Prepared,
        reason: str | None,
    ) -> RecordEvent:
        event = self._insert(
            connection, snapshot, entity, prepared.record, access.actor, reason, prepared.confirmed
        )
        if prepared.check_scope:
            self._check_in_scope(
                connection, snapshot, entity, access, event.record_id, prepared.record
            )
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
        row = self._new_row(connection, table, entity, record, actor, now)
        try:
            record_id = connection.execute(_insert_statement(table), row).scalar_one()
        except IntegrityError as error:
            raise self.checks.integrity_error(entity, error) from None
        return self._stored(connection, entity, record, row, record_id, actor, reason, confirmed)

    def _insert_batch(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        actor: Actor,
        batch: list[_Prepared],
    ) -> list[RecordEvent]:
        """Many rows, multi-row INSERT ... RETURNING (SQLAlchemy's insertmanyvalues)."""
        if not batch:
            return []
        now = clock.now_utc()
        table = snapshot.tables[entity.name]
        rows = [self._new_row(connection, table, entity, p.record, actor, now) for p in batch]
        try:
            returned = connection.execute(_insert_many_statement(table), rows).all()
        except IntegrityError as error:
            raise self.checks.integrity_error(entity, error) from None
        id_of_number = {number: record_id for record_id, number in returned}
        ids = [id_of_number[row["number"]] for row in rows]
        return [
            self._stored(connection, entity, p.record, row, record_id, actor, None, p.confirmed)
            for p, row, record_id in zip(batch, rows, ids, strict=True)
        ]

    def _new_row(
        self,
        connection: Connection,
        table: sa.Table,
        entity: EntityDef,
        record: dict[str, Any],
        actor: Actor,
        now: Any,
    ) -> dict[str, Any]:
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
        return row

    def _stored(
        self,
        connection: Connection,
        entity: EntityDef,
        record: dict[str, Any],
        row: dict[str, Any],
        record_id: int,
        actor: Actor,
        reason: str | None,
        confirmed: tuple[FieldError, ...],
    ) -> RecordEvent:
        """After the INSERT: tags, the event, and the record_stored hooks (history, keys...)."""
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
            entity.name, "create", record_id, actor, row["created_at"], present, None, changes,
            reason, confirmed=confirmed,
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
        with self._write() as connection:
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
            parsed, errors = self.checks.parse_input(entity, changes, mask, system=actor.is_system)
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
        *,
        touch: bool = True,
    ) -> RecordEvent:
        """`touch=False` keeps updated_at/updated_by: binning and restoring change no content."""
        table = snapshot.tables[entity.name]
        now = clock.now_utc()
        values = {key: record[key] for key in changed if key in table.c}
        fill_blind_indexes(table, values)
        values["version"] = old["version"] + 1
        if touch:
            values.update(updated_at=now, updated_by=actor.user_id)
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
        event = RecordEvent(  # a soft delete is a delete: no record after it
            entity.name, op, old["id"], actor, now, None if op == "delete" else present, old,
            diff, reason, dict(field_reasons), confirmed,
        )  # fmt: skip
        self.pm.hook.record_stored(
            platform=self.platform, connection=connection, entity=entity, event=event
        )
        return event

    def _clear_reference(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        row: dict[str, Any],
        key: str,
        actor: Actor,
        reason: str | None,
    ) -> RecordEvent:
        """An on_delete "set_null": the referencing record lets go, with history and event."""
        record = self._with_tags(connection, entity, row)
        return self._store_update(
            connection, snapshot, entity, record, {**record, key: None}, {key}, actor, reason, {}
        )

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
        with self._write() as connection:
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
        with self._reading() as connection:
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
        with self._reading() as connection:
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
        with self._write() as connection:
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
        for child_entity, field, children in referencing(connection, snapshot, entity, old):
            if field.on_delete == "restrict" or depth > MAX_DEPTH:
                raise still_used(len(children), child_entity)
            if any(child["locked"] for child in children):
                raise related_locked(child_entity)
            for child in children:
                if field.on_delete == "cascade":
                    child = self._with_tags(connection, child_entity, child)
                    self._delete_tree(
                        connection, snapshot, child_entity, child, actor, reason, events,
                        depth + 1,
                    )  # fmt: skip
                else:
                    events.append(
                        self._clear_reference(
                            connection, snapshot, child_entity, child, field.key, actor, reason
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

    # -- re-linking and notes (a merge) -----------------------------------------------------

    def relink(
        self,
        actor: Actor,
        entity_name: str,
        from_id: int,
        to_id: int,
        *,
        reason: str | None = None,
    ) -> list[tuple[str, str, list[int]]]:
        """Point every record whose reference field holds `from_id` at `to_id` instead (a
        merge keeps the contacts and follow-ups of the record it removes); returns
        (entity, field, ids) per field moved. Needs delete rights on `from_id` and edit
        rights on `to_id`: like the on_delete rules a deletion applies, it moves referencing
        records the actor may not edit, each with its history row and event. A locked one
        refuses; a record would never point at itself (that reference is cleared)."""
        moved: list[tuple[str, str, list[int]]] = []
        events: list[RecordEvent] = []
        with self._write() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "delete")
            access.check_module(entity, "edit")
            source = self._fetch(connection, snapshot, entity, from_id, access, "delete")
            target = self._fetch(connection, snapshot, entity, to_id, access, "edit")
            if source["id"] == target["id"]:
                raise ValidationFailed(
                    [FieldError("to_id", "same_record", _("A record cannot replace itself"))]
                )
            for child_entity, field, rows in referencing(connection, snapshot, entity, source):
                if any(row["locked"] for row in rows):
                    raise related_locked(child_entity)
                for row in rows:
                    child = self._with_tags(connection, child_entity, row)
                    itself = child_entity.name == entity.name and child["id"] == target["id"]
                    moved_to = {**child, field.key: None if itself else target["id"]}
                    event = self._store_update(
                        connection, snapshot, child_entity, child, moved_to, {field.key},
                        actor, reason, {},
                    )  # fmt: skip
                    events.append(event)
                moved.append((child_entity.name, field.key, [row["id"] for row in rows]))
        self._after_commit(events)
        return moved

    def mark(
        self, actor: Actor, entity_name: str, record_id: int, op: str, *, reason: str
    ) -> dict[str, Any]:
        """A history entry and event about a record whose values stay as they are, e.g.
        op="merge" naming the records merged into it. Needs edit rights; bumps the version
        (someone editing it meanwhile is told it changed). `op` must be a new word: plugins
        read create/update/delete/lock/unlock as the changes they are."""
        if op in RESERVED_OPS:
            raise ValueError(f"mark() cannot write a {op!r} entry")
        with self._write() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "edit")
            old = self._fetch(
                connection, snapshot, entity, record_id, access, "edit", for_update=True
            )
            if old["locked"]:
                raise LockedError(_("This record is locked; unlock it to edit"))
            event = self._store_update(
                connection, snapshot, entity, old, old, set(), actor, reason, {}, op=op
            )
        self._after_commit([event])
        return access.mask(entity).apply(event.record or {})

    def _store_tags(
        self, connection: Connection, entity: EntityDef, record_id: int, codes: list[str]
    ) -> list[str]:
        ids = tagging.tag_ids(connection, entity.name, codes)
        tagging.replace_tags(connection, entity.name, record_id, ids.values())
        return sorted(codes)

    def _after_commit(self, events: list[RecordEvent]) -> None:
        current = _BATCH.get()
        if current is not None:  # the batch has not committed yet: its end fires them
            current.events.extend(events)
            return
        self._fire(events)

    def _fire(self, events: list[RecordEvent]) -> None:
        for event in events:
            try:
                self.pm.hook.record_changed(platform=self.platform, event=event)
            except Exception:  # a failing subscriber must not undo a committed write
                log.exception(
                    "record_changed handler failed for %s %s", event.entity, event.record_id
                )
