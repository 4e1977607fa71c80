"""The nightly grading run (SFA-11): customers are read in id order, a chunk at a time; for
each chunk one GROUP BY over won deals (and received payments, when the `payment` module
exists) gives every customer's history, the rules give the grade, and only customers whose
values changed are written, as the system through the record service, a batch per
transaction (so history shows each grade change and its reason). A customer whose level is
locked keeps it; a customer without any deal or payment is not graded."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import ConflictError, GuanxiError, LockedError, _
from guanxi_sfa import records_util
from guanxi_sfa.insight.rules import Grade, GradingSettings, History, grade

log = logging.getLogger(__name__)

JOB = "sfa.grade_customers"
CHUNK = 2000  # customers read per aggregation
BATCH = 200  # updates per transaction
DERIVED = ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_score", "won_total")
CENT = Decimal("0.01")


@dataclass
class Outcome:
    customers: int = 0
    graded: int = 0
    skipped: int = 0


def run_job(ctx: Any) -> dict[str, int]:
    outcome = recompute(ctx.platform)
    return {"customers": outcome.customers, "graded": outcome.graded, "skipped": outcome.skipped}


def recompute(platform: Any) -> Outcome:
    """Grade every customer; returns how many were read, written and skipped (a conflict or
    a locked record: the next run tries again)."""
    settings = GradingSettings.of(platform)
    moment = clock.now_utc()
    today = clock.to_local(moment).date()
    now = records_util.iso(moment)
    reason = _("Grade recomputed from won deals and payments").render("zh-CN")
    outcome = Outcome()
    for rows in _chunks(platform):
        outcome.customers += len(rows)
        changes = [
            (row, found)
            for row in rows
            if (found := _changes(row, _grade_of(row, today, settings), now))
        ]
        for start in range(0, len(changes), BATCH):
            written, skipped = _write(platform, changes[start : start + BATCH], reason)
            outcome.graded += written
            outcome.skipped += skipped
    return outcome


def _grade_of(row: dict[str, Any], today: date, settings: GradingSettings) -> Grade | None:
    if not row["won_count"] and row["received_total"] is None:
        return None
    last = [_local_date(row["last_won"]), row["last_received"]]
    history = History(
        last_purchase=max((d for d in last if d is not None), default=None),
        won_count=int(row["won_count"] or 0),
        won_total=_money(row["won_sum"]),
        received_total=_money(row["received_total"]),
    )
    return grade(history, today, settings)


def _changes(row: dict[str, Any], found: Grade | None, now: str) -> dict[str, Any]:
    """The values to write (empty: nothing changed). An ungraded customer who was graded
    before (a won deal reopened or deleted) has the scores cleared; its level stays."""
    if found is None:
        wanted: dict[str, Any] = dict.fromkeys(DERIVED)
    else:
        wanted = {"rfm_recency": found.recency, "rfm_frequency": found.frequency,
                  "rfm_monetary": found.monetary, "rfm_score": found.score,
                  "won_total": found.won_total}  # fmt: skip
        if found.level is not None and not row["level_locked"]:
            wanted["level"] = found.level
    changed = {key: value for key, value in wanted.items() if not _same(row[key], value)}
    if changed:
        changed["graded_at"] = now
        if changed.get("won_total") is not None:
            changed["won_total"] = str(changed["won_total"])
    return changed


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, Decimal) and stored is not None:
        return _money(stored) == wanted
    return stored == wanted


def _write(
    platform: Any, changes: list[tuple[dict[str, Any], dict[str, Any]]], reason: str
) -> tuple[int, int]:
    written = skipped = 0
    with platform.records.batch():
        for row, values in changes:
            try:
                platform.records.update(
                    records_util.SYSTEM, "customer", row["id"], values, version=row["version"],
                    reason=reason,
                )  # fmt: skip
            except (ConflictError, LockedError):
                skipped += 1  # saved meanwhile, or locked: the next run grades it
            except GuanxiError:
                log.exception("could not grade customer %s", row["id"])
                skipped += 1
            else:
                written += 1
    return written, skipped


def _chunks(platform: Any) -> Iterator[list[dict[str, Any]]]:
    snapshot = platform.registry.snapshot()
    entities = snapshot.entities
    customer = snapshot.tables["customer"]
    columns = {key: entities["customer"].field(key).column
               for key in (*DERIVED, "level", "level_locked")}  # fmt: skip
    after = 0
    while True:
        with platform.db.read() as connection:
            rows = [
                dict(r)
                for r in connection.execute(
                    sa.select(
                        customer.c.id, customer.c.version,
                        *(customer.c[column].label(key) for key, column in columns.items()),
                    )
                    .where(customer.c.id > after, customer.c.deleted_at.is_(None))
                    .order_by(customer.c.id)
                    .limit(CHUNK)
                ).mappings()
            ]  # fmt: skip
            if not rows:
                return
            low, high = rows[0]["id"], rows[-1]["id"]
            deals = _won_deals(connection, snapshot, low, high)
            payments = _payments(connection, snapshot, low, high)
        for row in rows:
            won = deals.get(row["id"], (None, 0, None))
            paid = payments.get(row["id"], (None, None))
            row.update(last_won=won[0], won_count=won[1], won_sum=won[2],
                       last_received=paid[0], received_total=paid[1])  # fmt: skip
        yield rows
        after = high


def _won_deals(connection: Any, snapshot: Any, low: int, high: int) -> dict[int, tuple]:
    entity = snapshot.entities.get("opportunity")
    pipeline = entity.pipelines.get("stage") if entity is not None else None
    won = [stage.code for stage in pipeline.stages if stage.category == "won"] if pipeline else []
    if not won:
        return {}
    table = snapshot.tables["opportunity"]
    column = {key: table.c[entity.field(key).column]
              for key in ("customer", "stage", "closed_at", "amount")}  # fmt: skip
    statement = (
        sa.select(column["customer"], sa.func.max(column["closed_at"]), sa.func.count(),
                  sa.func.sum(column["amount"]))
        .where(column["stage"].in_(won), column["customer"].between(low, high),
               table.c.deleted_at.is_(None))
        .group_by(column["customer"])
    )  # fmt: skip
    return {int(r[0]): (r[1], int(r[2]), r[3]) for r in connection.execute(statement)}


def _payments(connection: Any, snapshot: Any, low: int, high: int) -> dict[int, tuple]:
    """Received payments per customer, when another part brings the `payment` module."""
    entity = snapshot.entities.get("payment")
    needed = ("customer", "amount", "received_on")
    if entity is None or any(entity.get_field(key) is None for key in needed):
        return {}
    table = snapshot.tables["payment"]
    column = {key: table.c[entity.field(key).column] for key in needed}
    statement = (
        sa.select(column["customer"], sa.func.max(column["received_on"]),
                  sa.func.sum(column["amount"]))
        .where(column["customer"].between(low, high), column["received_on"].is_not(None),
               table.c.deleted_at.is_(None))
        .group_by(column["customer"])
    )  # fmt: skip
    return {int(r[0]): (_as_date(r[1]), r[2]) for r in connection.execute(statement)}


def _local_date(moment: Any) -> date | None:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return clock.to_local(moment).date() if isinstance(moment, datetime) else None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value if isinstance(value, date) else None


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(CENT)
