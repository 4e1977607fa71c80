"""Follow-ups become reminders (DATA-16, DATA-17): a planned next follow-up turns into a task for
the follow-up's owner, the customer's "next follow-up" date, and an in-app reminder that shows
up in the notification centre when the task falls due.

Who writes what, and why:

- The **task** is created (or re-dated) by the follow-up's author, the actor of the event. The
  record service then applies that person's rights: they may only link customers they can see,
  and the history names them as the task's creator. The task is owned by the follow-up's owner
  (a manager recording a follow-up for a rep's customer hands the task to the rep, which needs
  the assign right managers have; without it the author keeps the task).
- The customer's **next_followup_at** is derived data, a summary of its follow-ups rather than
  a decision of the author, so the system actor writes it: a service agent may log a follow-up
  but may not edit customers, and the date must not depend on who logged the call.
- The **reminder** is queued inside the task's own write transaction (``record_stored``), so a
  task never exists without its reminder, and a task that is done, cancelled or deleted drops
  its unread one. Any task with a due date gets a reminder, not only the follow-up ones.

Writes happen after commit (``record_changed``) through the record service, on other records
only: this plugin never rewrites the follow-up that triggered it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from guanxi import notifications
from guanxi.actor import Actor
from guanxi.errors import ConflictError, GuanxiError, PermissionDenied
from guanxi.events import RecordEvent
from guanxi.hookspecs import hookimpl
from guanxi.i18n import Message
from guanxi.meta.entity import EntityDef

log = logging.getLogger(__name__)

REMINDER = "reminder"
OPEN_STATUSES = ("todo", "doing")
CLOSED_STATUSES = ("done", "cancelled")
TITLE_MAX = 200


# -- follow-up -> task + customer date ---------------------------------------------------------


@hookimpl
def record_changed(platform: Any, event: RecordEvent) -> None:
    if event.entity != "followup" or event.op not in ("create", "update") or not event.record:
        return
    if event.op == "update" and "next_followup_at" not in event.changes:
        return
    due = event.record.get("next_followup_at")
    if not isinstance(due, datetime):
        return
    schedule_followup(platform, event.actor, event.record, due)


def schedule_followup(
    platform: Any, author: Actor, followup: dict[str, Any], due: datetime
) -> dict[str, Any] | None:
    """Create or re-date the follow-up's open task, then move the customer's next date."""
    system = Actor.system()
    customer_id = followup.get("customer")
    customer = _customer(platform, customer_id)
    task = _open_task(platform, followup["id"])
    due_json = _utc_json(due)
    try:
        if task is None:
            task = _create_task(platform, author, followup, customer, due_json)
        elif task.get("due_at") != due:
            task = _redate(platform, author, task, due_json)
    except GuanxiError:
        log.exception("could not schedule the reminder task of follow-up %s", followup["id"])
        task = None
    if customer is not None and customer.get("next_followup_at") != due:
        _set_customer_date(platform, system, customer, due_json)
    return task


def _customer(platform: Any, customer_id: Any) -> dict[str, Any] | None:
    if not isinstance(customer_id, int):
        return None
    try:
        return dict(platform.records.get(Actor.system(), "customer", customer_id, action="edit"))
    except GuanxiError:
        return None


def _open_task(platform: Any, followup_id: int) -> dict[str, Any] | None:
    """The follow-up's task still to do, if one was made before (an update re-dates it)."""
    page = platform.records.query(
        Actor.system(),
        "task",
        [
            {"field": "followup", "op": "eq", "value": followup_id},
            {"field": "status", "op": "in", "value": list(OPEN_STATUSES)},
        ],
        sort=["-id"],
        limit=1,
    )
    return page.rows[0] if page.rows else None


def _create_task(
    platform: Any,
    author: Actor,
    followup: dict[str, Any],
    customer: dict[str, Any] | None,
    due_json: str,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": _task_title(followup, customer, author.locale),
        "description": _task_description(followup, author.locale),
        "due_at": due_json,
        "status": "todo",
        "followup": followup["id"],
    }
    if customer is not None:
        data["customer"] = customer["id"]
    owner = followup.get("owner_id")
    if owner is not None and owner != author.user_id:
        try:
            return dict(platform.records.create(author, "task", {**data, "owner_id": owner}))
        except PermissionDenied:
            pass  # the author may not hand tasks to others: the task stays theirs
    return dict(platform.records.create(author, "task", data))


def _redate(platform: Any, author: Actor, task: dict[str, Any], due_json: str) -> dict[str, Any]:
    try:
        return dict(
            platform.records.update(
                author, "task", task["id"], {"due_at": due_json}, version=task["version"]
            )
        )
    except PermissionDenied:
        # Someone who may change the follow-up but not the owner's task (e.g. outside their
        # edit scope): the plan still moves, as the follow-up says.
        return dict(
            platform.records.update(
                Actor.system(), "task", task["id"], {"due_at": due_json}, version=task["version"]
            )
        )


def _set_customer_date(
    platform: Any, system: Actor, customer: dict[str, Any], due_json: str
) -> None:
    for _attempt in range(2):  # a concurrent edit of the customer: read again, once
        try:
            platform.records.update(
                system,
                "customer",
                customer["id"],
                {"next_followup_at": due_json},
                version=customer["version"],
            )
            return
        except ConflictError:
            fresh = _customer(platform, customer["id"])
            if fresh is None:
                return
            customer = fresh
        except GuanxiError:
            log.exception("could not set the next follow-up date of customer %s", customer["id"])
            return


def _task_title(followup: dict[str, Any], customer: dict[str, Any] | None, locale: str) -> str:
    step = str(followup.get("next_step") or "").strip()
    name = str(customer.get("name") or customer.get("number") or "") if customer else ""
    if step and name:
        title = Message("{customer}: {step}", customer=name, step=step).render(locale)
    elif step:
        title = step
    elif name:
        title = Message("Follow up with {customer}", customer=name).render(locale)
    else:
        title = Message("Follow up ({number})", number=followup.get("number") or "").render(locale)
    return title[:TITLE_MAX]


def _task_description(followup: dict[str, Any], locale: str) -> str:
    parts = [
        (Message("What was discussed"), followup.get("content")),
        (Message("Customer feedback"), followup.get("feedback")),
        (Message("Next step"), followup.get("next_step")),
    ]
    lines = [f"{label.render(locale)}: {text}" for label, text in parts if text]
    lines.append(
        Message("From follow-up {number}", number=followup.get("number") or "").render(locale)
    )
    return "\n".join(lines)


def _utc_json(moment: datetime) -> str:
    """A stored (naive UTC) moment as input: naive text would be read as local time."""
    return moment.replace(tzinfo=None).isoformat() + "Z"


# -- task -> reminder --------------------------------------------------------------------------


@hookimpl
def record_stored(connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    """Keep one unread reminder per open, dated task, in the task's own transaction."""
    if event.entity != "task":
        return
    if event.op == "delete" or event.record is None:
        notifications.cancel_for_source(connection, "task", event.record_id, REMINDER)
        return
    if event.op not in ("create", "update", "restore"):  # a restored task is due again
        return
    task = event.record
    closed = task.get("status") in CLOSED_STATUSES
    if event.op == "update":
        rescheduled = {"due_at", "owner_id"} & set(event.changes)
        reopened = (
            "status" in event.changes
            and not closed
            and ((event.old or {}).get("status") in CLOSED_STATUSES)
        )
        if closed or rescheduled:
            notifications.cancel_for_source(connection, "task", event.record_id, REMINDER)
        if closed or not (rescheduled or reopened):
            return
    due, owner = task.get("due_at"), task.get("owner_id")
    if not isinstance(due, datetime) or owner is None or closed:
        return
    title = str(task.get("title") or task.get("number") or "")
    notifications.notify(
        connection,
        owner,
        REMINDER,
        Message("Reminder: {title}", title=title).all_locales(),
        body=str(task.get("description") or "")[:1000] or None,
        link=f"/r/task/{event.record_id}",
        due_at=due,
        source=("task", event.record_id),
    )
