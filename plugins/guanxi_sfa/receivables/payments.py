"""Received payments (SFA-14): what a payment fills in from its contract, the refusal of a
payment above what is still due, and the figures it drives on the installment (received,
status) and on the contract (received, outstanding).

The limit is checked in the write's own transaction (`record_stored`) with the installment
(or contract) row locked, so two payments recorded at once cannot both slip under it. The
figures are then re-derived after commit from the SUM of the live payments and written as
the system through the record service (`records_util.system_update`: validation, history,
events like every write). Deriving, never incrementing, makes an edited, deleted or
restored payment — or a retry — come out right."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from guanxi.api import EntityDef, FieldError, RecordEvent, ValidationFailed, _
from guanxi_sfa import records_util
from guanxi_sfa.receivables.plans import amount_of, local_today

SYSTEM = records_util.SYSTEM
ZERO = Decimal(0)
OPEN = ("planned", "partial", "overdue")


def money(value: Any) -> Decimal:
    """For sums: empty and masked count as nothing (a masked amount is not the reader's)."""
    found = amount_of(value)
    return found if found is not None else ZERO


def plan_status(record: dict[str, Any]) -> str:
    """paid once fully received; overdue when past due and not paid; partial; planned."""
    amount, received = money(record.get("amount")), money(record.get("received_amount"))
    if amount > 0 and received >= amount:
        return "paid"
    due = record.get("due_on")
    if due is not None and due < local_today():
        return "overdue"
    return "partial" if received > 0 else "planned"


# -- prepare and validate --------------------------------------------------------------------


def prepare_plan(platform: Any, record: dict[str, Any], old: dict[str, Any] | None) -> None:
    if old is None or record.get("contract") != old.get("contract"):
        contract = records_util.system_get(platform, "contract", record.get("contract"))
        if contract is not None:
            record["customer"] = contract.get("customer")
    if record.get("received_amount") is None:
        record["received_amount"] = ZERO
    record["status"] = plan_status(record)


def validate_plan(record: dict[str, Any]) -> list[FieldError]:
    if money(record.get("amount")) < money(record.get("received_amount")):
        return [FieldError("amount", "below_received",
                           _("The amount cannot be less than what was already received"))]  # fmt: skip
    return []


def prepare_payment(
    platform: Any, record: dict[str, Any], old: dict[str, Any] | None, actor: Any
) -> None:
    """The contract from the installment, the customer from the contract; a new payment
    belongs to the contract's owner and department (it counts towards their targets)."""
    plan = records_util.system_get(platform, "payment_plan", record.get("installment"))
    if plan is not None and record.get("contract") is None:
        record["contract"] = plan.get("contract")
    contract = records_util.system_get(platform, "contract", record.get("contract"))
    if contract is None:
        return
    record["customer"] = contract.get("customer")
    if old is None and contract.get("owner_id") is not None:
        record["owner_id"] = contract["owner_id"]
        record["department_id"] = contract.get("department_id")


# -- the limit, in the write's transaction -----------------------------------------------------


def check_limit(platform: Any, connection: Any, event: RecordEvent) -> None:
    """Refuse (rolling the write back) a payment that takes the contract — and its
    installment, if it names one — above its amount, or an installment of another contract.
    The contract row is locked first, then the installment, so concurrent payments of one
    contract queue behind each other whatever they name."""
    record = event.record
    if event.op not in ("create", "update", "restore") or record is None:
        return
    snapshot = platform.registry.snapshot()
    column = _columns(snapshot, "payment")
    plan_id, contract_id = record.get("installment"), record.get("contract")
    checks = [("contract", contract_id, column("contract") == contract_id)]
    if plan_id is not None:
        checks.append(("payment_plan", plan_id, column("installment") == plan_id))
    for target, target_id, where in checks:
        _check_one(snapshot, connection, record, target, target_id, where)


def _check_one(
    snapshot: Any, connection: Any, record: dict[str, Any], target: str, target_id: Any,
    where: Any,
) -> None:  # fmt: skip
    payments, column = snapshot.table("payment"), _columns(snapshot, "payment")
    table, columns = snapshot.table(target), _columns(snapshot, target)
    wanted = [columns("amount")] + ([columns("contract")] if target == "payment_plan" else [])
    row = connection.execute(
        sa.select(*wanted).where(table.c.id == target_id).with_for_update()
    ).first()
    if row is None:
        return
    if target == "payment_plan" and row[1] != record.get("contract"):
        raise ValidationFailed([FieldError("installment", "other_contract",
                                           _("The installment belongs to another contract"))])  # fmt: skip
    paid = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(column("amount")), 0)).where(
            where, payments.c.deleted_at.is_(None)
        )
    ).scalar_one()
    limit = money(row[0])
    if money(paid) > limit:
        still_due = max(limit - (money(paid) - money(record.get("amount"))), ZERO)
        message = _("The payment is more than the {due} still due on this {what}",
                    due=f"¥{still_due:,.2f}",
                    what=_("installment") if target == "payment_plan" else _("contract"))  # fmt: skip
        raise ValidationFailed([FieldError("amount", "over_due", message)])


def _columns(snapshot: Any, entity: str) -> Any:
    table, definition = snapshot.table(entity), snapshot.entity(entity)
    return lambda key: table.c[definition.field(key).column]


# -- the figures, after commit -----------------------------------------------------------------


def touched(event: RecordEvent) -> tuple[set[int], set[int]]:
    """The installments and contracts whose figures a payment event may have changed."""
    plans: set[int] = set()
    contracts: set[int] = set()
    for record in (event.record, event.old):
        if record:
            if isinstance(record.get("installment"), int):
                plans.add(record["installment"])
            if isinstance(record.get("contract"), int):
                contracts.add(record["contract"])
    return plans, contracts


def received(platform: Any, field: str, record_id: int) -> Decimal:
    """The sum of the live payments (the recycle bin's are not counted) of one installment
    or contract."""
    rows = platform.records.aggregate(
        SYSTEM, "payment", {"field": field, "op": "eq", "value": record_id},
        measures=[("sum", "amount")],
    )  # fmt: skip
    return money(rows[0].get("sum_amount")) if rows else ZERO


def rederive_plan(platform: Any, plan_id: int, reason: str | None) -> None:
    total = received(platform, "installment", plan_id)
    records_util.system_update(platform, "payment_plan", plan_id,
                               {"received_amount": total}, reason=reason)  # fmt: skip


def rederive_contract(platform: Any, contract_id: int, reason: str | None) -> None:
    """The contract's received amount; the contracts part derives the outstanding amount
    from it on every save (amount less received)."""
    total = received(platform, "contract", contract_id)
    records_util.system_update(platform, "contract", contract_id,
                               {"received_amount": total}, reason=reason)  # fmt: skip


def changed(platform: Any, event: RecordEvent) -> None:
    if event.entity != "payment":
        return
    plans, contracts = touched(event)
    record = event.record or event.old or {}
    reason = _("Payment {number}", number=record.get("number") or "").render("zh-CN")
    for plan_id in sorted(plans):
        rederive_plan(platform, plan_id, reason)
    for contract_id in sorted(contracts):
        rederive_contract(platform, contract_id, reason)


def validate(entity: EntityDef, record: dict[str, Any]) -> list[FieldError]:
    if entity.name == "payment_plan":
        return validate_plan(record)
    return []
