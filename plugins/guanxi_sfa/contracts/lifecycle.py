"""The contract's rules (SFA-13): its status follows the approval (submitted → 审批中, approved
→ 已审批, rejected → back to 草稿); nothing moves past approval unapproved; execution needs the
signing date and the signed copy attached; the amount is fixed once submitted; what is still
to be received is the amount less what was received."""

from __future__ import annotations

from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from guanxi import attachments
from guanxi.api import EntityDef, FieldError, _
from guanxi_sfa.contracts.approvals import APPROVED, FIELD, NONE, PENDING, REJECTED

MODULE = "contract"
DRAFT, IN_APPROVAL, APPROVED_STATUS, EXECUTING = "draft", "approval", "approved", "executing"
PAST_APPROVAL = frozenset({"approved", "executing", "completed"})
# What the approval does to the status: (new approval, status before) -> status after
FOLLOWS = {
    (PENDING, DRAFT): IN_APPROVAL,
    (APPROVED, IN_APPROVAL): APPROVED_STATUS,
    (REJECTED, IN_APPROVAL): DRAFT,
}

# prepare() can read the attachments (it has the platform), validate() cannot: prepare leaves
# its finding here for the validate() call of the same write.
_signed_copy: ContextVar[bool | None] = ContextVar("sfa_contract_signed_copy", default=None)


def prepare(
    platform: Any, entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None, op: str
) -> None:
    if op == "copy":  # a copy is a new draft, to be approved and received on its own
        record.update({FIELD: NONE, "status": DRAFT, "received_amount": Decimal(0)})
    if old is None:
        record[FIELD] = record.get(FIELD) or NONE
        if record.get("received_amount") is None:
            record["received_amount"] = Decimal(0)
    _follow_approval(record, old)
    _outstanding(record, old)
    entering = record.get("status") == EXECUTING and (old or {}).get("status") != EXECUTING
    _signed_copy.set(
        bool(old and attachments.for_record(platform, MODULE, int(old["id"]))) if entering else None
    )


def _follow_approval(record: dict[str, Any], old: dict[str, Any] | None) -> None:
    before = (old or {}).get(FIELD)
    if record.get(FIELD) != before:
        moved = FOLLOWS.get((record.get(FIELD), record.get("status")))
        if moved is not None:
            record["status"] = moved
    elif (
        old is not None
        and record.get("status") == DRAFT
        and old.get("status") != DRAFT
        and before == APPROVED
    ):
        record[FIELD] = NONE  # back to draft to amend: the change needs a new approval


def _outstanding(record: dict[str, Any], old: dict[str, Any] | None) -> None:
    keys = ("amount", "received_amount")
    known = old is not None and record.get("outstanding_amount") is not None
    if known and all(record.get(k) == (old or {}).get(k) for k in keys):
        return
    amount, received = (Decimal(record.get(k) or 0) for k in keys)
    record["outstanding_amount"] = amount - received


def validate(record: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errors: list[FieldError] = []
    status, approval = record.get("status"), record.get(FIELD) or NONE
    before = old or {}
    moved = status != before.get("status")
    if moved and before.get(FIELD) == PENDING and approval == PENDING:
        errors.append(FieldError("status", "pending", _(
            "The contract is waiting for approval; the approver decides what happens next")))  # fmt: skip
    elif moved and status == IN_APPROVAL and approval != PENDING:
        errors.append(FieldError("status", "submit", _(
            "Submit the contract for approval instead of setting the status")))  # fmt: skip
    if approval == PENDING and before.get(FIELD) != PENDING and status != IN_APPROVAL:
        errors.append(FieldError("status", "not_draft", _(
            "Only a draft contract can be submitted for approval")))  # fmt: skip
    if moved and status in PAST_APPROVAL and approval != APPROVED:
        errors.append(FieldError(FIELD, "not_approved", _(
            "The contract must be approved before it moves on")))  # fmt: skip
    if moved and status == EXECUTING and _signed_copy.get() is False:
        errors.append(FieldError("status", "signed_copy", _(
            "Attach the signed contract before it goes into execution")))  # fmt: skip
    _signed_copy.set(None)
    locked = before.get(FIELD) in (PENDING, APPROVED) or before.get("status") in PAST_APPROVAL
    if old is not None and locked and record.get("amount") != before.get("amount"):
        errors.append(FieldError("amount", "locked", _(
            "The amount cannot change once the contract is submitted or approved")))  # fmt: skip
    start, end = record.get("start_on"), record.get("end_on")
    if start is not None and end is not None and end < start:
        errors.append(FieldError("end_on", "before_start", _(
            "The end date cannot be before the start date")))  # fmt: skip
    return errors
