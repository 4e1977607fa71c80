"""Payment plans (SFA-14, seed 003 §2(2)3 "首付30%、验收后70%"): templates from the settings, the
split of a contract's amount into installments that sum to it exactly, and `generate`, which
writes the rows through the record service in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import Actor, FieldError, ValidationFailed, _
from guanxi_sfa.settings import NAME

CENT = Decimal("0.01")
DUE = re.compile(r"^(signed_on|start_on|end_on|today)(?:\+(\d{1,4}))?$")
DEFAULT_TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "100%": [{"title": "签约款", "percent": 100, "due": "signed_on+0"}],
    "30/70": [
        {"title": "签约款", "percent": 30, "due": "signed_on+0"},
        {"title": "验收款", "percent": 70, "due": "signed_on+90"},
    ],
    "30/60/10": [
        {"title": "预付款", "percent": 30, "due": "signed_on+0"},
        {"title": "验收款", "percent": 60, "due": "signed_on+90"},
        {"title": "质保金", "percent": 10, "due": "signed_on+365"},
    ],
}
STEP = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 100},
        "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
        "due": {"type": "string", "pattern": DUE.pattern},
    },
    "required": ["title", "percent", "due"],
    "additionalProperties": False,
}
SETTINGS: dict[str, Any] = {
    "payment_plan_templates": {
        "type": "object",
        "default": DEFAULT_TEMPLATES,
        "additionalProperties": {"type": "array", "items": STEP, "minItems": 1, "maxItems": 24},
        "title": "Payment plan templates: installments with title, percent (summing to 100) and "
        "due date (signed_on+days, start_on+days, end_on+days or today+days)",
    },
    "reminder_days": {
        "type": "integer", "minimum": 0, "maximum": 90, "default": 3,
        "title": "Days before an installment is due that its owner is reminded",
    },
}  # fmt: skip


@dataclass(frozen=True)
class Step:
    title: str
    percent: Decimal
    base: str  # a date field of the contract, or "today"
    days: int


def templates(platform: Any) -> dict[str, list[dict[str, Any]]]:
    found = platform.plugin_settings(NAME).get("payment_plan_templates")
    return dict(found) if isinstance(found, dict) and found else dict(DEFAULT_TEMPLATES)


def template_problem(raw: Any) -> Any:
    """Why a template cannot be used (a Message), or None. The settings schema checks each
    installment's shape; that the percents add up to 100 JSON Schema cannot say, so here."""
    if not isinstance(raw, list) or not raw:
        return _("A payment plan template needs at least one installment")
    try:
        total = sum((Decimal(str(step["percent"])) for step in raw), Decimal(0))
    except (KeyError, TypeError, ArithmeticError):
        return _("Every installment needs a title, a percent and a due date")
    if total != 100:
        return _("The installments' percents add up to {total}%, not 100%", total=total)
    if any(not DUE.match(str(step.get("due", ""))) for step in raw):
        return _("Every installment needs a title, a percent and a due date")
    return None


def steps_of(raw: list[dict[str, Any]]) -> list[Step]:
    found = []
    for step in raw:
        match = DUE.match(str(step["due"]))
        assert match is not None
        found.append(Step(str(step["title"]), Decimal(str(step["percent"])), match.group(1),
                          int(match.group(2) or 0)))  # fmt: skip
    return found


def split(amount: Decimal, percents: list[Decimal]) -> list[Decimal]:
    """Each installment's share rounded to the cent; the last takes what rounding left over,
    so the installments always sum to the contract amount exactly."""
    parts = [(amount * p / 100).quantize(CENT, rounding=ROUND_HALF_UP) for p in percents[:-1]]
    return [*parts, amount - sum(parts, Decimal(0))]


def amount_of(value: Any) -> Decimal | None:
    """A money value as read, or None when empty or masked for the reader ("****")."""
    if value is None:
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        return None


def local_today() -> date:
    """Today in business time, from the (monkeypatchable) clock."""
    return clock.to_local(clock.now_utc()).date()


def _due(contract: dict[str, Any], step: Step) -> date:
    base = contract.get(step.base) if step.base != "today" else None
    start = base if isinstance(base, date) else local_today()
    return start + timedelta(days=step.days)


def rows_for(contract: dict[str, Any], steps: list[Step]) -> list[dict[str, Any]]:
    amounts = split(Decimal(contract["amount"]), [s.percent for s in steps])
    return [
        {"contract": contract["id"], "sequence": n, "title": step.title, "percent": step.percent,
         "amount": amount, "due_on": _due(contract, step).isoformat(),
         "owner_id": contract.get("owner_id")}
        for n, (step, amount) in enumerate(zip(steps, amounts, strict=True), start=1)
    ]  # fmt: skip


def refuse(field: str, code: str, message: Any) -> ValidationFailed:
    return ValidationFailed([FieldError(field, code, message)])


def generate(
    platform: Any, actor: Actor, contract_id: int, template_name: str
) -> list[dict[str, Any]]:
    """The contract's installments from a template, created as `actor` (who must be able to
    edit the contract and create plan rows) in ONE transaction; refused when the contract
    already has a plan. The contract row is locked first, so two clicks make one plan."""
    raw = templates(platform).get(template_name)
    if raw is None:
        raise refuse("template", "unknown",
                     _("There is no payment plan template named '{name}'", name=template_name))  # fmt: skip
    problem = template_problem(raw)
    if problem is not None:
        raise refuse("template", "invalid", problem)
    records = platform.records
    contract = dict(records.get(actor, "contract", contract_id, action="edit", log_view=False))
    amount = amount_of(contract.get("amount"))
    if amount is None or amount <= 0:
        raise refuse("amount", "required",
                     _("The contract needs an amount before a payment plan"))  # fmt: skip
    with records.batch() as connection:
        snapshot = platform.registry.snapshot()
        table = snapshot.table("contract")
        connection.execute(sa.select(table.c.id).where(table.c.id == contract_id).with_for_update())
        if existing_rows(platform, connection, contract_id):
            raise refuse("contract", "plan_exists",
                         _("This contract already has a payment plan"))  # fmt: skip
        return [
            records.create(actor, "payment_plan", row) for row in rows_for(contract, steps_of(raw))
        ]


def existing_rows(platform: Any, connection: Any, contract_id: int) -> int:
    snapshot = platform.registry.snapshot()
    plan = snapshot.table("payment_plan")
    column = plan.c[snapshot.entity("payment_plan").field("contract").column]
    return int(
        connection.execute(
            sa.select(sa.func.count()).where(column == contract_id, plan.c.deleted_at.is_(None))
        ).scalar_one()
    )


def has_plan(platform: Any, contract_id: int) -> bool:
    with platform.db.read() as connection:
        return existing_rows(platform, connection, contract_id) > 0
