"""Customer records through a real browser (UI-02, UI-03, UI-05, UI-10, UI-11, DATA-01, DATA-02):
the create form with its in-place errors, inline edit of one field, the list's filter builder,
sort editor, saved views and history, bulk assign, the language switch and a phone-width
screen. Headless Chromium against the real `guanxi serve`, on SQLite or PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from playwright.sync_api import expect

from guanxi.actor import Actor
from guanxi.auth import identity
from tests.browser.conftest import LiveServer, login

PASSWORD = "Xiaoshou-2024-销售"
PHONE = {"width": 375, "height": 812}


# -- helpers ----------------------------------------------------------------------------------


def customers(live_server: LiveServer) -> list[dict[str, Any]]:
    """Every stored customer, as the system sees them."""
    platform = live_server.platform()
    return list(platform.records.query(Actor.system(), "customer", None, limit=500).rows)


def create_customer(live_server: LiveServer, username: str, **values: Any) -> dict[str, Any]:
    platform = live_server.platform()
    actor = identity.actor_for(platform.db, username)
    data = {"company": f"{values['name']}公司", "source": "website", **values}
    return dict(platform.records.create(actor, "customer", data))


def set_created_at(live_server: LiveServer, record_id: int, moment: datetime) -> None:
    """Back-date a record (created_at is the platform's to set, so arrange it in the table)."""
    platform = live_server.platform()
    table = platform.registry.snapshot().tables["customer"]
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(table).where(table.c.id == record_id).values(created_at=moment)
        )


def row_titles(page: Any) -> Any:
    """The record links of the list table, in table order."""
    return page.locator("table.list-table tbody tr .record-link")


def overflow(page: Any) -> int:
    """CSS pixels the document is wider than the viewport (0: no horizontal page scroll)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    return max(0, int(width) - page.viewport_size["width"])


# -- 1. create a customer ----------------------------------------------------------------------


def test_rep_creates_a_customer_with_errors_shown_in_place(
    page: Any, live_server: LiveServer
) -> None:
    """DATA-01, UI-05, UI-01: a sales rep opens 客户 from the navigation and clicks 新建; saving
    the empty form shows every required field's error next to it (zh-CN) and stores nothing;
    filled in (name, company, source select) it saves and lands on the new record's page."""
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部")
    login(page, live_server, "rep1", PASSWORD)

    page.locator("nav.nav").get_by_role("link", name="客户", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/r/customer")
    expect(page.get_by_role("heading", level=1)).to_have_text("客户")
    page.get_by_role("link", name="新建", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/r/customer/new")

    page.get_by_role("button", name="保存", exact=True).click()
    for key, label in (("name", "客户名称"), ("company", "公司名称"), ("source", "线索来源")):
        row = page.locator(f".form-row[data-field='{key}']")
        expect(row).to_have_class(re.compile(r"\bhas-error\b"))
        expect(row.locator(".field-error")).to_have_text(f"{label}为必填项")
        expect(row.locator(f"#f-{key}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_have_count(3)
    assert customers(live_server) == []

    page.get_by_label("客户名称").fill("宁波海曙纺织")
    page.get_by_label("公司名称").fill("宁波海曙纺织有限公司")
    page.get_by_label("线索来源").select_option(label="展会")
    page.get_by_label("职位").fill("采购总监")
    with page.expect_navigation():
        page.get_by_role("button", name="保存", exact=True).click()

    (stored,) = customers(live_server)
    assert (stored["name"], stored["company"], stored["source"], stored["title"]) == (
        "宁波海曙纺织", "宁波海曙纺织有限公司", "exhibition", "采购总监",
    )  # fmt: skip
    expect(page).to_have_url(f"{live_server.url}/r/customer/{stored['id']}")
    expect(page.locator(".record-title")).to_have_text("宁波海曙纺织")
    expect(page.locator("#fi-company .field-value")).to_have_text("宁波海曙纺织有限公司")
    expect(page.locator("#fi-source .field-value")).to_have_text("展会")
    expect(page.locator("#fi-title .field-value")).to_have_text("采购总监")
    expect(page.locator("#fi-owner_id .field-value")).to_have_text("rep1")


# -- 2. inline edit ----------------------------------------------------------------------------


def test_inline_edit_swaps_one_field_and_shows_errors_in_place(
    page: Any, live_server: LiveServer
) -> None:
    """DATA-02, UI-04: on the detail page the ✎ of 职位 (shown on hover) opens an input in
    place; saving swaps only that field (no reload: a marker on window survives, the
    neighbouring field is the same element) and stores it. The ✎ of 邮箱, reached with the
    keyboard, opens its input; an invalid e-mail shows its error in place and is not stored."""
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部")
    record = create_customer(live_server, "rep1", name="杭州西子电梯", title="采购经理")
    login(page, live_server, "rep1", PASSWORD)
    page.goto(f"{live_server.url}/r/customer/{record['id']}")
    expect(page.locator("#fi-title .field-value")).to_have_text("采购经理")
    page.evaluate("window.__noReload = true")
    page.locator("#fi-name").evaluate("node => node.setAttribute('data-marker', 'kept')")

    page.locator("#fi-title").hover()  # the ✎ shows on hover (and on keyboard focus)
    page.get_by_role("button", name="编辑职位").click()
    editor = page.locator("#fi-title.editing")
    expect(editor.locator("input#i-f-title")).to_have_value("采购经理")
    editor.locator("input#i-f-title").fill("采购副总裁")
    editor.get_by_role("button", name="保存", exact=True).click()

    expect(page.locator("#fi-title .field-value")).to_have_text("采购副总裁")
    expect(page.locator("#fi-title.editing")).to_have_count(0)
    assert page.evaluate("window.__noReload") is True
    expect(page.locator("#fi-name")).to_have_attribute("data-marker", "kept")
    expect(page.locator("#fi-name .field-value")).to_have_text("杭州西子电梯")
    stored = live_server.platform().records.get(Actor.system(), "customer", record["id"])
    assert stored["title"] == "采购副总裁"

    edit_email = page.get_by_role("button", name="编辑邮箱")
    edit_email.focus()  # the keyboard way: focus the ✎ and press Enter
    expect(edit_email).to_be_focused()
    expect(edit_email).to_have_css("opacity", "1")
    page.keyboard.press("Enter")
    page.locator("#fi-email input#i-f-email").fill("not-an-email")
    page.locator("#fi-email").get_by_role("button", name="保存", exact=True).click()
    error = page.locator("#fi-email .field-error")
    expect(error).to_contain_text("必须是邮箱地址")
    expect(page.locator("#fi-email input#i-f-email")).to_have_value("not-an-email")
    expect(page.locator("#fi-email input#i-f-email")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("window.__noReload") is True
    stored = live_server.platform().records.get(Actor.system(), "customer", record["id"])
    assert stored["email"] is None and stored["title"] == "采购副总裁"

    page.locator("#fi-email").get_by_role("button", name="取消", exact=True).click()
    expect(page.locator("#fi-email.editing")).to_have_count(0)
    expect(page.locator("#fi-email .field-value")).to_have_text("—")


# -- 3. list: filter builder, sort editor, saved view, URL state, back button ------------------


# name, region, level, created_at (04:00 UTC: noon in Shanghai, well inside the local day)
LIST_DATA = [
    ("客户01", "east", "A", datetime(2024, 3, 5, 4)),
    ("客户02", "east", "S", datetime(2024, 3, 10, 4)),
    ("客户03", "north", "S", datetime(2024, 3, 12, 4)),
    ("客户04", "north", "B", datetime(2024, 3, 15, 4)),
    ("客户05", "east", "A", datetime(2024, 2, 20, 4)),
    ("客户06", "south", "S", datetime(2024, 3, 20, 4)),
    ("客户07", "east", "S", datetime(2024, 3, 25, 4)),
    ("客户08", "east", "B", datetime(2024, 4, 2, 4)),
]
# Older customers outside the date range: enough for a second page of 20 in "all records".
FILLERS = [(f"旧客户{day:02d}", "north", "B", datetime(2023, 6, day, 4)) for day in range(1, 16)]


def expected_rows() -> list[str]:
    """March 2024 AND (region east OR level S), by region ↑, level ↓ (codes), name ↑."""
    matching = [
        (name, region, level)
        for name, region, level, created in LIST_DATA
        if datetime(2024, 3, 1) <= created <= datetime(2024, 3, 31, 23, 59)
        and (region == "east" or level == "S")
    ]
    by_name = sorted(matching, key=lambda row: row[0])
    by_level = sorted(by_name, key=lambda row: row[2], reverse=True)
    return [name for name, _region, _level in sorted(by_level, key=lambda row: row[1])]


def settled(page: Any) -> None:
    """Wait until htmx has wired up what it swapped in: new content carries `htmx-added`
    for the settle delay (20 ms), before its hx-* attributes listen; a person is slower."""
    expect(page.locator(".htmx-added")).to_have_count(0)


def redraw(row: Any, select: str, option: str, *, then: str) -> None:
    """Choose an option (by its text) in a builder row's select; the row is redrawn with the
    control labelled `then` (the field's operators, or the operator's value inputs)."""
    row.get_by_label(select, exact=True).select_option(label=option)
    expect(row.get_by_label(then, exact=True).first).to_be_visible()
    settled(row.page)


def test_list_filter_sort_saved_view_url_state_and_back_button(
    page: Any, live_server: LiveServer
) -> None:
    """UI-02: with eight customers, the filter builder combines a created_at date range AND a
    group "any of" (region east, level S); the sort editor sorts on three levels; the table
    shows exactly the expected rows in order. The URL holds the state (a new page opened on it
    shows the same rows); a header click re-sorts and the back button restores the previous
    order, with the sort editor and builder showing it. Saved as a personal view, it shows in
    the views list and applies when clicked. All records at 20 a page: next page, then back
    twice walks the pages back. A record opened from the view walks its order (UI-04)."""
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部")
    for name, region, level, created in LIST_DATA + FILLERS:
        record = create_customer(live_server, "rep1", name=name, region=region, level=level)
        set_created_at(live_server, record["id"], created)
    expected = expected_rows()
    assert expected == ["客户02", "客户07", "客户01", "客户03", "客户06"]
    login(page, live_server, "rep1", PASSWORD)
    page.goto(f"{live_server.url}/r/customer")
    expect(row_titles(page)).to_have_count(23)

    # The filter builder: created_at between 1 and 31 March ...
    page.locator("summary", has_text="筛选").click()
    builder = page.locator("form.filter-builder")
    first = builder.locator("#filter-rows [data-filter-row]").first
    redraw(first, "字段", "创建时间", then="条件")
    redraw(first, "条件", "介于", then="开始")
    first.get_by_label("开始", exact=True).fill("2024-03-01")
    first.get_by_label("结束", exact=True).fill("2024-03-31")
    # ... and a group: region is east OR level is S.
    builder.get_by_role("button", name="+ 添加组").click()
    group = builder.locator("[data-filter-group]")
    expect(group).to_have_count(1)
    settled(page)
    expect(group.get_by_label("条件组", exact=True)).to_have_value("or")
    in_group = group.locator("[data-filter-row]")
    redraw(in_group.first, "字段", "地区", then="值")
    in_group.first.get_by_label("值", exact=True).select_option(label="华东")
    group.get_by_role("button", name="+ 添加条件").click()
    expect(in_group).to_have_count(2)
    settled(page)
    redraw(in_group.nth(1), "字段", "客户等级", then="值")
    in_group.nth(1).get_by_label("值", exact=True).select_option(value="S")
    builder.get_by_label("记录需满足").select_option(label="全部条件")
    builder.get_by_role("button", name="应用").click()
    expect(row_titles(page)).to_have_count(len(expected))
    assert sorted(row_titles(page).all_inner_texts()) == sorted(expected)

    # Show the region and level columns, then sort: region ↑, level ↓, name ↑.
    page.locator("summary", has_text="显示列").click()
    chooser = page.locator("form.column-chooser")
    chooser.get_by_label("地区", exact=True).check()
    chooser.get_by_label("客户等级", exact=True).check()
    chooser.get_by_role("button", name="应用").click()
    expect(page.locator("th[data-column='level']")).to_have_text("客户等级")
    expect(row_titles(page)).to_have_count(len(expected))  # the filter stays
    page.locator("summary", has_text="排序").click()
    editor = page.locator("form.sort-editor")
    for level, (label, direction) in enumerate(
        (("地区", "升序"), ("客户等级", "降序"), ("客户名称", "升序")), start=1
    ):
        editor.get_by_label(f"第 {level} 级排序").select_option(label=label)
        editor.locator(".sort-level").nth(level - 1).get_by_label("排序方向").select_option(
            label=direction
        )
    editor.get_by_role("button", name="应用").click()
    expect(page.locator("th[data-column='region'] .sort-indicator")).to_have_text("↑1")
    expect(page.locator("th[data-column='level'] .sort-indicator")).to_have_text("↓2")
    expect(page.locator("th[data-column='name'] .sort-indicator")).to_have_text("↑3")
    expect(row_titles(page)).to_have_text(expected)
    sorted_url = page.url

    # The URL is the state: a new page on it shows the same rows.
    other = page.context.new_page()
    other.goto(sorted_url)
    expect(row_titles(other)).to_have_text(expected)
    other.close()

    # A header click sorts by name alone (an htmx swap that pushes the URL); back restores.
    page.locator("th[data-column='name']").get_by_role("link").click()
    expect(row_titles(page)).to_have_text(sorted(expected))
    expect(page).not_to_have_url(sorted_url)
    page.go_back()
    expect(page).to_have_url(sorted_url)
    expect(row_titles(page)).to_have_text(expected)
    expect(page.locator("th[data-column='level'] .sort-indicator")).to_have_text("↓2")
    # The restored page's panels show its state: the sort levels and the builder's rows.
    page.locator("summary", has_text="排序").click()
    editor = page.locator("form.sort-editor")
    for level, key in enumerate(("region", "level", "name"), start=1):
        expect(editor.get_by_label(f"第 {level} 级排序")).to_have_value(key)
    page.locator("summary", has_text="排序").click()
    page.locator("summary", has_text="筛选").click()
    first = page.locator("form.filter-builder #filter-rows [data-filter-row]").first
    expect(first.get_by_label("字段", exact=True)).to_have_value("created_at")
    expect(first.get_by_label("开始", exact=True)).to_have_value("2024-03-01")
    expect(first.get_by_label("结束", exact=True)).to_have_value("2024-03-31")
    in_group = page.locator("form.filter-builder [data-filter-group] [data-filter-row]")
    expect(in_group).to_have_count(2)
    expect(in_group.nth(0).get_by_label("字段", exact=True)).to_have_value("region")
    expect(in_group.nth(0).get_by_label("值", exact=True)).to_have_value("east")
    expect(in_group.nth(1).get_by_label("字段", exact=True)).to_have_value("level")
    expect(in_group.nth(1).get_by_label("值", exact=True)).to_have_value("S")
    page.locator("summary", has_text="筛选").click()

    # Save it as a personal view; it is listed, and applies when clicked.
    page.locator("summary", has_text="视图").click()
    page.get_by_label("将当前视图另存为").fill("三月重点客户")
    page.get_by_role("button", name="保存视图").click()
    views = page.get_by_role("navigation", name="视图", exact=True)
    view_tab = views.get_by_role("link", name="三月重点客户")
    expect(view_tab).to_have_class(re.compile(r"\bactive\b"))
    expect(row_titles(page)).to_have_text(expected)
    stored = live_server.platform()
    (saved,) = [v for v in _views(stored, "rep1") if v["name"] == "三月重点客户"]
    assert saved["shared"] is False

    # All records, 20 a page: the next page holds the three oldest; back walks the pages back.
    views.get_by_role("link", name="全部记录").click()
    expect(page).to_have_url(f"{live_server.url}/r/customer")
    expect(row_titles(page)).to_have_count(23)
    page.get_by_role("group", name="每页条数").get_by_role("link", name="20").click()
    expect(page).to_have_url(f"{live_server.url}/r/customer?n=20")
    expect(row_titles(page)).to_have_count(20)
    page.get_by_role("link", name="下一页").click()
    expect(row_titles(page)).to_have_text(["旧客户03", "旧客户02", "旧客户01"])
    expect(page).to_have_url(re.compile(r"/r/customer\?n=20&after="))
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/r/customer?n=20")
    expect(row_titles(page)).to_have_count(20)
    expect(row_titles(page).first).to_have_text("客户08")
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/r/customer")
    expect(row_titles(page)).to_have_count(23)
    views.get_by_role("link", name="三月重点客户").click()
    expect(page).to_have_url(re.compile(r"/r/customer\?view=\d+$"))
    expect(row_titles(page)).to_have_text(expected)

    # A record opened from the list walks the list's order with previous / next (UI-04).
    page.get_by_role("link", name=expected[1], exact=True).click()
    expect(page.locator(".record-title")).to_have_text(expected[1])
    page.locator("[data-next]").click()
    expect(page.locator(".record-title")).to_have_text(expected[2])
    page.locator("[data-previous]").click()
    page.locator("[data-previous]").click()
    expect(page.locator(".record-title")).to_have_text(expected[0])
    expect(page.locator("[data-previous]")).to_have_count(0)  # the first row
    page.locator("[data-back-to-list]").click()
    expect(row_titles(page)).to_have_text(expected)


def _views(platform: Any, username: str) -> list[dict[str, Any]]:
    from guanxi.web import saved_views

    actor = identity.actor_for(platform.db, username)
    return [
        {"name": v.name, "shared": v.shared}
        for v in saved_views.list_views(platform, actor, "customer")
    ]


# -- 4. bulk assign -----------------------------------------------------------------------------


def test_manager_bulk_assigns_two_customers_to_another_rep(
    page: Any, live_server: LiveServer
) -> None:
    """UI-03, PERM-05: a sales manager ticks two rows, opens 分配负责人, picks another rep in
    the user picker and assigns; the result message shows, the two rows show the new owner,
    the third keeps its owner, and the stored owner_id changed."""
    live_server.add_user("manager", PASSWORD, "sales_manager", department="华东销售部")
    rep1 = live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部",
                                display_name="张伟")  # fmt: skip
    rep2 = live_server.add_user("rep2", PASSWORD, "sales_rep", department="华东销售部",
                                display_name="李娜")  # fmt: skip
    ids = [create_customer(live_server, "rep1", name=name)["id"]
           for name in ("苏州园林建材", "无锡太湖物流", "常州恐龙文旅")]  # fmt: skip
    login(page, live_server, "manager", PASSWORD)
    page.goto(f"{live_server.url}/r/customer")
    expect(row_titles(page)).to_have_count(3)

    page.get_by_role("checkbox", name="选择“苏州园林建材”").check()
    page.get_by_role("checkbox", name="选择“无锡太湖物流”").check()
    expect(page.locator("[data-selected-count] strong")).to_have_text("2")
    page.locator("summary", has_text="分配负责人").click()
    picker = page.get_by_label("新负责人")
    picker.fill("李")
    page.get_by_role("option", name="李娜").click()
    expect(picker).to_have_value("李娜")
    page.get_by_role("button", name="分配", exact=True).click()

    expect(page.locator("#list-notice")).to_have_text("已更新 2 条")
    expect(page.locator("[data-selected-count] strong")).to_have_text("0")
    expect(page.get_by_role("checkbox", name="选择“苏州园林建材”")).not_to_be_checked()
    for name, owner in (
        ("苏州园林建材", "李娜"),
        ("无锡太湖物流", "李娜"),
        ("常州恐龙文旅", "张伟"),
    ):
        row = page.locator("tbody tr", has=page.get_by_role("link", name=name, exact=True))
        expect(row.locator("td").nth(_column_index(page, "owner_id"))).to_have_text(owner)
    owners = {c["id"]: c["owner_id"] for c in customers(live_server)}
    assert owners == {ids[0]: rep2, ids[1]: rep2, ids[2]: rep1}


def _column_index(page: Any, key: str) -> int:
    """The <td> index of a column (the select box is the first cell)."""
    keys = page.locator("table.list-table thead th").evaluate_all(
        "cells => cells.map(cell => cell.getAttribute('data-column'))"
    )
    return keys.index(key)


# -- 5. language switch --------------------------------------------------------------------------


def test_language_switch_to_english_persists_and_switches_back(
    page: Any, make_page: Any, live_server: LiveServer
) -> None:
    """UI-11: the top bar's English switch turns the screens English (navigation "Customer",
    the list's "New" button) and stays on the list as it was (also after an htmx re-sort);
    the choice is the user's, so it holds after a reload and after a fresh sign-in in another
    browser; 中文 switches back."""
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部")
    login(page, live_server, "rep1", PASSWORD)
    create_customer(live_server, "rep1", name="温州瓯江鞋业")
    page.goto(f"{live_server.url}/r/customer")
    nav = page.locator("nav.nav")
    expect(nav.locator("[data-module='customer']")).to_have_text("客户")
    # Sort by name with a header click: htmx swaps the list and pushes the new URL.
    page.locator("th[data-column='name']").get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/r/customer?sort=name")

    page.get_by_role("button", name="English").click()
    expect(page).to_have_url(f"{live_server.url}/r/customer?sort=name")  # the list as it was
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(nav.get_by_role("link", name="Customer", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Home", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="New", exact=True)).to_be_visible()
    expect(page.locator("summary", has_text="Filter")).to_be_visible()
    expect(page.get_by_role("button", name="中文")).to_be_visible()

    page.reload()
    expect(nav.get_by_role("link", name="Customer", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="New", exact=True)).to_be_visible()

    fresh = make_page()  # another browser context, Accept-Language zh-CN, no cookies
    login(fresh, live_server, "rep1", PASSWORD)
    expect(fresh.locator("html")).to_have_attribute("lang", "en")
    expect(
        fresh.locator("nav.nav").get_by_role("link", name="Customer", exact=True)
    ).to_be_visible()

    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(nav.get_by_role("link", name="客户", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="新建", exact=True)).to_be_visible()
    fresh.reload()
    expect(fresh.locator("nav.nav").get_by_role("link", name="客户", exact=True)).to_be_visible()


# -- 6. phone width ------------------------------------------------------------------------------


def test_list_detail_and_form_fit_a_phone_and_the_menu_opens(
    make_page: Any, live_server: LiveServer
) -> None:
    """UI-10: at 375×812 the customer list, a detail page and the new-customer form have no
    horizontal page scroll (the table scrolls inside its own container), and the menu button
    opens the navigation."""
    live_server.add_user("rep1", PASSWORD, "sales_rep", department="华东销售部")
    record = create_customer(
        live_server, "rep1", name="深圳南山前海跨境电商供应链管理有限公司",
        title="供应链与跨境物流事业部高级采购总监", email="buyer@example.com",
    )  # fmt: skip
    page = make_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(page, live_server, "rep1", PASSWORD)

    page.goto(f"{live_server.url}/r/customer")
    expect(row_titles(page)).to_have_count(1)
    assert overflow(page) == 0
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("node => getComputedStyle(node).overflowX") in ("auto", "scroll")

    # The toolbar's panels and the bulk bar fit too, once opened.
    page.locator("summary", has_text="筛选").click()
    expect(page.locator("form.filter-builder")).to_be_visible()
    assert overflow(page) == 0
    page.locator("summary", has_text="筛选").click()
    page.locator("summary", has_text="排序").click()
    expect(page.locator("form.sort-editor")).to_be_visible()
    assert overflow(page) == 0
    page.locator("summary", has_text="排序").click()
    page.get_by_role("checkbox", name=f"选择“{record['name']}”").check()
    expect(page.locator("[data-selected-count] strong")).to_have_text("1")
    assert overflow(page) == 0

    nav_link = page.locator("nav.nav").get_by_role("link", name="客户", exact=True)
    expect(nav_link).not_to_be_in_viewport()
    menu = page.get_by_role("button", name="菜单")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav_link).to_be_in_viewport()
    nav_link.click()
    expect(page).to_have_url(f"{live_server.url}/r/customer")

    page.goto(f"{live_server.url}/r/customer/{record['id']}")
    expect(page.locator(".record-title")).to_have_text(record["name"])
    expect(page.locator("#history li").first).to_be_visible()
    assert overflow(page) == 0

    page.goto(f"{live_server.url}/r/customer/new")
    expect(page.get_by_label("客户名称")).to_be_visible()
    assert overflow(page) == 0
    page.get_by_role("button", name="保存", exact=True).click()  # the errors must fit too
    expect(page.locator(".field-error")).to_have_count(3)
    assert overflow(page) == 0
