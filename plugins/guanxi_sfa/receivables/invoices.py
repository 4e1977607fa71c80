"""Invoices (SFA-14): requested by the rep against a contract, issued by finance with the
invoice number and date, or voided. Never more invoiced than the contract's amount (checked
in the write's transaction with the contract row locked); the contract's `invoiced_amount` is
re-derived from the live, non-void invoices after every change."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from guanxi.api import FieldError, RecordEvent, ValidationFailed, _
from guanxi_sfa import records_util
from guanxi_sfa.receivables.payments import ZERO, money

MODULE = "invoice"
COUNTED = ("requested", "issued")  # a void invoice no longer counts
CENT = Decimal("0.01")


def prepare(platform: Any, record: dict[str, Any]) -> None:
    """The customer from the contract; the tax contained in the tax-inclusive amount."""
    contract = records_util.system_get(platform, "contract", record.get("contract"))
    if contract is not None:
        record["customer"] = contract.get("customer")
    amount, rate = record.get("amount"), record.get("tax_rate")
    if amount is not None and rate is not None:
        gross = Decimal(amount)
        net = gross / (1 + Decimal(rate) / 100)
        record["tax_amount"] = (gross - net).quantize(CENT, rounding=ROUND_HALF_UP)


def validate(record: dict[str, Any]) -> list[FieldError]:
    if record.get("status") != "issued":
        return []
    return [
        FieldError(key, "required", _("An issued invoice needs its {what}", what=what))
        for key, what in (("invoice_no", _("invoice number")), ("issued_on", _("issue date")))
        if not record.get(key)
    ]


def check_limit(platform: Any, connection: Any, event: RecordEvent) -> None:
    """Refuse (rolling the write back) invoicing beyond the contract's amount."""
    record = event.record
    if event.op not in ("create", "update", "restore") or record is None:
        return
    if record.get("status") not in COUNTED:
        return
    snapshot = platform.registry.snapshot()
    contracts, invoices = snapshot.table("contract"), snapshot.table(MODULE)
    contract_entity, invoice_entity = snapshot.entity("contract"), snapshot.entity(MODULE)

    def column(table: sa.Table, entity: Any, key: str) -> Any:
        return table.c[entity.field(key).column]

    limit = connection.execute(
        sa.select(column(contracts, contract_entity, "amount"))
        .where(contracts.c.id == record.get("contract"))
        .with_for_update()
    ).scalar()
    if limit is None:
        return
    invoiced = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(column(invoices, invoice_entity, "amount")), 0))
        .where(column(invoices, invoice_entity, "contract") == record.get("contract"),
               column(invoices, invoice_entity, "status").in_(COUNTED),
               invoices.c.deleted_at.is_(None))
    ).scalar_one()  # fmt: skip
    if money(invoiced) > money(limit):
        left = max(money(limit) - (money(invoiced) - money(record.get("amount"))), ZERO)
        raise ValidationFailed([FieldError("amount", "over_contract", _(
            "Only {left} of the contract is left to invoice", left=f"¥{left:,.2f}"))])  # fmt: skip


def changed(platform: Any, event: RecordEvent) -> None:
    contracts = {r["contract"] for r in (event.record, event.old)
                 if r and isinstance(r.get("contract"), int)}  # fmt: skip
    for contract_id in sorted(contracts):
        rows = platform.records.aggregate(
            records_util.SYSTEM, MODULE,
            [{"field": "contract", "op": "eq", "value": contract_id},
             {"field": "status", "op": "in", "value": list(COUNTED)}],
            measures=[("sum", "amount")],
        )  # fmt: skip
        total = money(rows[0].get("sum_amount")) if rows else ZERO
        records_util.system_update(platform, "contract", contract_id, {"invoiced_amount": total},
                                   reason=_("Invoices").render("zh-CN"))  # fmt: skip
