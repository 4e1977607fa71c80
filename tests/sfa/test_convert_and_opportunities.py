"""Conversion (SFA-05) and the opportunity pipeline (SFA-06..09): one step to customer, contact
and deal with follow-ups moving along; stage conditions naming the missing fields, a reason
on every move, probability from the stage, won/lost, stale alerts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from guanxi import clock, notifications
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi_sfa import converting, opportunities
from tests.org import Org
from tests.sfa.conftest import lead_input


def _lead_with_followup(platform: Any, org: Org) -> tuple[dict[str, Any], dict[str, Any]]:
    rep = org.actor("rep_east")
    lead = platform.records.create(rep, "lead", lead_input(budget_amount="200000",
                                                           budget="confirmed"))  # fmt: skip
    followup = platform.records.create(
        rep, "followup", {"lead": lead["id"], "method": "visit", "content": "预算约20万"}
    )
    return lead, followup


def test_sfa05_convert_creates_customer_contact_deal_and_moves_followups(
    web_platform: Any, sfa_org: Org
) -> None:
    rep = sfa_org.actor("rep_east")
    lead, followup = _lead_with_followup(web_platform, sfa_org)
    plan = converting.Plan(opportunity={"name": "CRM 采购", "amount": "180000",
                                        "expected_close": "2026-12-31", "stage": "following"})  # fmt: skip
    done = converting.convert(web_platform, rep, lead["id"], plan)
    customer = web_platform.records.get(rep, "customer", done["customer"])
    assert customer["company"] == lead["company"] and customer["owner_id"] == rep.user_id
    contact = web_platform.records.get(rep, "contact", done["contact"])
    assert contact["name"] == "陈经理" and contact["customer"] == customer["id"]
    deal = web_platform.records.get(rep, "opportunity", done["opportunity"])
    assert deal["customer"] == customer["id"] and deal["probability"] == Decimal(20)
    moved = web_platform.records.get(rep, "followup", followup["id"])
    assert moved["customer"] == customer["id"] and moved["lead"] == lead["id"]
    assert moved["opportunity"] == deal["id"]
    converted = web_platform.records.get(rep, "lead", lead["id"])
    assert converted["status"] == "converted" and converted["customer"] == customer["id"]
    assert converted["opportunity"] == deal["id"] and converted["converted_at"] is not None
    with pytest.raises(ValidationFailed):
        converting.convert(web_platform, rep, lead["id"], converting.Plan())


def test_sfa05_convert_links_duplicate_and_refusal_writes_nothing(
    web_platform: Any, sfa_org: Org
) -> None:
    rep = sfa_org.actor("rep_east")
    existing = web_platform.records.get(rep, "customer", sfa_org.customers["east"])
    lead = web_platform.records.create(
        rep, "lead", lead_input(company=existing["company"]), confirm_duplicates=True
    )
    assert converting.duplicates_of(web_platform, lead) == [existing["id"]]
    before = web_platform.records.count(sfa_org.admin, "customer").value
    refused = converting.Plan(
        customer_id=existing["id"], opportunity={"name": "扩容", "amount": "5000",
                                                 "expected_close": "2026-12-31",
                                                 "stage": "opportunity"},
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as error:
        converting.convert(web_platform, rep, lead["id"], refused)
    fields = {e.field for e in error.value.field_errors}
    assert {"opportunity.purchase_intent", "opportunity.budget_confirmed"} <= fields
    assert web_platform.records.count(sfa_org.admin, "contact", {
        "field": "customer", "op": "eq", "value": existing["id"]}).value == 1  # fmt: skip
    assert web_platform.records.get(rep, "lead", lead["id"])["status"] == "new"
    linked = converting.convert(
        web_platform, rep, lead["id"], converting.Plan(customer_id=existing["id"])
    )
    assert linked["customer"] == existing["id"] and linked["opportunity"] is None
    assert web_platform.records.count(sfa_org.admin, "customer").value == before
    other = sfa_org.customers["north"]
    lead2 = web_platform.records.create(rep, "lead", lead_input())
    with pytest.raises(ValidationFailed) as hidden:
        converting.convert(web_platform, rep, lead2["id"], converting.Plan(customer_id=other))
    assert hidden.value.field_errors[0].field == "customer_id"
    with pytest.raises(PermissionDenied):
        converting.convert(web_platform, sfa_org.actor("agent"), lead2["id"], converting.Plan())


def test_sfa06_07_stage_conditions_reasons_and_probability(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    deal = web_platform.records.create(rep, "opportunity", {
        "name": "CRM 采购", "customer": sfa_org.customers["east"], "amount": "200000",
        "expected_close": "2026-12-31"})  # fmt: skip
    assert deal["stage"] == "lead" and deal["probability"] == Decimal(10)
    with pytest.raises(ValidationFailed) as refused:
        web_platform.records.update(
            rep, "opportunity", deal["id"], {"stage": "opportunity"}, version=deal["version"]
        )
    errors = {(e.field, e.code) for e in refused.value.field_errors}
    assert ("stage", "stage_requirements") in errors
    assert ("stage", "reason_required") in errors
    assert ("purchase_intent", "required_for_stage") in errors
    assert ("budget_confirmed", "required_for_stage") in errors
    message = next(e for e in refused.value.field_errors if e.code == "stage_requirements")
    assert "购买意向" in message.message.render("zh-CN")
    with pytest.raises(ValidationFailed) as no_reason:
        web_platform.records.update(
            rep, "opportunity", deal["id"],
            {"stage": "opportunity", "purchase_intent": "计划下月采购",
             "budget_amount": "200000", "budget_confirmed": True},
            version=deal["version"],
        )  # fmt: skip
    assert {e.code for e in no_reason.value.field_errors} == {"reason_required"}
    moved = web_platform.records.update(
        rep, "opportunity", deal["id"],
        {"stage": "opportunity", "purchase_intent": "计划下月采购", "budget_amount": "200000",
         "budget_confirmed": True},
        version=deal["version"], reason="客户确认预算",
    )  # fmt: skip
    assert moved["probability"] == Decimal(40) and moved["stage_changed_at"] is not None
    history = web_platform.records.stage_history(rep, "opportunity", deal["id"], "stage")
    assert [h["to_stage"] for h in history][-1] == "opportunity"


def _at_stage(platform: Any, org: Org, stage: str, **extra: Any) -> dict[str, Any]:
    admin = org.admin
    deal = platform.records.create(admin, "opportunity", {
        "name": f"{stage} 商机", "customer": org.customers["east"], "amount": "100000",
        "expected_close": "2026-12-31", "owner_id": org.users["rep_east"],
        "purchase_intent": "采购", "budget_amount": "100000", "budget_confirmed": True,
        "requirements": "3 个用户", "quote_accepted": True, **extra})  # fmt: skip
    if stage != "lead":
        deal = platform.records.update(
            admin, "opportunity", deal["id"], {"stage": stage}, version=deal["version"],
            reason="推进",
        )  # fmt: skip
    return deal


def test_sfa08_won_dates_customer_and_lost_needs_reason(web_platform: Any, sfa_org: Org) -> None:
    admin = sfa_org.admin
    deal = _at_stage(web_platform, sfa_org, "negotiation")
    with pytest.raises(ValidationFailed) as refused:
        web_platform.records.update(
            admin, "opportunity", deal["id"], {"stage": "won"}, version=deal["version"],
            reason="签约",
        )  # fmt: skip
    assert {"signed_on", "won_reason"} <= {e.field for e in refused.value.field_errors}
    won = web_platform.records.update(
        admin, "opportunity", deal["id"],
        {"stage": "won", "signed_on": "2026-11-20", "won_reason": "product"},
        version=deal["version"], reason="签约",
    )  # fmt: skip
    assert won["closed_at"] is not None and won["probability"] == Decimal(100)
    customer = web_platform.records.get(admin, "customer", sfa_org.customers["east"])
    assert customer["last_deal_at"] == won["closed_at"]
    lost = _at_stage(web_platform, sfa_org, "proposal")
    with pytest.raises(ValidationFailed):
        web_platform.records.update(
            admin, "opportunity", lost["id"], {"stage": "lost"}, version=lost["version"],
            reason="丢单",
        )  # fmt: skip


def test_sfa09_stale_alert_once_to_owner_and_manager(
    web_platform: Any, sfa_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    deal = _at_stage(web_platform, sfa_org, "proposal")
    fresh = _at_stage(web_platform, sfa_org, "negotiation")
    later = clock.now_utc() + timedelta(days=11)
    monkeypatch.setattr(clock, "now_utc", lambda: later)
    ctx = type("Ctx", (), {"platform": web_platform})()
    assert opportunities.stale_job(ctx) == {"alerted": 1}  # proposal > 10 days; negotiation 14
    assert opportunities.stale_job(ctx) == {"alerted": 0}
    for username in ("rep_east", "manager"):
        inbox = notifications.entries(web_platform.db, sfa_org.actor(username))
        alerts = [n for n in inbox if n["kind"] == opportunities.STALE_KIND]
        assert [n["link"] for n in alerts] == [f"/r/opportunity/{deal['id']}"]
    assert fresh["id"] != deal["id"]
