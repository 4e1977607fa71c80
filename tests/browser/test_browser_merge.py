"""Merging two duplicate customers through a real browser (DATA-08, UI-03): tick two rows,
bulk "merge", pick the record to keep and a value, submit, land on the survivor. Headless
Chromium against the real `guanxi serve`, on SQLite or PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from guanxi.actor import Actor
from tests.browser.conftest import LiveServer, login
from tests.browser.test_browser_records import create_customer

PASSWORD = "Hebing-2024-合并"


def test_manager_merges_two_customers_from_the_list(page: Any, live_server: LiveServer) -> None:
    """A sales manager ticks two customers, clicks the bulk merge button (enabled only with
    two or three rows ticked), keeps the newer record, takes the older one's name, submits
    and lands on the kept record showing the chosen name; the other one is gone and its
    contact now belongs to the kept record."""
    live_server.add_user("manager", PASSWORD, "sales_manager", department="华东销售部")
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部")
    older = create_customer(live_server, "rep1", name="苏州园林建材")
    newer = create_customer(live_server, "rep1", name="苏州园林建材有限公司", title="采购总监")
    platform = live_server.platform()
    contact = platform.records.create(
        Actor.system(), "contact", {"name": "王采购", "customer": older["id"]}
    )
    login(page, live_server, "manager", PASSWORD)
    page.goto(f"{live_server.url}/r/customer")

    merge_button = page.locator("button[data-bulk-merge]")
    expect(merge_button).to_be_disabled()
    page.get_by_role("checkbox", name="选择“苏州园林建材”").check()
    expect(merge_button).to_be_disabled()  # one row is not enough
    page.get_by_role("checkbox", name="选择“苏州园林建材有限公司”").check()
    expect(merge_button).to_be_enabled()
    merge_button.click()

    both = "|".join(f"{a},{b}" for a, b in ((older["id"], newer["id"]), (newer["id"], older["id"])))
    expect(page).to_have_url(re.compile(rf"/duplicates/merge/customer\?ids=({both})$"))
    survivor = page.locator("input[name='survivor']")
    expect(survivor.and_(page.locator(f"[value='{older['id']}']"))).to_be_checked()
    # the older record has no job title: the newer one's is chosen by default
    expect(page.locator(f"tr[data-field='title'] input[value='{newer['id']}']")).to_be_checked()

    page.locator(f"input[name='survivor'][value='{newer['id']}']").check()
    expect(page).to_have_url(re.compile(rf"ids=({both})&survivor={newer['id']}$"))
    name_row = page.locator("tr[data-field='name']")
    expect(name_row.locator(f"input[value='{newer['id']}']")).to_be_checked()
    name_row.get_by_text("苏州园林建材", exact=True).click()  # the older record's name
    expect(name_row.locator(f"input[value='{older['id']}']")).to_be_checked()
    page.locator("button[data-merge-submit]").click()

    expect(page).to_have_url(f"{live_server.url}/r/customer/{newer['id']}?notice=merged")
    expect(page.locator(".notice[role=status]")).to_be_visible()
    expect(page.locator(".record-title")).to_have_text("苏州园林建材")
    expect(page.locator("[data-zone=info]")).to_contain_text("采购总监")
    rows = platform.records.query(Actor.system(), "customer", None, limit=10).rows
    assert [(r["id"], r["name"]) for r in rows] == [(newer["id"], "苏州园林建材")]
    moved = platform.records.get(Actor.system(), "contact", contact["id"], log_view=False)
    assert moved["customer"] == newer["id"]
