"""Rep activity (SFA-17, seed 001 领导 2): per rep and period the follow-ups by method, the
customers they created, the leads they converted and how many of their new leads got the
first follow-up in time, with totals. Each figure is one GROUP BY counted as the viewer (the
record service's aggregate, or the same scope and conditions for the one comparison it
cannot express), and only reps inside the viewer's opportunity scope are listed: a rep sees
themself, a manager their department tree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import Actor, PermissionDenied, _
from guanxi.auth import identity
from guanxi_sfa import records_util

GROUP_ROWS = 500  # the aggregate's largest answer


@dataclass
class RepFigures:
    user_id: int | None
    name: str
    followups: dict[str, int] = field(default_factory=dict)  # method code -> count
    customers_created: int = 0
    leads_converted: int = 0
    touch_due: int = 0  # leads assigned in the period whose first touch was owed by now
    touch_on_time: int = 0

    @property
    def followup_total(self) -> int:
        return sum(self.followups.values())

    @property
    def on_time_share(self) -> int | None:
        """Per cent of owed first touches made within the deadline (None: none owed)."""
        return round(100 * self.touch_on_time / self.touch_due) if self.touch_due else None

    def add(self, other: RepFigures) -> None:
        for method, count in other.followups.items():
            self.followups[method] = self.followups.get(method, 0) + count
        self.customers_created += other.customers_created
        self.leads_converted += other.leads_converted
        self.touch_due += other.touch_due
        self.touch_on_time += other.touch_on_time


@dataclass
class Activity:
    start: date
    end: date  # inclusive
    methods: list[tuple[str, Any]]  # (code, label) of follow-up methods
    reps: list[RepFigures]
    totals: RepFigures

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def activity(platform: Any, actor: Actor, start: date, end: date) -> Activity:
    """The figures for local days start..end (inclusive), for the reps `actor` may see."""
    records = platform.records
    access = records.access(actor)
    if not access.allows("opportunity", "view"):
        raise PermissionDenied(_("You may not see sales activity"))
    if end < start:
        start, end = end, start
    since = clock.local_midnight_utc(start)
    until = clock.local_midnight_utc(end + timedelta(days=1))
    reps = visible_reps(platform, actor)
    ids = list(reps)
    figures = {uid: RepFigures(uid, name) for uid, name in reps.items()}
    if ids:
        if access.allows("followup", "view"):
            _followups(records, actor, ids, since, until, figures)
        if access.allows("customer", "view"):
            for row in _grouped(records, actor, "customer", ids, "created_by",
                                [_between("created_at", since, until)]):  # fmt: skip
                figures[row["created_by"]].customers_created = int(row["count"])
        if access.allows("lead", "view"):
            converted = [{"field": "status", "op": "eq", "value": "converted"},
                         _between("converted_at", since, until)]  # fmt: skip
            for row in _grouped(records, actor, "lead", ids, "owner_id", converted):
                figures[row["owner_id"]].leads_converted = int(row["count"])
            _first_touch(platform, access, ids, since, until, figures)
    listed = [f for f in figures.values() if reps.departmental(f.user_id) or _busy(f)]
    totals = RepFigures(None, "")
    for found in listed:
        totals.add(found)
    entity = platform.registry.snapshot().entities.get("followup")
    method = entity.get_field("method") if entity is not None else None
    methods = [(o.code, o.label) for o in (method.options if method else ())]
    return Activity(start, end, methods, sorted(listed, key=lambda f: f.name), totals)


class Reps(dict[int, str]):
    """Visible rep id -> name, remembering who belongs to a department (listed even idle)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_department: set[int] = set()

    def departmental(self, user_id: int | None) -> bool:
        return user_id in self.in_department


def visible_reps(platform: Any, actor: Actor) -> Reps:
    """Active users whose deals the actor may view, decided from the owner and department
    alone; a rule that needs the rows (a via or filter scope) counts only the actor."""
    found = Reps()
    access = platform.records.access(actor)
    with platform.db.read() as connection:
        snapshot = platform.registry.snapshot(connection)
        entity = snapshot.entity("opportunity")
        for person in identity.list_users(platform.db):
            uid = int(person["id"])
            record = {"owner_id": uid, "department_id": person.get("department_id")}
            verdict = access.record_in_scope(connection, snapshot, entity, record, "view")
            if not person.get("active") or not (verdict or uid == actor.user_id):
                continue
            found[uid] = str(person.get("display_name") or person["username"])
            if person.get("department_id") is not None:
                found.in_department.add(uid)
    return found


def _busy(found: RepFigures) -> bool:
    return bool(found.followup_total or found.customers_created or found.leads_converted
                or found.touch_due)  # fmt: skip


def _between(key: str, since: Any, until: Any) -> dict[str, Any]:
    return {"and": [{"field": key, "op": "gte", "value": records_util.iso(since)},
                    {"field": key, "op": "lt", "value": records_util.iso(until)}]}  # fmt: skip


def _grouped(
    records: Any, actor: Actor, entity: str, ids: list[int], by: list[str] | str,
    filters: list[Any], per_rep: int = 1,
) -> list[dict[str, Any]]:  # fmt: skip
    """One aggregate per slice of reps small enough for the aggregate's answer."""
    keys = [by] if isinstance(by, str) else by
    rows: list[dict[str, Any]] = []
    size = max(1, GROUP_ROWS // max(per_rep, 1))
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        rows.extend(
            records.aggregate(
                actor, entity, [*filters, {"field": keys[0], "op": "in", "value": chunk}],
                group_by=keys, limit=GROUP_ROWS,
            )
        )  # fmt: skip
    return [r for r in rows if r.get(keys[0]) is not None]


def _followups(
    records: Any, actor: Actor, ids: list[int], since: Any, until: Any,
    figures: dict[int, RepFigures],
) -> None:  # fmt: skip
    """By when it happened: the follow-up's date, else when it was logged."""
    when = {"or": [_between("followed_at", since, until),
                   {"and": [{"field": "followed_at", "op": "is_empty"},
                            _between("created_at", since, until)]}]}  # fmt: skip
    per_rep = len(_method_codes(records)) + 1
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for row in _grouped(records, actor, "followup", ids, ["owner_id", "method"], [when], per_rep):
        counts[row["owner_id"]][row["method"] or ""] = int(row["count"])
    for uid, by_method in counts.items():
        figures[uid].followups = by_method


def _method_codes(records: Any) -> list[str]:
    entity = records.registry.snapshot().entities.get("followup")
    method = entity.get_field("method") if entity is not None else None
    return [o.code for o in (method.options if method else ())]


def _first_touch(
    platform: Any, access: Any, ids: list[int], since: Any, until: Any,
    figures: dict[int, RepFigures],
) -> None:  # fmt: skip
    """Leads assigned to the rep in the period whose first touch was owed by now (touched,
    or past the deadline), and those touched by the deadline (the comparison of two columns
    the filter language has no word for, under the viewer's scope and every plugin's query
    conditions, as the record service would add them)."""
    now = clock.now_utc()
    with platform.db.read() as connection:
        snapshot = platform.registry.snapshot(connection)
        entity = snapshot.entity("lead")
        table = snapshot.tables["lead"]
        c = {key: table.c[entity.field(key).column]
             for key in ("assigned_at", "first_touch_due", "first_touched_at")}  # fmt: skip
        conditions = [
            table.c.owner_id.in_(ids),
            c["assigned_at"] >= since,
            c["assigned_at"] < until,
            sa.or_(c["first_touched_at"].is_not(None), c["first_touch_due"] < now),
            table.c.deleted_at.is_(None),
        ]
        scope = access.scope_clause(connection, snapshot, entity, "view")
        if scope is not None:
            conditions.append(scope)
        compiler = snapshot.compiler("lead", platform.types)
        for found in platform.pm.hook.query_conditions(
            platform=platform, actor=access.actor, entity=entity, action="view"
        ):
            conditions.extend(compiler.where(condition) for condition in found or [])
        on_time = sa.case((c["first_touched_at"] <= c["first_touch_due"], 1), else_=0)
        statement = (
            sa.select(table.c.owner_id, sa.func.count(), sa.func.sum(on_time))
            .where(*conditions)
            .group_by(table.c.owner_id)
        )
        for owner, due, in_time in connection.execute(statement):
            if owner in figures:
                figures[owner].touch_due = int(due)
                figures[owner].touch_on_time = int(in_time or 0)
