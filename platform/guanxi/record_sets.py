"""Set-based updates: one change applied to every record a filter matches, in SQL.

A nightly job that returns 50,000 customers to the public pool cannot afford the per-record
pipeline (a read, hooks, an UPDATE and a history row each: minutes at 1M customers). Here the
change is parsed and checked once, the matching ids are read once, and each chunk of ids is
written in ONE transaction as three statements: the rows locked (PostgreSQL re-checks the
filter on rows changed meanwhile), the history rows written by INSERT ... SELECT from the
old values, and the UPDATE. A chunk is atomic; a failed chunk leaves earlier chunks written.

What it skips, on purpose: per-record hooks (prepare/validate/record_stored) and events after
commit. So it takes only constant values of plain column fields (text, choices, numbers,
references, users, date-times) that no plugin derives from; the caller tells people what
happened (the pool job notifies each owner once). Locked and binned records are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.crypto.columns import is_sealable
from guanxi.errors import FieldError, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.store.system_tables import history

if TYPE_CHECKING:
    from guanxi.records import RecordService

CHUNK = 2000
# Field types whose stored column value is already what history keeps (to_json is identity).
PLAIN_TYPES = frozenset(
    {"text", "longtext", "phone", "email", "url", "select", "stage", "integer", "reference",
     "user", "department", "rating"}
)  # fmt: skip
DATETIME_TYPES = frozenset({"datetime"})
SYSTEM_COLUMNS = frozenset({"owner_id", "department_id"})

# Called inside each chunk's transaction, after its history rows and before its UPDATE, with
# the chunk's ids: the caller's own rows (a pool's history) commit with the change.
ChunkHook = Callable[[Connection, Sequence[int]], None]


@dataclass(frozen=True)
class SetUpdate:
    matched: int  # ids matching the filter when the job read them
    updated: int  # rows written (fewer when some changed meanwhile)


class SetOperations:
    """Mixed into RecordService."""

    def update_matching(
        self: RecordService,
        actor: Actor,
        entity_name: str,
        filters: Any,
        changes: Mapping[str, Any],
        *,
        reason: str | None,
        within: ChunkHook | None = None,
        chunk: int = CHUNK,
    ) -> SetUpdate:
        """Apply `changes` to every live, unlocked record matching `filters` in the actor's
        edit scope, with a history row each (op "update", the old and new values)."""
        with self._reading() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "edit")
            parsed, errors = self.checks.parse_input(
                entity, changes, access.mask(entity), system=actor.is_system
            )
            fields = [
                _plain_field(entity.get_field(key), key, errors,
                             sealed=is_sealable(entity.get_field(key), self.types),
                             system=actor.is_system)
                for key in parsed
            ]  # fmt: skip
            if errors or not parsed:
                raise ValidationFailed(
                    errors or [FieldError(None, "empty", _("Nothing to change"))]
                )
            table = snapshot.tables[entity.name]
            compiler = snapshot.compiler(entity.name, self.types)
            where = sa.and_(
                self._where(connection, snapshot, access, compiler, filters, None, "edit"),
                table.c.locked.is_(False),
            )
            ids = list(
                connection.execute(
                    sa.select(table.c.id).where(where).order_by(table.c.id)
                ).scalars()
            )
        new_json = {
            field.key: self.types.for_field(field).to_json(parsed[field.key])
            if parsed[field.key] is not None else None
            for field in fields if field is not None
        }  # fmt: skip
        updated = 0
        for start in range(0, len(ids), chunk):
            with self._write() as connection:
                updated += _write_chunk(
                    connection, table, where, ids[start : start + chunk], entity.name, fields,
                    parsed, new_json, actor, reason, within,
                )  # fmt: skip
        return SetUpdate(matched=len(ids), updated=updated)


def _plain_field(
    field: FieldDef | None, key: str, errors: list[FieldError], *, sealed: bool, system: bool
) -> FieldDef | None:
    """A field set-based updates may write: plain columns; the owner, the department and a
    stage (whose moves have rules and reasons) only for the system's own jobs."""
    if field is None:
        return None
    guarded = key in SYSTEM_COLUMNS or field.type == "stage"
    plain = key in SYSTEM_COLUMNS or field.type in PLAIN_TYPES | DATETIME_TYPES
    if not sealed and plain and (system or not guarded):
        return field
    errors.append(
        FieldError(key, "not_set_based", _("{field} cannot be changed for many records at once",
                                           field=field.label))
    )  # fmt: skip
    return None


def _write_chunk(
    connection: Connection, table: sa.Table, where: sa.ColumnElement[bool], chunk_ids: list[int],
    entity: str, fields: list[FieldDef | None], parsed: dict[str, Any], new_json: dict[str, Any],
    actor: Actor, reason: str | None, within: ChunkHook | None,
) -> int:  # fmt: skip
    dialect = connection.dialect.name
    locking = sa.select(table.c.id).where(table.c.id.in_(chunk_ids), where).order_by(table.c.id)
    if dialect == "postgresql":
        locking = locking.with_for_update()
    ids = list(connection.execute(locking).scalars())
    if not ids:
        return 0
    now = clock.now_utc()
    pairs = [
        (field.key, _old_json(table.c[field.column], field, dialect), new_json[field.key])
        for field in fields if field is not None
    ]  # fmt: skip
    chosen = table.c.id.in_(ids)
    connection.execute(
        sa.insert(history).from_select(
            ["entity", "record_id", "op", "actor_id", "actor_name", "at", "changes", "reason",
             "ip"],
            sa.select(
                sa.literal(entity), table.c.id, sa.literal("update"),
                sa.literal(actor.user_id, sa.BigInteger), sa.literal(actor.username),
                sa.literal(now, sa.DateTime), _changes_object(pairs, dialect),
                sa.literal(reason, sa.Text), sa.literal(actor.ip, sa.String),
            ).where(chosen),
        )
    )  # fmt: skip
    if within is not None:
        within(connection, ids)
    values = {table.c[field.column]: parsed[field.key] for field in fields if field is not None}
    result = connection.execute(
        sa.update(table)
        .where(chosen)
        .values({**values, table.c.version: table.c.version + 1, table.c.updated_at: now,
                 table.c.updated_by: actor.user_id})
    )  # fmt: skip
    return int(result.rowcount or 0)


def _old_json(column: sa.Column[Any], field: FieldDef, dialect: str) -> sa.ColumnElement[Any]:
    """The stored value as history keeps it (`to_json`): date-times as ISO text with "Z"."""
    if field.type not in DATETIME_TYPES:
        return column
    if dialect == "postgresql":
        return sa.func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return sa.func.replace(column, " ", "T") + "Z"


def _changes_object(
    pairs: list[tuple[str, sa.ColumnElement[Any], Any]], dialect: str
) -> sa.ColumnElement[Any]:
    """{"field": [old, new], ...} built by the database from each row's old values."""
    arguments: list[Any] = []
    for key, old, new in pairs:
        new_text = sa.literal(json.dumps(new, ensure_ascii=False), sa.Text)
        if dialect == "postgresql":
            arguments += [
                sa.literal(key),
                sa.func.json_build_array(old, sa.cast(new_text, sa.JSON)),
            ]
        else:
            arguments += [sa.literal(key), sa.func.json_array(old, sa.func.json(new_text))]
    if dialect == "postgresql":
        return sa.func.json_build_object(*arguments)
    return sa.func.json_object(*arguments)
