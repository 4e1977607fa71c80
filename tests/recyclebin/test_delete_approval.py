"""Delete approval (BIN-04, PERM-06) with the recycle bin: a rep's deletion of a customer (the
default matrix rule "approval") or of a module listed in approval_modules becomes a request
to the rep's manager, found up the department tree; nothing is deleted until approved."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from guanxi import notifications
from guanxi.actor import Actor
from guanxi.errors import NotFound, ValidationFailed
from guanxi_recyclebin import approval
from guanxi_recyclebin.tables import request
from tests.org import Org


def _requests(platform: Any) -> list[Any]:
    with platform.db.read() as connection:
        return connection.execute(sa.select(request).order_by(request.c.id)).all()


def _titles(platform: Any, actor: Actor) -> list[str]:
    return [e["title"]["zh-CN"] for e in notifications.entries(platform.db, actor)]


def test_a_reps_deletion_waits_for_the_manager_who_approves(bin_org: Org, login: Any) -> None:
    platform = bin_org.platform
    rep, customer = bin_org.actor("rep_east"), bin_org.customers["east"]

    outcome = platform.records.delete(rep, "customer", customer, reason="客户要求删除")

    assert outcome == "pending_approval"
    assert platform.records.get(rep, "customer", customer)["id"] == customer  # still there
    [filed] = _requests(platform)
    assert filed.status == "pending" and filed.approvers == [bin_org.users["manager"]]
    assert any("王东" in title for title in _titles(platform, bin_org.actor("manager")))
    assert platform.records.delete(rep, "customer", customer) == "pending_approval"
    assert len(_requests(platform)) == 1  # asked once

    with pytest.raises(NotFound):  # not rep_north's manager: not theirs to decide
        approval.approve(platform, bin_org.actor("rep_north"), filed.id)
    manager = login("manager")
    page = manager.get("/bin/requests")
    assert f'data-request="{filed.id}"' in page.text and "客户要求删除" in page.text
    answer = manager.post(f"/bin/requests/{filed.id}", {"decision": "approve"})

    assert answer.status_code == 303
    with pytest.raises(NotFound):
        platform.records.get(bin_org.actor("manager"), "customer", customer)
    binned = platform.records.get(Actor.system(), "customer", customer, action="binned")
    assert binned["deleted_by"] == bin_org.users["manager"]
    assert _requests(platform)[0].status == "approved"
    assert any("批准" in title for title in _titles(platform, rep))


def test_a_rejection_needs_a_reason_and_deletes_nothing(bin_org: Org, login: Any) -> None:
    platform = bin_org.platform
    rep, customer = bin_org.actor("rep_east"), bin_org.customers["east"]
    platform.records.delete(rep, "customer", customer)
    [filed] = _requests(platform)
    manager = login("manager")

    refused = manager.post(f"/bin/requests/{filed.id}", {"decision": "reject", "reason": ""})
    assert refused.status_code == 422
    with pytest.raises(ValidationFailed):
        approval.reject(platform, bin_org.actor("manager"), filed.id, "  ")
    answer = manager.post(
        f"/bin/requests/{filed.id}", {"decision": "reject", "reason": "客户仍有合同"}
    )

    assert answer.status_code == 303
    assert platform.records.get(rep, "customer", customer)["id"] == customer
    assert _requests(platform)[0].status == "rejected"
    assert _requests(platform)[0].decision_reason == "客户仍有合同"
    assert any("拒绝" in title for title in _titles(platform, rep))
    mine = login("rep_east").get("/bin/requests").text
    assert 'data-status="rejected"' in mine and "客户仍有合同" in mine


def test_approval_modules_setting_sends_more_modules_to_a_manager(
    make_platform: Any, bin_org: Org
) -> None:
    from tests.recyclebin.conftest import PLUGIN

    platform = make_platform(
        plugins=[PLUGIN],
        plugin_config={"guanxi_recyclebin": {"settings": {"approval_modules": ["followup"]}}},
    )
    rep, followup = bin_org.actor("rep_shanghai"), bin_org.followups["shanghai"]

    assert platform.records.delete(rep, "followup", followup) == "pending_approval"
    [filed] = _requests(platform)
    # rep_shanghai's own department has no approver: the manager one level up is asked.
    assert filed.approvers == [bin_org.users["manager"]]
    assert approval.approve(platform, bin_org.actor("manager"), filed.id) == "binned"
