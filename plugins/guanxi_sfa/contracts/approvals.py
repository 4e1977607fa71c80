"""Approvals of contracts and quotes (SFA-12, SFA-13, seed 001 审批流转): a record is submitted,
the owner's managers are asked, one of them approves or rejects; every step is kept.

A module takes part when it is listed in MODULES, exists, and has a select field `approval`
(none / pending / approved / rejected; readonly: only this service writes it, as the system,
through the record service, so the module's own rules still run on the change). Everything
checks the actor's rights here, never only in a route.

API (plain functions; errors are the platform's: NotFound, PermissionDenied, ValidationFailed
naming the field, ConflictError when the record changed meanwhile):

    approvals.MODULES                    ("contract", "quote")
    approvals.submit(platform, actor, module, record_id, reason=None) -> Request
        needs edit access to the record; approval must be "none" or "rejected".
        Sets approval = "pending", files a request, notifies the approvers: the nearest
        people up the owner's department tree holding the module's `approve` action
        (guanxi.auth.managers.managers_of), else the administrators.
    approvals.decide(platform, actor, module, record_id, approve: bool, comment=None) -> Request
        needs the module action `approve` and the record in the actor's scope for it; not on
        one's own request; a rejection needs a comment. Sets approval = "approved" or
        "rejected", closes the request, notifies the owner and the submitter.
    approvals.state(platform, actor, module, record_id) -> State
        the approval code, the open request, the history (newest first) and whether the
        actor may submit / decide now.
    approvals.waiting_for(platform, actor) -> list[Request]   open requests the actor decides
    approvals.submitted_by(platform, actor) -> list[Request]  the actor's recent requests

A module reacts to its own approval changes in its prepare/validate hooks (the contract moves
its status with it); `submit` and `decide` run the record update and the request row in one
transaction, so a refusal by the module's rules writes neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from guanxi import clock, notifications
from guanxi.api import (
    Actor,
    ConflictError,
    EntityDef,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    _,
)
from guanxi.auth.managers import administrators, managers_of
from guanxi_sfa import records_util
from guanxi_sfa.contracts.tables import approval as request_table

MODULES = ("contract", "quote")
FIELD = "approval"
RIGHT = "approve"
NONE, PENDING, APPROVED, REJECTED = "none", "pending", "approved", "rejected"
KIND = "sfa_approval"
TEXT_MAX = 1000


@dataclass(frozen=True)
class Request:
    """One submission and, once decided, its decision."""

    id: int
    entity: str
    record_id: int
    title: str
    submitted_by: int | None
    submitted_by_name: str
    submitted_at: datetime
    reason: str | None
    approvers: tuple[int, ...]
    status: str
    decided_by: int | None
    decided_by_name: str | None
    decided_at: datetime | None
    comment: str | None

    @classmethod
    def of(cls, row: Any) -> Request:
        return cls(
            int(row.id), row.entity, int(row.record_id), row.title or "", row.submitted_by,
            row.submitted_by_name or "", row.submitted_at, row.reason,
            tuple(int(i) for i in (row.approvers or ())), row.status, row.decided_by,
            row.decided_by_name, row.decided_at, row.comment,
        )  # fmt: skip

    @property
    def link(self) -> str:
        return page_link(self.entity, self.record_id)


@dataclass(frozen=True)
class State:
    """A record's approval as one actor sees it."""

    entity: EntityDef
    record: dict[str, Any]
    approval: str
    pending: Request | None
    history: list[Request] = field(default_factory=list)
    may_submit: bool = False
    may_decide: bool = False


def page_link(module: str, record_id: int) -> str:
    return f"/sfa/approvals/{module}/{record_id}"


def approvable(platform: Any, module: str) -> EntityDef:
    """The module's definition if it takes part in approvals (else NotFound)."""
    entity = platform.registry.snapshot().entities.get(module) if module in MODULES else None
    if entity is None or entity.get_field(FIELD) is None:
        raise NotFound(_("No such page"))
    return entity


def available(platform: Any) -> list[EntityDef]:
    """The modules taking part now (a module not installed is simply left out)."""
    entities = platform.registry.snapshot().entities
    return [entities[m] for m in MODULES if m in entities and entities[m].get_field(FIELD)]


# -- writing -------------------------------------------------------------------------------------


def submit(
    platform: Any, actor: Actor, module: str, record_id: int, reason: str | None = None
) -> Request:
    entity = approvable(platform, module)
    if not platform.records.access(actor).allows(module, "edit"):
        raise PermissionDenied(_("You may not submit this record for approval"))
    platform.records.get(actor, module, record_id, action="edit", log_view=False)
    stored = _stored(platform, module, record_id)
    current = stored.get(FIELD) or NONE
    if current == PENDING:
        raise ValidationFailed(
            [FieldError(FIELD, "pending", _("This record is already waiting for approval"))]
        )
    if current == APPROVED:
        raise ValidationFailed(
            [FieldError(FIELD, "approved", _("This record is already approved"))]
        )
    reason = _text(reason)
    with platform.db.read() as connection:
        approvers = _approvers(platform, connection, stored.get("owner_id"), module, actor)
    title = title_of(entity, stored)
    now = clock.now_utc()
    with platform.records.batch() as connection:
        platform.records.update(
            records_util.SYSTEM, module, record_id, {FIELD: PENDING}, version=stored["version"],
            reason=_audit(_("Submitted for approval"), reason, actor),
        )  # fmt: skip
        request_id = connection.execute(
            sa.insert(request_table).returning(request_table.c.id),
            {"entity": module, "record_id": record_id, "title": title[:200],
             "submitted_by": actor.user_id, "submitted_by_name": actor.name[:100],
             "submitted_at": now, "reason": reason, "approvers": approvers,
             "status": PENDING},
        ).scalar_one()  # fmt: skip
        message = _("{user} asks you to approve {module} {record}", user=actor.name,
                    module=entity.label, record=title)  # fmt: skip
        for approver in approvers:
            notifications.notify(
                connection, approver, KIND, message.all_locales(), body=reason,
                link=page_link(module, record_id), source=(module, record_id),
            )  # fmt: skip
    return _request(platform, int(request_id))


def decide(
    platform: Any,
    actor: Actor,
    module: str,
    record_id: int,
    approve: bool,
    comment: str | None = None,
) -> Request:
    entity = approvable(platform, module)
    access = platform.records.access(actor)
    if not access.allows(module, RIGHT):
        raise PermissionDenied(_("You may not decide approvals of {module}", module=entity.label))
    platform.records.get(actor, module, record_id, action=RIGHT, log_view=False)
    stored = _stored(platform, module, record_id)
    pending = _pending(platform, module, record_id)
    if stored.get(FIELD) != PENDING or pending is None:
        raise ValidationFailed(
            [FieldError(FIELD, "not_pending", _("Nothing on this record waits for approval"))]
        )
    if pending.submitted_by is not None and pending.submitted_by == actor.user_id:
        raise PermissionDenied(_("You cannot decide on your own request"))
    comment = _text(comment)
    if not approve and not comment:
        raise ValidationFailed([FieldError("comment", "required", _("Say why it is rejected"))])
    outcome = APPROVED if approve else REJECTED
    what = _("Approved") if approve else _("Rejected")
    with platform.records.batch() as connection:
        platform.records.update(
            records_util.SYSTEM, module, record_id, {FIELD: outcome}, version=stored["version"],
            reason=_audit(what, comment, actor),
        )  # fmt: skip
        closed = connection.execute(
            sa.update(request_table)
            .where(request_table.c.id == pending.id, request_table.c.status == PENDING)
            .values(
                status=outcome,
                decided_by=actor.user_id,
                decided_by_name=actor.name[:100],
                decided_at=clock.now_utc(),
                comment=comment,
            )  # fmt: skip
        ).rowcount
        if closed != 1:
            raise ConflictError(_("Someone else decided first; reload to see their decision"))
        title = title_of(entity, stored)
        message = (
            _("{user} approved {module} {record}", user=actor.name, module=entity.label,
              record=title)
            if approve
            else _("{user} rejected {module} {record}", user=actor.name, module=entity.label,
                   record=title)
        )  # fmt: skip
        told = {stored.get("owner_id"), pending.submitted_by} - {None, actor.user_id}
        for user_id in sorted(told):  # type: ignore[type-var]
            notifications.notify(
                connection, int(user_id), KIND, message.all_locales(), body=comment,
                link=page_link(module, record_id), source=(module, record_id),
            )  # fmt: skip
    return _request(platform, pending.id)


# -- reading -------------------------------------------------------------------------------------


def state(platform: Any, actor: Actor, module: str, record_id: int) -> State:
    entity = approvable(platform, module)
    record = dict(platform.records.get(actor, module, record_id, log_view=False))
    code = record.get(FIELD) or NONE
    with platform.db.read() as connection:
        history = [
            Request.of(row)
            for row in connection.execute(
                sa.select(request_table)
                .where(request_table.c.entity == module, request_table.c.record_id == record_id)
                .order_by(request_table.c.id.desc())
            )
        ]
    pending = next((r for r in history if r.status == PENDING), None)
    return State(
        entity, record, code, pending, history,
        may_submit=code in (NONE, REJECTED) and not _closed(entity, record)
        and _may(platform, actor, module, record_id, "edit"),
        may_decide=code == PENDING and pending is not None
        and pending.submitted_by != actor.user_id
        and _may(platform, actor, module, record_id, RIGHT),
    )  # fmt: skip


def waiting_for(platform: Any, actor: Actor) -> list[Request]:
    """Open requests the actor was asked to decide (administrators: every open request), in
    modules where the actor holds the `approve` action."""
    access = platform.records.access(actor)
    modules = [e.name for e in available(platform) if access.allows(e.name, RIGHT)]
    if not modules:
        return []
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(request_table)
            .where(request_table.c.status == PENDING, request_table.c.entity.in_(modules))
            .order_by(request_table.c.id)
        )
        found = [Request.of(row) for row in rows]
    return [
        r for r in found
        if (access.is_admin or actor.user_id in r.approvers) and r.submitted_by != actor.user_id
    ]  # fmt: skip


def submitted_by(platform: Any, actor: Actor, limit: int = 50) -> list[Request]:
    if actor.user_id is None:
        return []
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(request_table)
            .where(request_table.c.submitted_by == actor.user_id)
            .order_by(request_table.c.id.desc())
            .limit(limit)
        )
        return [Request.of(row) for row in rows]


# -- helpers -------------------------------------------------------------------------------------


def _stored(platform: Any, module: str, record_id: int) -> dict[str, Any]:
    stored = records_util.system_get(platform, module, record_id)
    if stored is None:
        raise NotFound(_("No such record"))
    return stored


def _pending(platform: Any, module: str, record_id: int) -> Request | None:
    with platform.db.read() as connection:
        row = connection.execute(
            sa.select(request_table)
            .where(
                request_table.c.entity == module,
                request_table.c.record_id == record_id,
                request_table.c.status == PENDING,
            )
            .order_by(request_table.c.id.desc())
            .limit(1)
        ).first()
    return Request.of(row) if row is not None else None


def _request(platform: Any, request_id: int) -> Request:
    with platform.db.read() as connection:
        row = connection.execute(
            sa.select(request_table).where(request_table.c.id == request_id)
        ).first()
    return Request.of(row)


def _approvers(
    platform: Any, connection: Any, owner_id: int | None, module: str, actor: Actor
) -> list[int]:
    """The owner's managers for the module; the submitter never approves their own request,
    so without anyone else the administrators are asked."""
    found = [u for u in managers_of(platform, connection, owner_id, module, RIGHT)
             if u != actor.user_id]  # fmt: skip
    return found or administrators(platform, connection, exclude=actor.user_id)


def _may(platform: Any, actor: Actor, module: str, record_id: int, action: str) -> bool:
    if not platform.records.access(actor).allows(module, action):
        return False
    try:
        platform.records.get(actor, module, record_id, action=action, log_view=False)
    except NotFound:
        return False
    return True


def _closed(entity: EntityDef, record: dict[str, Any]) -> bool:
    """A record whose stage is won or lost (a completed contract, a declined quote) is not
    submitted any more."""
    for key, pipeline in entity.pipelines.items():
        stage = pipeline.by_code.get(record.get(key) or "")
        if stage is not None and stage.category != "open":
            return True
    return False


def title_of(entity: EntityDef, record: dict[str, Any]) -> str:
    return str(record.get(entity.title_field) or record.get("number") or record["id"])


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text[:TEXT_MAX] or None


def _audit(what: Any, note: str | None, actor: Actor) -> str:
    """The reason kept in the record's history: what happened, by whom, and their note."""
    said = f"{what.render(actor.locale)} ({actor.name})"
    return f"{said}: {note}" if note else said
