"""Customer grading (SFA-11; seeds 002 SABC, 003 §2(1)3 RFM): RFM scores and the SABC level
from won deals (and received payments) under the configured bands and rules, a locked level
kept, only changed customers written, the grade usable as a list filter, and the grading
screen with "recompute now"."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import ValidationFailed
from guanxi.plugin_overrides import save_plugin
from guanxi_sfa.insight import grading
from tests.org import Org

SETTINGS = {
    "rfm_recency_days": [30, 90, 180, 365],
    "rfm_frequency_counts": [1, 2, 3, 4],
    "rfm_monetary_amounts": [10_000, 50_000, 100_000, 500_000],
    "grade_rules": [
        {"level": "S", "min_score": 13, "min_won_total": 500_000},
        {"level": "A", "min_score": 10},
        {"level": "B", "min_score": 6},
    ],
    "grade_fallback": "C",
}


@pytest.fixture
def graded_org(web_platform: Any, sfa_org: Org) -> Org:
    save_plugin(web_platform, sfa_org.admin, "guanxi_sfa", True, SETTINGS)
    return sfa_org


def won_deal(
    platform: Any, org: Org, key: str, amount: int, days_ago: int, monkeypatch: Any
) -> dict[str, Any]:
    """A deal on org's customer `key`, won `days_ago` days ago (the clock moved back)."""
    real = clock.now_utc
    moment = real() - timedelta(days=days_ago)
    monkeypatch.setattr(clock, "now_utc", lambda: moment)
    try:
        return platform.records.create(org.admin, "opportunity", {
            "name": f"{key} 订单 {amount}", "customer": org.customers[key], "amount": str(amount),
            "expected_close": "2026-12-31", "purchase_intent": "采购", "budget_amount": str(amount),
            "budget_confirmed": True, "requirements": "标准版", "quote_accepted": True,
            "stage": "won", "signed_on": moment.date().isoformat(), "won_reason": "product",
        }, reason="签约")  # fmt: skip
    finally:
        monkeypatch.setattr(clock, "now_utc", real)


def customer(platform: Any, org: Org, key: str) -> dict[str, Any]:
    return platform.records.get(Actor.system(), "customer", org.customers[key], log_view=False)


def history_count(platform: Any, org: Org, key: str) -> int:
    return len(platform.records.history(org.admin, "customer", org.customers[key]))


def test_sfa11_rfm_and_level_per_history_locked_level_kept(
    web_platform: Any, graded_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, records = graded_org, web_platform.records
    for _turn in range(4):  # R 5 (10 days), F 5 (4 deals), M 5 (600k) = 15, won 600k: S
        won_deal(web_platform, org, "east", 150_000, 10, monkeypatch)
    won_deal(web_platform, org, "east2", 60_000, 200, monkeypatch)  # R 2, F 2, M 3 = 7: B
    for _turn in range(2):  # R 4 (60 days), F 3, M 3 (60k) = 10: A
        won_deal(web_platform, org, "north", 30_000, 60, monkeypatch)
    won_deal(web_platform, org, "manager", 5_000, 400, monkeypatch)  # R 1, F 2, M 1 = 4: C
    kept = customer(web_platform, org, "manager")
    records.update(org.admin, "customer", kept["id"], {"level": "A", "level_locked": True},
                   version=kept["version"])  # fmt: skip

    outcome = grading.recompute(web_platform)
    assert outcome.graded == 4 and outcome.skipped == 0

    east = customer(web_platform, org, "east")
    assert (east["rfm_recency"], east["rfm_frequency"], east["rfm_monetary"]) == (5, 5, 5)
    assert east["rfm_score"] == 15 and east["level"] == "S"
    assert east["won_total"] == Decimal("600000.00") and east["graded_at"] is not None
    east2 = customer(web_platform, org, "east2")
    assert (east2["rfm_recency"], east2["rfm_frequency"], east2["rfm_monetary"]) == (2, 2, 3)
    assert east2["rfm_score"] == 7 and east2["level"] == "B"
    north = customer(web_platform, org, "north")
    assert (north["rfm_recency"], north["rfm_frequency"], north["rfm_monetary"]) == (4, 3, 3)
    assert north["level"] == "A"
    manager = customer(web_platform, org, "manager")
    assert manager["rfm_score"] == 4 and manager["level"] == "A"  # locked: the manual grade
    shanghai = customer(web_platform, org, "shanghai")
    assert shanghai["rfm_score"] is None and shanghai["level"] is None  # nothing bought
    latest = records.history(org.admin, "customer", east["id"])[-1]
    assert latest["changes"]["level"] == [None, "S"] and latest["changes"]["rfm_score"] == [
        None,
        15,
    ]
    assert latest["reason"] == "根据成交商机和回款重新计算客户等级"


def test_sfa11_only_changed_customers_are_written(
    web_platform: Any, graded_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, records = graded_org, web_platform.records
    won_deal(web_platform, org, "east", 150_000, 10, monkeypatch)
    second = won_deal(web_platform, org, "east2", 60_000, 200, monkeypatch)
    assert grading.recompute(web_platform).graded == 2
    before = {key: history_count(web_platform, org, key) for key in ("east", "east2", "north")}
    again = grading.recompute(web_platform)
    assert again.graded == 0 and again.customers == 5
    assert {k: history_count(web_platform, org, k) for k in before} == before

    won_deal(web_platform, org, "east2", 60_000, 20, monkeypatch)  # R 5, F 3, M 4 = 12: A
    before = {key: history_count(web_platform, org, key) for key in before}  # + last deal date
    assert grading.recompute(web_platform).graded == 1
    east2 = customer(web_platform, org, "east2")
    assert east2["rfm_score"] == 12 and east2["level"] == "A"
    assert history_count(web_platform, org, "east2") == before["east2"] + 1
    assert history_count(web_platform, org, "east") == before["east"]

    # Both deals of east2 gone (recycle bin): the scores are cleared, the level stays.
    for deal in records.query(org.admin, "opportunity", {
            "field": "customer", "op": "eq", "value": org.customers["east2"]}).rows:  # fmt: skip
        records.delete(org.admin, "opportunity", deal["id"], reason="录错")
    assert second["id"]
    assert grading.recompute(web_platform).graded == 1
    cleared = customer(web_platform, org, "east2")
    assert cleared["rfm_score"] is None and cleared["won_total"] is None
    assert cleared["level"] == "A"


def test_sfa11_filter_by_grade_and_fields_are_read_only(
    web_platform: Any, graded_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, records = graded_org, web_platform.records
    won_deal(web_platform, org, "east", 150_000, 10, monkeypatch)  # 5 + 2 + 4 = 11
    won_deal(web_platform, org, "north", 20_000, 100, monkeypatch)  # 2 + 2 + 2 = 6
    grading.recompute(web_platform)
    high = records.query(org.admin, "customer", {"field": "rfm_score", "op": "gte", "value": 10})
    assert [r["id"] for r in high.rows] == [org.customers["east"]]
    graded = records.query(org.admin, "customer", [
        {"field": "level", "op": "in", "value": ["A", "B"]},
        {"field": "rfm_score", "op": "gte", "value": 3}], sort=["-rfm_score"])  # fmt: skip
    assert [r["id"] for r in graded.rows] == [org.customers["east"], org.customers["north"]]
    rep = org.actor("rep_north")  # a rep filters within their own customers
    mine = records.query(rep, "customer", {"field": "rfm_score", "op": "gte", "value": 1})
    assert [r["id"] for r in mine.rows] == [org.customers["north"]]
    north = records.get(rep, "customer", org.customers["north"])
    with pytest.raises(ValidationFailed) as refused:
        records.update(rep, "customer", north["id"], {"rfm_score": 15},
                       version=north["version"])  # fmt: skip
    assert {e.field: e.code for e in refused.value.field_errors}["rfm_score"] == "read_only"


def test_sfa11_received_payments_count_when_the_module_exists(
    web_platform: Any, graded_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "payment" in web_platform.registry.snapshot().entities  # the receivables part's
    org = graded_org
    won_deal(web_platform, org, "shanghai", 20_000, 300, monkeypatch)  # alone: 2 + 2 + 2 = 6
    contract = web_platform.records.create(
        Actor.system(),
        "contract",
        {"name": "浦江电子年度框架合同", "customer": org.customers["shanghai"], "amount": "300000"},
    )
    web_platform.records.create(Actor.system(), "payment", {
        "contract": contract["id"], "amount": "120000", "method": "bank",
        "received_on": (clock.today_local() - timedelta(days=5)).isoformat(),
    })  # fmt: skip
    grading.recompute(web_platform)
    found = customer(web_platform, org, "shanghai")
    # the payment makes it recent (R 5) and the money received counts (M 4); F stays 2
    assert (found["rfm_recency"], found["rfm_frequency"], found["rfm_monetary"]) == (5, 2, 4)
    assert found["won_total"] == Decimal("20000.00") and found["level"] == "A"


def test_sfa11_grading_page_and_recompute_now(
    web_platform: Any, graded_org: Org, login: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = graded_org
    won_deal(web_platform, org, "east", 150_000, 10, monkeypatch)
    assert login("rep_east").get("/sfa/grading").status_code == 404
    assert login("rep_east").post("/sfa/grading/recompute").status_code == 404
    manager = login("manager")
    page = manager.get("/sfa/grading")
    assert page.status_code == 200 and "客户分级" in page.text and "立即重新计算" in page.text
    assert "S 战略客户" in page.text and "¥500,000.00" in page.text
    queued = manager.post("/sfa/grading/recompute")
    assert queued.status_code == 303 and queued.headers["location"] == "/sfa/grading?queued=1"
    web_platform.jobs.run_due()
    assert customer(web_platform, org, "east")["level"] == "A"  # 5 + 2 + 4 = 11
    after = manager.get("/sfa/grading?queued=1")
    assert 'data-level="A"' in after.text
    assert "/sfa/grading" in manager.get("/").text  # in the menu
