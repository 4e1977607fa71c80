"""Sales targets (SFA-16, seed 001 百会): a rep's or a department's won-amount and payment
targets per month, quarter or year, and `attainment`: what was won (opportunities closed won
in the period), what was received (payments dated in the period), the percentages, and the
forecast (open opportunities expected to close in the period, weighted by probability).

A department target counts everyone in the department and its sub-departments (the core's
department tree). Which targets a viewer sees is the record service's decision (reps: their
own; managers: their department tree); the figures behind a target they may see are counted
as the system, so a target is measured against all of its people's business whoever looks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import Actor, EntityDef, FieldError, ValidationFailed, _
from guanxi.auth import identity
from guanxi.store.system_tables import user
from guanxi_sfa import records_util
from guanxi_sfa.receivables.payments import ZERO, money

SYSTEM = records_util.SYSTEM
PERIOD_LIMITS = {"month": 12, "quarter": 4}


# -- the record ------------------------------------------------------------------------------


def prepare(record: dict[str, Any]) -> None:
    """The name says whose and which period ("2026-Q3"); a yearly target has no period."""
    kind, year, period = record.get("period_type"), record.get("year"), record.get("period")
    if kind == "year":
        record["period"] = period = None
    if record.get("target_type") == "user":
        record["department"] = None
    if year is None:
        return
    if kind == "quarter" and period:
        record["name"] = f"{year}-Q{period}"
    elif kind == "month" and period:
        record["name"] = f"{year}-{int(period):02d}"
    else:
        record["name"] = str(year)


def validate(record: dict[str, Any]) -> list[FieldError]:
    errors = []
    kind, period = record.get("period_type"), record.get("period")
    limit = PERIOD_LIMITS.get(str(kind))
    if limit is not None and (period is None or not 1 <= int(period) <= limit):
        errors.append(FieldError("period", "period_range",
                                 _("Give a period from 1 to {limit}", limit=limit)))  # fmt: skip
    if record.get("target_type") == "department" and record.get("department") is None:
        errors.append(FieldError("department", "required",
                                 _("A department target needs the department")))  # fmt: skip
    if record.get("target_type") == "user" and record.get("owner_id") is None:
        errors.append(FieldError("owner_id", "required",
                                 _("A personal target needs its rep as the owner")))  # fmt: skip
    return errors


def is_target(entity: EntityDef) -> bool:
    return entity.name == "sales_target"


# -- periods and people -------------------------------------------------------------------------


def period_bounds(target: dict[str, Any]) -> tuple[date, date]:
    """[first day, first day after) of the target's period, in business dates."""
    year, period = int(target["year"]), target.get("period")
    kind = target.get("period_type")
    if kind == "month" and period:
        start = date(year, int(period), 1)
        return start, date(year + (start.month == 12), start.month % 12 + 1, 1)
    if kind == "quarter" and period:
        start = date(year, 3 * (int(period) - 1) + 1, 1)
        end_month = start.month + 3
        return start, date(year + (end_month > 12), (end_month - 1) % 12 + 1, 1)
    return date(year, 1, 1), date(year + 1, 1, 1)


def people(platform: Any, target: dict[str, Any]) -> list[int]:
    """The rep of a personal target; everyone in a department target's department tree."""
    if target.get("target_type") != "department":
        owner = target.get("owner_id")
        return [int(owner)] if owner is not None else []
    department_id = target.get("department")
    if department_id is None:
        return []
    with platform.db.read() as connection:
        departments = identity.subtree(connection, int(department_id))
        return sorted(
            int(u)
            for u in connection.execute(
                sa.select(user.c.id).where(user.c.department_id.in_(departments))
            ).scalars()
        )


def check_department(platform: Any, connection: Any, event: Any) -> None:
    """A department target is measured over all its people (as the system), so only someone
    whose own department tree holds that department may set it (administrators any): else a
    manager could read another department's won and paid totals through a target."""
    record = event.record
    if event.op not in ("create", "update", "restore") or record is None:
        return
    department_id = record.get("department")
    if record.get("target_type") != "department" or department_id is None:
        return
    actor = event.actor
    if actor.is_system or platform.records.access(actor).is_admin:
        return
    own = identity.subtree(connection, actor.department_id) if actor.department_id else set()
    if int(department_id) not in own:
        raise ValidationFailed([FieldError("department", "out_of_scope", _(
            "You may set targets only for your own department and those under it"))])  # fmt: skip


def check_unique(platform: Any, connection: Any, event: Any) -> None:
    """One target per person (or department) and period: a second would double the goal."""
    record = event.record
    if event.op not in ("create", "update", "restore") or record is None:
        return
    snapshot = platform.registry.snapshot()
    table, entity = snapshot.table("sales_target"), snapshot.entity("sales_target")

    def column(key: str) -> Any:
        field = entity.get_field(key)
        return table.c[field.column] if field is not None else table.c[key]

    whose = (
        ("department", record.get("department"))
        if record.get("target_type") == "department"
        else ("owner_id", record.get("owner_id"))
    )
    same = [column(k) == record.get(k) if record.get(k) is not None else column(k).is_(None)
            for k in ("target_type", "period_type", "year", "period")]  # fmt: skip
    clash = connection.execute(
        sa.select(table.c.id)
        .where(
            column(whose[0]) == whose[1],
            *same,
            table.c.id != record.get("id"),
            table.c.deleted_at.is_(None),
        )
        .limit(1)
    ).scalar()
    if clash is not None:
        raise ValidationFailed([FieldError("period", "duplicate", _(
            "There is already a target for this period"))])  # fmt: skip


# -- attainment ---------------------------------------------------------------------------------


@dataclass
class Attainment:
    target: dict[str, Any]
    start: date
    end: date  # the first day after the period
    people: list[int]
    won: Decimal = ZERO
    paid: Decimal = ZERO
    forecast: Decimal = ZERO  # open deals expected in the period, weighted by probability
    open_pipeline: Decimal = ZERO
    won_deals: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def won_target(self) -> Decimal:
        return money(self.target.get("won_amount_target"))

    @property
    def payment_target(self) -> Decimal:
        return money(self.target.get("payment_target"))

    @property
    def won_percent(self) -> Decimal | None:
        return _percent(self.won, self.won_target)

    @property
    def paid_percent(self) -> Decimal | None:
        return _percent(self.paid, self.payment_target)

    @property
    def projected_percent(self) -> Decimal | None:
        """Won so far plus the weighted forecast, against the won-amount target."""
        return _percent(self.won + self.forecast, self.won_target)


def _percent(value: Decimal, target: Decimal) -> Decimal | None:
    return (100 * value / target).quantize(Decimal("0.1")) if target > 0 else None


def attainment(
    platform: Any, actor: Actor, *, target_id: int | None = None, year: int | None = None,
    filters: list[dict[str, Any]] | None = None,
) -> list[Attainment]:  # fmt: skip
    """Every target the actor may see (one with `target_id`, a year's with `year`), measured.
    A target outside the actor's scope is NotFound, like any record."""
    records = platform.records
    if target_id is not None:
        targets = [dict(records.get(actor, "sales_target", target_id, log_view=False))]
    else:
        wanted = list(filters or [])
        if year is not None:
            wanted.append({"field": "year", "op": "eq", "value": year})
        targets = records.query(
            actor, "sales_target", wanted or None,
            sort=["year", "period_type", "period", "id"], limit=500,
        ).rows  # fmt: skip
    return [measure(platform, target) for target in targets]


def measure(platform: Any, target: dict[str, Any]) -> Attainment:
    start, end = period_bounds(target)
    found = Attainment(target, start, end, people(platform, target))
    if not found.people:
        return found
    owners = {"field": "owner_id", "op": "in", "value": found.people}
    snapshot = platform.registry.snapshot()
    pipeline = snapshot.entity("opportunity").pipelines.get("stage")
    stages = list(pipeline.stages) if pipeline is not None else []
    won_codes = [s.code for s in stages if s.category == "won"] or ["-"]
    open_codes = [s.code for s in stages if s.category == "open"] or ["-"]
    since = records_util.iso(clock.local_midnight_utc(start))
    until = records_util.iso(clock.local_midnight_utc(end))
    won = platform.records.aggregate(
        SYSTEM, "opportunity",
        [owners, {"field": "stage", "op": "in", "value": won_codes},
         {"field": "closed_at", "op": "gte", "value": since},
         {"field": "closed_at", "op": "lt", "value": until}],
        measures=[("count", None), ("sum", "amount")],
    )  # fmt: skip
    if won:
        found.won = money(won[0].get("sum_amount"))
        found.won_deals = int(won[0].get("count") or 0)
    paid = platform.records.aggregate(
        SYSTEM, "payment",
        [owners, {"field": "received_on", "op": "gte", "value": start.isoformat()},
         {"field": "received_on", "op": "lt", "value": end.isoformat()}],
        measures=[("sum", "amount")],
    )  # fmt: skip
    found.paid = money(paid[0].get("sum_amount")) if paid else ZERO
    found.forecast, found.open_pipeline = _forecast(
        platform,
        [owners, {"field": "stage", "op": "in", "value": open_codes},
         {"field": "expected_close", "op": "gte", "value": start.isoformat()},
         {"field": "expected_close", "op": "lt", "value": end.isoformat()}],
    )  # fmt: skip
    return found


def _forecast(platform: Any, filters: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    weighted, total = ZERO, ZERO
    after = None
    while True:
        page = platform.records.query(SYSTEM, "opportunity", filters, limit=500, after=after)
        for row in page.rows:
            amount = money(row.get("amount"))
            total += amount
            weighted += amount * money(row.get("probability")) / 100
        after = page.next_cursor
        if after is None:
            return weighted.quantize(Decimal("0.01")), total
