"""Opportunities (SFA-06..09): probability from the stage, when the stage was entered and when
the deal closed, the customer's last deal date, and the daily stale-stage alert.

Stage entry conditions and the reason asked on every move are the core's stage rules (the
schema's pipeline: required fields per stage, `reason_required`), so an administrator
changes them on the stage screen like any pipeline's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from guanxi import clock, notifications
from guanxi.api import EntityDef, RecordEvent, _
from guanxi_sfa import managers, records_util
from guanxi_sfa.settings import Settings
from guanxi_sfa.tables import stale_alert

STALE_KIND = "opportunity_stale"


def prepare(entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None) -> None:
    stage = record.get("stage")
    if old is not None and stage == old.get("stage"):
        return
    pipeline = entity.pipelines.get("stage")
    found = pipeline.by_code.get(stage) if pipeline is not None and stage else None
    now = clock.now_utc()
    record["stage_changed_at"] = now
    if found is None:
        return
    if found.probability is not None:
        record["probability"] = Decimal(found.probability)
    record["closed_at"] = now if found.category in ("won", "lost") else None


def won_now(entity: EntityDef, event: RecordEvent) -> bool:
    record = event.record
    if record is None or event.op not in ("create", "update") or "stage" not in event.changes:
        return False
    pipeline = entity.pipelines.get("stage")
    stage = pipeline.by_code.get(record.get("stage")) if pipeline is not None else None
    return stage is not None and stage.category == "won"


def changed(platform: Any, entity: EntityDef, event: RecordEvent) -> None:
    """A won deal dates the customer's last deal (the pool's "no deal for M days" rule)."""
    if not won_now(entity, event) or event.record is None:
        return
    customer_id = event.record.get("customer")
    if isinstance(customer_id, int):
        records_util.system_update(
            platform, "customer", customer_id,
            {"last_deal_at": records_util.iso(event.record.get("closed_at") or event.at)},
            reason=_("Deal won: {deal}", deal=event.record.get("name")).render("zh-CN"),
        )  # fmt: skip


def stale_job(ctx: Any) -> dict[str, int]:
    """Daily: open opportunities longer in their stage than the stage's limit (settings:
    stale_days) are named to their owner and the owner's managers, once per stage entry."""
    platform = ctx.platform
    settings = Settings.of(platform)
    pipeline = platform.registry.snapshot().entity("opportunity").pipelines.get("stage")
    now = clock.now_utc()
    sent = 0
    managers_of = managers.ManagersOf(platform, "opportunity")
    for stage, days in settings.stale_days.items():
        if pipeline is None or stage not in pipeline.by_code:
            continue
        cutoff = now - timedelta(days=int(days))
        after = None
        while True:
            page = platform.records.query(
                records_util.SYSTEM, "opportunity",
                [{"field": "stage", "op": "eq", "value": stage},
                 {"field": "stage_changed_at", "op": "lt", "value": records_util.iso(cutoff)}],
                limit=500, after=after,
            )  # fmt: skip
            sent += _alert(
                platform, page.rows, stage, pipeline.by_code[stage].label, days, now, managers_of
            )
            after = page.next_cursor
            if after is None:
                break
    return {"alerted": sent}


def _alert(
    platform: Any, rows: list[dict[str, Any]], stage: str, label: Any, days: int, now: Any,
    managers_of: managers.ManagersOf,
) -> int:  # fmt: skip
    if not rows:
        return 0
    sent = 0
    with platform.db.unit_of_work() as connection:
        done = {
            (int(r.opportunity_id), r.since)
            for r in connection.execute(
                sa.select(stale_alert.c.opportunity_id, stale_alert.c.since).where(
                    stale_alert.c.opportunity_id.in_([row["id"] for row in rows]),
                    stale_alert.c.stage == stage,
                )
            )
        }
        for row in rows:
            since = row.get("stage_changed_at")
            if since is None or (row["id"], since) in done:
                continue
            connection.execute(
                sa.insert(stale_alert).values(
                    opportunity_id=row["id"], stage=stage, since=since, sent_at=now
                )
            )
            owner = row.get("owner_id")
            people = ([owner] if owner is not None else []) + managers_of(owner)
            title = _("{deal} has been in {stage} for more than {days} days",
                      deal=row.get("name"), stage=label, days=days)  # fmt: skip
            for person in dict.fromkeys(people):
                notifications.notify(
                    connection, person, STALE_KIND, title.all_locales(),
                    link=f"/r/opportunity/{row['id']}", source=("opportunity", row["id"]),
                )  # fmt: skip
            sent += 1
    return sent
