"""Record events -> deliveries (API-03). For each active endpoint on the event's entity and
event, the payload is read as the endpoint's owner: nothing is sent unless the owner may view
the record, masked fields arrive masked, hidden ones not at all, and "changes" holds only
fields the owner may read in full. Every delivery of one event and its job task commit in one
transaction, so a queued delivery is never lost and never sent without its row.

Events: create -> created, delete -> deleted, update (and lock/unlock, which change the
`locked` field) -> updated, or stage_changed when a stage field the owner may read changed
and the endpoint listens for it (one delivery per endpoint and event, never two)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.auth.fields import FieldMask
from guanxi.auth.identity import load_actor
from guanxi.auth.version import versions
from guanxi.authorization import Access
from guanxi.defaults.webhooks import delivery
from guanxi.defaults.webhooks.service import Endpoint, webhooks
from guanxi.errors import GuanxiError
from guanxi.events import RecordEvent
from guanxi.meta.entity import EntityDef
from guanxi.meta.registry import Snapshot

if TYPE_CHECKING:
    from guanxi.core import Guanxi

BASE_EVENT = {
    "create": "created",
    "update": "updated",
    "lock": "updated",
    "unlock": "updated",
    "delete": "deleted",  # into the recycle bin, or for good without one
    "restore": "created",  # back from the recycle bin: receivers saw it deleted
}


@dataclass(frozen=True)
class Planned:
    endpoint: Endpoint
    access: Access
    event: str
    changes: dict[str, list[Any]]


def on_record_changed(platform: Guanxi, event: RecordEvent) -> list[int]:
    """Queue the deliveries `event` calls for; returns their ids (none: nothing listens)."""
    kind = BASE_EVENT.get(event.op)
    if kind is None:
        return []
    endpoints = [
        e
        for e in webhooks(platform).active_endpoints(event.entity)
        if kind in e.events or (kind == "updated" and "stage_changed" in e.events)
    ]
    if not endpoints:
        return []
    source = event.old if event.op == "delete" else event.record
    if source is None:
        return []
    entity, planned = _plan(platform, event, kind, endpoints, source)
    if entity is None:
        return []
    payloads = []
    visible: dict[int, bool] = {}  # per owner: endpoints of one owner share the answer
    for item in planned:
        owner_id = item.endpoint.owner_id
        if event.op != "delete":
            if owner_id not in visible:
                visible[owner_id] = _visible(platform, item.access, entity, event.record_id)
            if not visible[owner_id]:
                continue
        payloads.append((item.endpoint.id, _payload(platform, entity, item, event, source)))
    if not payloads:
        return []
    with platform.db.unit_of_work() as connection:
        return [
            delivery.queue(platform, connection, endpoint_id, payload, record_id=event.record_id)
            for endpoint_id, payload in payloads
        ]


def _plan(
    platform: Guanxi,
    event: RecordEvent,
    kind: str,
    endpoints: list[Endpoint],
    source: Mapping[str, Any],
) -> tuple[EntityDef | None, list[Planned]]:
    """Which endpoints get the event, under which name, with which changes (one read)."""
    planned: list[Planned] = []
    with platform.db.read() as connection:
        meta_version, auth_version = versions(connection)
        snapshot = platform.registry.snapshot(connection, meta_version)
        entity = snapshot.entities.get(event.entity)
        if entity is None:
            return None, []
        owners: dict[int, Access | None] = {}
        for endpoint in endpoints:
            if endpoint.owner_id not in owners:
                owner = load_actor(connection, endpoint.owner_id)
                owners[endpoint.owner_id] = (
                    platform.authorizer.access(connection, owner, auth_version) if owner else None
                )
            access = owners[endpoint.owner_id]
            if access is None or not access.allows(entity.name, "view"):
                continue
            mask = access.mask(entity)
            changes = {
                key: list(pair) for key, pair in event.changes.items() if key in mask.readable
            }
            name = _event_name(endpoint.events, kind, changes, entity)
            if name is None:
                continue
            if event.op == "delete" and not _was_in_scope(
                connection, snapshot, entity, access, source
            ):
                continue
            planned.append(Planned(endpoint, access, name, changes))
    return entity, planned


def _event_name(
    events: frozenset[str], kind: str, changes: Mapping[str, Any], entity: EntityDef
) -> str | None:
    if kind != "updated":
        return kind if kind in events else None
    if not changes:  # only fields the owner cannot read changed: nothing to tell them
        return None
    if "stage_changed" in events and any(key in entity.pipelines for key in changes):
        return "stage_changed"
    return "updated" if "updated" in events else None


def _visible(platform: Guanxi, access: Access, entity: EntityDef, record_id: int) -> bool:
    """The owner may view the record now: scope and plugins' query conditions, as any read."""
    try:
        platform.records.get(access.actor, entity.name, record_id, log_view=False)
    except GuanxiError:
        return False
    return True


def _was_in_scope(
    connection: Connection,
    snapshot: Snapshot,
    entity: EntityDef,
    access: Access,
    old: Mapping[str, Any],
) -> bool:
    """Whether a deleted record's last values were in the owner's view scope. Owner and
    department rules decide from the values; others (via, filter) run the scope's SQL
    against a one-row table of those values, since the row itself is gone."""
    decided = access.record_in_scope(connection, snapshot, entity, old, "view")
    if decided is not None:
        return decided
    table = snapshot.tables[entity.name]
    gone = sa.select(
        *[sa.cast(sa.literal(old.get(c.key), c.type), c.type).label(c.key) for c in table.columns]
    ).subquery("gone")
    clause = access.scope_clause(connection, snapshot, entity, "view", gone)  # type: ignore[arg-type]
    if clause is None:
        return True
    return (
        connection.execute(sa.select(sa.literal(1)).select_from(gone).where(clause)).first()
        is not None
    )


def _payload(
    platform: Guanxi,
    entity: EntityDef,
    item: Planned,
    event: RecordEvent,
    source: Mapping[str, Any],
) -> dict[str, Any]:
    mask = item.access.mask(entity)
    return {
        "event": f"{entity.name}.{item.event}",
        "entity": entity.name,
        "occurred_at": delivery.iso_utc(event.at),
        "record": _record_json(platform, entity, mask, source),
        "changes": item.changes,
        "actor": {"id": event.actor.user_id, "name": event.actor.name},
    }


def _record_json(
    platform: Guanxi, entity: EntityDef, mask: FieldMask, source: Mapping[str, Any]
) -> dict[str, Any]:
    """The record as the owner sees it, in JSON values (masked values are already text)."""
    masked = mask.apply(platform.records.present(entity, source))
    plain = platform.records.to_json(
        entity, {k: v for k, v in masked.items() if k not in mask.maskers}
    )
    return {key: plain.get(key, value) for key, value in masked.items()}
