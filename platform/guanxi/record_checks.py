"""The checks of the write path: input parsing, defaults, every validation rule, and turning
database integrity errors into field errors. records.py calls them in pipeline order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from guanxi.actor import Actor
from guanxi.auth.fields import FieldMask
from guanxi.authorization import Access
from guanxi.crypto.columns import equals
from guanxi.errors import FieldError, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import SYSTEM_FIELDS, EntityDef, FieldDef
from guanxi.meta.field_types import FieldValueError
from guanxi.meta.registry import Snapshot
from guanxi.store import tagging
from guanxi.store.tables import reference_target

if TYPE_CHECKING:
    from guanxi.core import Guanxi

log = logging.getLogger(__name__)
WRITABLE_SYSTEM = frozenset({"owner_id", "department_id"})
IGNORED_INPUT = frozenset(SYSTEM_FIELDS) - WRITABLE_SYSTEM


@lru_cache(maxsize=128)
def _exists_statement(table_name: str) -> sa.Select[Any]:
    target = sa.table(table_name, sa.column("id"))
    return sa.select(target.c.id).where(target.c.id == sa.bindparam("id"))


def _unique_error(field: FieldDef, binned: bool = False) -> FieldError:
    if binned:  # the holder is hidden from every list: say where it is
        return FieldError(
            field.key,
            "unique",
            _(
                "{field} is already used by a record in the recycle bin; restore it, or ask "
                "an administrator to delete it permanently",
                field=field.label,
            ),
        )
    return FieldError(
        field.key, "unique", _("{field} is already used by another record", field=field.label)
    )


def _reference_error(field: FieldDef) -> FieldError:
    return FieldError(
        field.key, "reference", _("{field}: the chosen record does not exist", field=field.label)
    )


class RecordChecks:
    def __init__(
        self,
        platform: Guanxi,
        tag_fields: Callable[[EntityDef], list[FieldDef]],
        visible: Callable[[Connection, Snapshot, Access, EntityDef, Any], bool],
    ) -> None:
        self.platform = platform
        self.types = platform.types
        self.validators = platform.validators
        self.pm = platform.pm
        self.tag_fields = tag_fields
        self.visible = visible  # the read path's own "may this actor see record N?"

    def parse_input(
        self, entity: EntityDef, data: Mapping[str, Any], mask: FieldMask, *, system: bool = False
    ) -> tuple[dict[str, Any], list[FieldError]]:
        """Input -> stored values. A field the actor cannot see is as unknown as a field that
        does not exist; one they may only read (or see masked) is refused by name. Read-only
        fields hold what the system derives (a lead's conversion links): only the system
        actor writes them."""
        if not isinstance(data, Mapping):
            return {}, [FieldError(None, "bad_input", _("The record must be an object of fields"))]
        record: dict[str, Any] = {}
        errors: list[FieldError] = []
        for key, value in data.items():
            if key in IGNORED_INPUT:
                continue
            field = entity.get_field(key) if isinstance(key, str) else None
            if field is None or field.hidden or key not in mask.levels:
                errors.append(
                    FieldError(
                        str(key), "unknown_field", _("Unknown field '{field}'", field=str(key))
                    )
                )
                continue
            if field.readonly and not system:
                errors.append(
                    FieldError(key, "read_only", _("{field} cannot be changed", field=field.label))
                )
                continue
            if key not in mask.writable:
                errors.append(
                    FieldError(key, "forbidden", _("You may not change {field}", field=field.label))
                )
                continue
            try:
                record[key] = self.types.for_field(field).parse(value, field)
            except FieldValueError as error:
                errors.append(FieldError(key, error.code, error.message))
        return record, errors

    def apply_defaults(self, entity: EntityDef, record: dict[str, Any], actor: Actor) -> None:
        for field in entity.input_fields:
            if field.key not in record and field.default is not None:
                try:
                    record[field.key] = self.types.for_field(field).parse(field.default, field)
                except FieldValueError:
                    log.warning("ignoring bad default of %s.%s", entity.name, field.key)
        if record.get("owner_id") is None:
            record["owner_id"] = actor.user_id
        if record.get("department_id") is None:
            record["department_id"] = actor.department_id

    def validate(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        record: dict[str, Any],
        old: dict[str, Any] | None,
        access: Access,
        op: str,
        reason: str | None,
    ) -> list[FieldError]:
        """Every rule, every error collected; errors about fields the actor cannot see are
        folded into one that names none of them."""
        actor = access.actor
        validator = self.validators.for_entity(entity)
        # On update only the changed values meet the schema: a value that an admin's later
        # change made invalid (a removed option, a shorter maximum) must not block editing
        # other fields. Required fields are always checked.
        document = {
            f.key: self.types.for_field(f).schema_value(record[f.key])
            for f in entity.input_fields
            if f.key in record and (old is None or record[f.key] != old.get(f.key))
        }
        errors = validator.required_errors(record) + validator.errors(document)
        errors += self.reference_errors(connection, snapshot, entity, record, old, access)
        errors += self.unique_errors(connection, snapshot, entity, record, old)
        errors += self.tag_errors(connection, entity, record)
        for found in self.pm.hook.validate_record(
            platform=self.platform,
            entity=entity,
            record=record,
            old=old,
            actor=actor,
            op=op,
            reason=reason,
        ):
            errors.extend(found or [])
        visible = access.mask(entity).levels
        if any(e.field is not None and e.field not in visible for e in errors):
            errors = [e for e in errors if e.field is None or e.field in visible]
            errors.append(
                FieldError(
                    None,
                    "hidden_field",
                    _("A field you cannot see prevents saving; ask an administrator"),
                )
            )
        seen: set[tuple[str | None, str]] = set()
        return [
            e for e in errors if (e.field, e.code) not in seen and not seen.add((e.field, e.code))
        ]

    def reference_errors(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        record: dict[str, Any],
        old: dict[str, Any] | None,
        access: Access,
    ) -> list[FieldError]:
        """Referenced records must exist and, for module records, be visible to the actor: a
        record outside their scope is reported exactly like a missing one. The actor's own user
        and department need no lookup (owner and department default to them)."""
        errors = []
        actor = access.actor
        known = {"user": actor.user_id, "department": actor.department_id}
        for field in entity.input_fields:
            value = record.get(field.key)
            target = reference_target(field, snapshot.entity_tables)
            if value is None or target is None or (old is not None and old.get(field.key) == value):
                continue
            if known.get(field.type) == value:
                continue
            target_entity = snapshot.entities.get(field.reference or "")
            if field.type == "reference" and target_entity is not None:
                if not self.visible(connection, snapshot, access, target_entity, value):
                    errors.append(_reference_error(field))
            elif connection.execute(_exists_statement(target), {"id": value}).first() is None:
                errors.append(_reference_error(field))
        return errors

    def unique_errors(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        record: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> list[FieldError]:
        errors = []
        table = snapshot.tables[entity.name]
        for field in entity.input_fields:
            value = record.get(field.key)
            if (
                not field.unique
                or value is None
                or (old is not None and old.get(field.key) == value)
            ):
                continue
            query = sa.select(table.c.deleted_at).where(equals(table, field.column, value))
            if old is not None:
                query = query.where(table.c.id != old["id"])
            holder = connection.execute(query.limit(1)).first()
            if holder is not None:
                errors.append(_unique_error(field, binned=holder.deleted_at is not None))
        return errors

    def tag_errors(
        self, connection: Connection, entity: EntityDef, record: dict[str, Any]
    ) -> list[FieldError]:
        errors = []
        for field in self.tag_fields(entity):
            codes = record.get(field.key) or []
            known = tagging.tag_ids(connection, entity.name, codes)
            unknown = [code for code in codes if code not in known]
            if unknown:
                errors.append(
                    FieldError(field.key, "unknown_tag", _("Unknown tags: {tags}", tags=unknown))
                )
        return errors

    def reason_errors(
        self,
        entity: EntityDef,
        changed: set[str],
        reason: str | None,
        field_reasons: Mapping[str, str],
    ) -> list[FieldError]:
        """DATA-06: a reason may be required for the whole entity or for particular fields."""
        if reason and reason.strip():
            return []
        if entity.reason_required and changed:
            return [FieldError(None, "reason_required", _("Give a reason for this change"))]
        return [
            FieldError(
                key,
                "reason_required",
                _("Give a reason for changing {field}", field=entity.field(key).label),
            )
            for key in sorted(changed)
            if entity.get_field(key)
            and entity.field(key).reason_required
            and not field_reasons.get(key)
        ]

    def integrity_error(self, entity: EntityDef, error: IntegrityError) -> ValidationFailed:
        text = str(error.orig).lower()
        for field in entity.input_fields:
            if field.unique and field.column in text:
                return ValidationFailed([_unique_error(field)])
        log.warning("integrity error on %s: %s", entity.name, error.orig)
        return ValidationFailed(
            [FieldError(None, "integrity", _("The record conflicts with existing data"))]
        )
