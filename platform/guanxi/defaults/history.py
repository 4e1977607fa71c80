"""Change history (DATA-05, PERM-07): one row per write, old -> new per field, in the write's
own transaction so a record never changes without its trace."""

from __future__ import annotations

from typing import Any

from guanxi.crypto.copies import seal_changes, sealed_keys
from guanxi.events import RecordEvent
from guanxi.hookspecs import hookimpl
from guanxi.meta.entity import EntityDef
from guanxi.store import grouped
from guanxi.store.system_tables import history


@hookimpl
def record_stored(platform: Any, connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    changes = {key: [old, new] for key, (old, new) in event.changes.items()}
    keys = sealed_keys(entity, platform.types)
    if keys:  # DATA-12: the diff of an encrypted field is as sealed as the field
        changes = seal_changes(platform.cipher, entity.name, keys, changes)
    grouped.insert(
        connection,
        history,
        {
            "entity": event.entity,
            "record_id": event.record_id,
            "op": event.op,
            "actor_id": event.actor.user_id,
            "actor_name": event.actor.username,
            "at": event.at,
            "changes": changes,
            "reason": event.reason,
            "field_reasons": event.field_reasons or None,
            "ip": event.actor.ip,
        },
    )
