"""Approvals shared by contracts and quotes (SFA-13, the approval half of SFA-12; seed 001
审批流转): submitting asks the owner's manager, only someone with the `approve` right over the
record decides, the status follows, every step is kept; the pages."""

from __future__ import annotations

from typing import Any

import pytest

from guanxi import notifications
from guanxi.api import NotFound, PermissionDenied, ValidationFailed
from guanxi_sfa.contracts import approvals
from tests.org import Org
from tests.sfa.test_contracts import contract_for, move


def _inbox(platform: Any, org: Org, username: str) -> list[dict[str, Any]]:
    return [n for n in notifications.entries(platform.db, org.actor(username))
            if n["kind"] == approvals.KIND]  # fmt: skip


def test_sfa13_submit_asks_manager_rep_cannot_decide_manager_approves(
    web_platform: Any, sfa_org: Org
) -> None:
    contract = contract_for(web_platform, sfa_org)
    rep, manager = sfa_org.actor("rep_east"), sfa_org.actor("manager")
    request = approvals.submit(web_platform, rep, "contract", contract["id"], "客户要求月底前签")
    assert request.approvers == (manager.user_id,) and request.status == "pending"
    stored = sfa_org.stored("contract", contract["id"])
    assert stored["approval"] == "pending" and stored["status"] == "approval"
    asked = _inbox(web_platform, sfa_org, "manager")
    assert len(asked) == 1 and "王东" in asked[0]["title"]["zh-CN"]
    assert asked[0]["link"] == f"/sfa/approvals/contract/{contract['id']}"
    assert [r.record_id for r in approvals.waiting_for(web_platform, manager)] == [contract["id"]]
    with pytest.raises(PermissionDenied):
        approvals.decide(web_platform, rep, "contract", contract["id"], True, "自己批")
    with pytest.raises(ValidationFailed) as twice:
        approvals.submit(web_platform, rep, "contract", contract["id"], None)
    assert [e.field for e in twice.value.field_errors] == ["approval"]
    decided = approvals.decide(web_platform, manager, "contract", contract["id"], True, "同意")
    assert decided.status == "approved" and decided.decided_by == manager.user_id
    stored = sfa_org.stored("contract", contract["id"])
    assert stored["approval"] == "approved" and stored["status"] == "approved"
    told = _inbox(web_platform, sfa_org, "rep_east")
    assert len(told) == 1 and "周经理" in told[0]["title"]["zh-CN"]
    assert approvals.waiting_for(web_platform, manager) == []
    state = approvals.state(web_platform, rep, "contract", contract["id"])
    assert [
        (r.status, r.submitted_by_name, r.decided_by_name, r.comment, r.reason)
        for r in state.history
    ] == [("approved", "王东", "周经理", "同意", "客户要求月底前签")]
    assert not state.may_submit and not state.may_decide
    history = web_platform.records.history(sfa_org.admin, "contract", contract["id"])
    assert any("同意" in (entry.get("reason") or "") for entry in history)
    moved = move(web_platform, sfa_org, contract["id"], {"status": "terminated"})
    assert moved["status"] == "terminated"  # past approval the contract moves on


def test_sfa13_rejection_needs_a_comment_returns_to_draft_and_may_be_resubmitted(
    web_platform: Any, sfa_org: Org
) -> None:
    contract = contract_for(web_platform, sfa_org)
    rep, manager = sfa_org.actor("rep_east"), sfa_org.actor("manager")
    approvals.submit(web_platform, rep, "contract", contract["id"], None)
    with pytest.raises(ValidationFailed) as bare:
        approvals.decide(web_platform, manager, "contract", contract["id"], False, " ")
    assert [e.field for e in bare.value.field_errors] == ["comment"]
    assert sfa_org.stored("contract", contract["id"])["approval"] == "pending"
    approvals.decide(web_platform, manager, "contract", contract["id"], False, "付款条件需调整")
    stored = sfa_org.stored("contract", contract["id"])
    assert stored["approval"] == "rejected" and stored["status"] == "draft"
    with pytest.raises(ValidationFailed) as skipped:
        move(web_platform, sfa_org, contract["id"], {"status": "approved"})
    assert "approval" in {e.field for e in skipped.value.field_errors}
    fixed = move(web_platform, sfa_org, contract["id"], {"amount": "170000",
                                                        "payment_terms": "首付30%,验收后70%"})  # fmt: skip
    assert str(fixed["outstanding_amount"]) == "170000.00"
    approvals.submit(web_platform, rep, "contract", contract["id"], "已调整付款条件")
    state = approvals.state(web_platform, manager, "contract", contract["id"])
    assert [r.status for r in state.history] == ["pending", "rejected"]
    assert state.may_decide and state.pending is not None
    assert "付款条件需调整" in _inbox(web_platform, sfa_org, "rep_east")[0]["body"]


def test_sfa13_decisions_stay_in_the_approvers_scope(web_platform: Any, sfa_org: Org) -> None:
    """North has no manager of its own: the administrators are asked; the east manager may
    not decide on a contract outside their department tree."""
    contract = contract_for(web_platform, sfa_org, "rep_north")
    request = approvals.submit(web_platform, sfa_org.actor("rep_north"), "contract",
                               contract["id"], None)  # fmt: skip
    assert request.approvers == (sfa_org.users["admin"],)
    with pytest.raises(NotFound):
        approvals.decide(web_platform, sfa_org.actor("manager"), "contract", contract["id"], True)
    assert approvals.waiting_for(web_platform, sfa_org.actor("manager")) == []
    approvals.decide(web_platform, sfa_org.admin, "contract", contract["id"], True)
    assert sfa_org.stored("contract", contract["id"])["approval"] == "approved"
    with pytest.raises(NotFound):  # another rep may not even submit it
        approvals.submit(web_platform, sfa_org.actor("rep_east"), "contract", contract["id"])


def test_sfa13_only_listed_modules_take_part(web_platform: Any, sfa_org: Org) -> None:
    assert "contract" in [e.name for e in approvals.available(web_platform)]
    with pytest.raises(NotFound):
        approvals.submit(web_platform, sfa_org.admin, "customer", sfa_org.customers["east"])
    with pytest.raises(NotFound):
        approvals.state(web_platform, sfa_org.admin, "lead", 1)


# -- screens -------------------------------------------------------------------------------------


def test_sfa13_approval_pages_submit_and_decide(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    contract = contract_for(web_platform, sfa_org)
    page_url = f"/sfa/approvals/contract/{contract['id']}"
    rep = login("rep_east")
    page = rep.get(page_url)
    assert page.status_code == 200 and 'id="submit-form"' in page.text
    assert "尚未提交审批" in page.text and 'id="decide-form"' not in page.text
    sent = rep.post(page_url, {"action": "submit", "reason": "请尽快审批"})
    assert sent.status_code == 303 and sent.headers["location"] == f"{page_url}?done=submitted"
    assert "已提交审批" in rep.get(sent.headers["location"]).text
    assert rep.post(page_url, {"action": "approve", "comment": "自己批"}).status_code == 403
    manager = login("manager")
    waiting = manager.get("/sfa/approvals")
    assert waiting.status_code == 200 and "待我审批" in waiting.text
    assert f'href="{page_url}"' in waiting.text and "请尽快审批" in waiting.text
    detail = manager.get(f"/r/contract/{contract['id']}")
    assert detail.status_code == 200 and page_url in detail.text and ">审批<" in detail.text
    decide = manager.get(page_url)
    assert decide.status_code == 200 and 'id="decide-form"' in decide.text and "王东" in decide.text
    refused = manager.post(page_url, {"action": "reject", "comment": ""})
    assert refused.status_code == 422 and 'data-field="comment"' in refused.text
    assert "请填写驳回原因" in refused.text
    approved = manager.post(page_url, {"action": "approve", "comment": "同意"})
    assert approved.status_code == 303
    shown = manager.get(page_url)
    assert (
        'data-status="approved"' in shown.text and "同意" in shown.text and "周经理" in shown.text
    )
    assert sfa_org.stored("contract", contract["id"])["status"] == "approved"
    mine = rep.get("/sfa/approvals")
    assert mine.status_code == 200 and 'data-status="approved"' in mine.text
    assert "暂无待您审批的事项" in mine.text
    assert login("rep_east2").get(page_url).status_code == 404
