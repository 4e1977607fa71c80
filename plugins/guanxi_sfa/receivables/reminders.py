"""The daily `sfa.payment_reminders` job (SFA-14, seed 003 "在回款节点前触发提醒"): the owner
hears N days (setting `reminder_days`) before an installment is due; an installment past due
and not paid becomes overdue and its owner and their managers hear about it. Each message is
sent once per installment and due date (a moved due date is reminded again)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock, notifications
from guanxi.api import _
from guanxi_sfa import managers, records_util
from guanxi_sfa.receivables.payments import OPEN, money
from guanxi_sfa.receivables.plans import local_today
from guanxi_sfa.settings import NAME
from guanxi_sfa.tables import metadata

JOB = "sfa.payment_reminders"
DUE_SOON_KIND = "payment_due_soon"
OVERDUE_KIND = "payment_overdue"

reminder = sa.Table(
    "sfa_payment_reminder",
    metadata,
    sa.Column("plan_id", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),  # due_soon | overdue
    sa.Column("due_on", sa.Date, primary_key=True),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)


def reminder_days(platform: Any) -> int:
    return int(platform.plugin_settings(NAME).get("reminder_days", 3))


def _rows(platform: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = platform.records.query(
            records_util.SYSTEM, "payment_plan", filters, sort=["due_on", "id"], limit=500,
            after=after,
        )  # fmt: skip
        found.extend(page.rows)
        after = page.next_cursor
        if after is None:
            return found


def run(ctx: Any) -> dict[str, int]:
    platform = ctx.platform
    today = local_today()
    status = {"field": "status", "op": "in", "value": list(OPEN)}
    overdue = _rows(platform, [status, {"field": "due_on", "op": "lt", "value": today.isoformat()}])
    marked = 0
    for row in overdue:
        if row.get("status") != "overdue":
            reason = _("Past its due date").render("zh-CN")
            if records_util.system_update(platform, "payment_plan", row["id"],
                                          {"status": "overdue"}, reason=reason):  # fmt: skip
                marked += 1
    until = today + timedelta(days=reminder_days(platform))
    soon = _rows(platform, [status,
                            {"field": "due_on", "op": "gte", "value": today.isoformat()},
                            {"field": "due_on", "op": "lte", "value": until.isoformat()}])  # fmt: skip
    managers_of = managers.ManagersOf(platform, "payment_plan")
    return {
        "marked_overdue": marked,
        "overdue_notices": _notify(platform, overdue, "overdue", today, managers_of),
        "reminders": _notify(platform, soon, "due_soon", today, None),
    }


def _notify(
    platform: Any, rows: list[dict[str, Any]], kind: str, today: date,
    managers_of: managers.ManagersOf | None,
) -> int:  # fmt: skip
    if not rows:
        return 0
    now = clock.now_utc()
    sent = 0
    with platform.db.unit_of_work() as connection:
        done = {
            (int(r.plan_id), r.due_on)
            for r in connection.execute(
                sa.select(reminder.c.plan_id, reminder.c.due_on).where(
                    reminder.c.plan_id.in_([row["id"] for row in rows]), reminder.c.kind == kind
                )
            )
        }
        for row in rows:
            if (row["id"], row["due_on"]) in done:
                continue
            connection.execute(
                sa.insert(reminder).values(
                    plan_id=row["id"], kind=kind, due_on=row["due_on"], sent_at=now
                )
            )
            owner = row.get("owner_id")
            people = ([owner] if owner is not None else []) + (
                managers_of(owner) if managers_of is not None else []
            )
            outstanding = money(row.get("amount")) - money(row.get("received_amount"))
            title = _message(kind, row, outstanding, today)
            for person in dict.fromkeys(people):
                notifications.notify(
                    connection, person, OVERDUE_KIND if kind == "overdue" else DUE_SOON_KIND,
                    title.all_locales(), link=f"/r/payment_plan/{row['id']}",
                    source=("payment_plan", row["id"]),
                )  # fmt: skip
            sent += 1
    return sent


def _message(kind: str, row: dict[str, Any], outstanding: Any, today: date) -> Any:
    amount = f"¥{outstanding:,.2f}"
    if kind == "overdue":
        return _("Payment overdue: {title} ({number}), {amount} due on {due}",
                 title=row.get("title"), number=row.get("number"), amount=amount,
                 due=row["due_on"].isoformat())  # fmt: skip
    return _("Payment due in {days} days: {title} ({number}), {amount} on {due}",
             title=row.get("title"), number=row.get("number"), amount=amount,
             days=(row["due_on"] - today).days, due=row["due_on"].isoformat())  # fmt: skip
