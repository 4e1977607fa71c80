"""Record merge (DATA-08): two or three records of one module become one. The survivor takes
the chosen value of each field, every row that pointed at the others points at it, and the
others are deleted through the record service (their history stays with them); all in one
transaction, with a merge log (gx_merge) holding what an undo needs. See docs/merge.md."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.auth.fields import FieldMask, Level
from guanxi.authorization import Access
from guanxi.defaults.duplicates import checks, merge_log
from guanxi.errors import ConflictError, FieldError, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.store.system_tables import attachment, notification, web_form, web_form_submission

if TYPE_CHECKING:
    from guanxi.core import Guanxi

MAX_RECORDS = 3  # as Salesforce: a survivor and at most two others
FOLLOWS_OWNER = frozenset({"department_id"})  # not chosen: it comes with the chosen owner


@dataclass(frozen=True)
class Relinked:
    """Rows of `table` whose `column` held a merged-away record's id and now holds the
    survivor's: what an undo moves back."""

    table: str
    column: str
    source_id: int
    target_id: int
    ids: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "from": self.source_id,
                "to": self.target_id, "ids": list(self.ids)}  # fmt: skip


@dataclass(frozen=True)
class MergeResult:
    merge_id: int
    survivor: dict[str, Any]  # after the merge, as the actor may see it
    merged_ids: tuple[int, ...]
    relinked: tuple[Relinked, ...]

    @property
    def moved(self) -> int:
        """How many related rows now belong to the survivor."""
        return sum(len(r.ids) for r in self.relinked)


# -- what may be merged ------------------------------------------------------------------------


def parse_ids(entity_name: str, values: Iterable[Any]) -> list[int]:
    """Record ids as a screen or a report gives them: 12, "12" or "customer:12". Another
    module's record, anything else, fewer than two or more than three are refused, naming
    the `ids` field."""
    ids: list[int] = []
    errors: list[FieldError] = []
    for value in values:
        entity, record_id = _id_of(value)
        if record_id is None:
            errors.append(FieldError("ids", "invalid",
                                     _("'{value}' is not a record id", value=str(value))))  # fmt: skip
        elif entity not in (None, entity_name):
            errors.append(FieldError("ids", "other_entity", _(
                "Only records of one module can be merged: {record} belongs to another module",
                record=f"{entity}:{record_id}")))  # fmt: skip
        elif record_id in ids:
            errors.append(FieldError("ids", "same_record",
                                     _("A record cannot be merged with itself")))  # fmt: skip
        else:
            ids.append(record_id)
    if not errors and not 2 <= len(ids) <= MAX_RECORDS:
        errors.append(FieldError("ids", "count", _("Choose two or three records to merge")))
    if errors:
        raise ValidationFailed(errors)
    return ids


def _id_of(value: Any) -> tuple[str | None, int | None]:
    entity: str | None = None
    if isinstance(value, tuple | list) and len(value) == 2:
        entity, value = str(value[0]), value[1]
    elif isinstance(value, str) and ":" in value:
        entity, _sep, value = value.partition(":")
        entity = entity.strip()
    if isinstance(value, bool):
        return entity, None
    try:
        number = int(str(value).strip())
    except ValueError:
        return entity, None
    return entity, number if number > 0 else None


def check_may_merge(access: Access, entity: EntityDef) -> None:
    """Merging edits the survivor and deletes the others: both module rights, and deleting
    without an approval step (a pending approval would leave the merge half done)."""
    access.check_module(entity, "edit")
    access.check_module(entity, "delete")
    rule = access.delete_rule(entity.name)
    admin = access.actor.is_system or getattr(access, "is_admin", False)
    if rule == "admin_only" and not admin:
        raise PermissionDenied(
            _("Only administrators may delete {entity} records", entity=entity.label),
            code="admin_only",
        )
    if rule == "approval" and not access.allows(entity.name, "approve_delete"):
        raise PermissionDenied(
            _("Merging deletes records, and deleting {entity} records needs a manager's approval",
              entity=entity.label),
            code="needs_approval",
        )  # fmt: skip


def comparable_fields(entity: EntityDef, mask: FieldMask) -> list[FieldDef]:
    """Fields a merge compares: what a user may enter, and the actor can see at least masked.
    Hidden fields never appear; the department follows the owner."""
    return [
        f
        for f in entity.input_fields
        if f.key not in FOLLOWS_OWNER and mask.level(f.key) >= Level.MASKED
    ]


def default_choices(
    fields: Iterable[FieldDef], records: Mapping[int, Mapping[str, Any]], survivor_id: int
) -> dict[str, int]:
    """Per field, the record whose value is kept by default: the survivor's, or the first
    record (in the given order) with a value when the survivor's is empty."""
    chosen = {}
    for field in fields:
        chosen[field.key] = survivor_id
        if _empty(records[survivor_id].get(field.key)):
            filled = next((i for i, r in records.items() if not _empty(r.get(field.key))), None)
            chosen[field.key] = filled if filled is not None else survivor_id
    return chosen


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


# -- the merge ---------------------------------------------------------------------------------


def merge(
    platform: Guanxi,
    actor: Actor,
    entity_name: str,
    survivor_id: Any,
    merged_ids: Iterable[Any],
    values_from: Mapping[str, Any] | None = None,
    *,
    versions: Mapping[int, int] | None = None,
) -> MergeResult:
    """Merge `merged_ids` into `survivor_id`. `values_from` names, per field, the record whose
    value the survivor keeps (a field left out keeps the survivor's). `versions` ({id:
    version}, from the comparison the user saw) refuses the merge if any record changed since.
    Needs edit rights on the survivor and delete rights on the others; nothing is written
    unless everything succeeds, and events fire after the commit."""
    merged = list(merged_ids)
    ids = parse_ids(entity_name, [survivor_id, *merged])
    survivor, away = ids[0], ids[1:]
    records = platform.records
    entity = platform.registry.snapshot().entity(entity_name)
    access = records.access(actor)
    check_may_merge(access, entity)
    records.get(actor, entity.name, survivor, action="edit", log_view=False)
    for record_id in away:
        records.get(actor, entity.name, record_id, action="delete", log_view=False)
    stored = {i: records.get(Actor.system(), entity.name, i, log_view=False) for i in ids}
    _check_versions(stored, versions)
    mask = access.mask(entity)
    changes, chosen = _changes(platform, entity, mask, stored, survivor, values_from or {})
    labels = {i: str(stored[i].get("number") or f"#{i}") for i in ids}
    locale = actor.locale
    reason_away = _("Merged into {record}", record=labels[survivor]).render(locale)
    reason_in = _("Merged {records} into this record",
                  records="、".join(labels[i] for i in away)).render(locale)  # fmt: skip
    expected = {i: int(stored[i]["version"]) for i in ids}
    relinked: list[Relinked] = []
    with checks.merging((entity.name, i) for i in ids), records.batch() as connection:
        snapshot = platform.registry.snapshot(connection)
        for source in away:
            for child, key, moved in records.relink(
                actor, entity.name, source, survivor, reason=reason_away
            ):
                child_def = snapshot.entity(child)
                table = snapshot.tables[child].name
                relinked.append(Relinked(table, child_def.field(key).column, source, survivor,
                                         tuple(moved)))  # fmt: skip
                if child == entity.name:  # a record of this module referenced another
                    for record_id in set(moved) & set(expected):
                        expected[record_id] += 1
            relinked += _move_files_and_submissions(connection, entity.name, source, survivor)
            records.delete(actor, entity.name, source, reason=reason_away, version=expected[source])
            relinked += _move_notifications(connection, entity.name, source, survivor)
        if changes:
            records.update(
                actor, entity.name, survivor, changes, version=expected[survivor],
                reason=reason_in, confirm_duplicates=True,
            )  # fmt: skip
        after = records.mark(actor, entity.name, survivor, "merge", reason=reason_in)
        merge_id = merge_log.write(
            platform, connection, actor, entity, mask, stored, survivor, chosen,
            [r.to_json() for r in relinked],
        )  # fmt: skip
        moved_rows = Counter[str]()
        for item in relinked:
            moved_rows[item.table] += len(item.ids)
        audit.write(
            connection, actor, "record_merged", f"{entity.name}:{survivor}",
            {"merge_id": merge_id, "merged": away, "values_from": chosen,
             "relinked": dict(moved_rows)},
            reason_in,
        )  # fmt: skip
    return MergeResult(merge_id, after, tuple(away), tuple(relinked))


def _check_versions(
    stored: Mapping[int, Mapping[str, Any]], versions: Mapping[int, int] | None
) -> None:
    for record_id, version in (versions or {}).items():
        found = stored.get(int(record_id))
        if found is not None and int(found["version"]) != int(version):
            raise ConflictError(
                _("{record} changed after you opened this comparison; review it again",
                  record=found.get("number") or f"#{record_id}")
            )  # fmt: skip


def _changes(
    platform: Guanxi,
    entity: EntityDef,
    mask: FieldMask,
    stored: Mapping[int, Mapping[str, Any]],
    survivor: int,
    values_from: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, int]]:
    """The survivor's changes (as input) and the record each chosen field came from. A field
    the actor cannot see is unknown; one they cannot edit keeps the survivor's value."""
    fields = {f.key: f for f in comparable_fields(entity, mask)}
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    chosen: dict[str, int] = {}
    for key, source in values_from.items():
        field = fields.get(str(key))
        _entity, source_id = _id_of(source)
        if field is None:
            errors.append(FieldError(str(key), "unknown_field",
                                     _("Unknown field '{field}'", field=str(key))))  # fmt: skip
            continue
        if source_id not in stored:
            errors.append(FieldError(field.key, "bad_source", _(
                "Choose the value of one of the records being merged for {field}",
                field=field.label)))  # fmt: skip
            continue
        if source_id == survivor:
            continue
        if mask.level(field.key) != Level.WRITE:
            errors.append(FieldError(field.key, "read_only", _(
                "You may not change {field}; it keeps the surviving record's value",
                field=field.label)))  # fmt: skip
            continue
        value = stored[source_id].get(field.key)
        if field.reference == entity.name and value in stored:
            value = None  # it would point at the survivor itself or a record going away
        chosen[field.key] = source_id
        if value != stored[survivor].get(field.key):
            changes[field.key] = value
    if errors:
        raise ValidationFailed(errors)
    return platform.records.to_json(entity, changes), chosen


# -- rows outside the entity tables that name a record ------------------------------------------


def _move_files_and_submissions(
    connection: Connection, entity: str, source: int, target: int
) -> list[Relinked]:
    """Attachments and the web-form submissions that created or matched the record follow
    it to the survivor; history, access log, import reports and webhook deliveries stay as
    the record of what happened."""
    moved = []
    files = sa.and_(attachment.c.entity == entity, attachment.c.record_id == source)
    forms = sa.select(web_form.c.id).where(web_form.c.entity == entity)
    submissions = sa.and_(
        web_form_submission.c.record_id == source, web_form_submission.c.form_id.in_(forms)
    )
    for table, where in ((attachment, files), (web_form_submission, submissions)):
        ids = tuple(connection.execute(sa.select(table.c.id).where(where)).scalars())
        if ids:
            connection.execute(sa.update(table).where(table.c.id.in_(ids)).values(record_id=target))
            moved.append(Relinked(table.name, "record_id", source, target, ids))
    return moved


def _move_notifications(
    connection: Connection, entity: str, source: int, target: int
) -> list[Relinked]:
    """Notifications about the record (a share request, a read reminder) lead to the
    survivor. Run after the deletion, which has dropped the reminders it no longer needs."""
    rows = connection.execute(
        sa.select(notification.c.id, notification.c.link).where(
            notification.c.source_entity == entity, notification.c.source_id == source
        )
    ).all()
    if not rows:
        return []
    own_page = re.compile(rf"^/r/{re.escape(entity)}/{source}(?=$|[/?#])")
    for row in rows:
        link = own_page.sub(f"/r/{entity}/{target}", row.link) if row.link else row.link
        connection.execute(
            sa.update(notification)
            .where(notification.c.id == row.id)
            .values(source_id=target, link=link)
        )
    return [Relinked(notification.name, "source_id", source, target, tuple(r.id for r in rows))]
