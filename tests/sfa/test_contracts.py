"""Contracts (SFA-13, seed 003 §2(2)3): created from a won opportunity with a contract number,
the status held back by the approval, execution only with the signing date and the signed
copy, the amount fixed once submitted, reps limited to their own contracts; the screens."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

from guanxi import attachments, clock
from guanxi.api import NotFound, ValidationFailed
from guanxi_sfa.contracts import approvals, service
from tests.org import Org


def won_deal(platform: Any, org: Org, owner: str = "rep_east", **extra: Any) -> dict[str, Any]:
    """A deal of `owner`'s customer, won on 2026-11-20 for 180,000."""
    customer = {"rep_east": "east", "rep_east2": "east2", "rep_north": "north"}[owner]
    return dict(platform.records.create(org.admin, "opportunity", {
        "name": "CRM 系统采购", "customer": org.customers[customer],
        "contact": org.contacts[customer], "amount": "180000", "expected_close": "2026-12-31",
        "owner_id": org.users[owner], "stage": "won", "signed_on": "2026-11-20",
        "won_reason": "product", **extra}))  # fmt: skip


def contract_for(platform: Any, org: Org, owner: str = "rep_east", **values: Any) -> dict[str, Any]:
    deal = won_deal(platform, org, owner)
    return service.from_opportunity(platform, org.actor(owner), deal["id"], values)


def approved(platform: Any, org: Org, contract: dict[str, Any], owner: str = "rep_east") -> None:
    approvals.submit(platform, org.actor(owner), "contract", contract["id"], "请审批")
    approvals.decide(platform, org.actor("manager"), "contract", contract["id"], True, "同意")


def move(platform: Any, org: Org, contract_id: int, changes: dict[str, Any],
         user: str = "rep_east") -> dict[str, Any]:  # fmt: skip
    return dict(platform.records.update(
        org.actor(user), "contract", contract_id, changes,
        version=org.version("contract", contract_id), reason="推进"))  # fmt: skip


def attach_signed_copy(platform: Any, org: Org, contract_id: int) -> None:
    attachments.save(platform, org.actor("rep_east"), "contract", contract_id, "合同扫描件.pdf",
                     "application/pdf", io.BytesIO(b"%PDF-1.4 signed"))  # fmt: skip


def test_sfa13_contract_from_won_opportunity_is_prefilled_and_numbered(
    web_platform: Any, sfa_org: Org
) -> None:
    deal = won_deal(web_platform, sfa_org)
    rep = sfa_org.actor("rep_east")
    contract = service.from_opportunity(web_platform, rep, deal["id"], {"end_on": "2027-11-19"})
    assert contract["number"] == f"C{clock.today_local().year}000001"
    assert contract["customer"] == deal["customer"] and contract["contact"] == deal["contact"]
    assert contract["opportunity"] == deal["id"] and contract["name"] == "CRM 系统采购"
    assert contract["amount"] == Decimal("180000") and contract["owner_id"] == rep.user_id
    assert str(contract["signed_on"]) == "2026-11-20" and str(contract["end_on"]) == "2027-11-19"
    assert contract["status"] == "draft" and contract["approval"] == "none"
    assert contract["received_amount"] == 0 and contract["outstanding_amount"] == Decimal(180000)


def test_sfa13_contract_refused_from_an_open_opportunity(web_platform: Any, sfa_org: Org) -> None:
    deal = won_deal(web_platform, sfa_org, stage="following")
    with pytest.raises(ValidationFailed) as refused:
        service.from_opportunity(web_platform, sfa_org.actor("rep_east"), deal["id"], {})
    assert [(e.field, e.code) for e in refused.value.field_errors] == [("opportunity", "not_won")]
    assert "赢单" in refused.value.field_errors[0].message.render("zh-CN")
    assert web_platform.records.count(sfa_org.admin, "contract").value == 0
    with pytest.raises(NotFound):  # another rep's deal is not theirs to contract
        service.from_opportunity(web_platform, sfa_org.actor("rep_east2"), deal["id"], {})


def test_sfa13_status_cannot_pass_approval_unapproved(web_platform: Any, sfa_org: Org) -> None:
    contract = contract_for(web_platform, sfa_org)
    with pytest.raises(ValidationFailed) as skipped:
        move(web_platform, sfa_org, contract["id"], {"status": "approved"})
    assert "approval" in {e.field for e in skipped.value.field_errors}
    with pytest.raises(ValidationFailed) as manual:
        move(web_platform, sfa_org, contract["id"], {"status": "approval"})
    assert [e.field for e in manual.value.field_errors] == ["status"]
    approvals.submit(web_platform, sfa_org.actor("rep_east"), "contract", contract["id"], None)
    with pytest.raises(ValidationFailed) as waiting:  # the approver decides, not the rep
        move(web_platform, sfa_org, contract["id"], {"status": "terminated"})
    assert {e.code for e in waiting.value.field_errors} >= {"pending"}


def test_sfa13_executing_needs_signing_date_and_signed_copy(
    web_platform: Any, sfa_org: Org
) -> None:
    contract = contract_for(web_platform, sfa_org, signed_on=None)
    approved(web_platform, sfa_org, contract)
    assert sfa_org.stored("contract", contract["id"])["status"] == "approved"
    with pytest.raises(ValidationFailed) as refused:
        move(web_platform, sfa_org, contract["id"], {"status": "executing"})
    codes = {(e.field, e.code) for e in refused.value.field_errors}
    assert {("signed_on", "required_for_stage"), ("status", "signed_copy")} <= codes
    with pytest.raises(ValidationFailed) as no_copy:
        move(web_platform, sfa_org, contract["id"], {"status": "executing",
                                                     "signed_on": "2026-11-21"})  # fmt: skip
    assert [(e.field, e.code) for e in no_copy.value.field_errors] == [("status", "signed_copy")]
    assert "签字" in no_copy.value.field_errors[0].message.render("zh-CN")
    attach_signed_copy(web_platform, sfa_org, contract["id"])
    executing = move(web_platform, sfa_org, contract["id"], {"status": "executing",
                                                            "signed_on": "2026-11-21"})  # fmt: skip
    assert executing["status"] == "executing"
    done = move(web_platform, sfa_org, contract["id"], {"status": "completed"})
    assert done["status"] == "completed"


def test_sfa13_amount_follows_until_submitted_then_is_locked(
    web_platform: Any, sfa_org: Org
) -> None:
    contract = contract_for(web_platform, sfa_org)
    changed = move(web_platform, sfa_org, contract["id"], {"amount": "175000"})
    assert changed["outstanding_amount"] == Decimal(175000)
    approvals.submit(web_platform, sfa_org.actor("rep_east"), "contract", contract["id"], None)
    with pytest.raises(ValidationFailed) as pending:
        move(web_platform, sfa_org, contract["id"], {"amount": "170000"})
    assert [e.field for e in pending.value.field_errors] == ["amount"]
    approvals.decide(web_platform, sfa_org.actor("manager"), "contract", contract["id"], True)
    with pytest.raises(ValidationFailed) as locked:
        move(web_platform, sfa_org, contract["id"], {"amount": "1"}, user="manager")
    assert [e.field for e in locked.value.field_errors] == ["amount"]
    assert "金额" in locked.value.field_errors[0].message.render("zh-CN")
    # what was received (kept by the receivables part, as the system) reduces the outstanding
    received = web_platform.records.update(
        approvals.records_util.SYSTEM, "contract", contract["id"], {"received_amount": "75000"},
        version=sfa_org.version("contract", contract["id"]),
    )  # fmt: skip
    assert received["outstanding_amount"] == Decimal(100000)


def test_sfa13_rep_sees_only_own_contracts_manager_the_department(
    web_platform: Any, sfa_org: Org
) -> None:
    mine = contract_for(web_platform, sfa_org, "rep_east")
    north = contract_for(web_platform, sfa_org, "rep_north")
    with pytest.raises(NotFound):
        web_platform.records.get(sfa_org.actor("rep_east2"), "contract", mine["id"])
    assert web_platform.records.count(sfa_org.actor("rep_east2"), "contract").value == 0
    with pytest.raises(NotFound):
        move(web_platform, sfa_org, mine["id"], {"name": "改名"}, user="rep_east2")
    manager = sfa_org.actor("manager")
    assert web_platform.records.get(manager, "contract", mine["id"])["id"] == mine["id"]
    with pytest.raises(NotFound):  # north is not in the east manager's tree
        web_platform.records.get(manager, "contract", north["id"])


# -- screens -------------------------------------------------------------------------------------


def test_sfa13_create_contract_screen(web_platform: Any, sfa_org: Org, login: Any) -> None:
    deal = won_deal(web_platform, sfa_org)
    rep = login("rep_east")
    detail = rep.get(f"/r/opportunity/{deal['id']}")
    assert detail.status_code == 200
    assert f"/sfa/opportunities/{deal['id']}/contract" in detail.text and "创建合同" in detail.text
    page = rep.get(f"/sfa/opportunities/{deal['id']}/contract")
    assert page.status_code == 200
    assert 'value="CRM 系统采购"' in page.text and 'value="180000' in page.text
    assert "东海重工" in page.text  # the deal's customer, shown
    refused = rep.post(f"/sfa/opportunities/{deal['id']}/contract",
                       {"name": "CRM 系统采购合同", "amount": "-5"})  # fmt: skip
    assert refused.status_code == 422 and 'data-field="amount"' in refused.text
    done = rep.post(f"/sfa/opportunities/{deal['id']}/contract",
                    {"name": "CRM 系统采购合同", "amount": "178000", "signed_on": "2026-11-20",
                     "end_on": "2027-11-19"})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].startswith("/r/contract/")
    contract_id = int(done.headers["location"].rsplit("/", 1)[1])
    stored = sfa_org.stored("contract", contract_id)
    assert stored["amount"] == Decimal(178000) and stored["opportunity"] == deal["id"]
    open_deal = won_deal(web_platform, sfa_org, stage="following")
    not_won = rep.get(f"/sfa/opportunities/{open_deal['id']}/contract")
    assert not_won.status_code == 422 and "赢单" in not_won.text
    assert "创建合同" not in rep.get(f"/r/opportunity/{open_deal['id']}").text


def test_sfa13_contract_pages_render_for_a_manager(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    contract = contract_for(web_platform, sfa_org)
    manager = login("manager")
    listing = manager.get("/r/contract")
    assert listing.status_code == 200 and f'href="/r/contract/{contract["id"]}"' in listing.text
    assert "审批状态" in listing.text and "¥180,000.00" in listing.text
    detail = manager.get(f"/r/contract/{contract['id']}")
    assert detail.status_code == 200
    assert "CRM 系统采购" in detail.text and "提交审批" in detail.text  # may edit: may submit
    assert f"/sfa/approvals/contract/{contract['id']}" in detail.text
    assert "合同" in manager.get("/").text  # the module is in the menu (the core's entry)
