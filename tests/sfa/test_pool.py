"""SFA-10 public customer pool: the nightly return with a frozen clock (by region, exemptions,
warning, history, one notification per owner), claims within the limits, "move to pool" with a
reason, assignment out of a pool, and the pool screens over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi import clock, notifications
from guanxi.api import NotFound, PermissionDenied, ValidationFailed
from guanxi.store.system_tables import history
from guanxi_sfa import records_util
from guanxi_sfa.pool import claiming, recycling
from guanxi_sfa.pool.tables import pool_history
from tests.org import Org, build_org
from tests.sfa.conftest import PLUGIN, SECRET

SYSTEM = records_util.SYSTEM
CTX = type("Ctx", (), {})


def _run(platform: Any) -> dict[str, int]:
    ctx = CTX()
    ctx.platform = platform
    return recycling.run_job(ctx)


def _freeze(monkeypatch: pytest.MonkeyPatch, days: float) -> Any:
    """The clock `days` after the real now (the test's records were made at the real now)."""
    moment = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=days)
    monkeypatch.setattr(clock, "now_utc", lambda: moment)
    return moment


def _customer(platform: Any, org: Org, key: str) -> dict[str, Any]:
    return dict(platform.records.get(SYSTEM, "customer", org.customers[key]))


def _kinds(platform: Any, org: Org, username: str, kind: str) -> list[dict[str, Any]]:
    return [n for n in notifications.entries(platform.db, org.actor(username)) if n["kind"] == kind]


def test_sfa10_customers_without_follow_up_return_to_their_region_pool(
    web_platform: Any, sfa_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, org = web_platform, sfa_org
    records = platform.records
    records.update(SYSTEM, "customer", org.customers["manager"], {"level": "S"},
                   version=_customer(platform, org, "manager")["version"])  # fmt: skip
    records.lock(SYSTEM, "customer", org.customers["east2"], reason="合同纠纷冻结")
    moment = _freeze(monkeypatch, 29)
    records.create(org.actor("rep_north"), "followup",
                   {"customer": org.customers["north"], "method": "phone", "content": "回访"})  # fmt: skip
    before = {key: _customer(platform, org, key) for key in org.customers}

    assert _run(platform)["returned"] == 0  # not 30 days yet
    _freeze(monkeypatch, 31)
    assert _run(platform)["returned"] == 2  # east + shanghai: the rest followed up, S or locked

    east, shanghai = _customer(platform, org, "east"), _customer(platform, org, "shanghai")
    assert (east["pool"], east["owner_id"]) == ("east", None)  # region east -> east pool
    assert shanghai["pool"] == "east" and shanghai["pooled_at"] is not None
    assert _customer(platform, org, "north")["owner_id"] == before["north"]["owner_id"]
    assert _customer(platform, org, "manager")["pool"] is None  # grade S is exempt
    assert _customer(platform, org, "east2")["owner_id"] == before["east2"]["owner_id"]  # locked
    entry = records.history(SYSTEM, "customer", org.customers["east"])[-1]
    assert entry["changes"]["owner_id"] == [before["east"]["owner_id"], None]
    assert "30" in entry["reason"]
    with platform.db.read() as connection:
        logged = connection.execute(
            sa.select(pool_history.c.customer_id, pool_history.c.owner_id, pool_history.c.action)
        ).all()
    assert sorted(logged) == sorted([
        (org.customers["east"], org.users["rep_east"], "recycled"),
        (org.customers["shanghai"], org.users["rep_shanghai"], "recycled"),
    ])  # fmt: skip
    told = _kinds(platform, org, "rep_east", recycling.RECYCLED_KIND)
    assert len(told) == 1 and told[0]["link"] == "/sfa/pool?pool=east"
    assert moment < clock.now_utc()
    assert _run(platform)["returned"] == 0  # nothing twice


def test_sfa10_the_catch_all_pool_takes_other_regions_and_deals_count(
    make_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools = [{"code": "north", "name": {"zh-CN": "华北公海"}, "regions": ["north"],
              "followup_days": 0, "deal_days": 60},
             {"code": "rest", "name": {"zh-CN": "其他公海"}, "regions": [],
              "followup_days": 90, "deal_days": 0}]  # fmt: skip
    platform = make_platform(
        secret_key=SECRET, plugins=[PLUGIN],
        plugin_config={"guanxi_sfa": {"settings": {"pools": pools, "pool_exempt_levels": []}}},
    )  # fmt: skip
    org = build_org(platform)
    _freeze(monkeypatch, 61)
    assert _run(platform)["returned"] == 1  # only north: no deal for 60 days
    assert _customer(platform, org, "north")["pool"] == "north"
    _freeze(monkeypatch, 91)
    assert _run(platform)["returned"] == 4  # every other region, south included
    assert {_customer(platform, org, k)["pool"] for k in ("east", "manager")} == {"rest"}


def test_sfa10_owners_are_warned_once_before_the_return(
    web_platform: Any, sfa_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    _freeze(monkeypatch, 28)  # due on day 30, warned 3 days ahead
    assert _run(web_platform) == {"returned": 0, "warned": 5}
    warned = _kinds(web_platform, sfa_org, "rep_east", recycling.WARNING_KIND)
    assert len(warned) == 1 and warned[0]["link"] == "/sfa/pool/expiring"
    assert _run(web_platform) == {"returned": 0, "warned": 0}
    assert len(_kinds(web_platform, sfa_org, "rep_east", recycling.WARNING_KIND)) == 1


def _pool_all(platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _freeze(monkeypatch, 31)
    platform.records.update_matching(
        SYSTEM, "customer", [{"field": "owner_id", "op": "not_empty"}], {"level": "B"}, reason=None
    )
    _run(platform)


def test_sfa10_claims_respect_reclaim_delay_and_daily_limit(
    make_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_platform(
        secret_key=SECRET, plugins=[PLUGIN],
        plugin_config={"guanxi_sfa": {"settings": {"pool_claims_per_day": 1}}},
    )  # fmt: skip
    org = build_org(platform)
    _pool_all(platform, monkeypatch)
    east, shanghai = org.customers["east"], org.customers["shanghai"]
    with pytest.raises(ValidationFailed) as caught:
        claiming.claim(platform, org.actor("rep_east"), east)  # gave it up (by the job) today
    assert caught.value.errors[0].code == "reclaim_wait"

    claimed = claiming.claim(platform, org.actor("rep_east2"), east)
    assert claimed["owner_id"] == org.users["rep_east2"]
    now = _customer(platform, org, "east")
    assert now["pool"] is None and now["claimed_at"] is not None
    assert now["department_id"] == org.departments["east"]
    with pytest.raises(ValidationFailed) as caught:
        claiming.claim(platform, org.actor("rep_east2"), shanghai)
    assert caught.value.errors[0].code == "claims_per_day"
    with pytest.raises(NotFound):  # claimed: no longer in a pool (nor says whose it is)
        claiming.claim(platform, org.actor("rep_north"), east)
    with pytest.raises(PermissionDenied):
        claiming.claim(platform, org.actor("agent"), shanghai)
    _freeze(monkeypatch, 62)  # past the 30-day delay, and another day
    assert (
        claiming.claim(platform, org.actor("rep_east"), shanghai)["owner_id"]
        == (org.users["rep_east"])
    )


def test_sfa10_claims_stop_at_the_owned_limit(
    make_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_platform(
        secret_key=SECRET, plugins=[PLUGIN],
        plugin_config={"guanxi_sfa": {"settings": {"pool_max_owned": 1}}},
    )  # fmt: skip
    org = build_org(platform)
    _pool_all(platform, monkeypatch)
    rep = org.actor("rep_north")
    claiming.claim(platform, rep, org.customers["east"])
    with pytest.raises(ValidationFailed) as caught:
        claiming.claim(platform, rep, org.customers["east2"])
    assert caught.value.errors[0].code == "max_owned"


def test_sfa10_move_to_pool_needs_a_reason_and_the_customer(
    web_platform: Any, sfa_org: Org
) -> None:
    platform, org = web_platform, sfa_org
    rep = org.actor("rep_east")
    east = org.customers["east"]
    with pytest.raises(ValidationFailed) as caught:
        claiming.release(platform, rep, east, None, "  ")
    assert [e.field for e in caught.value.errors] == ["reason"]
    assert _customer(platform, org, "east")["owner_id"] == org.users["rep_east"]
    with pytest.raises(NotFound):
        claiming.release(platform, rep, org.customers["north"], None, "不是我的")

    moved = claiming.release(platform, rep, east, None, "客户已转向竞品")
    assert moved["owner_id"] is None and moved["pool"] == "east"
    with platform.db.read() as connection:
        row = connection.execute(
            sa.select(pool_history).where(pool_history.c.customer_id == east)
        ).one()
    assert (row.action, row.owner_id, row.actor_id, row.reason) == (
        "released",
        org.users["rep_east"],
        org.users["rep_east"],
        "客户已转向竞品",
    )
    with pytest.raises(ValidationFailed) as caught:
        claiming.release(platform, org.actor("manager"), east, None, "再退一次")
    assert caught.value.errors[0].code == "pooled"


def test_sfa10_a_manager_assigning_a_pooled_customer_takes_it_out(
    web_platform: Any, sfa_org: Org
) -> None:
    platform, org = web_platform, sfa_org
    east = org.customers["east"]
    claiming.release(platform, org.actor("rep_east"), east, None, "长期未成交")
    manager = org.actor("manager")
    current = platform.records.get(manager, "customer", east)
    assigned = platform.records.update(manager, "customer", east,
                                       {"owner_id": org.users["rep_east2"]},
                                       version=current["version"])  # fmt: skip
    assert assigned["pool"] is None and assigned["claimed_at"] is not None
    actions = [e["action"] for e in claiming.history(platform, manager, east)]
    assert actions == ["assigned", "released"]
    with platform.db.read() as connection:
        writes = connection.execute(
            sa.select(sa.func.count()).where(history.c.entity == "customer",
                                             history.c.record_id == east)
        ).scalar_one()  # fmt: skip
    assert writes >= 3  # created, released, assigned: each write has its history row


def test_sfa10_pool_screens(web_platform: Any, sfa_org: Org, login: Any) -> None:
    platform, org = web_platform, sfa_org
    east = org.customers["east"]
    claiming.release(platform, org.actor("rep_east"), east, None, "客户暂无预算")
    client = login("rep_east2")
    page = client.get("/sfa/pool?pool=east")
    assert page.status_code == 200
    assert "东海重工" in page.text and "13812344321" not in page.text  # no mobile before a claim
    assert f'data-claim="{east}"' in page.text and '<select name="region"' in page.text
    claimed = client.post(f"/sfa/pool/customers/{east}/claim")
    assert claimed.status_code in (302, 303)
    assert _customer(platform, org, "east")["owner_id"] == org.users["rep_east2"]
    history_page = client.get(f"/sfa/pool/customers/{east}/history")
    assert history_page.status_code == 200 and "客户暂无预算" in history_page.text

    form = client.get(f"/sfa/pool/customers/{east}/release")
    assert form.status_code == 200 and 'name="reason"' in form.text
    refused = client.post(f"/sfa/pool/customers/{east}/release",
                          data={"pool": "east", "reason": ""})  # fmt: skip
    assert refused.status_code == 422 and 'data-field="reason"' in refused.text
    assert _customer(platform, org, "east")["owner_id"] == org.users["rep_east2"]
    done = client.post(
        f"/sfa/pool/customers/{east}/release", data={"pool": "general", "reason": "换区域跟进"}
    )
    assert done.status_code in (302, 303)
    assert _customer(platform, org, "east")["pool"] == "general"
    assert client.get("/sfa/pool/expiring").status_code == 200
    agent = login("agent")
    assert agent.get("/sfa/pool").status_code == 404
    assert agent.get(f"/sfa/pool/customers/{east}/history").status_code == 404  # pooled
