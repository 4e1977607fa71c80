"""The kanban board, the timeline's follow-ups and reminders, and the admin's live metadata and
field-permission changes, driven in a real browser (UI-06, UI-07, UI-09, UI-12, DATA-16,
DATA-17, CORE-04, PERM-03): headless Chromium against the real `guanxi serve`."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from guanxi.actor import Actor
from guanxi.auth import identity
from tests.browser.conftest import LiveServer, login

PASSWORD = "Haitang-2024-海棠"
WIDE = {"width": 1720, "height": 900}
GRAB = {"x": 4, "y": 4}  # a card's corner, away from its title and its move form


def add_rep(live_server: LiveServer, username: str = "rep1") -> Actor:
    """A sales rep of 华东销售部 who can sign in with PASSWORD; their Actor."""
    live_server.add_user(username, PASSWORD, "sales_rep", department="华东销售部")
    return identity.actor_for(live_server.platform().db, username)


def add_customer(live_server: LiveServer, actor: Actor, name: str, **values: Any) -> int:
    """A customer created (and so owned) by `actor`; its id."""
    data = {"name": name, "company": f"{name}有限公司", "source": "website", **values}
    return int(live_server.platform().records.create(actor, "customer", data)["id"])


def stored(live_server: LiveServer, entity: str, record_id: int) -> dict[str, Any]:
    return dict(live_server.platform().records.get(Actor.system(), entity, record_id))


# -- 1. the kanban board ---------------------------------------------------------------------


def test_rep_moves_cards_on_the_board_by_drag_and_by_keyboard(
    make_page: Any, live_server: LiveServer
) -> None:
    """UI-06, CORE-06: the rep drags a card from 潜在客户 to 流失客户; the board asks for the
    reason, then moves it (counts follow, the stage and its reason are stored). A drag the
    pipeline refuses (商务洽谈 needs industry and expected value) puts the card back and says
    why; the card's "move to" select works without a mouse."""
    rep = add_rep(live_server)
    lost_id = add_customer(live_server, rep, "东海重工")
    stays_id = add_customer(live_server, rep, "北辰机电")
    keyed_id = add_customer(live_server, rep, "浦江电子")
    page = make_page(viewport=WIDE)  # all five columns side by side
    login(page, live_server, "rep1", PASSWORD)
    page.goto(f"{live_server.url}/r/customer/board")

    column = {code: page.locator(f'.kanban-column[data-stage="{code}"]')
              for code in ("potential", "intention", "negotiating", "deal", "lost")}  # fmt: skip

    def card(stage: str, name: str) -> Any:
        return column[stage].get_by_role("article", name=name)

    expect(column["potential"].locator("[data-count]")).to_have_text("3")
    expect(column["lost"].locator("[data-count]")).to_have_text("0")

    # Drag to 流失客户: a reason is required.
    title = card("potential", "东海重工").get_by_role("link", name="东海重工")
    title.drag_to(column["lost"].locator("[data-cards]"))  # grabbed by its title
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("为什么转入“流失客户”？")
    dialog.get_by_label("原因").fill("客户预算取消")
    dialog.get_by_role("button", name="移动").click()
    expect(dialog).to_be_hidden()
    toasts = page.locator("#toasts")
    expect(toasts.get_by_role("status").filter(has_text="已转入“流失客户”")).to_be_visible()
    expect(card("lost", "东海重工")).to_be_visible()
    expect(column["lost"].locator("[data-count]")).to_have_text("1")
    expect(column["potential"].locator("[data-count]")).to_have_text("2")
    expect(card("potential", "东海重工")).to_have_count(0)
    assert stored(live_server, "customer", lost_id)["stage"] == "lost"
    history = live_server.platform().records.stage_history(
        Actor.system(), "customer", lost_id, "stage"
    )
    assert history[-1]["to_stage"] == "lost" and history[-1]["reason"] == "客户预算取消"

    # Drag to 商务洽谈 without industry and expected value: refused, back in its column.
    card("potential", "北辰机电").drag_to(
        column["negotiating"].locator("[data-cards]"), source_position=GRAB
    )
    toast = toasts.get_by_role("alert")
    expect(toast).to_contain_text("行业")
    expect(toast).to_contain_text("预计金额")
    expect(card("potential", "北辰机电")).to_be_visible()
    expect(card("negotiating", "北辰机电")).to_have_count(0)
    expect(column["potential"].locator("[data-count]")).to_have_text("2")
    expect(column["negotiating"].locator("[data-count]")).to_have_text("0")
    expect(column["negotiating"].locator("[data-empty]")).to_be_visible()
    assert stored(live_server, "customer", stays_id)["stage"] == "potential"

    # The keyboard fallback: choose the stage in the card's select and press its button.
    keyed = card("potential", "浦江电子")
    keyed.focus()  # a keyboard user tabs to the card: its "move to…" form shows
    keyed.get_by_label("移动到…").select_option(label="成交客户")
    keyed.get_by_role("button", name="移动").press("Enter")
    expect(card("deal", "浦江电子")).to_be_visible()
    expect(card("deal", "浦江电子")).to_be_focused()  # the keyboard stays with the card
    expect(column["deal"].locator("[data-count]")).to_have_text("1")
    expect(column["potential"].locator("[data-count]")).to_have_text("1")
    expect(column["deal"].locator("[data-empty]")).to_have_count(0)
    expect(toasts.get_by_role("status").filter(has_text="已转入“成交客户”")).to_be_visible()
    assert stored(live_server, "customer", keyed_id)["stage"] == "deal"

    page.reload()  # what the server now says agrees with what the board showed
    expect(card("lost", "东海重工")).to_be_visible()
    expect(card("deal", "浦江电子")).to_be_visible()
    expect(card("potential", "北辰机电")).to_be_visible()
    card("lost", "东海重工").get_by_role("link", name="东海重工").click()  # still a link
    expect(page).to_have_url(f"{live_server.url}/r/customer/{lost_id}")


# -- 2. a follow-up and its reminder ---------------------------------------------------------


def test_follow_up_in_the_timeline_becomes_a_task_and_a_reminder(
    page: Any, live_server: LiveServer
) -> None:
    """DATA-16, DATA-17, UI-07, UI-12: on the customer's page the rep adds a follow-up whose next
    follow-up is already due; the follow-up and its task show in the timeline at once, the home
    page lists the task, the bell counts the reminder and the notification centre opens it."""
    rep = add_rep(live_server)
    customer_id = add_customer(live_server, rep, "东海重工")
    due = (datetime.now() - timedelta(days=1)).replace(hour=9, minute=30)  # due in any zone
    login(page, live_server, "rep1", PASSWORD)
    page.goto(f"{live_server.url}/r/customer/{customer_id}")
    expect(page.locator("header .bell [data-unread]")).to_have_count(0)

    timeline = page.locator("#timeline")
    page.evaluate("window.stillThisPage = true")  # gone if the page reloads
    timeline.get_by_text("添加跟进记录").click()
    form = timeline.locator("form[data-form=followup]")
    form.get_by_label("跟进方式").select_option(label="电话")
    form.get_by_label("沟通内容").fill("介绍了新一代数控机床")
    form.get_by_label("客户反馈").fill("对价格比较敏感")
    form.get_by_label("下一步计划").fill("发送报价单")
    form.get_by_label("下次跟进时间").fill(due.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_role("button", name="保存跟进记录").click()

    expect(timeline.get_by_role("status")).to_have_text("跟进记录已保存")
    followup = timeline.locator("li[data-kind=followup]")
    expect(followup).to_have_count(1)
    expect(followup).to_contain_text("跟进记录 · 电话")
    expect(followup).to_contain_text("介绍了新一代数控机床")
    expect(followup).to_contain_text("对价格比较敏感")
    expect(followup).to_contain_text("发送报价单")
    task_item = timeline.locator("li[data-kind=task]")
    expect(task_item).to_have_count(1)
    expect(task_item).to_contain_text("东海重工：发送报价单")
    assert page.evaluate("window.stillThisPage") is True
    task_id = int(task_item.get_by_role("link").get_attribute("href").rsplit("/", 1)[1])
    task = stored(live_server, "task", task_id)
    assert task["status"] == "todo" and task["customer"] == customer_id
    assert task["owner_id"] == rep.user_id

    page.goto(f"{live_server.url}/")
    my_tasks = page.locator("#my-tasks")
    expect(my_tasks.get_by_role("link", name="东海重工：发送报价单")).to_be_visible()
    bell = page.locator("header a.bell")
    expect(bell.locator("[data-unread]")).to_have_text("1")

    bell.click()
    expect(page).to_have_url(f"{live_server.url}/notifications")
    reminder = page.locator("#notification-list [data-notification]")
    expect(reminder).to_have_count(1)
    expect(reminder).to_contain_text("未读")
    reminder.get_by_role("button", name="提醒：东海重工：发送报价单").click()
    expect(page).to_have_url(f"{live_server.url}/r/task/{task_id}")
    expect(page.locator("h1 .record-title")).to_have_text("东海重工：发送报价单")
    expect(page.locator("header .bell [data-unread]")).to_have_count(0)  # read now


# -- 3. a custom field, live -----------------------------------------------------------------


def test_custom_select_field_added_by_the_admin_is_live_for_a_rep(
    make_page: Any, live_server: LiveServer
) -> None:
    """UI-09, CORE-04: the admin adds a select field with two options to customers in the
    browser; without a restart a rep (another browser) finds it in the new-customer form, in
    the list's filter builder (and can filter by it) and on the saved customer's page."""
    rep = add_rep(live_server)
    admin_page = make_page()
    login(admin_page, live_server, live_server.admin_username, live_server.admin_password)
    rep_page = make_page()
    login(rep_page, live_server, "rep1", PASSWORD)
    rep_page.goto(f"{live_server.url}/r/customer/new")
    expect(rep_page.get_by_role("heading", level=1)).to_be_visible()
    expect(rep_page.get_by_label("合作意向")).to_have_count(0)  # not there yet

    admin_page.goto(f"{live_server.url}/admin/modules/customer")
    admin_page.get_by_role("link", name="添加自定义字段").click()
    admin_page.get_by_label("字段键").fill("intent")
    admin_page.get_by_label("类型").select_option(label="单选")
    options = admin_page.locator("#option-rows")
    expect(options.get_by_label("编码")).to_have_count(1)  # the form grew an options editor
    admin_page.locator("#label_zh").fill("合作意向")  # the options have 中文名称 too
    admin_page.get_by_label("分组").select_option(value="profile")
    options.get_by_label("编码").fill("high")
    options.get_by_label("中文名称").fill("意向强烈")
    admin_page.get_by_role("button", name="+ 添加选项").click()
    options.get_by_label("编码").nth(1).fill("low")
    options.get_by_label("中文名称").nth(1).fill("暂无意向")
    admin_page.get_by_role("button", name="添加字段").click()
    expect(admin_page).to_have_url(f"{live_server.url}/admin/modules/customer#row-cf_intent")
    row = admin_page.locator("#row-cf_intent")
    expect(row).to_contain_text("合作意向")
    expect(row).to_contain_text("单选")
    expect(row).to_contain_text("自定义")

    # Another customer with the other option, arranged after the field exists.
    add_customer(live_server, rep, "北辰机电", cf_intent="low")

    # The rep's new-customer form has it now (same server, no restart).
    rep_page.goto(f"{live_server.url}/r/customer/new")
    rep_page.get_by_label("客户名称").fill("东海重工")
    rep_page.get_by_label("公司名称").fill("东海重工有限公司")
    rep_page.get_by_label("线索来源").select_option(label="官网")
    intent = rep_page.get_by_label("合作意向")
    expect(intent.locator("option")).to_have_text(["— 请选择 —", "意向强烈", "暂无意向"])
    intent.select_option(label="意向强烈")
    rep_page.get_by_role("button", name="保存").click()
    expect(rep_page.locator("h1 .record-title")).to_have_text("东海重工")
    shown = rep_page.locator('.field-item[data-field="cf_intent"]')
    expect(shown).to_contain_text("合作意向")
    expect(shown).to_contain_text("意向强烈")
    by_name = {"field": "name", "op": "eq", "value": "东海重工"}
    created = live_server.platform().records.query(Actor.system(), "customer", by_name).rows
    assert [r["cf_intent"] for r in created] == ["high"]

    # The list's filter builder offers the field; filtering by it keeps the matching customer.
    rep_page.goto(f"{live_server.url}/r/customer")
    listing = rep_page.locator(".list-table")
    expect(listing.get_by_role("link", name="北辰机电")).to_be_visible()
    rep_page.get_by_text("筛选", exact=True).click()
    conditions = rep_page.locator("[data-filter-row]")
    before = conditions.count()
    rep_page.get_by_role("button", name="+ 添加条件").click()
    expect(conditions).to_have_count(before + 1)
    # htmx wires a swapped-in row up after its settle delay (20 ms): wait, as a person would
    expect(rep_page.locator(".htmx-added")).to_have_count(0)
    condition = conditions.nth(before)
    condition.get_by_label("字段").select_option(label="合作意向")
    expect(condition.get_by_label("值")).to_be_visible()
    condition.get_by_label("值").select_option(label="意向强烈")
    rep_page.locator(".filter-builder").get_by_role("button", name="应用").click()
    expect(listing.get_by_role("link", name="东海重工")).to_be_visible()
    expect(listing.get_by_role("link", name="北辰机电")).to_have_count(0)


# -- 4. a field hidden from a role -----------------------------------------------------------


def test_mobile_hidden_from_reps_disappears_everywhere_they_look(
    make_page: Any, live_server: LiveServer
) -> None:
    """PERM-03, UI-09: the admin sets 手机号 (mobile) to hidden for sales reps on the role's
    field levels; the rep then finds it nowhere: not in the list (column, column chooser,
    filter fields, even from a bookmarked list that asked for it), the detail page, the new
    and edit forms, the exported CSV, nor the timeline and history of a mobile change."""
    platform = live_server.platform()
    rep = add_rep(live_server)
    old_mobile, new_mobile = "13812344321", "13900001111"
    customer_id = add_customer(live_server, rep, "东海重工", mobile=old_mobile)
    platform.records.update(rep, "customer", customer_id, {"mobile": new_mobile},
                            version=1, reason="客户换了号码")  # fmt: skip
    platform.records.update(rep, "customer", customer_id, {"title": "采购经理"}, version=2)
    admin = identity.actor_for(platform.db, live_server.admin_username)
    platform.permissions.grant(admin, "sales_rep", "customer", "export", "allow")

    rep_page = make_page()
    login(rep_page, live_server, "rep1", PASSWORD)
    rep_page.goto(f"{live_server.url}/r/customer/{customer_id}")
    expect(rep_page.locator('.field-item[data-field="mobile"]')).to_contain_text(new_mobile)

    admin_page = make_page()
    login(admin_page, live_server, live_server.admin_username, live_server.admin_password)
    admin_page.goto(f"{live_server.url}/admin/roles/sales_rep")
    module = admin_page.locator("#module")
    module.get_by_role("navigation").get_by_role("link", name="客户", exact=True).click()
    expect(module.get_by_role("link", name="客户", exact=True)).to_have_class("active")
    levels = module.locator("table.field-levels")
    expect(levels.get_by_label("手机号: 可编辑")).to_be_checked()
    levels.get_by_label("手机号: 隐藏").check()
    module.get_by_role("button", name="保存客户权限").click()
    expect(admin_page.get_by_role("status")).to_have_text("已保存，共应用 1 处修改")
    levels = admin_page.locator("#module table.field-levels")  # the page as saved
    expect(levels.get_by_label("手机号: 隐藏")).to_be_checked()

    # The list: no column, nothing to choose in the column chooser or the filter builder.
    for url in ("/r/customer", "/r/customer?cols=name,mobile,company"):
        rep_page.goto(live_server.url + url)
        listing = rep_page.locator(".list-table")
        expect(listing.get_by_role("link", name="东海重工")).to_be_visible()
        expect(listing.locator('th[data-column="mobile"]')).to_have_count(0)
        expect(listing).not_to_contain_text(new_mobile)
        expect(listing.locator("thead")).not_to_contain_text("手机号")
    rep_page.get_by_text("显示列", exact=True).click()
    chooser = rep_page.locator("form.column-chooser")
    expect(chooser.get_by_label("客户名称")).to_be_visible()
    expect(chooser.get_by_label("手机号")).to_have_count(0)
    rep_page.get_by_text("筛选", exact=True).click()
    field_choice = rep_page.locator("[data-filter-row]").first.get_by_label("字段")
    expect(field_choice.locator("option", has_text="客户名称")).to_have_count(1)
    expect(field_choice.locator("option", has_text="手机号")).to_have_count(0)

    # The export: download it through the list's link and read it.
    with rep_page.expect_download() as download_info:
        rep_page.get_by_role("link", name="导出 CSV").click()
    exported = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    assert "东海重工" in exported and "客户名称" in exported
    assert "手机号" not in exported and new_mobile not in exported and old_mobile not in exported

    # The detail page, its timeline and history panel.
    rep_page.goto(f"{live_server.url}/r/customer/{customer_id}")
    expect(rep_page.locator(".field-list").first).to_be_visible()
    expect(rep_page.locator('.field-item[data-field="title"]')).to_contain_text("采购经理")
    timeline = rep_page.locator("#timeline")
    expect(timeline.locator("li[data-kind=change]").first).to_be_visible()
    expect(timeline).to_contain_text("采购经理")  # the title change is there
    history = rep_page.locator("#history")
    expect(history).to_contain_text("采购经理")
    expect(rep_page.locator('.field-item[data-field="mobile"]')).to_have_count(0)
    for shown in (rep_page.locator("main"), timeline, history):
        expect(shown).not_to_contain_text("手机号")
        expect(shown).not_to_contain_text(new_mobile)
        expect(shown).not_to_contain_text(old_mobile)
    assert new_mobile not in rep_page.content() and old_mobile not in rep_page.content()

    # The new and edit forms.
    for url in ("/r/customer/new", f"/r/customer/{customer_id}/edit"):
        rep_page.goto(live_server.url + url)
        expect(rep_page.get_by_label("客户名称")).to_be_visible()
        expect(rep_page.get_by_label("手机号")).to_have_count(0)
        expect(rep_page.locator("main")).not_to_contain_text("手机号")
        assert new_mobile not in rep_page.content()
    assert stored(live_server, "customer", customer_id)["mobile"] == new_mobile  # kept
