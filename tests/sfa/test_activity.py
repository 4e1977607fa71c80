"""Rep activity (SFA-17; seed 001 领导 2): follow-ups per rep and method, customers created,
leads converted and first touch in time, counted per period for the reps the viewer may
see (a rep only themself), and the page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from guanxi import clock
from guanxi.auth import identity
from guanxi.auth.passwords import hash_password
from guanxi.errors import PermissionDenied
from guanxi_sfa import converting
from guanxi_sfa.insight.activity import activity
from tests.org import Org, rep_input
from tests.sfa.conftest import lead_input
from tests.web.conftest import PASSWORD

# A fixed Wednesday, 10:00 in Shanghai, well before the org's own records (made at the real time).
NOW = datetime(2025, 6, 18, 2, 0)
TODAY = date(2025, 6, 18)


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(clock, "now_utc", lambda: moment)


def followup(platform: Any, org: Org, user: str, key: str, method: str, when: datetime) -> None:
    platform.records.create(org.actor(user), "followup", {
        "customer": org.customers[key], "method": method, "content": "沟通需求",
        "followed_at": when.isoformat() + "Z",
    })  # fmt: skip


def rows(report: Any) -> dict[int | None, Any]:
    return {rep.user_id: rep for rep in report.reps}


@pytest.fixture
def busy_org(web_platform: Any, sfa_org: Org, monkeypatch: pytest.MonkeyPatch) -> Org:
    """In the week of TODAY: rep_east 2 calls, 1 visit, 1 new customer, 2 leads assigned (one
    touched after 2 h, one after 30 h) of which one converted; rep_east2 1 WeChat and a lead
    still untouched past its deadline; rep_north 1 call. Last month: rep_east 1 call."""
    org, platform = sfa_org, web_platform
    at(monkeypatch, NOW)
    followup(platform, org, "rep_east", "east", "phone", NOW - timedelta(hours=1))
    followup(platform, org, "rep_east", "east", "phone", NOW - timedelta(days=1))
    followup(platform, org, "rep_east", "east", "visit", NOW - timedelta(days=1))
    followup(platform, org, "rep_east", "east", "phone", NOW - timedelta(days=40))
    followup(platform, org, "rep_east2", "east2", "wechat", NOW - timedelta(hours=3))
    followup(platform, org, "rep_north", "north", "phone", NOW - timedelta(hours=2))
    platform.records.create(org.actor("rep_east"), "customer",
                            {**rep_input("east"), "name": "东方新客户", "mobile": "13911112222",
                             "company": "东方新客户有限公司"}, confirm_duplicates=True)  # fmt: skip
    admin, east = org.admin, org.users["rep_east"]
    at(monkeypatch, NOW - timedelta(days=2))
    quick = platform.records.create(admin, "lead", lead_input(owner_id=east))
    slow = platform.records.create(admin, "lead", lead_input(owner_id=east))
    idle = platform.records.create(admin, "lead", lead_input(owner_id=org.users["rep_east2"]))
    rep = org.actor("rep_east")
    at(monkeypatch, NOW - timedelta(days=2) + timedelta(hours=2))
    platform.records.create(rep, "followup",
                            {"lead": quick["id"], "method": "phone", "content": "首次电话"})  # fmt: skip
    at(monkeypatch, NOW - timedelta(days=2) + timedelta(hours=30))
    platform.records.create(rep, "followup",
                            {"lead": slow["id"], "method": "email", "content": "首次邮件"})  # fmt: skip
    at(monkeypatch, NOW)
    converting.convert(platform, rep, quick["id"], converting.Plan())
    assert idle["owner_id"] == org.users["rep_east2"]
    return org


def test_sfa17_counts_per_rep_method_conversion_and_first_touch(
    web_platform: Any, busy_org: Org
) -> None:
    org = busy_org
    week = activity(
        web_platform, org.actor("manager"), TODAY - timedelta(days=2), TODAY + timedelta(days=4)
    )
    found = rows(week)
    east, east2 = found[org.users["rep_east"]], found[org.users["rep_east2"]]
    # 2 calls and a visit on the customer, 1 call and 1 e-mail on the leads (logged in the week)
    assert east.followups == {"phone": 3, "visit": 1, "email": 1}
    assert east.customers_created == 2 and east.leads_converted == 1  # one entered, one converted
    assert (east.touch_due, east.touch_on_time, east.on_time_share) == (2, 1, 50)
    assert east2.followups == {"wechat": 1} and east2.customers_created == 0
    assert (east2.touch_due, east2.touch_on_time, east2.on_time_share) == (1, 0, 0)
    assert org.users["rep_north"] not in found  # not in the manager's departments
    assert org.users["rep_shanghai"] in found  # below east: listed, idle
    assert found[org.users["rep_shanghai"]].followup_total == 0
    assert week.totals.followup_total == 6 and week.totals.touch_due == 3
    assert week.totals.leads_converted == 1

    month_ago = activity(web_platform, org.actor("manager"), TODAY - timedelta(days=45),
                         TODAY - timedelta(days=35))  # fmt: skip
    assert rows(month_ago)[org.users["rep_east"]].followups == {"phone": 1}


def test_sfa17_a_rep_sees_only_themself(web_platform: Any, busy_org: Org) -> None:
    org = busy_org
    mine = activity(web_platform, org.actor("rep_east2"), TODAY - timedelta(days=7), TODAY)
    assert list(rows(mine)) == [org.users["rep_east2"]]
    assert mine.totals.followups == {"wechat": 1}
    everyone = activity(web_platform, org.admin, TODAY - timedelta(days=7), TODAY)
    assert org.users["rep_north"] in rows(everyone)
    assert rows(everyone)[org.users["rep_north"]].followups == {"phone": 1}
    identity.create_user(web_platform.db, "newcomer", "新同事")  # no role: no deals to see
    with pytest.raises(PermissionDenied):
        activity(web_platform, org.actor("newcomer"), TODAY, TODAY)


def test_sfa17_activity_page(web_platform: Any, busy_org: Org, login: Any) -> None:
    org = busy_org
    manager = login("manager")
    page = manager.get("/sfa/activity?period=week")
    assert page.status_code == 200 and "销售活动" in page.text
    assert 'data-start="2025-06-16" data-end="2025-06-22"' in page.text
    assert f'data-rep="{org.users["rep_east"]}"' in page.text and "王东" in page.text
    assert "赵北" not in page.text and "拜访" in page.text and "50% (1/2)" in page.text
    ranged = manager.get("/sfa/activity?start=2026-10-01&end=2026-10-31")
    assert ranged.status_code == 200 and 'data-end="2026-10-31"' in ranged.text
    bad = manager.get("/sfa/activity?start=2026-13-01")
    assert bad.status_code == 422 and "2026-01-31" in bad.text
    rep = login("rep_east2").get("/sfa/activity?period=month")
    assert rep.status_code == 200 and "李华" in rep.text and "王东" not in rep.text
    identity.create_user(
        web_platform.db, "newcomer", "新同事", password_hash=hash_password(PASSWORD)
    )
    assert login("newcomer").get("/sfa/activity").status_code == 404
    assert "/sfa/activity" in manager.get("/").text
