"""Payment plans, payments and receivables (SFA-14, seed 003 §2(2)3 "首付30%、验收后70%"): plans
from templates that sum exactly to the contract, payments driving the installment's status
and the contract's received and outstanding amounts, the refusal of an overpayment, the
reminders and the overdue flag, and the screens."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from guanxi import clock, notifications
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi_sfa.receivables import plans, reminders
from tests.org import Org
from tests.sfa.conftest import PLUGIN


def codes(error: ValidationFailed) -> dict[str | None, str]:
    return {e.field: e.code for e in error.field_errors}


def contract(platform: Any, org: Org, rep: str = "rep_east", amount: str = "100000.01",
             signed_on: date | None = None) -> dict[str, Any]:  # fmt: skip
    """A contract created straight through the record service by its rep."""
    key = {"rep_east": "east", "rep_east2": "east2", "rep_north": "north"}[rep]
    return platform.records.create(org.actor(rep), "contract", {
        "name": f"{key} CRM 项目合同", "customer": org.customers[key], "amount": amount,
        "signed_on": (signed_on or clock.today_local()).isoformat(),
    })  # fmt: skip


def pay(platform: Any, actor: Any, plan_row: dict[str, Any], amount: str, **extra: Any) -> Any:
    return platform.records.create(actor, "payment", {
        "installment": plan_row["id"], "amount": amount, "received_on": clock.today_local().isoformat(),
        "method": "bank", **extra,
    })  # fmt: skip


def form_of(values: dict[str, str]) -> list[tuple[str, str]]:
    """The core's record form as a browser posts it (every rendered field declared)."""
    return [pair for key, value in values.items() for pair in (("_fields", key), (key, value))]


def stored(org: Org, entity: str, record_id: int) -> dict[str, Any]:
    return org.stored(entity, record_id)


def test_sfa14_plan_from_template_sums_exactly_and_only_once(
    web_platform: Any, sfa_org: Org
) -> None:
    rep = sfa_org.actor("rep_east")
    signed = clock.today_local() + timedelta(days=10)
    deal = contract(web_platform, sfa_org, signed_on=signed)
    rows = plans.generate(web_platform, rep, deal["id"], "30/70")
    assert [r["title"] for r in rows] == ["签约款", "验收款"]
    assert [r["amount"] for r in rows] == [Decimal("30000.00"), Decimal("70000.01")]
    assert sum(r["amount"] for r in rows) == Decimal("100000.01")
    assert [r["due_on"] for r in rows] == [signed, signed + timedelta(days=90)]
    assert all(r["owner_id"] == rep.user_id and r["status"] == "planned" for r in rows)
    assert rows[0]["customer"] == sfa_org.customers["east"]
    with pytest.raises(ValidationFailed) as twice:
        plans.generate(web_platform, rep, deal["id"], "30/60/10")
    assert codes(twice.value) == {"contract": "plan_exists"}
    count = web_platform.records.count(
        rep, "payment_plan", {"field": "contract", "op": "eq", "value": deal["id"]}
    )
    assert count.value == 2
    three = contract(web_platform, sfa_org, amount="1000.00")
    split = plans.generate(web_platform, rep, three["id"], "30/60/10")
    assert [r["amount"] for r in split] == [Decimal("300.00"), Decimal("600.00"),
                                             Decimal("100.00")]  # fmt: skip
    assert plans.split(Decimal("100.00"), [Decimal(1), Decimal(1), Decimal(98)]) == [
        Decimal("1.00"), Decimal("1.00"), Decimal("98.00")]  # fmt: skip
    assert sum(plans.split(Decimal("0.10"), [Decimal("33.33")] * 2 + [Decimal("33.34")])) == (
        Decimal("0.10")
    )


def test_sfa14_bad_template_and_someone_elses_contract_are_refused(
    make_platform: Any, sfa_org: Org
) -> None:
    rep, other = sfa_org.actor("rep_east"), sfa_org.actor("rep_north")
    platform = sfa_org.platform
    deal = contract(platform, sfa_org)
    with pytest.raises(ValidationFailed) as unknown:
        plans.generate(platform, rep, deal["id"], "nope")
    assert codes(unknown.value) == {"template": "unknown"}
    from guanxi.api import NotFound

    with pytest.raises((NotFound, PermissionDenied)):
        plans.generate(platform, other, deal["id"], "30/70")
    short = [{"title": "a", "percent": 30, "due": "signed_on+0"},
             {"title": "b", "percent": 60, "due": "signed_on+9"}]  # fmt: skip
    assert plans.template_problem(short) is not None
    configured = make_platform(plugins=[PLUGIN], plugin_config={"guanxi_sfa": {"settings": {
        "payment_plan_templates": {"50/40": [
            {"title": "首付", "percent": 50, "due": "signed_on+0"},
            {"title": "尾款", "percent": 40, "due": "signed_on+30"}]}}}}, start=False)  # fmt: skip
    raw = plans.templates(configured)["50/40"]
    problem = plans.template_problem(raw)
    assert problem is not None and "90" in problem.render("zh-CN")


def test_sfa14_payments_drive_installment_and_contract_and_refuse_overpayment(
    web_platform: Any, sfa_org: Org
) -> None:
    rep = sfa_org.actor("rep_east")
    deal = contract(web_platform, sfa_org)
    first, second = plans.generate(web_platform, rep, deal["id"], "30/70")
    partial = pay(web_platform, rep, first, "10000.00")
    assert partial["contract"] == deal["id"] and partial["customer"] == sfa_org.customers["east"]
    assert partial["owner_id"] == rep.user_id
    row = stored(sfa_org, "payment_plan", first["id"])
    assert row["received_amount"] == Decimal("10000.00") and row["status"] == "partial"
    signed = stored(sfa_org, "contract", deal["id"])
    assert signed["received_amount"] == Decimal("10000.00")
    assert signed["outstanding_amount"] == Decimal("90000.01")
    with pytest.raises(ValidationFailed) as over:
        pay(web_platform, rep, first, "20000.01")
    assert codes(over.value) == {"amount": "over_due"}
    assert "20,000.00" in over.value.field_errors[0].message.render("zh-CN")
    assert web_platform.records.count(rep, "payment").value == 1  # nothing written
    rest = pay(web_platform, rep, first, "20000.00")
    assert stored(sfa_org, "payment_plan", first["id"])["status"] == "paid"
    with pytest.raises(ValidationFailed) as zero:
        pay(web_platform, rep, second, "0")
    assert "amount" in codes(zero.value)
    pay(web_platform, rep, second, "70000.01", method="wechat")
    done = stored(sfa_org, "contract", deal["id"])
    assert done["received_amount"] == Decimal("100000.01")
    assert done["outstanding_amount"] == Decimal("0.00")
    # deleting and editing a payment re-derive from the payments left, not by subtraction
    with pytest.raises(PermissionDenied):  # reps do not delete payments; managers, finance do
        web_platform.records.delete(rep, "payment", rest["id"])
    web_platform.records.delete(sfa_org.actor("manager"), "payment", rest["id"])
    row = stored(sfa_org, "payment_plan", first["id"])
    assert row["received_amount"] == Decimal("10000.00") and row["status"] == "partial"
    assert stored(sfa_org, "contract", deal["id"])["outstanding_amount"] == Decimal("20000.00")
    current = stored(sfa_org, "payment", partial["id"])
    web_platform.records.update(rep, "payment", partial["id"], {"amount": "30000.00"},
                                version=current["version"])  # fmt: skip
    assert stored(sfa_org, "payment_plan", first["id"])["status"] == "paid"
    assert stored(sfa_org, "contract", deal["id"])["received_amount"] == Decimal("100000.01")
    # a plan row cannot drop below what it received, nor take another contract's payment
    row = stored(sfa_org, "payment_plan", first["id"])
    with pytest.raises(ValidationFailed) as below:
        web_platform.records.update(rep, "payment_plan", first["id"], {"amount": "100"},
                                    version=row["version"])  # fmt: skip
    assert codes(below.value) == {"amount": "below_received"}
    other = contract(web_platform, sfa_org, amount="500.00")
    with pytest.raises(ValidationFailed) as mismatch:
        pay(web_platform, rep, second, "1.00", contract=other["id"])
    assert codes(mismatch.value) == {"installment": "other_contract"}
    with pytest.raises(ValidationFailed) as readonly:
        web_platform.records.update(rep, "payment_plan", first["id"], {"status": "planned"},
                                    version=row["version"])  # fmt: skip
    assert codes(readonly.value)["status"] == "read_only"


def test_sfa14_payment_without_installment_limited_by_contract(
    web_platform: Any, sfa_org: Org
) -> None:
    rep = sfa_org.actor("rep_east")
    deal = contract(web_platform, sfa_org, amount="5000.00")
    base = {"contract": deal["id"], "received_on": "2026-05-01", "method": "cash"}
    web_platform.records.create(rep, "payment", {**base, "amount": "4000.00"})
    with pytest.raises(ValidationFailed) as over:
        web_platform.records.create(rep, "payment", {**base, "amount": "1000.01"})
    assert codes(over.value) == {"amount": "over_due"}
    assert stored(sfa_org, "contract", deal["id"])["outstanding_amount"] == Decimal("1000.00")


def _ctx(platform: Any) -> Any:
    return type("Ctx", (), {"platform": platform})()


def test_sfa14_reminder_once_then_overdue_flag_to_owner_and_manager(
    web_platform: Any, sfa_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    rep = sfa_org.actor("rep_east")
    today = clock.to_local(clock.now_utc()).date()
    deal = contract(web_platform, sfa_org, signed_on=today - timedelta(days=88))
    first, second = plans.generate(web_platform, rep, deal["id"], "30/70")  # due: now-88, now+2
    pay(web_platform, rep, first, "30000.00")
    outcome = reminders.run(_ctx(web_platform))
    assert outcome == {"marked_overdue": 0, "overdue_notices": 0, "reminders": 1}
    assert reminders.run(_ctx(web_platform))["reminders"] == 0  # once
    inbox = notifications.entries(web_platform.db, rep)
    soon = [n for n in inbox if n["kind"] == reminders.DUE_SOON_KIND]
    assert len(soon) == 1 and soon[0]["link"] == f"/r/payment_plan/{second['id']}"
    later = clock.now_utc() + timedelta(days=3)
    monkeypatch.setattr(clock, "now_utc", lambda: later)
    outcome = reminders.run(_ctx(web_platform))
    assert outcome["marked_overdue"] == 1 and outcome["overdue_notices"] == 1
    assert stored(sfa_org, "payment_plan", second["id"])["status"] == "overdue"
    assert stored(sfa_org, "payment_plan", first["id"])["status"] == "paid"
    assert reminders.run(_ctx(web_platform))["overdue_notices"] == 0
    for user in ("rep_east", "manager"):
        flagged = [n for n in notifications.entries(web_platform.db, sfa_org.actor(user))
                   if n["kind"] == reminders.OVERDUE_KIND]  # fmt: skip
        assert len(flagged) == 1, user
    pay(web_platform, rep, second, "100.00")  # a partial payment keeps it overdue
    assert stored(sfa_org, "payment_plan", second["id"])["status"] == "overdue"


def test_sfa14_receivables_page_and_plan_screen(
    web_platform: Any, sfa_org: Org, login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rep_actor = sfa_org.actor("rep_east")
    today = clock.today_local()
    mine = contract(web_platform, sfa_org, signed_on=today - timedelta(days=30))
    theirs = contract(web_platform, sfa_org, rep="rep_north", signed_on=today - timedelta(days=95))
    rep = login("rep_east")
    detail = rep.get(f"/r/contract/{mine['id']}")
    assert detail.status_code == 200 and f"/sfa/contracts/{mine['id']}/payment-plan" in detail.text
    form = rep.get(f"/sfa/contracts/{mine['id']}/payment-plan")
    assert form.status_code == 200 and 'data-template="30/70"' in form.text
    assert "¥70,000.01" in form.text
    assert rep.get(f"/sfa/contracts/{theirs['id']}/payment-plan").status_code == 404
    refused = rep.post(f"/sfa/contracts/{mine['id']}/payment-plan", {"template": "nope"})
    assert refused.status_code == 422 and 'data-field="template"' in refused.text
    made = rep.post(f"/sfa/contracts/{mine['id']}/payment-plan", {"template": "30/70"})
    assert made.status_code == 303
    again = rep.post(f"/sfa/contracts/{mine['id']}/payment-plan", {"template": "30/70"})
    assert again.status_code == 422 and 'data-field="contract"' in again.text
    plans.generate(web_platform, sfa_org.actor("rep_north"), theirs["id"], "100%")
    mine_rows = web_platform.records.query(
        rep_actor, "payment_plan", {"field": "contract", "op": "eq", "value": mine["id"]}
    ).rows
    page = rep.get("/sfa/receivables?days=90")
    assert page.status_code == 200
    assert all(f'data-plan="{r["id"]}"' in page.text for r in mine_rows)
    assert 'data-count="overdue">1<' in page.text and "¥30,000.00" in page.text
    assert "北辰机电" not in page.text  # rep_north's installment is not rep_east's to see
    manager = login("manager").get("/sfa/receivables?days=90")
    assert manager.status_code == 200 and all(f'data-plan="{r["id"]}"' in manager.text
                                              for r in mine_rows)  # fmt: skip
    first = min(mine_rows, key=lambda r: r["sequence"])
    detail = rep.get(f"/r/payment_plan/{first['id']}")
    assert detail.status_code == 200 and f"installment={first['id']}" in detail.text
    entry = {"contract": str(mine["id"]), "installment": str(first["id"]),
             "received_on": today.isoformat(), "method": "bank"}  # fmt: skip
    over = rep.post("/r/payment/new", form_of({**entry, "amount": "30000.01"}))
    assert over.status_code == 422 and "尚未回款" in over.text
    assert rep.post("/r/payment/new", form_of({**entry, "amount": "30000.00"})).status_code == 303
    assert stored(sfa_org, "payment_plan", first["id"])["status"] == "paid"
    assert f'data-plan="{first["id"]}"' not in rep.get("/sfa/receivables?days=90").text
    assert 'href="/sfa/receivables"' in rep.get("/").text
    assert rep.get("/sfa/receivables").status_code == 200


def test_sfa14_contract_limit_holds_across_installment_and_contract_payments(
    web_platform: Any, sfa_org: Org
) -> None:
    """A payment on an installment is also held to what the contract still owes (review)."""
    rep = sfa_org.actor("rep_east")
    deal = contract(web_platform, sfa_org, amount="100000.00")
    first, _second = plans.generate(web_platform, rep, deal["id"], "30/70")
    web_platform.records.create(rep, "payment", {
        "contract": deal["id"], "amount": "90000.00",
        "received_on": clock.today_local().isoformat(), "method": "bank",
    })  # fmt: skip
    with pytest.raises(ValidationFailed) as over:
        pay(web_platform, rep, first, "20000.00")  # the installment has room, the contract not
    assert codes(over.value) == {"amount": "over_due"}
    assert stored(sfa_org, "contract", deal["id"])["outstanding_amount"] == Decimal("10000.00")
