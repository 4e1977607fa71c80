"""The merge log (gx_merge, DATA-08): one row per merge holding what an undo needs, the
merged-away records and the survivor as they were, with the values the history would seal
sealed too (DATA-12). The recycle bin reads it back with `merge_record`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth.fields import FieldMask, Level
from guanxi.crypto.copies import open_value, seal_value, sealed_keys
from guanxi.errors import NotFound
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.store.system_tables import merge_log

if TYPE_CHECKING:
    from guanxi.core import Guanxi


def _context(entity: str, key: str) -> str:
    return f"merge:{entity}.{key}"


def _sealed(
    platform: Guanxi, entity: EntityDef, keys: frozenset[str], record: Mapping[str, Any]
) -> dict[str, Any]:
    """The record as JSON, the values of `keys` sealed."""
    values = platform.records.to_json(entity, record)
    return {
        key: seal_value(platform.cipher, value, _context(entity.name, key)) if key in keys
        else value
        for key, value in values.items()
    }  # fmt: skip


def write(
    platform: Guanxi,
    connection: Connection,
    actor: Actor,
    entity: EntityDef,
    mask: FieldMask,
    stored: Mapping[int, Mapping[str, Any]],
    survivor: int,
    values_from: Mapping[str, int],
    relinked: list[dict[str, Any]],
) -> int:
    """One gx_merge row in the merge's transaction; `stored` holds every record as it was
    (the survivor and the merged-away ones). Sensitive values, and those the actor could
    not read in full, are sealed: the log shows no more than the history and the screen."""
    keys = sealed_keys(entity, platform.types) | {
        f.key for f in entity.fields if mask.level(f.key) < Level.READ
    }
    away = [i for i in stored if i != survivor]
    statement = (
        sa.insert(merge_log)
        .values(
            entity=entity.name,
            survivor_id=survivor,
            merged_ids=away,
            merged_values={str(i): _sealed(platform, entity, keys, stored[i]) for i in away},
            survivor_before=_sealed(platform, entity, keys, stored[survivor]),
            values_from=dict(values_from),
            relinked=relinked,
            actor_id=actor.user_id,
            actor_name=actor.username,
            at=clock.now_utc(),
        )
        .returning(merge_log.c.id)
    )
    return int(connection.execute(statement).scalar_one())


def merge_record(platform: Guanxi, merge_id: int) -> dict[str, Any]:
    """A merge log row with its sealed values opened: what an undo (the recycle bin) puts
    back. For code acting as the platform; a screen must not show it as it is."""
    with platform.db.read() as connection:
        row = connection.execute(sa.select(merge_log).where(merge_log.c.id == merge_id)).first()
    if row is None:
        raise NotFound(_("No such merge"))
    found = dict(row._mapping)
    entity = found["entity"]

    def opened(values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: open_value(platform.cipher, v, _context(entity, k)) for k, v in values.items()}

    found["merged_values"] = {k: opened(v) for k, v in found["merged_values"].items()}
    found["survivor_before"] = opened(found["survivor_before"])
    return found
