"""The SFA screens over HTTP: the lead pool and claim, convert (with a duplicate offered and a
refusal that names the fields), abandon, the score explained, assignment rules (admins only),
the funnel review and the loss analysis."""

from __future__ import annotations

from typing import Any

from guanxi_sfa import converting
from tests.org import Org
from tests.sfa.conftest import lead_input


def test_sfa03_pool_page_hides_contact_details_and_claims(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    lead = web_platform.records.create(sfa_org.admin, "lead", lead_input(mobile="13755550000"))
    web_platform.jobs.run_due()
    rep = login("rep_east")
    page = rep.get("/sfa/leads/pool")
    assert page.status_code == 200
    assert lead["company"] in page.text and "13755550000" not in page.text
    assert f'data-claim="{lead["id"]}"' in page.text
    hidden = rep.get(f"/r/lead/{lead['id']}")
    assert hidden.status_code == 404  # not theirs until claimed
    claimed = rep.post(f"/sfa/leads/{lead['id']}/claim")
    assert claimed.status_code == 303 and claimed.headers["location"] == f"/r/lead/{lead['id']}"
    detail = rep.get(f"/r/lead/{lead['id']}")
    assert detail.status_code == 200 and "转化为客户" in detail.text
    again = login("rep_east2").post(f"/sfa/leads/{lead['id']}/claim")
    assert again.status_code == 422
    assert lead["company"] not in rep.get("/sfa/leads/pool").text


def test_sfa05_convert_screen(web_platform: Any, sfa_org: Org, login: Any) -> None:
    rep_actor = sfa_org.actor("rep_east")
    existing = web_platform.records.get(rep_actor, "customer", sfa_org.customers["east"])
    lead = web_platform.records.create(
        rep_actor, "lead", lead_input(company=existing["company"]), confirm_duplicates=True
    )
    rep = login("rep_east")
    page = rep.get(f"/sfa/leads/{lead['id']}/convert")
    assert page.status_code == 200
    assert f'data-duplicate="{existing["id"]}"' in page.text
    form = {"target": str(existing["id"]), "contact": "on", "opportunity": "on",
            "deal_name": "扩容", "deal_amount": "50000", "deal_close": "2026-12-31",
            "deal_stage": "opportunity"}  # fmt: skip
    refused = rep.post(f"/sfa/leads/{lead['id']}/convert", form)
    assert refused.status_code == 422
    assert 'data-field="opportunity.purchase_intent"' in refused.text
    assert "购买意向" in refused.text
    form.update(purchase_intent="计划下月采购", budget_amount="50000", budget_confirmed="on")
    done = rep.post(f"/sfa/leads/{lead['id']}/convert", form)
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/r/customer/{existing['id']}")
    converted = web_platform.records.get(rep_actor, "lead", lead["id"])
    assert converted["status"] == "converted" and converted["customer"] == existing["id"]
    deal = web_platform.records.get(rep_actor, "opportunity", converted["opportunity"])
    assert deal["stage"] == "opportunity"


def test_sfa04_abandon_and_score_pages(web_platform: Any, sfa_org: Org, login: Any) -> None:
    lead = web_platform.records.create(
        sfa_org.actor("rep_east"), "lead", lead_input(need_clarity="clear", timeline="month")
    )
    rep = login("rep_east")
    score = rep.get(f"/sfa/leads/{lead['id']}/score")
    assert score.status_code == 200 and f"{25 + 20 + 20} / 100" in score.text
    assert "需求明确" in score.text
    refused = rep.post(f"/sfa/leads/{lead['id']}/abandon", {"why": "", "outcome": "close"})
    assert refused.status_code == 422 and "请选择原因" in refused.text
    closed = rep.post(f"/sfa/leads/{lead['id']}/abandon",
                      {"why": "no_need", "note": "暂无预算", "outcome": "close"})  # fmt: skip
    assert closed.status_code == 303
    assert web_platform.records.get(sfa_org.admin, "lead", lead["id"])["status"] == "abandoned"


def test_sfa03_assignment_rules_screen_admin_only(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    assert login("manager").get("/sfa/admin/assignment").status_code == 404
    admin = login("admin")
    assert admin.get("/sfa/admin/assignment").status_code == 200
    refused = admin.post("/sfa/admin/assignment", {"name": "", "method": "round_robin"})
    assert refused.status_code == 422 and "请至少选择一个用户" in refused.text
    saved = admin.post("/sfa/admin/assignment", {
        "name": "华东展会", "method": "round_robin", "active": "on", "sources": "exhibition",
        "user_ids": [str(sfa_org.users["rep_east"])]})  # fmt: skip
    assert saved.status_code == 303
    page = admin.get("/sfa/admin/assignment")
    assert "华东展会" in page.text and "王东" in page.text
    web_platform.records.create(sfa_org.actor("manager"), "lead", lead_input())
    web_platform.jobs.run_due()
    owned = web_platform.records.count(sfa_org.actor("rep_east"), "lead").value
    assert owned == 1


def test_sfa09_funnel_and_loss_pages(web_platform: Any, sfa_org: Org, login: Any) -> None:
    rep_actor = sfa_org.actor("rep_east")
    lead = web_platform.records.create(rep_actor, "lead", lead_input())
    converting.convert(web_platform, rep_actor, lead["id"], converting.Plan(
        opportunity={"name": "A", "amount": "100000", "expected_close": "2026-12-31",
                     "stage": "following"}))  # fmt: skip
    lost = web_platform.records.create(rep_actor, "opportunity", {
        "name": "B", "customer": sfa_org.customers["east"], "amount": "30000",
        "expected_close": "2026-12-31"})  # fmt: skip
    web_platform.records.update(
        rep_actor, "opportunity", lost["id"],
        {"stage": "lost", "loss_reason": "price", "competitor": "某竞品"},
        version=lost["version"], reason="客户选择了低价方案",
    )  # fmt: skip
    rep = login("rep_east")
    funnel = rep.get("/sfa/funnel")
    assert funnel.status_code == 200
    assert 'data-stage="following"' in funnel.text and "¥100,000.00" in funnel.text
    loss = rep.get("/sfa/loss")
    assert loss.status_code == 200 and "竞品报价低" in loss.text and "某竞品" in loss.text
    assert "¥30,000.00" in loss.text
    north = login("rep_north").get("/sfa/loss")
    assert "某竞品" not in north.text  # scopes apply to the figures
