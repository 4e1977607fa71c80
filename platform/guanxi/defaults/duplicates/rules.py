"""Duplicate rules (DATA-07): stored, validated, cached, and the key table kept in step.

A rule names fields of its entity and, optionally, the matching fields of other entities
(lead vs customer vs contact); a record's values of those fields, normalized, form one key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.defaults.duplicates import keys
from guanxi.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.store import grouped
from guanxi.store.system_tables import dup_key, dup_rule

if TYPE_CHECKING:
    from guanxi.core import Guanxi

ACTIONS = ("warn", "block", "owner")
LOOKUP_BATCH = 500  # keys per IN (...) of a prefetch
CACHE_SECONDS = 2.0  # another worker's rule change is seen this soon
INDEX_JOB = "duplicates.index"


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    entity: str
    fields: tuple[str, ...]
    methods: tuple[str, ...]
    targets: tuple[tuple[str, tuple[str, ...]], ...]  # (entity, its fields in rule order)
    action: str
    active: bool

    def fields_for(self, entity: str) -> tuple[str, ...] | None:
        if entity == self.entity:
            return self.fields
        return next((fields for name, fields in self.targets if name == entity), None)

    def entities(self) -> list[str]:
        return [self.entity, *(name for name, _fields in self.targets)]


def _rule(row: Mapping[str, Any]) -> Rule:
    fields = [dict(f) for f in row["fields"] or []]
    return Rule(
        id=int(row["id"]),
        name=str(row["name"]),
        entity=str(row["entity"]),
        fields=tuple(str(f["field"]) for f in fields),
        methods=tuple(str(f.get("method", "exact")) for f in fields),
        targets=tuple(
            (str(t["entity"]), tuple(str(k) for k in t["fields"])) for t in row["targets"] or []
        ),
        action=str(row["action"]),
        active=bool(row["active"]),
    )


@dataclass
class Prefetch:
    """Key rows of one batch of records (an import chunk), read with one query per rule:
    `known` keys were looked up, `found` holds the rows that carry them. Keys the batch
    stores itself are added, so later rows of the batch see earlier ones."""

    entity: str
    definition: Any = None  # the entity's EntityDef, read with the batch
    known: set[tuple[int, str]] = field(default_factory=set)
    found: dict[tuple[int, str], list[tuple[str, int]]] = field(default_factory=dict)

    def answer(
        self, rule_id: int, lookup: list[str], entity: str, exclude_id: int | None
    ) -> list[tuple[str, int]] | None:
        """The matches, or None when a key was not looked up (the caller queries)."""
        if not all((rule_id, key) in self.known for key in lookup):
            return None
        matched = [
            hit
            for key in lookup
            for hit in self.found.get((rule_id, key), ())
            if not (exclude_id is not None and hit == (entity, exclude_id))
        ]
        return list(dict.fromkeys(matched))[:5]

    def add(self, rule_id: int, key: str, entity: str, record_id: int) -> None:
        self.known.add((rule_id, key))
        self.found.setdefault((rule_id, key), []).append((entity, record_id))


_PREFETCH: ContextVar[Prefetch | None] = ContextVar("guanxi_dup_prefetch", default=None)


class RuleBook:
    """The rules, cached for a moment: a write checks them without a query of its own."""

    def __init__(self, platform: Guanxi) -> None:
        self.platform = platform
        self._rules: list[Rule] = []
        self._loaded = 0.0

    @contextmanager
    def prefetched(
        self,
        entity: str,
        records: Sequence[Mapping[str, Any]],
        connection: Connection | None = None,
    ) -> Iterator[Prefetch]:
        """Within the block, duplicate checks of these records (and of rows the block itself
        stores) are answered from one batched read per rule instead of a query per row and
        rule: what makes an import of 100,000 rows against 1M records fast."""
        prefetch = Prefetch(
            entity, self.platform.registry.snapshot(connection).entities.get(entity)
        )
        if connection is None:
            with self.platform.db.read() as own:
                self._fill(own, prefetch, entity, records)
        else:
            self._fill(connection, prefetch, entity, records)
        token = _PREFETCH.set(prefetch)
        try:
            yield prefetch
        finally:
            _PREFETCH.reset(token)

    def _fill(
        self,
        connection: Connection,
        prefetch: Prefetch,
        entity: str,
        records: Sequence[Mapping[str, Any]],
    ) -> None:
        cipher = self.platform.cipher
        for rule in self.covering(entity):
            wanted: set[str] = set()
            for record in records:
                text = self.key_text(rule, entity, record, connection)
                if text is not None:
                    wanted.update(keys.keys_of(cipher, rule.id, text))
            ordered = sorted(wanted)
            for start in range(0, len(ordered), LOOKUP_BATCH):
                batch = ordered[start : start + LOOKUP_BATCH]
                query = sa.select(dup_key.c.key, dup_key.c.entity, dup_key.c.record_id).where(
                    dup_key.c.rule_id == rule.id, dup_key.c.key.in_(batch)
                )
                for row in connection.execute(query):
                    prefetch.found.setdefault((rule.id, row.key), []).append(
                        (row.entity, int(row.record_id))
                    )
                prefetch.known.update((rule.id, key) for key in batch)

    def invalidate(self) -> None:
        self._loaded = 0.0

    def all(self) -> list[Rule]:
        if time.monotonic() - self._loaded > CACHE_SECONDS:
            with self.platform.db.read() as connection:
                rows = connection.execute(sa.select(dup_rule).order_by(dup_rule.c.id)).mappings()
                self._rules = [_rule(row) for row in rows]
            self._loaded = time.monotonic()
        return self._rules

    def covering(self, entity: str) -> list[Rule]:
        return [r for r in self.all() if r.active and r.fields_for(entity) is not None]

    def get(self, rule_id: int) -> Rule:
        with self.platform.db.read() as connection:
            row = connection.execute(sa.select(dup_rule).where(dup_rule.c.id == rule_id)).first()
        if row is None:
            raise NotFound(_("No such duplicate rule"))
        return _rule(row._mapping)

    # -- keys ------------------------------------------------------------------------------

    def key_text(
        self,
        rule: Rule,
        entity: str,
        record: Mapping[str, Any],
        connection: Connection | None = None,
    ) -> str | None:
        """The rule's normalized values of `record`; with the caller's connection, no new
        one is opened to read the metadata version (a write checks every rule)."""
        fields = rule.fields_for(entity)
        definition = self.platform.registry.snapshot(connection).entities.get(entity)
        if fields is None or definition is None:
            return None
        return keys.match_text(self.platform.types, definition, fields, rule.methods, record)

    def store_keys(
        self,
        connection: Connection,
        entity: str,
        record_id: int,
        record: Mapping[str, Any],
        *,
        new: bool = False,
    ) -> None:
        """Keep the record's key rows in step with its values (inside the write); a `new`
        record has none to replace."""
        prefetch = _PREFETCH.get()
        for rule in self.covering(entity):
            text = self.key_text(rule, entity, record, connection)
            if not new:
                connection.execute(
                    sa.delete(dup_key).where(
                        dup_key.c.rule_id == rule.id,
                        dup_key.c.entity == entity,
                        dup_key.c.record_id == record_id,
                    )
                )
            if text is None:
                continue
            key = keys.key_of(self.platform.cipher, rule.id, text)
            grouped.insert(
                connection,
                dup_key,
                {"rule_id": rule.id, "entity": entity, "record_id": record_id, "key": key},
            )
            if prefetch is not None and new:  # later rows of the batch match this one
                prefetch.add(rule.id, key, entity, record_id)

    def drop_keys(self, connection: Connection, entity: str, record_id: int) -> None:
        connection.execute(
            sa.delete(dup_key).where(dup_key.c.entity == entity, dup_key.c.record_id == record_id)
        )

    def prefetched_matches(
        self, rule: Rule, entity: str, record: Mapping[str, Any], exclude_id: int | None
    ) -> list[tuple[str, int]] | None:
        """`matches` answered from the active prefetch; None when it cannot answer."""
        prefetch = _PREFETCH.get()
        if prefetch is None or prefetch.entity != entity or prefetch.definition is None:
            return None
        fields = rule.fields_for(entity)
        if fields is None:
            return []
        text = keys.match_text(
            self.platform.types, prefetch.definition, fields, rule.methods, record
        )
        if text is None:
            return []
        lookup = keys.keys_of(self.platform.cipher, rule.id, text)
        found = prefetch.answer(rule.id, lookup, entity, exclude_id)
        if found is None or entity == rule.entity:
            return found
        return [hit for hit in found if hit[0] == rule.entity]  # as in `matches`

    def matches(
        self,
        connection: Connection,
        rule: Rule,
        entity: str,
        record: Mapping[str, Any],
        exclude_id: int | None,
    ) -> list[tuple[str, int]]:
        """(entity, id) of records sharing the rule's key with `record`. A record of one of
        the rule's other modules matches only records of the rule's own module: a lead rule
        comparing with customers and contacts does not compare customers with each other."""
        text = self.key_text(rule, entity, record, connection)
        if text is None:
            return []
        query = sa.select(dup_key.c.entity, dup_key.c.record_id).where(
            dup_key.c.rule_id == rule.id,
            dup_key.c.key.in_(keys.keys_of(self.platform.cipher, rule.id, text)),
        )
        if entity != rule.entity:
            query = query.where(dup_key.c.entity == rule.entity)
        if exclude_id is not None:
            query = query.where(
                sa.not_(sa.and_(dup_key.c.entity == entity, dup_key.c.record_id == exclude_id))
            )
        return [(row.entity, int(row.record_id)) for row in connection.execute(query.limit(5))]

    # -- administration --------------------------------------------------------------------

    def save(self, actor: Actor, values: Mapping[str, Any], rule_id: int | None = None) -> Rule:
        """Create or change a rule (admins only); existing records get their keys from the
        `duplicates.index` job, queued in the same transaction."""
        self._check_admin(actor)
        clean = self.validated(values)
        now = clock.now_utc()
        with self.platform.db.unit_of_work() as connection:
            if rule_id is None:
                rule_id = int(
                    connection.execute(
                        sa.insert(dup_rule)
                        .values(**clean, created_at=now, updated_at=now)
                        .returning(dup_rule.c.id)
                    ).scalar_one()
                )
            else:
                found = connection.execute(
                    sa.update(dup_rule)
                    .where(dup_rule.c.id == rule_id)
                    .values(**clean, updated_at=now, indexed_at=None)
                ).rowcount
                if not found:
                    raise NotFound(_("No such duplicate rule"))
                connection.execute(sa.delete(dup_key).where(dup_key.c.rule_id == rule_id))
            audit.write(connection, actor, "duplicate_rule", f"duplicate_rule:{rule_id}",
                        {k: v for k, v in clean.items()})  # fmt: skip
            self.platform.jobs.enqueue(
                INDEX_JOB, {"rule_id": rule_id}, key=f"{INDEX_JOB}:{rule_id}:{now.isoformat()}",
                connection=connection,
            )  # fmt: skip
        self.invalidate()
        return self.get(rule_id)

    def delete(self, actor: Actor, rule_id: int) -> None:
        self._check_admin(actor)
        with self.platform.db.unit_of_work() as connection:
            connection.execute(sa.delete(dup_key).where(dup_key.c.rule_id == rule_id))
            if not connection.execute(sa.delete(dup_rule).where(dup_rule.c.id == rule_id)).rowcount:
                raise NotFound(_("No such duplicate rule"))
            audit.write(connection, actor, "duplicate_rule", f"duplicate_rule:{rule_id}",
                        {"deleted": True})  # fmt: skip
        self.invalidate()

    def _check_admin(self, actor: Actor) -> None:
        if actor.is_system:
            return
        access = self.platform.records.access(actor)
        if not getattr(access, "is_admin", False):
            raise PermissionDenied(_("Only administrators may change duplicate rules"))

    def validated(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every problem at once, each naming its field."""
        snapshot = self.platform.registry.snapshot()
        errors: list[FieldError] = []
        name = str(values.get("name") or "").strip()
        if not name or len(name) > 100:
            errors.append(
                FieldError("name", "required", _("Give the rule a name (at most 100 characters)"))
            )  # noqa: E501
        entity = snapshot.entities.get(str(values.get("entity") or ""))
        if entity is None:
            errors.append(FieldError("entity", "unknown", _("Choose a module")))
        action = str(values.get("action") or "")
        if action not in ACTIONS:
            errors.append(
                FieldError("action", "unknown", _("Choose warn, block or first entered owns"))
            )  # noqa: E501
        fields = [dict(f) for f in values.get("fields") or [] if isinstance(f, Mapping)]
        if not fields or len(fields) > 4:
            errors.append(FieldError("fields", "required", _("Choose one to four fields to match")))
        clean_fields = []
        for item in fields:
            key, method = str(item.get("field") or ""), str(item.get("method") or "exact")
            field = entity.get_field(key) if entity is not None else None
            if entity is not None and (field is None or field.hidden or field.system):
                errors.append(
                    FieldError("fields", "unknown_field", _("Unknown field '{field}'", field=key))
                )  # noqa: E501
            if method not in keys.METHODS:
                errors.append(
                    FieldError("fields", "method", _("A field matches exactly or normalized"))
                )  # noqa: E501
            clean_fields.append({"field": key, "method": method})
        clean_targets = []
        for item in values.get("targets") or []:
            target = snapshot.entities.get(str(item.get("entity") or ""))
            target_fields = [str(k) for k in item.get("fields") or []]
            if (
                target is None
                or len(target_fields) != len(clean_fields)
                or any(target.get_field(k) is None for k in target_fields)
            ):
                errors.append(
                    FieldError(
                        "targets",
                        "invalid",
                        _("Each other module needs one matching field per rule field"),
                    )
                )  # noqa: E501
                continue
            clean_targets.append({"entity": target.name, "fields": target_fields})
        if errors:
            raise ValidationFailed(errors)
        assert entity is not None
        return {
            "name": name,
            "entity": entity.name,
            "fields": clean_fields,
            "targets": clean_targets,
            "action": action,
            "active": bool(values.get("active", True)),
        }
