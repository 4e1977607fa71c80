"""Issue 8's whole path on one database (the suite runs on SQLite and PostgreSQL): a web form
makes a lead, an assignment rule gives it to a rep, who gets the first-touch task, follows up
and converts it; the deal goes through every stage with one refused transition, is won, gets
a contract (approved), a payment plan and a partial payment, and the rep's month target shows
the attainment. SFA-01..09, SFA-13, SFA-14, SFA-16; API-04."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from guanxi import clock, notifications
from guanxi.api import ValidationFailed
from guanxi.app import create_app
from guanxi.defaults.webforms import service as webforms
from guanxi.defaults.webforms import spam
from guanxi_sfa import assignment, converting, leads
from guanxi_sfa.contracts import approvals
from guanxi_sfa.contracts import service as contracts
from guanxi_sfa.receivables import plans, targets
from tests.org import Org

VISITOR = {"name": "林总", "company": "宁波海川环保科技有限公司", "mobile": "13655556666",
           "email": "lin@haichuan.example.cn"}  # fmt: skip


def _stage(platform: Any, actor: Any, deal: dict[str, Any], stage: str, reason: str,
           **values: Any) -> dict[str, Any]:  # fmt: skip
    return dict(platform.records.update(actor, "opportunity", deal["id"], {"stage": stage, **values},
                                        version=deal["version"], reason=reason))  # fmt: skip


def test_issue8_web_form_to_attainment(web_platform: Any, sfa_org: Org) -> None:
    platform, org = web_platform, sfa_org
    admin, manager, rep = org.admin, org.actor("manager"), org.actor("rep_east")
    records = platform.records
    assignment.save(platform, admin, {"name": "官网线索→华东", "method": "round_robin",
                                      "sources": ["website"], "user_ids": [rep.user_id]})  # fmt: skip
    form = webforms.create_form(platform, admin, {
        "name": "官网咨询", "entity": "lead", "fields": ["name", "company", "mobile", "email"],
        "defaults": {"source": "website", "source_detail": "官网咨询表单", "campaign": "秋季活动"},
        "match_fields": ["mobile"], "owner_id": org.users["manager"],
        "thank_you": {"zh-CN": "感谢咨询", "en": "Thanks"},
    })  # fmt: skip

    # 1. the visitor's form makes a lead, attributed to the campaign
    with TestClient(create_app(platform), follow_redirects=False) as client:
        token = spam.fill_token(platform, form.key, shown_at=time.time() - 10)
        answer = client.post(f"/f/{form.key}", data={**VISITOR, spam.TOKEN_FIELD: token})
    assert answer.status_code in (200, 303), answer.text
    found = records.query(
        admin, "lead", {"field": "mobile", "op": "eq", "value": VISITOR["mobile"]}
    )
    lead = found.rows[0]
    assert (lead["source"], lead["campaign"], lead["owner_id"]) == ("website", "秋季活动", None)

    # 2. the rule assigns it; the rep is told and owes a first touch within 24 hours
    platform.jobs.run_due()
    lead = records.get(admin, "lead", lead["id"])
    assert lead["owner_id"] == rep.user_id and lead["first_touch_due"] is not None
    task = records.query(admin, "task", {"field": "lead", "op": "eq", "value": lead["id"]}).rows[0]
    assert task["owner_id"] == rep.user_id and task["status"] != "done"
    told = [n for n in notifications.entries(platform.db, rep) if n["kind"] == leads.ASSIGNED_KIND]
    assert told and told[0]["link"] == f"/r/lead/{lead['id']}"

    # 3. follow-ups stop the clock
    for content in ("电话沟通：需要环保设备管理系统", "发送产品资料和案例"):
        records.create(rep, "followup", {"lead": lead["id"], "method": "phone", "content": content})
    assert records.get(rep, "task", task["id"])["status"] == "done"
    assert records.get(rep, "lead", lead["id"])["status"] == "contacting"

    # 4. convert: customer, contact and deal in one step; the follow-ups move with it
    today = clock.to_local(clock.now_utc()).date()
    done = converting.convert(platform, rep, lead["id"], converting.Plan(
        opportunity={"name": "海川环保 设备管理系统", "amount": "200000",
                     "expected_close": today.isoformat()},
        reason="需求明确"))  # fmt: skip
    moved = records.query(
        rep, "followup", {"field": "customer", "op": "eq", "value": done["customer"]}
    )
    assert len(moved.rows) == 2
    deal = dict(records.get(rep, "opportunity", done["opportunity"]))
    assert deal["customer"] == done["customer"] and deal["stage"] == "lead"

    # 5. the pipeline, with the refusal that names what is missing
    deal = _stage(platform, rep, deal, "following", "首次拜访完成")
    with pytest.raises(ValidationFailed) as refused:
        _stage(platform, rep, deal, "opportunity", "客户有意向")
    assert {"purchase_intent", "budget_confirmed"} <= {e.field for e in refused.value.errors}
    deal = _stage(platform, rep, dict(records.get(rep, "opportunity", deal["id"])), "opportunity",
                  "预算已确认", purchase_intent="年内采购", budget_amount="200000",
                  budget_confirmed=True)  # fmt: skip
    deal = _stage(
        platform, rep, deal, "proposal", "方案已提交", requirements="设备台账、巡检、移动端"
    )
    deal = _stage(platform, rep, deal, "negotiation", "客户接受报价", quote_accepted=True)
    deal = _stage(platform, rep, deal, "won", "合同签订", signed_on=today.isoformat(),
                  won_reason="product")  # fmt: skip
    assert deal["probability"] == Decimal(100) and deal["closed_at"] is not None

    # 6. contract, approved by the manager
    contract = contracts.from_opportunity(
        platform, rep, deal["id"], {"signed_on": today.isoformat()}
    )
    assert contract["amount"] == Decimal("200000") and contract["customer"] == done["customer"]
    approvals.submit(platform, rep, "contract", contract["id"], "请审批")
    approvals.decide(platform, manager, "contract", contract["id"], True, "同意")
    assert records.get(rep, "contract", contract["id"])["approval"] == "approved"

    # 7. payment plan 30/70 and a partial first payment
    first, second = plans.generate(platform, rep, contract["id"], "30/70")
    assert (first["amount"], second["amount"]) == (Decimal("60000.00"), Decimal("140000.00"))
    records.create(rep, "payment", {"contract": contract["id"], "installment": first["id"],
                                    "amount": "20000", "received_on": today.isoformat(),
                                    "method": "bank"})  # fmt: skip
    assert records.get(rep, "payment_plan", first["id"])["status"] == "partial"
    signed = records.get(rep, "contract", contract["id"])
    assert (signed["received_amount"], signed["outstanding_amount"]) == (
        Decimal("20000.00"),
        Decimal("180000.00"),
    )

    # 8. the rep's month target shows the won deal and the payment
    target = records.create(manager, "sales_target", {
        "target_type": "user", "owner_id": rep.user_id, "period_type": "month",
        "year": today.year, "period": today.month, "won_amount_target": "400000",
        "payment_target": "100000",
    })  # fmt: skip
    [measured] = targets.attainment(platform, manager, target_id=target["id"])
    assert (measured.won, measured.won_percent) == (Decimal("200000"), Decimal("50.0"))
    assert (measured.paid, measured.paid_percent) == (Decimal("20000"), Decimal("20.0"))
