"""Sales targets (SFA-16, seed 001 百会 "销售目标与预测"): a rep's and a department's targets per
month/quarter/year against deals won and payments received in the period, the forecast from
open deals weighted by probability, the department tree, and who sees which target."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from guanxi import clock
from guanxi.api import NotFound
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi_sfa.receivables import targets
from tests.org import Org


def deal(platform: Any, org: Org, rep: str, amount: str, *, won_at: datetime | None = None,
         expected: str = "2026-03-25", monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:  # fmt: skip
    """An opportunity of `rep`'s customer; won at `won_at` (the clock is frozen for it)."""
    data: dict[str, Any] = {"name": f"{rep} {amount}", "customer": org.customers[rep[4:]],
                            "amount": amount, "expected_close": expected, "stage": "following"}  # fmt: skip
    if won_at is not None:
        monkeypatch.setattr(clock, "now_utc", lambda: won_at)
        data.update(stage="won", signed_on=won_at.date().isoformat(), won_reason="product")
    try:
        return platform.records.create(org.actor(rep), "opportunity", data, reason="签约")
    finally:
        monkeypatch.undo()


def payment(platform: Any, org: Org, rep: str, amount: str, received_on: str) -> None:
    actor = org.actor(rep)
    signed = platform.records.create(actor, "contract", {
        "name": f"{rep} 合同 {received_on}", "customer": org.customers[rep[4:]],
        "amount": "1000000", "signed_on": "2026-01-05",
    })  # fmt: skip
    platform.records.create(actor, "payment", {"contract": signed["id"], "amount": amount,
                                               "received_on": received_on, "method": "bank"})  # fmt: skip


@pytest.fixture
def business(web_platform: Any, sfa_org: Org, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Deals and payments in and around Q1 2026, and two targets a manager set."""
    p, o = web_platform, sfa_org
    deal(p, o, "rep_east", "50000", won_at=datetime(2026, 3, 10, 2), monkeypatch=monkeypatch)
    deal(p, o, "rep_east", "20000", won_at=datetime(2026, 4, 2, 2), monkeypatch=monkeypatch)
    # 2026-03-31 23:30 UTC is already April 1st in Shanghai: outside March
    deal(p, o, "rep_east", "7000", won_at=datetime(2026, 3, 31, 23, 30), monkeypatch=monkeypatch)
    deal(p, o, "rep_shanghai", "30000", won_at=datetime(2026, 2, 15, 2), monkeypatch=monkeypatch)
    deal(p, o, "rep_north", "99000", won_at=datetime(2026, 3, 11, 2), monkeypatch=monkeypatch)
    deal(p, o, "rep_east", "100000", expected="2026-03-25", monkeypatch=monkeypatch)  # 20%
    deal(p, o, "rep_east", "80000", expected="2026-05-01", monkeypatch=monkeypatch)
    payment(p, o, "rep_east", "10000", "2026-03-20")
    payment(p, o, "rep_east", "5000", "2026-04-01")
    payment(p, o, "rep_shanghai", "6000", "2026-01-31")
    payment(p, o, "rep_north", "8000", "2026-03-20")
    manager = o.actor("manager")
    month = p.records.create(manager, "sales_target", {
        "target_type": "user", "owner_id": o.users["rep_east"], "period_type": "month",
        "year": 2026, "period": 3, "won_amount_target": "100000", "payment_target": "40000",
    })  # fmt: skip
    team = p.records.create(manager, "sales_target", {
        "target_type": "department", "department": o.departments["east"],
        "period_type": "quarter", "year": 2026, "period": 1,
        "won_amount_target": "200000", "payment_target": "0",
    })  # fmt: skip
    return {"month": month["id"], "team": team["id"]}


def test_sfa16_attainment_for_a_rep_and_a_team(
    web_platform: Any, sfa_org: Org, business: dict[str, int]
) -> None:
    manager = sfa_org.actor("manager")
    found = {a.target["id"]: a for a in targets.attainment(web_platform, manager, year=2026)}
    month, team = found[business["month"]], found[business["team"]]
    assert month.target["name"] == "2026-03"
    assert (month.won, month.won_deals, month.won_percent) == (Decimal(50000), 1, Decimal("50.0"))
    assert (month.paid, month.paid_percent) == (Decimal(10000), Decimal("25.0"))
    assert month.forecast == Decimal("20000.00") and month.projected_percent == Decimal("70.0")
    assert team.target["name"] == "2026-Q1"
    assert set(team.people) >= {sfa_org.users["rep_east"], sfa_org.users["rep_shanghai"]}
    assert sfa_org.users["rep_north"] not in team.people
    assert team.won == Decimal(80000) and team.won_percent == Decimal("40.0")
    assert team.paid == Decimal(16000) and team.paid_percent is None  # no payment target
    assert team.forecast == Decimal("20000.00")
    year = targets.period_bounds({"year": 2026, "period_type": "year"})
    assert (year[0].isoformat(), year[1].isoformat()) == ("2026-01-01", "2027-01-01")
    q4 = targets.period_bounds({"year": 2026, "period_type": "quarter", "period": 4})
    assert (q4[0].isoformat(), q4[1].isoformat()) == ("2026-10-01", "2027-01-01")


def test_sfa16_who_sees_which_target_and_input_rules(
    web_platform: Any, sfa_org: Org, business: dict[str, int]
) -> None:
    rep = sfa_org.actor("rep_east")
    seen = [a.target["id"] for a in targets.attainment(web_platform, rep, year=2026)]
    assert seen == [business["month"]]
    assert targets.attainment(web_platform, sfa_org.actor("rep_east2"), year=2026) == []
    with pytest.raises(NotFound):
        targets.attainment(web_platform, rep, target_id=business["team"])
    with pytest.raises(ValidationFailed) as refused:
        web_platform.records.create(sfa_org.actor("manager"), "sales_target", {
            "target_type": "department", "period_type": "quarter", "year": 2026, "period": 5,
        })  # fmt: skip
    found = {e.field: e.code for e in refused.value.field_errors}
    assert found == {"period": "period_range", "department": "required"}
    with pytest.raises(PermissionDenied):  # reps do not set their own targets
        web_platform.records.create(rep, "sales_target", {"target_type": "user",
                                                          "period_type": "year", "year": 2026})  # fmt: skip


def test_sfa16_targets_page(
    web_platform: Any, sfa_org: Org, business: dict[str, int], login: Any
) -> None:
    rep = login("rep_east").get("/sfa/targets?year=2026")
    assert rep.status_code == 200
    assert f'data-target="{business["month"]}"' in rep.text
    assert f'data-target="{business["team"]}"' not in rep.text
    assert "¥50,000.00" in rep.text and "50.0%" in rep.text and "王东" in rep.text
    manager = login("manager").get("/sfa/targets?year=2026")
    assert manager.status_code == 200 and "华东销售部" in manager.text
    assert f'data-target="{business["team"]}"' in manager.text and "¥80,000.00" in manager.text
    assert 'href="/sfa/targets"' in login("rep_east").get("/").text
    assert login("agent").get("/sfa/targets").status_code == 404


def test_sfa16_a_department_target_only_within_ones_own_tree(
    web_platform: Any, sfa_org: Org
) -> None:
    """A department target counts all its people, so a manager may not aim one at another
    department (it would show that department's totals) — review finding."""
    manager = sfa_org.actor("manager")  # manages east and shanghai
    values = {"target_type": "department", "period_type": "year", "year": 2026,
              "won_amount_target": "100000", "payment_target": "0"}  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        web_platform.records.create(manager, "sales_target",
                                    {**values, "department": sfa_org.departments["north"]})  # fmt: skip
    assert {e.field for e in refused.value.errors} == {"department"}
    mine = web_platform.records.create(manager, "sales_target",
                                       {**values, "department": sfa_org.departments["shanghai"]})  # fmt: skip
    assert mine["department"] == sfa_org.departments["shanghai"]
    with pytest.raises(ValidationFailed) as twice:  # one target per department and period
        web_platform.records.create(manager, "sales_target",
                                    {**values, "department": sfa_org.departments["shanghai"]})  # fmt: skip
    assert {e.code for e in twice.value.errors} == {"duplicate"}
