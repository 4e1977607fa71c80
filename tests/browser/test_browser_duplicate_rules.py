"""Duplicate rules on the admin screens, in a real browser (DATA-07, DATA-08, UI-09): the admin
adds a rule through the form, then a sales rep entering a duplicate customer is warned, and
the candidate-group report lists the pair. Headless Chromium against the real `guanxi serve`.

Labels introduced with these screens are matched in Chinese or English (their zh-CN text is
merged into the catalog separately); existing labels are matched in Chinese."""

from __future__ import annotations

import re
import time
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.store.system_tables import dup_rule
from tests.browser.conftest import LiveServer, login

PASSWORD = "Chachong-2024-查重"
INDEX_TIMEOUT = 15.0  # seconds for the rule's keys to be built


def wait_until_indexed(live_server: LiveServer) -> None:
    """The backfill job runs in the server's worker; run due jobs here too, then wait."""
    platform = live_server.platform()
    deadline = time.monotonic() + INDEX_TIMEOUT
    while time.monotonic() < deadline:
        platform.jobs.run_due()
        with platform.db.read() as connection:
            pending = connection.execute(
                sa.select(sa.func.count()).where(dup_rule.c.indexed_at.is_(None))
            ).scalar_one()
        if not pending:
            return
        time.sleep(0.2)
    raise AssertionError("the duplicate rule was not indexed in time")


def test_admin_adds_a_rule_and_a_duplicate_customer_is_warned(
    make_page: Any, live_server: LiveServer
) -> None:
    """DATA-07, UI-09: the admin opens 系统设置 → 重复规则, adds a warn rule on the customer
    name (normalized) through the form; a rep then typing 华为技术（中国）有限公司 is shown the
    existing 华为技术有限公司 with its owner, may save anyway, and the report lists the pair
    with a link to the merge page (DATA-08)."""
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部",
                         display_name="张伟")  # fmt: skip
    rep = identity.actor_for(live_server.platform().db, "rep1")
    first = live_server.platform().records.create(
        rep, "customer", {"name": "华为技术有限公司", "company": "华为", "source": "website"}
    )

    admin_page = make_page()
    login(admin_page, live_server, live_server.admin_username, live_server.admin_password)
    admin_page.locator("nav.nav").get_by_role("link", name="系统设置").click()
    admin_page.get_by_role("link", name=re.compile("重复规则|Duplicate rules")).click()
    expect(admin_page).to_have_url(f"{live_server.url}/admin/duplicates")
    admin_page.locator("[data-new-rule]").click()
    expect(admin_page).to_have_url(f"{live_server.url}/admin/duplicates/new")

    admin_page.locator("#f-name").fill("公司名称相同")
    admin_page.locator("#f-field-1").select_option(label="客户名称")
    admin_page.locator("#f-method-1").select_option("normalized")
    admin_page.locator("#f-action-warn").check()
    expect(admin_page.locator("#f-active")).to_be_checked()
    with admin_page.expect_navigation():
        admin_page.locator("[data-save-rule]").click()
    expect(admin_page).to_have_url(re.compile(r"/admin/duplicates/\d+\?saved=1$"))
    expect(admin_page.get_by_role("status")).to_have_text("已保存")
    rules = live_server.platform().duplicates
    rules.invalidate()  # this process read the (empty) rules < 2 s ago when creating `first`
    (rule,) = [r for r in rules.all() if r.entity == "customer"]  # the SFA plugin's are leads
    assert (rule.name, rule.entity, rule.fields, rule.methods, rule.action) == (
        "公司名称相同", "customer", ("name",), ("normalized",), "warn",
    )  # fmt: skip
    wait_until_indexed(live_server)

    page = make_page()
    login(page, live_server, "rep1", PASSWORD)
    page.goto(f"{live_server.url}/r/customer/new")
    page.get_by_label("客户名称").fill("华为技术（中国）有限公司")
    page.get_by_label("公司名称").fill("华为中国")
    page.get_by_label("线索来源").select_option(label="官网")
    page.get_by_role("button", name="保存", exact=True).click()
    warning = page.locator("[data-duplicates]")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("可能重复的记录")
    match = warning.locator(f'[data-duplicate="customer:{first["id"]}"]')
    expect(match).to_contain_text("华为技术有限公司")
    expect(match).to_contain_text("张伟")
    assert len(live_server.platform().records.query(Actor.system(), "customer").rows) == 1

    page.get_by_label("不是重复，仍然保存").check()
    with page.expect_navigation():
        page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".record-title")).to_have_text("华为技术（中国）有限公司")
    second = re.search(r"/r/customer/(\d+)$", page.url)
    assert second, page.url

    admin_page.goto(f"{live_server.url}/duplicates/report?rule={rule.id}")
    group = admin_page.locator("[data-group]")
    expect(group).to_have_count(1)
    expect(group.locator("[data-member]")).to_have_count(2)
    expect(group).to_contain_text("华为技术有限公司")
    expect(group).to_contain_text("华为技术（中国）有限公司")
    merge = group.locator("[data-merge]")
    expect(merge).to_have_attribute(
        "href", f"/duplicates/merge/customer?ids={first['id']},{second.group(1)}"
    )
