"""The recycle bin in a real browser (BIN-01, BIN-02): an admin deletes a customer from its
page, finds it under 回收站 with the contact deleted with it, and restores both.
Headless Chromium against the real `guanxi serve`, where the built-in plugin is installed."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from guanxi.actor import Actor
from tests.browser.conftest import LiveServer, login


def test_delete_then_restore_from_the_bin(make_page: Any, live_server: LiveServer) -> None:
    platform = live_server.platform()
    customer = platform.records.create(
        Actor.system(), "customer", {"name": "青松物流", "company": "青松", "source": "website"}
    )
    platform.records.create(Actor.system(), "contact", {"name": "林青", "customer": customer["id"]})
    page = make_page()
    login(page, live_server, live_server.admin_username, live_server.admin_password)
    page.goto(f"{live_server.url}/r/customer/{customer['id']}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("header").get_by_role("button", name="删除").click()
    expect(page).to_have_url(re.compile(r"/r/customer(\?.*)?$"))
    expect(page.get_by_text("青松物流")).to_have_count(0)

    page.locator("nav.nav").get_by_role("link", name="回收站").click()
    page.locator("#bin-entity").select_option("customer")
    page.get_by_role("button", name="显示").click()
    row = page.locator(f'#bin-records tr[data-record="{customer["id"]}"]')
    expect(row).to_contain_text("青松物流")
    expect(row).to_contain_text("1 条相关记录")
    row.get_by_role("checkbox").check()
    page.locator("[data-restore]").click()

    expect(page.locator("#bin-notice")).to_contain_text("已恢复 2 条记录")
    page.goto(f"{live_server.url}/r/customer/{customer['id']}")
    expect(page.locator("h1")).to_contain_text("青松物流")
    expect(page.get_by_text("林青").first).to_be_visible()
