"""The receivables screens: generate a contract's payment plan from a template, the list of
overdue and soon-due installments (/sfa/receivables) and target attainment (/sfa/targets).
Rows are read through `platform.records` as the viewer, so scopes and field masks apply;
writes go through the part's service functions, which check the rights."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.api import FieldError, NotFound, ValidationFailed, _
from guanxi.web.display import Presenter
from guanxi.web.screen import Screen, screen
from guanxi_sfa.receivables import plans, reminders, targets
from guanxi_sfa.receivables.payments import OPEN, money
from guanxi_sfa.receivables.plans import amount_of

LIST_FIELDS = ("number", "contract", "customer", "title", "due_on", "amount", "received_amount",
               "status", "owner_id")  # fmt: skip
LIMIT = 500


def routes() -> list[BaseRoute]:
    return [
        Route(
            "/sfa/contracts/{contract_id:int}/payment-plan",
            screen(plan_page),
            methods=["GET", "POST"],
        ),  # fmt: skip
        Route("/sfa/receivables", screen(receivables_page)),
        Route("/sfa/targets", screen(targets_page)),
    ]


def _money(s: Screen) -> Any:
    entity = s.platform.registry.get("payment_plan")
    field = entity.field("amount")
    kind = s.platform.types.for_field(field)
    return lambda value: kind.format(Decimal(value or 0), field, s.locale)


# -- generate a plan --------------------------------------------------------------------------


def plan_page(s: Screen) -> Response:
    """Choose a template; the preview shows each installment's amount and due date."""
    contract_id = int(s.path_params["contract_id"])
    contract = dict(
        s.platform.records.get(s.actor, "contract", contract_id, action="edit", log_view=False)
    )
    errors: list[FieldError] = []
    chosen = str(s.params.get("template") or "")
    if s.form is not None:
        chosen = str(s.form.get("template") or "")
        try:
            plans.generate(s.platform, s.actor, contract_id, chosen)
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            return s.redirect(f"/r/contract/{contract_id}?plan=1")
    options = []
    for name, raw in plans.templates(s.platform).items():
        problem = plans.template_problem(raw)
        preview = []
        if problem is None and amount_of(contract.get("amount")) is not None:
            preview = plans.rows_for(contract, plans.steps_of(raw))
        options.append({"name": name, "problem": problem.render(s.locale) if problem else None,
                        "rows": preview})  # fmt: skip
    if not chosen and options:
        chosen = next((o["name"] for o in options if o["problem"] is None), "")
    return s.render(
        "guanxi_sfa/receivables/plan.html", status=422 if errors else 200, contract=contract,
        options=options, chosen=chosen, errors=errors, money=_money(s),
        exists=plans.has_plan(s.platform, contract_id),
    )  # fmt: skip


# -- overdue and soon-due installments ---------------------------------------------------------


def receivables_page(s: Screen) -> Response:
    """Installments not paid and overdue or due within the reminder window (or `days`)."""
    records = s.platform.records
    access = records.access(s.actor)
    if not access.allows("payment_plan", "view"):
        raise NotFound(_("No such page"))
    raw = str(s.params.get("days") or "")
    days = int(raw) if raw.isdecimal() and int(raw) <= 366 else max(reminders.reminder_days(
        s.platform), 7)  # fmt: skip
    today = plans.local_today()
    until = today + timedelta(days=days)
    page = records.query(
        s.actor, "payment_plan",
        [{"field": "status", "op": "in", "value": list(OPEN)},
         {"field": "due_on", "op": "lte", "value": until.isoformat()}],
        sort=["due_on", "id"], limit=LIMIT,
    )  # fmt: skip
    entity = s.platform.registry.get("payment_plan")
    mask = access.mask(entity)
    fields = [f for f in (entity.get_field(k) for k in LIST_FIELDS) if f and f.key in mask.levels]
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask).load(page.rows, fields)
    rows = []
    totals = {"overdue": Decimal(0), "soon": Decimal(0)}
    for record in page.rows:
        outstanding = money(record.get("amount")) - money(record.get("received_amount"))
        due = record.get("due_on")
        late = (today - due).days if due is not None and due < today else 0
        totals["overdue" if late else "soon"] += outstanding
        rows.append({"record": record, "cells": [presenter.cell(f, record) for f in fields],
                     "outstanding": outstanding, "late": late})  # fmt: skip
    return s.render(
        "guanxi_sfa/receivables/list.html", rows=rows, fields=fields, totals=totals,
        days=days, money=_money(s), truncated=page.next_cursor is not None,
        counts={"overdue": sum(1 for r in rows if r["late"]),
                "soon": sum(1 for r in rows if not r["late"])},
    )  # fmt: skip


# -- target attainment ------------------------------------------------------------------------


def targets_page(s: Screen) -> Response:
    access = s.platform.records.access(s.actor)
    if not access.allows("sales_target", "view"):
        raise NotFound(_("No such page"))
    raw = str(s.params.get("year") or "")
    year = int(raw) if raw.isdecimal() and 2000 <= int(raw) <= 2100 else plans.local_today().year
    found = targets.attainment(s.platform, s.actor, year=year)
    entity = s.platform.registry.get("sales_target")
    fields = [entity.field(k) for k in ("owner_id", "department")]
    presenter = Presenter(s.platform, s.actor, entity, s.locale, access.mask(entity)).load(
        [a.target for a in found], fields
    )
    rows = []
    for item in found:
        target = item.target
        whose = presenter.cell(fields[1] if target.get("target_type") == "department"
                               else fields[0], target)  # fmt: skip
        rows.append({"item": item, "whose": whose.text})
    return s.render(
        "guanxi_sfa/receivables/targets.html", rows=rows, year=year, money=_money(s),
        may_create=access.allows("sales_target", "create"),
    )  # fmt: skip
