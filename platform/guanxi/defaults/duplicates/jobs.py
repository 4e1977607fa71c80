"""Jobs of the duplicate rules: give existing records their keys when a rule is saved, and a
daily scan that counts candidate groups (DATA-08) for the report."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.store.system_tables import dup_key, dup_rule

BATCH = 2000


def index_rule(ctx: Any) -> dict[str, int]:
    """Build the key rows of one rule over every entity it covers, in id batches."""
    platform = ctx.platform
    book = platform.duplicates
    book.invalidate()
    rule = book.get(int(ctx.payload["rule_id"]))
    snapshot = platform.registry.snapshot()
    written = 0
    for entity_name in rule.entities():
        table = snapshot.tables.get(entity_name)
        fields = rule.fields_for(entity_name) or ()
        if table is None or any(key not in table.c for key in fields):
            continue
        columns = [table.c.id, *(table.c[key] for key in fields)]
        last = 0
        while True:
            with platform.db.unit_of_work() as connection:
                rows = connection.execute(
                    sa.select(*columns).where(table.c.id > last).order_by(table.c.id).limit(BATCH)
                ).all()
                if not rows:
                    break
                ids = [row.id for row in rows]
                connection.execute(
                    sa.delete(dup_key).where(
                        dup_key.c.rule_id == rule.id,
                        dup_key.c.entity == entity_name,
                        dup_key.c.record_id.in_(ids),
                    )
                )
                values = []
                for row in rows:
                    text = book.key_text(rule, entity_name, row._mapping, connection)
                    if text is not None:
                        values.append({"rule_id": rule.id, "entity": entity_name,
                                       "record_id": row.id,
                                       "key": _key(platform, rule.id, text)})  # fmt: skip
                if values:
                    connection.execute(sa.insert(dup_key), values)
                written += len(values)
            last = rows[-1].id
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(dup_rule).where(dup_rule.c.id == rule.id).values(indexed_at=clock.now_utc())
        )
    return {"keys": written}


def _key(platform: Any, rule_id: int, text: str) -> str:
    from guanxi.defaults.duplicates.keys import key_of

    return key_of(platform.cipher, rule_id, text)


def candidate_groups(platform: Any, rule_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """Groups of records sharing a key, largest first: [{"size", "members": [(entity, id)]}]."""
    with platform.db.read() as connection:
        groups = connection.execute(
            sa.select(dup_key.c.key, sa.func.count().label("size"))
            .where(dup_key.c.rule_id == rule_id)
            .group_by(dup_key.c.key)
            .having(sa.func.count() > 1)
            .order_by(sa.desc("size"), dup_key.c.key)
            .limit(limit)
        ).all()
        found = []
        for group in groups:
            members = connection.execute(
                sa.select(dup_key.c.entity, dup_key.c.record_id)
                .where(dup_key.c.rule_id == rule_id, dup_key.c.key == group.key)
                .order_by(dup_key.c.record_id)
            ).all()
            found.append({"size": int(group.size),
                          "members": [(m.entity, int(m.record_id)) for m in members]})  # fmt: skip
    return found


def scan(ctx: Any) -> dict[str, int]:
    """Daily: per active rule, how many candidate groups and records the keys hold."""
    platform = ctx.platform
    totals = {"rules": 0, "groups": 0}
    for rule in platform.duplicates.all():
        if not rule.active:
            continue
        with platform.db.read() as connection:
            sizes = (
                connection.execute(
                    sa.select(sa.func.count().label("size"))
                    .where(dup_key.c.rule_id == rule.id)
                    .group_by(dup_key.c.key)
                    .having(sa.func.count() > 1)
                )
                .scalars()
                .all()
            )
        summary = {"at": clock.now_utc().isoformat(), "groups": len(sizes),
                   "records": int(sum(sizes))}  # fmt: skip
        with platform.db.unit_of_work() as connection:
            connection.execute(
                sa.update(dup_rule).where(dup_rule.c.id == rule.id).values(last_scan=summary)
            )
        totals["rules"] += 1
        totals["groups"] += len(sizes)
    return totals


JOBS: list[dict[str, Any]] = [
    {"name": "duplicates.index", "run": index_rule, "retries": 3, "backoff": 30, "timeout": 3600},
    {"name": "duplicates.scan", "every": "daily", "at": "03:00", "run": scan, "timeout": 1800},
]
