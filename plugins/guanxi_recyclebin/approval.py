"""Delete approval (BIN-04, PERM-06): a deletion by someone without the module's
`approve_delete` right becomes a request; the requester's manager decides.

The manager is found up the department tree: the nearest department, starting with the
requester's own, holding an active user (not the requester) who may approve deletions in the
module; all of them are asked and any may decide. Without one, administrators are asked.
An approval deletes through `records.delete` as the approver (so the record goes to the bin
like any deletion); a rejection needs a reason. Both tell the requester. Until approved,
nothing is deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from guanxi import clock, notifications
from guanxi.api import (
    Actor,
    EntityDef,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    _,
)
from guanxi.auth.managers import managers_of
from guanxi_recyclebin import binning
from guanxi_recyclebin.tables import request

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
KIND = "delete_request"


@dataclass(frozen=True)
class Request:
    id: int
    entity: str
    record_id: int
    title: str
    requested_by: int
    requested_by_name: str
    requested_at: datetime
    reason: str | None
    approvers: tuple[int, ...]
    status: str
    decided_by_name: str | None
    decision_reason: str | None

    @classmethod
    def of(cls, row: Any) -> Request:
        return cls(
            int(row.id), row.entity, int(row.record_id), row.title or "", int(row.requested_by),
            row.requested_by_name or "", row.requested_at, row.reason,
            tuple(int(i) for i in (row.approvers or ())), row.status, row.decided_by_name,
            row.decision_reason,
        )  # fmt: skip


def file(
    platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor, reason: str | None
) -> str:
    """File (or find the open) request to delete `record`; returns "pending_approval"."""
    if actor.user_id is None:
        raise PermissionDenied(
            _("Deleting {entity} records needs a manager's approval", entity=entity.label),
            code="needs_approval",
        )
    title = str(record.get(entity.title_field) or record.get("number") or record["id"])
    with platform.db.unit_of_work() as connection:
        open_one = connection.execute(
            sa.select(request.c.id).where(
                request.c.entity == entity.name,
                request.c.record_id == record["id"],
                request.c.status == PENDING,
            )
        ).first()
        if open_one is not None:
            return "pending_approval"
        approvers = approvers_for(platform, connection, actor, entity.name)
        request_id = connection.execute(
            sa.insert(request).returning(request.c.id),
            {
                "entity": entity.name, "record_id": record["id"], "title": title[:200],
                "requested_by": actor.user_id, "requested_by_name": _name(actor),
                "requested_at": clock.now_utc(), "reason": reason, "approvers": approvers,
                "status": PENDING,
            },
        ).scalar_one()  # fmt: skip
        for approver in approvers:
            notifications.notify(
                connection, approver, KIND,
                _("{user} asks to delete {record}", user=_name(actor), record=title)
                .all_locales(),
                body=reason, link=f"/bin/requests#request-{request_id}",
                source=(entity.name, int(record["id"])),
            )  # fmt: skip
    return "pending_approval"


def approvers_for(platform: Any, connection: Any, actor: Actor, entity: str) -> list[int]:
    """The requester's manager(s): see the module docstring."""
    return managers_of(platform, connection, actor.user_id, entity, "approve_delete")


def _name(actor: Actor) -> str:
    return actor.display_name or actor.username


def for_user(platform: Any, actor: Actor) -> tuple[list[Request], list[Request]]:
    """(requests waiting for this user's decision, this user's own recent requests)."""
    with platform.db.read() as connection:
        pending = [
            Request.of(row)
            for row in connection.execute(
                sa.select(request).where(request.c.status == PENDING).order_by(request.c.id)
            )
        ]
        mine = [
            Request.of(row)
            for row in connection.execute(
                sa.select(request)
                .where(request.c.requested_by == actor.user_id)
                .order_by(request.c.id.desc())
                .limit(50)
            )
        ]
    admin = binning.is_admin(platform, actor)
    waiting = [r for r in pending if admin or actor.user_id in r.approvers]
    return waiting, mine


def _open(platform: Any, actor: Actor, request_id: int) -> Request:
    with platform.db.read() as connection:
        row = connection.execute(sa.select(request).where(request.c.id == request_id)).first()
    if row is None or row.status != PENDING:
        raise NotFound(_("No such open request"))
    found = Request.of(row)
    admin = binning.is_admin(platform, actor)
    if not admin and actor.user_id not in found.approvers:
        raise NotFound(_("No such open request"))
    return found


def approve(platform: Any, actor: Actor, request_id: int) -> str:
    """Delete the record as the approver (it goes to the bin), then close the request."""
    found = _open(platform, actor, request_id)
    with platform.records.batch() as connection:  # the deletion and the decision, or neither
        outcome = platform.records.delete(
            actor, found.entity, found.record_id, reason=found.reason or None
        )
        _decide(connection, actor, found, APPROVED, None)
    return str(outcome)


def reject(platform: Any, actor: Actor, request_id: int, reason: str) -> None:
    found = _open(platform, actor, request_id)
    if not reason.strip():
        raise ValidationFailed(
            [FieldError("reason", "required", _("Say why the deletion is rejected"))]
        )
    with platform.db.unit_of_work() as connection:
        _decide(connection, actor, found, REJECTED, reason.strip())


def _decide(connection: Any, actor: Actor, found: Request, status: str, reason: str | None) -> None:
    changed = connection.execute(
        sa.update(request)
        .where(request.c.id == found.id, request.c.status == PENDING)
        .values(
            status=status, decided_by=actor.user_id, decided_by_name=_name(actor),
            decided_at=clock.now_utc(), decision_reason=reason,
        )
    ).rowcount  # fmt: skip
    if changed != 1:
        raise NotFound(_("No such open request"))
    message = (
        _(
            "{user} approved deleting {record}",
            user=_name(actor),
            record=found.title,
        )
        if status == APPROVED
        else _(
            "{user} rejected deleting {record}",
            user=_name(actor),
            record=found.title,
        )
    )
    notifications.notify(
        connection, found.requested_by, KIND, message.all_locales(), body=reason,
        link="/bin/requests",
    )  # fmt: skip
