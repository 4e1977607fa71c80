"""Payment plans, received payments, invoices, receivables and sales targets (SFA-14, 16).

Four ordinary modules (schemas/payment_plan.json, payment.json, invoice.json,
sales_target.json): plan
rows are generated from templates in the settings (`plans`), payments drive the installment's
and the contract's figures (`payments`), a daily job reminds and flags overdue installments
(`reminders`), and `targets` measures attainment. The screens are in `screens`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from guanxi.api import Actor, EntityDef, FieldError, RecordEvent
from guanxi_sfa.receivables import invoices, payments, plans, reminders, targets

SCHEMAS = Path(__file__).parent.parent / "schemas"
MODULES = ("payment_plan", "payment", "invoice", "sales_target")
MONEY = ("payment_plan", "payment", "invoice")
log = logging.getLogger(__name__)


def documents() -> list[dict[str, Any]]:
    return [json.loads((SCHEMAS / f"{m}.json").read_text(encoding="utf-8")) for m in MODULES]


def extensions() -> list[dict[str, Any]]:
    """A contract's detail page lists its installments, payments and invoices."""
    return [{"entity": "contract", "related": [{"entity": m, "field": "contract"} for m in MONEY]}]


def tables() -> list[Any]:
    return [reminders.reminder]


def settings() -> dict[str, Any]:
    return dict(plans.SETTINGS)


def permissions() -> dict[str, Any]:
    """Reps plan and record payments on their own contracts and see their own targets;
    managers do that over their department tree and set targets; the finance role (财务)
    records payments on every contract and sees every installment."""
    rep = [["sales_rep", m, a] for m in MONEY for a in ("view", "create", "edit")]
    fields = [[role, f"{m}.*", right] for role in ("sales_rep", "finance") for m in MONEY
              for right in ("read", "write")]  # fmt: skip
    manager = [["sales_manager", m, a] for m in MODULES for a in ("delete", "export", "assign")]
    finance = [
        *[["finance", m, a] for m in ("payment", "invoice")
          for a in ("view", "create", "edit", "delete", "export", "assign")],
        *[["finance", "payment_plan", a] for a in ("view", "edit", "export")],
        ["finance", "contract", "view"], ["finance", "contract.*", "read"],
        ["finance", "customer", "view"],
    ]  # fmt: skip
    return {
        "roles": {"finance": {"zh-CN": "财务", "en": "Finance"}},
        "grants": [
            *rep, *fields, *manager, *finance,
            ["sales_rep", "sales_target", "view"], ["sales_rep", "sales_target.*", "read"],
            *[["sales_manager", "sales_target", a] for a in ("create", "edit")],
            ["sales_manager", "sales_target.*", "write"],
        ],
        "scopes": [
            *[["sales_rep", m, "*", "own"] for m in MODULES],
            *[["sales_manager", m, "*", "department_tree"] for m in MODULES],
            *[["finance", m, "*", "all"] for m in (*MONEY, "contract", "customer")],
        ],
    }  # fmt: skip


def prepare(
    platform: Any, entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None,
    actor: Actor, op: str,
) -> None:  # fmt: skip
    if op not in ("create", "copy", "update", "restore"):
        return
    if entity.name == "payment_plan":
        payments.prepare_plan(platform, record, old)
    elif entity.name == "payment":
        payments.prepare_payment(platform, record, old, actor)
    elif entity.name == invoices.MODULE:
        invoices.prepare(platform, record)
    elif targets.is_target(entity):
        targets.prepare(record)


def validate(
    entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None, op: str
) -> list[FieldError]:
    if op not in ("create", "copy", "update"):
        return []
    if targets.is_target(entity):
        return targets.validate(record)
    if entity.name == invoices.MODULE:
        return invoices.validate(record)
    return payments.validate(entity, record)


def stored(platform: Any, connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    if entity.name == "payment":
        payments.check_limit(platform, connection, event)
    elif entity.name == invoices.MODULE:
        invoices.check_limit(platform, connection, event)
    elif targets.is_target(entity):
        targets.check_department(platform, connection, event)
        targets.check_unique(platform, connection, event)


def changed(platform: Any, event: RecordEvent) -> None:
    if event.entity == invoices.MODULE:
        invoices.changed(platform, event)
    else:
        payments.changed(platform, event)


def jobs() -> list[dict[str, Any]]:
    return [{"name": reminders.JOB, "every": "daily", "at": "08:00", "run": reminders.run}]


def routes() -> list[Any]:
    from guanxi_sfa.receivables import screens  # the web layer, with the app

    return screens.routes()


def menu(platform: Any, actor: Actor, access: Any) -> list[dict[str, Any]]:
    items = []
    if access.allows("payment_plan", "view"):
        items.append({"href": "/sfa/receivables", "position": 40,
                      "label": {"zh-CN": "应收回款", "en": "Receivables"}})  # fmt: skip
    if access.allows("sales_target", "view"):
        items.append({"href": "/sfa/targets", "position": 41,
                      "label": {"zh-CN": "目标达成", "en": "Sales targets"}})  # fmt: skip
    return items


def record_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]]:
    """Contracts: generate the plan (while there is none), record a payment; installments not
    yet paid: record a payment against them, prefilled with what is still due."""
    record_id = record.get("id")
    if entity.name not in ("contract", "payment_plan") or not isinstance(record_id, int):
        return []
    access = platform.records.access(actor)
    found = []
    if entity.name == "contract":
        if access.allows("payment_plan", "create") and not plans.has_plan(platform, record_id):
            found.append({"label": {"zh-CN": "生成回款计划", "en": "Generate payment plan"},
                          "href": f"/sfa/contracts/{record_id}/payment-plan"})  # fmt: skip
        if access.allows("payment", "create"):
            found.append({"label": {"zh-CN": "登记回款", "en": "Record payment"},
                          "href": f"/r/payment/new?contract={record_id}"})  # fmt: skip
    elif access.allows("payment", "create") and record.get("status") != "paid":
        due = payments.money(record.get("amount")) - payments.money(record.get("received_amount"))
        query = urlencode({"contract": record.get("contract") or "", "installment": record_id,
                           "amount": str(due)})  # fmt: skip
        found.append({"label": {"zh-CN": "登记回款", "en": "Record payment"},
                      "href": f"/r/payment/new?{query}"})  # fmt: skip
    return found


def seed(platform: Any) -> None:
    """An administrator's template whose percents do not add up to 100 is named in the log
    at start-up (JSON Schema cannot check a sum); the plan screen shows it unusable."""
    for name, raw in plans.templates(platform).items():
        problem = plans.template_problem(raw)
        if problem is not None:
            log.warning("payment plan template %r: %s", name, problem.render("en"))
