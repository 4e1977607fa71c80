"""Leads (SFA-01..04): the score on every save, "mobile or e-mail", the clock of the first
touch, the lead pool (leads without an owner) with claim, and abandoning with a reason.

An owner change (the rules, a claim, a manager's assignment from the list, bulk or one by
one) starts the first-touch clock: `assigned_at`, `first_touch_due` (settings:
first_touch_hours, 24 by default), a task due then for the new owner, and a notification when
someone else made the choice. The first follow-up logged on the lead stops the clock (and
closes the task); an hourly job tells the owner's managers about leads still untouched after
the deadline, once per assignment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock, notifications
from guanxi.api import (
    Actor,
    FieldError,
    GuanxiError,
    NotFound,
    PermissionDenied,
    RecordEvent,
    ValidationFailed,
    _,
)
from guanxi_sfa import assignment, managers, records_util, scoring
from guanxi_sfa.settings import Settings
from guanxi_sfa.tables import first_touch

OVERDUE_JOB = "sfa.first_touch_overdue"
ASSIGNED_KIND = "lead_assigned"
OVERDUE_KIND = "first_touch_overdue"
LATE_BATCH = 5000  # late first touches flagged per run (the next run takes the rest)
POOL_REASONS = ("invalid_contact", "no_need", "competitor", "duplicate", "no_response", "other")


def prepare(
    platform: Any, record: dict[str, Any], old: dict[str, Any] | None, actor: Actor
) -> None:
    settings = Settings.of(platform)
    record["score"] = scoring.score(record, settings.source_points)
    defaulted = record.get("owner_id") == actor.user_id  # no other owner was chosen
    if old is None and defaulted and assignment.routes_new_leads(platform, actor):
        record["owner_id"] = None  # the rules decide, in the job the creation queues
    owner = record.get("owner_id")
    if old is not None and owner == old.get("owner_id"):
        return
    if owner is None:
        record.update(assigned_at=None, first_touch_due=None)
        return
    now = clock.now_utc()
    record.update(
        assigned_at=now,
        first_touch_due=now + timedelta(hours=settings.first_touch_hours),
        first_touched_at=None,
    )


def validate(record: dict[str, Any]) -> list[FieldError]:
    if record.get("mobile") or record.get("email"):
        return []
    message = _("Give a mobile number or an e-mail address")
    return [FieldError("mobile", "contact_required", message),
            FieldError("email", "contact_required", message)]  # fmt: skip


def stored(platform: Any, connection: Any, event: RecordEvent) -> None:
    """In the write's transaction: queue the rules for a routed new lead, and book the first
    touch an assignment owes (replacing the previous owner's)."""
    record = event.record
    if record is None or event.op not in ("create", "update"):
        return
    if event.op == "create" and record.get("owner_id") is None:
        platform.jobs.enqueue(assignment.JOB, {"lead_id": event.record_id}, connection=connection)
    if "owner_id" not in event.changes and event.op == "update":
        return
    connection.execute(
        sa.delete(first_touch).where(
            first_touch.c.lead_id == event.record_id, first_touch.c.touched_at.is_(None)
        )
    )
    if record.get("owner_id") is not None and record.get("first_touch_due") is not None:
        connection.execute(
            sa.insert(first_touch).values(
                lead_id=event.record_id,
                owner_id=record["owner_id"],
                assigned_at=record["assigned_at"],
                due_at=record["first_touch_due"],
            )
        )


def changed(platform: Any, event: RecordEvent) -> None:
    """After commit: the new owner's first-touch task, and their notification."""
    record = event.record
    if record is None or event.op not in ("create", "update"):
        return
    if event.op == "update" and "owner_id" not in event.changes:
        return
    owner = record.get("owner_id")
    if owner is None or record.get("first_touch_due") is None:
        return
    title = _(
        "First touch: {lead} ({company})", lead=record.get("name"), company=record.get("company")
    )
    try:
        task = platform.records.create(
            records_util.SYSTEM,
            "task",
            {
                "title": title.render("zh-CN")[:200],
                "due_at": records_util.iso(record["first_touch_due"]),
                "status": "todo",
                "priority": "high",
                "lead": record["id"],
                "owner_id": owner,
            },
        )
    except GuanxiError:
        task = None
    with platform.db.unit_of_work() as connection:
        if task is not None:
            connection.execute(
                sa.update(first_touch)
                .where(first_touch.c.lead_id == record["id"], first_touch.c.touched_at.is_(None))
                .values(task_id=task["id"])
            )
        if owner != event.actor.user_id:
            notifications.notify(
                connection,
                owner,
                ASSIGNED_KIND,
                _("New lead for you: {lead} ({company})", lead=record.get("name"),
                  company=record.get("company")).all_locales(),
                body=_("Follow it up by {due}", due=_local(record["first_touch_due"])).render("zh-CN"),
                link=f"/r/lead/{record['id']}",
                source=("lead", record["id"]),
            )  # fmt: skip


def _local(moment: datetime) -> str:
    return clock.to_local(moment).strftime("%Y-%m-%d %H:%M")


def followup_logged(platform: Any, event: RecordEvent) -> None:
    """A follow-up on a lead stops its first-touch clock and moves a new lead to contacting."""
    record = event.record
    if event.op != "create" or record is None or not isinstance(record.get("lead"), int):
        return
    lead = records_util.system_get(platform, "lead", record["lead"])
    if lead is None:
        return
    at = record.get("followed_at") or event.at
    changes: dict[str, Any] = {"last_followup_at": records_util.iso(at)}
    if lead.get("first_touched_at") is None and lead.get("owner_id") is not None:
        changes["first_touched_at"] = records_util.iso(at)
    if lead.get("status") == "new":
        changes["status"] = "contacting"
    records_util.system_update(
        platform, "lead", lead["id"], changes, reason=_("Follow-up logged").render("zh-CN")
    )
    with platform.db.unit_of_work() as connection:
        tasks = (
            connection.execute(
                sa.update(first_touch)
                .where(first_touch.c.lead_id == lead["id"], first_touch.c.touched_at.is_(None))
                .values(touched_at=at)
                .returning(first_touch.c.task_id)
            )
            .scalars()
            .all()
        )
    for task_id in tasks:
        if isinstance(task_id, int):
            records_util.system_update(platform, "task", task_id, {"status": "done"}, reason=None)


def overdue_job(ctx: Any) -> dict[str, int]:
    """Hourly: tell the managers of owners whose assigned leads are still untouched."""
    platform = ctx.platform
    now = clock.now_utc()
    with platform.db.read() as connection:
        late = connection.execute(
            sa.select(first_touch)
            .where(
                first_touch.c.touched_at.is_(None),
                first_touch.c.flagged_at.is_(None),
                first_touch.c.due_at < now,
            )
            .limit(LATE_BATCH)
        ).all()
    found = _leads_by_id(platform, [row.lead_id for row in late])
    flagged = 0
    managers_of = managers.ManagersOf(platform, "lead")
    for row in late:
        lead = found.get(row.lead_id)
        open_lead = lead is not None and lead.get("status") in assignment.OPEN_STATUSES
        with platform.db.unit_of_work() as connection:
            connection.execute(
                sa.update(first_touch).where(first_touch.c.id == row.id).values(flagged_at=now)
            )
            if not open_lead or lead is None or lead.get("owner_id") != row.owner_id:
                continue
            for manager in managers_of(row.owner_id):
                notifications.notify(
                    connection,
                    manager,
                    OVERDUE_KIND,
                    _("First touch overdue: {lead}", lead=lead.get("name")).all_locales(),
                    body=_("Due {due}; assigned {assigned}", due=_local(row.due_at),
                           assigned=_local(row.assigned_at)).render("zh-CN"),
                    link=f"/r/lead/{row.lead_id}",
                    source=("lead", row.lead_id),
                )  # fmt: skip
            flagged += 1
    return {"flagged": flagged}


def _leads_by_id(platform: Any, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The leads, read in pages of 500 ids (one query per page, not one per lead)."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        page = platform.records.query(
            records_util.SYSTEM, "lead", {"field": "id", "op": "in", "value": chunk},
            limit=len(chunk),
        )  # fmt: skip
        found.update((int(r["id"]), r) for r in page.rows)
    return found


# -- the lead pool: claim, give back, abandon ----------------------------------------------------


def _editable(platform: Any, actor: Actor, lead_id: int) -> dict[str, Any]:
    """The lead as the actor may edit it (the permission check of every lead action)."""
    return dict(platform.records.get(actor, "lead", lead_id, action="edit", log_view=False))


def claim(platform: Any, actor: Actor, lead_id: int) -> dict[str, Any]:
    """Take a lead from the pool (the `claim` right on leads)."""
    if not platform.records.access(actor).allows("lead", "claim"):
        raise PermissionDenied(_("You may not claim leads"))
    lead = records_util.system_get(platform, "lead", lead_id)
    if lead is None:
        raise NotFound(_("This lead no longer exists"))
    if lead.get("owner_id") is not None:
        raise ValidationFailed(
            [FieldError("owner_id", "taken", _("Someone else has taken this lead"))]
        )
    return dict(
        platform.records.update(
            records_util.SYSTEM, "lead", lead_id, {"owner_id": actor.user_id},
            version=lead["version"], reason=_("Claimed from the lead pool by {user}",
                                              user=actor.name).render("zh-CN"),
        )
    )  # fmt: skip


def abandon(
    platform: Any, actor: Actor, lead_id: int, why: str, note: str, *, to_pool: bool
) -> dict[str, Any]:
    """Give up a lead with a reason: back to the pool (someone else may try) or closed."""
    lead = _editable(platform, actor, lead_id)
    errors = []
    if why not in POOL_REASONS:
        errors.append(FieldError("abandon_reason", "required", _("Choose a reason")))
    if lead.get("status") in ("converted", "abandoned"):
        errors.append(FieldError("status", "closed", _("This lead is closed already")))
    if errors:
        raise ValidationFailed(errors)
    reason = note.strip() or _("Abandoned").render("zh-CN")
    if to_pool:
        changes: dict[str, Any] = {"owner_id": None, "abandon_reason": why, "status": "new"}
        return dict(
            platform.records.update(
                records_util.SYSTEM, "lead", lead_id, changes, version=lead["version"],
                reason=_("Returned to the lead pool by {user}: {reason}", user=actor.name,
                         reason=reason).render("zh-CN"),
            )
        )  # fmt: skip
    return dict(
        platform.records.update(
            actor, "lead", lead_id, {"status": "abandoned", "abandon_reason": why},
            version=lead["version"], reason=reason,
        )
    )  # fmt: skip
