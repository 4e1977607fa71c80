"""Leads (SFA-01..04): required fields, "mobile or e-mail", numbering, the score, duplicate
rules against customers and contacts, assignment rules, the first touch and the lead pool."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from guanxi import clock
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi_sfa import assignment, leads
from tests.org import Org
from tests.sfa.conftest import lead_input


def codes(error: ValidationFailed) -> dict[str | None, str]:
    return {e.field: e.code for e in error.field_errors}


def test_sfa01_required_fields_and_mobile_or_email(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    with pytest.raises(ValidationFailed) as refused:
        web_platform.records.create(rep, "lead", {"name": "陈经理"})
    found = codes(refused.value)
    assert found["company"] == "required"
    assert found["source"] == "required"
    assert found["source_detail"] == "required"
    assert found["mobile"] == "contact_required"
    assert web_platform.records.count(rep, "lead").value == 0
    lead = web_platform.records.create(rep, "lead", lead_input(mobile=None, email="chen@hd.cn"))
    assert lead["number"].startswith("L")
    assert lead["owner_id"] == sfa_org.users["rep_east"]  # a rep keeps the lead they enter


def test_sfa02_score_from_source_need_and_bant(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    lead = web_platform.records.create(rep, "lead", lead_input())
    assert lead["score"] == 25  # exhibition only
    updated = web_platform.records.update(
        rep, "lead", lead["id"],
        {"need_clarity": "clear", "budget": "confirmed", "authority": "decision_maker",
         "timeline": "month"},
        version=lead["version"],
    )  # fmt: skip
    assert updated["score"] == 25 + 20 + 15 + 15 + 20
    with pytest.raises(ValidationFailed) as refused:
        web_platform.records.update(
            rep, "lead", lead["id"], {"score": 100}, version=updated["version"]
        )
    assert codes(refused.value)["score"] == "read_only"


def test_sfa01_duplicate_of_a_customer_is_flagged(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    mobile = web_platform.records.get(sfa_org.admin, "customer", sfa_org.customers["east"])[
        "mobile"
    ]
    with pytest.raises(ValidationFailed) as refused:
        web_platform.records.create(rep, "lead", lead_input(mobile=mobile))
    assert any(e.warning and e.code == "duplicate_warning" for e in refused.value.field_errors)
    saved = web_platform.records.create(
        rep, "lead", lead_input(mobile=mobile), confirm_duplicates=True
    )
    assert saved["id"]


def test_sfa03_rules_assign_round_robin_then_task_and_notification(
    web_platform: Any, sfa_org: Org
) -> None:
    admin, manager = sfa_org.admin, sfa_org.actor("manager")
    east, east2 = sfa_org.users["rep_east"], sfa_org.users["rep_east2"]
    assignment.save(
        web_platform, admin,
        {"name": "华东展会", "sources": ["exhibition"], "regions": ["east"],
         "method": "round_robin", "user_ids": [east, east2]},
    )  # fmt: skip
    first = web_platform.records.create(manager, "lead", lead_input())
    second = web_platform.records.create(manager, "lead", lead_input())
    other = web_platform.records.create(manager, "lead", lead_input(region="north"))
    assert first["owner_id"] is None  # routed: the job decides
    web_platform.jobs.run_due()
    owners = [
        web_platform.records.get(admin, "lead", r["id"])["owner_id"] for r in (first, second, other)
    ]
    assert owners == [east, east2, None]  # the north lead matches no rule: the pool
    lead = web_platform.records.get(admin, "lead", first["id"])
    assert lead["first_touch_due"] - lead["assigned_at"] == timedelta(hours=24)
    tasks = web_platform.records.query(
        admin, "task", {"field": "lead", "op": "eq", "value": first["id"]}
    ).rows
    assert len(tasks) == 1 and tasks[0]["owner_id"] == east and tasks[0]["status"] == "todo"
    assert tasks[0]["due_at"] == lead["first_touch_due"]
    from guanxi import notifications

    inbox = notifications.entries(web_platform.db, sfa_org.actor("rep_east"))
    assert any(n["kind"] == leads.ASSIGNED_KIND for n in inbox)


def test_sfa03_least_load_and_fallback(web_platform: Any, sfa_org: Org) -> None:
    admin = sfa_org.admin
    east, east2 = sfa_org.users["rep_east"], sfa_org.users["rep_east2"]
    web_platform.records.create(sfa_org.actor("rep_east"), "lead", lead_input())  # east has 1
    assignment.save(web_platform, admin, {"name": "负载", "method": "least_load",
                                          "sources": ["website"], "user_ids": [east, east2]})  # fmt: skip
    routed = web_platform.records.create(admin, "lead", lead_input(source="website"))
    web_platform.jobs.run_due()
    assert web_platform.records.get(admin, "lead", routed["id"])["owner_id"] == east2
    unmatched = web_platform.records.create(admin, "lead", lead_input(source="referral"))
    web_platform.jobs.run_due()
    assert web_platform.records.get(admin, "lead", unmatched["id"])["owner_id"] is None


def test_sfa03_first_touch_stops_clock_and_overdue_flags_manager(
    web_platform: Any, sfa_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, rep = sfa_org.admin, sfa_org.actor("rep_east")
    east = sfa_org.users["rep_east"]
    touched = web_platform.records.create(admin, "lead", lead_input(owner_id=east))
    late = web_platform.records.create(admin, "lead", lead_input(owner_id=east))
    web_platform.records.create(
        rep, "followup", {"lead": touched["id"], "method": "phone", "content": "确认需求"}
    )
    lead = web_platform.records.get(admin, "lead", touched["id"])
    assert lead["first_touched_at"] is not None and lead["status"] == "contacting"
    task = web_platform.records.query(
        admin, "task", {"field": "lead", "op": "eq", "value": touched["id"]}
    ).rows[0]
    assert task["status"] == "done"
    later = clock.now_utc() + timedelta(hours=25)
    monkeypatch.setattr(clock, "now_utc", lambda: later)
    outcome = leads.overdue_job(type("Ctx", (), {"platform": web_platform})())
    assert outcome == {"flagged": 1}
    from guanxi import notifications

    inbox = notifications.entries(web_platform.db, sfa_org.actor("manager"))
    flagged = [n for n in inbox if n["kind"] == leads.OVERDUE_KIND]
    assert len(flagged) == 1 and f"/r/lead/{late['id']}" == flagged[0]["link"]
    assert leads.overdue_job(type("Ctx", (), {"platform": web_platform})()) == {"flagged": 0}


def test_sfa03_pool_claim_and_abandon(web_platform: Any, sfa_org: Org) -> None:
    admin, rep = sfa_org.admin, sfa_org.actor("rep_east")
    lead = web_platform.records.create(admin, "lead", lead_input())
    web_platform.jobs.run_due()  # no rules: stays in the pool
    assert web_platform.records.get(admin, "lead", lead["id"])["owner_id"] is None
    with pytest.raises(PermissionDenied):
        leads.claim(web_platform, sfa_org.actor("agent"), lead["id"])
    claimed = leads.claim(web_platform, rep, lead["id"])
    assert claimed["owner_id"] == sfa_org.users["rep_east"]
    with pytest.raises(ValidationFailed):
        leads.claim(web_platform, sfa_org.actor("rep_east2"), lead["id"])
    with pytest.raises(ValidationFailed) as refused:
        leads.abandon(web_platform, rep, lead["id"], "", "", to_pool=True)
    assert codes(refused.value)["abandon_reason"] == "required"
    back = leads.abandon(web_platform, rep, lead["id"], "no_response", "三次未接", to_pool=True)
    assert back["owner_id"] is None and back["abandon_reason"] == "no_response"
    leads.claim(web_platform, rep, lead["id"])
    closed = leads.abandon(web_platform, rep, lead["id"], "no_need", "无预算", to_pool=False)
    assert closed["status"] == "abandoned"
