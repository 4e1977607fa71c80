"""Re-encryption in batches (DATA-12): after `guanxi keys rotate`, after upgrading a database
whose sensitive fields were stored plain, or after an admin marks a field sensitive.

Every sealed column value not under the current key (or not sealed at all) is sealed again and
its blind index recomputed; history diffs and webhook bodies follow. Rows are walked by id in
short transactions, so the CRM keeps working; running it twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from guanxi.crypto.cipher import PREFIX, Cipher, is_sealed, sealed_key_id
from guanxi.crypto.columns import blind_column, sealed_type
from guanxi.crypto.copies import seal_changes, sealed_keys
from guanxi.store.system_tables import history, webhook_delivery

if TYPE_CHECKING:
    from guanxi.core import Guanxi

BATCH = 500
Progress = Callable[[str, int], None]


@dataclass
class ResealReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows rewritten

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _needs(cipher: Cipher, value: Any) -> bool:
    return value is not None and sealed_key_id(value) != cipher.current


def reseal(
    platform: Guanxi, *, batch: int = BATCH, progress: Progress | None = None
) -> ResealReport:
    cipher = platform.cipher
    cipher.refresh(force=True)
    report = ResealReport()
    snapshot = platform.registry.snapshot()
    for entity in snapshot.entities.values():
        table = snapshot.tables[entity.name]
        sealed = [c for c in table.columns if sealed_type(c) is not None]
        if sealed:
            report.rows[table.name] = _reseal_table(platform, table, sealed, batch, progress)
        keys = sealed_keys(entity, platform.types)
        if keys:
            done = _reseal_history(platform, entity.name, keys, batch, progress)
            report.rows["gx_history"] = report.rows.get("gx_history", 0) + done
    report.rows["gx_webhook_delivery"] = _reseal_bodies(platform, batch, progress)
    return report


def _reseal_table(
    platform: Guanxi, table: sa.Table, sealed: list[Any], batch: int, progress: Progress | None
) -> int:
    """Raw column access (no type decorator): the stored text, sealed or not."""
    cipher = platform.cipher
    names = [c.name for c in sealed]
    raw = sa.table(
        table.name,
        sa.column("id"),
        *(sa.column(n) for n in names),
        *(sa.column(blind_column(n)) for n in names),
    )
    last, changed = 0, 0
    while True:
        with platform.db.unit_of_work() as connection:
            rows = connection.execute(
                sa.select(raw).where(raw.c.id > last).order_by(raw.c.id).limit(batch)
            ).all()
            for row in rows:
                values: dict[str, Any] = {}
                for column in sealed:
                    stored = row._mapping[column.name]
                    index = row._mapping[blind_column(column.name)]
                    kind = sealed_type(column)
                    assert kind is not None
                    if stored is None:
                        if index is not None:
                            values[blind_column(column.name)] = None
                        continue
                    plain = cipher.open(stored, kind.context)
                    expected = kind.blind(plain)
                    if _needs(cipher, stored) or index != expected:
                        values[column.name] = cipher.seal(plain, kind.context)
                        values[blind_column(column.name)] = expected
                if values:
                    connection.execute(sa.update(raw).where(raw.c.id == row.id).values(values))
                    changed += 1
        if not rows:
            return changed
        last = rows[-1].id
        if progress:
            progress(table.name, len(rows))


def _reseal_history(
    platform: Guanxi, entity: str, keys: frozenset[str], batch: int, progress: Progress | None
) -> int:
    cipher = platform.cipher
    from guanxi.crypto.copies import open_changes

    last, changed = 0, 0
    while True:
        with platform.db.unit_of_work() as connection:
            rows = connection.execute(
                sa.select(history.c.id, history.c.changes)
                .where(history.c.entity == entity, history.c.id > last)
                .order_by(history.c.id)
                .limit(batch)
            ).all()
            for row in rows:
                changes = row.changes or {}
                stale = any(
                    _needs(cipher, value)
                    for key in keys
                    if isinstance(changes.get(key), list)
                    for value in changes[key]
                )
                if not stale:
                    continue
                opened = open_changes(cipher, entity, changes)
                connection.execute(
                    sa.update(history)
                    .where(history.c.id == row.id)
                    .values(changes=seal_changes(cipher, entity, keys, opened))
                )
                changed += 1
        if not rows:
            return changed
        last = rows[-1].id
        if progress:
            progress(f"gx_history ({entity})", len(rows))


def _reseal_bodies(platform: Guanxi, batch: int, progress: Progress | None) -> int:
    from guanxi.defaults.webhooks.delivery import BODY_CONTEXT

    cipher = platform.cipher
    last, changed = 0, 0
    while True:
        with platform.db.unit_of_work() as connection:
            rows = connection.execute(
                sa.select(webhook_delivery.c.id, webhook_delivery.c.body)
                .where(webhook_delivery.c.id > last)
                .order_by(webhook_delivery.c.id)
                .limit(batch)
            ).all()
            for row in rows:
                if row.body and _needs(cipher, row.body):
                    body = cipher.open(row.body, BODY_CONTEXT)
                    connection.execute(
                        sa.update(webhook_delivery)
                        .where(webhook_delivery.c.id == row.id)
                        .values(body=cipher.seal(body, BODY_CONTEXT))
                    )
                    changed += 1
        if not rows:
            return changed
        last = rows[-1].id
        if progress:
            progress("gx_webhook_delivery", len(rows))


def key_usage(platform: Guanxi) -> dict[str, dict[str, int]]:
    """Per table: how many stored values each key id seals ("plain" for values not sealed)."""
    usage: dict[str, dict[str, int]] = {}
    snapshot = platform.registry.snapshot()
    with platform.db.read() as connection:
        for entity in snapshot.entities.values():
            table = snapshot.tables[entity.name]
            for column in table.columns:
                if sealed_type(column) is None:
                    continue
                raw = sa.table(table.name, sa.column(column.name))
                counts = usage.setdefault(table.name, {})
                for (value,) in connection.execute(
                    sa.select(raw.c[column.name]).where(raw.c[column.name].is_not(None))
                ):
                    key = sealed_key_id(value) or "plain"
                    counts[key] = counts.get(key, 0) + 1
        for (changes,) in connection.execute(sa.select(history.c.changes)):
            for pair in (changes or {}).values():
                for value in pair if isinstance(pair, list) else []:
                    if is_sealed(value):
                        key = sealed_key_id(value) or "?"
                        counts = usage.setdefault("gx_history", {})
                        counts[key] = counts.get(key, 0) + 1
        for (body,) in connection.execute(sa.select(webhook_delivery.c.body)):
            if body and body.startswith(PREFIX):
                counts = usage.setdefault("gx_webhook_delivery", {})
                key = sealed_key_id(body) or "?"
                counts[key] = counts.get(key, 0) + 1
    return usage


__all__ = ["ResealReport", "key_usage", "reseal"]
