"""SFA screens in a real browser (issue 8): the opportunity kanban with its reason dialog and
the stage conditions that refuse a move (SFA-06, SFA-07), and the lead convert screen with a
refusal that names the missing field and then the conversion (SFA-05). Headless Chromium
against the real `guanxi serve`, which loads the plugin from its entry point."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

import guanxi_sfa
from guanxi.actor import Actor
from guanxi.auth import identity
from tests.browser.conftest import LiveServer, login

PASSWORD = "Haitang-2024-海棠"
WIDE = {"width": 1900, "height": 900}


@pytest.fixture
def sfa_server(live_server: LiveServer, make_platform: Any) -> LiveServer:
    """The live server, with an in-process platform that has the plugin registered too (the
    server itself loads it from its entry point)."""
    live_server._platform = make_platform(plugins=[("guanxi_sfa", guanxi_sfa)])
    return live_server


def _rep(live_server: LiveServer) -> Actor:
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部")
    return identity.actor_for(live_server.platform().db, "rep1")


def _stored(live_server: LiveServer, entity: str, record_id: int) -> dict[str, Any]:
    return dict(live_server.platform().records.get(Actor.system(), entity, record_id))


def test_opportunity_board_asks_a_reason_and_refuses_unmet_conditions(
    make_page: Any, sfa_server: LiveServer
) -> None:
    live_server = sfa_server
    rep = _rep(live_server)
    records = live_server.platform().records
    customer = records.create(rep, "customer", {"name": "林总", "company": "海川环保有限公司",
                                                "source": "website"})  # fmt: skip
    deal = records.create(rep, "opportunity", {
        "name": "海川环保 设备管理系统", "customer": customer["id"], "amount": "200000",
        "expected_close": (date.today() + timedelta(days=30)).isoformat(),
    })  # fmt: skip
    page = make_page(viewport=WIDE)
    login(page, live_server, "rep1", PASSWORD)
    page.goto(f"{live_server.url}/r/opportunity/board")
    column = {code: page.locator(f'.kanban-column[data-stage="{code}"]')
              for code in ("lead", "following", "opportunity")}  # fmt: skip

    def card(stage: str) -> Any:
        return column[stage].get_by_role("article", name="海川环保 设备管理系统")

    expect(card("lead")).to_be_visible()
    title = card("lead").get_by_role("link", name="海川环保 设备管理系统")
    title.drag_to(column["following"].locator("[data-cards]"))  # grabbed by its title
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()  # every move of a deal asks why
    dialog.get_by_label("原因").fill("首次拜访完成")
    dialog.get_by_role("button", name="移动").click()
    toasts = page.locator("#toasts")
    expect(toasts.get_by_role("status").filter(has_text="已转入“线索跟进”")).to_be_visible()
    expect(card("following")).to_be_visible()
    assert _stored(live_server, "opportunity", deal["id"])["stage"] == "following"

    title = card("following").get_by_role("link", name="海川环保 设备管理系统")
    title.drag_to(column["opportunity"].locator("[data-cards]"))
    toast = toasts.get_by_role("alert")  # refused before any reason is asked
    expect(toast).to_contain_text("购买意向")  # the refusal names what is missing
    expect(toast).to_contain_text("预算已确认")
    expect(card("following")).to_be_visible()
    expect(card("opportunity")).to_have_count(0)
    assert _stored(live_server, "opportunity", deal["id"])["stage"] == "following"


def test_convert_screen_names_the_missing_condition_then_converts(
    make_page: Any, sfa_server: LiveServer
) -> None:
    live_server = sfa_server
    rep = _rep(live_server)
    lead = live_server.platform().records.create(rep, "lead", {
        "name": "陈经理", "company": "苏州恒达精密机械有限公司", "mobile": "13712345678",
        "source": "exhibition", "source_detail": "2024春季广交会",
    })  # fmt: skip
    page = make_page()
    login(page, live_server, "rep1", PASSWORD)
    page.goto(f"{live_server.url}/sfa/leads/{lead['id']}/convert")
    form = page.locator("#convert-form")
    form.get_by_label("同时新建商机").check()
    form.get_by_label("商机名称").fill("恒达精密 CRM项目")
    form.get_by_label("金额", exact=True).fill("150000")
    form.get_by_label("预计成交日期").fill((date.today() + timedelta(days=40)).isoformat())
    form.locator('select[name="deal_stage"]').select_option(label="机会创建")
    form.get_by_label("原因").fill("展会后确认需求")
    page.locator("#convert-submit").click()

    errors = page.locator("#convert-errors")
    expect(errors).to_be_visible()
    expect(errors.locator('[data-field="opportunity.budget_confirmed"]')).to_be_visible()
    assert _stored(live_server, "lead", lead["id"])["status"] != "converted"  # nothing written

    form.get_by_label("购买意向").fill("年内上线")
    form.get_by_label("客户预算").fill("150000")
    form.get_by_label("预算已确认").check()
    page.locator("#convert-submit").click()
    expect(page).to_have_url(re.compile(r"/r/customer/\d+"))
    converted = _stored(live_server, "lead", lead["id"])
    assert converted["status"] == "converted" and converted["opportunity"] is not None
    deal = _stored(live_server, "opportunity", converted["opportunity"])
    assert deal["stage"] == "opportunity" and deal["budget_confirmed"] is True
