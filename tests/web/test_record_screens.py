"""Record screens over HTTP (UI-04, UI-05, DATA-02, DATA-03, DATA-04, DATA-05): forms with
per-field errors, the detail page's four zones, inline edit, conflicts, copy, lock, delete,
related lists, history and previous/next — every write checked through the service."""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.auth.passwords import hash_password
from guanxi.store.system_tables import user
from tests.org import NAMES, REMARK

XSS = "<script>alert(1)</script>"


def form_of(customer: dict) -> list[tuple[str, str]]:
    """A customer form as the browser posts it: every rendered field is declared."""
    pairs = []
    for key, value in customer.items():
        pairs.append(("_fields", key))
        pairs.append((key, value))
    return pairs


def names(web_platform, entity: str, **equal) -> list[str]:
    filters = [{"field": k, "op": "eq", "value": v} for k, v in equal.items()]
    page = web_platform.records.query(Actor.system(), entity, filters, limit=100)
    return [row["name"] for row in page.rows]


# -- create (UI-05) ---------------------------------------------------------------------------


def test_create_shows_every_field_error_at_once_then_saves(org, login, web_platform):
    """UI-05: all errors per field, typed values kept, 422, nothing stored; then fixed."""
    rep = login("rep_east")
    form = rep.get("/r/customer/new")
    assert form.status_code == 200
    assert 'name="name"' in form.text and 'class="required"' in form.text
    assert 'name="remarks"' not in form.text  # hidden from sales reps (PERM-03)
    assert "Basics" in form.text or "基本信息" in form.text  # layout sections
    bad = rep.post(
        "/r/customer/new",
        form_of({"name": "新客户甲", "company": "", "source": "", "email": "not-an-email"}),
    )
    assert bad.status_code == 422
    for key in ("company", "source", "email"):
        assert f'id="err-{key}"' in bad.text, key
    assert 'value="新客户甲"' in bad.text and 'value="not-an-email"' in bad.text
    assert "新客户甲" not in names(web_platform, "customer")
    good = rep.post(
        "/r/customer/new",
        form_of({"name": "新客户甲", "company": "甲公司", "source": "website", "email": ""}),
    )
    assert good.status_code == 303
    new_id = int(good.headers["location"].rsplit("/", 1)[1])
    stored = org.stored("customer", new_id)
    assert stored["name"] == "新客户甲" and stored["owner_id"] == org.users["rep_east"]
    assert stored["stage"] == "potential"  # the field's default applied to an empty control


def test_new_form_is_prefilled_from_query_and_goes_to_next(org, login, web_platform):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    url = f"/r/contact/new?customer={customer_id}&name=张三&next=/r/customer/{customer_id}"
    form = rep.get(url)
    assert form.status_code == 200
    assert f'name="customer" value="{customer_id}"' in form.text
    assert NAMES["east"] in form.text  # the picker shows the customer's title
    assert 'value="张三"' in form.text
    assert f'name="next" value="/r/customer/{customer_id}"' in form.text
    saved = rep.post(
        "/r/contact/new",
        [("_fields", "name"), ("name", "张三"), ("_fields", "customer"),
         ("customer", str(customer_id)), ("next", f"/r/customer/{customer_id}")],
    )  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == f"/r/customer/{customer_id}"
    assert "张三" in names(web_platform, "contact", customer=customer_id)
    # An outside `next` is never followed (no open redirect).
    other = rep.post(
        "/r/contact/new",
        [("_fields", "name"), ("name", "李四"), ("_fields", "customer"),
         ("customer", str(customer_id)), ("next", "//evil.example/x")],
    )  # fmt: skip
    assert other.status_code == 303 and other.headers["location"].startswith("/r/contact/")


def test_new_form_in_modal_for_htmx(org, login):
    """UI-04 inline add: the related panel's "Add" loads the form as a modal fragment."""
    rep = login("rep_east")
    fragment = rep.htmx_get(f"/r/contact/new?customer={org.customers['east']}&next=/")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'hx-target="#modal-body"' in fragment.text


def test_agent_without_create_permission_gets_403(org, login):
    agent = login("agent")
    assert agent.get("/r/customer/new").status_code == 403
    answer = agent.post(
        "/r/customer/new", form_of({"name": "x", "company": "y", "source": "website"})
    )
    assert answer.status_code == 403


def test_unknown_module_is_404(org, login):
    assert login("rep_east").get("/r/nosuchthing/1").status_code == 404


# -- detail (UI-04) ---------------------------------------------------------------------------


def test_detail_shows_four_zones_and_hides_remarks_from_rep(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    page = rep.get(f"/r/customer/{customer_id}")
    assert page.status_code == 200
    for zone in ("edit", "info", "related", "action"):
        assert f'data-zone="{zone}"' in page.text, zone
    assert NAMES["east"] in page.text
    assert REMARK not in page.text and 'data-field="remarks"' not in page.text  # PERM-03
    assert (
        f'href="/r/customer/{customer_id}/edit?next=%2Fr%2Fcustomer%2F{customer_id}"' in page.text
    )
    assert f'href="/r/customer/{customer_id}/copy"' in page.text
    assert f'action="/r/customer/{customer_id}/delete"' in page.text
    assert f'hx-get="/r/customer/{customer_id}/field/name/edit"' in page.text
    assert f'hx-get="/r/customer/{customer_id}/related/contact/customer"' in page.text
    assert f'hx-get="/r/customer/{customer_id}/timeline"' in page.text
    assert f'hx-get="/r/customer/{customer_id}/history"' in page.text
    assert f"/r/contact/new?customer={customer_id}" in page.text  # relation action
    assert f'action="/r/customer/{customer_id}/lock"' in page.text


def test_detail_masks_mobile_for_agent_and_offers_no_edit(org, login):
    agent = login("agent")
    page = agent.get(f"/r/customer/{org.customers['east']}")
    assert page.status_code == 200
    assert "13812344321" not in page.text
    assert "138****4321" in page.text and 'class="masked"' in page.text
    assert "/field/name/edit" not in page.text and "data-edit" not in page.text  # no edit right
    assert "/r/contact/new?" not in page.text  # agents cannot create contacts
    assert "/r/followup/new?" in page.text  # ... but may add follow-ups


def test_module_actions_from_plugins_appear_with_csrf(org, login, web_platform):
    class PoolPlugin:
        from guanxi.hookspecs import hookimpl

        @hookimpl
        def record_actions(self, platform, actor, entity, record):
            if entity.name == "customer":
                return [{"label": {"zh-CN": "移入公海", "en": "Move to pool"},
                         "href": f"/sfa/pool/{record['id']}", "method": "post",
                         "confirm": {"zh-CN": "确定？", "en": "Sure?"}}]  # fmt: skip
            return None

    web_platform.pm.register(PoolPlugin(), name="test-pool")
    try:
        page = login("rep_east").get(f"/r/customer/{org.customers['east']}")
    finally:
        web_platform.pm.unregister(name="test-pool")
    customer_id = org.customers["east"]
    assert "移入公海" in page.text
    found = re.search(rf'action="/sfa/pool/{customer_id}"[^>]*>\s*<input type="hidden" '
                      r'name="csrf_token" value="[^"]+"', page.text)  # fmt: skip
    assert found


# -- inline edit (DATA-02) --------------------------------------------------------------------


def test_inline_edit_saves_one_field_and_returns_its_display(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    url = f"/r/customer/{customer_id}/field/title"
    fragment = rep.htmx_get(f"{url}/edit")
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'name="version"' in fragment.text and 'id="fi-title"' in fragment.text
    version = org.version("customer", customer_id)
    saved = rep.post(url, {"_fields": "title", "title": "采购总监", "version": version}, htmx=True)
    assert saved.status_code == 200
    assert "采购总监" in saved.text and 'id="fi-title"' in saved.text and "<form" not in saved.text
    assert org.stored("customer", customer_id)["title"] == "采购总监"


def test_inline_edit_error_is_shown_in_place(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    version = org.version("customer", customer_id)
    answer = rep.post(
        f"/r/customer/{customer_id}/field/email",
        {"_fields": "email", "email": "nope", "version": version},
        htmx=True,
    )
    assert answer.status_code == 422
    assert 'id="err-i-email"' in answer.text and 'value="nope"' in answer.text
    assert org.stored("customer", customer_id)["email"] == "east@example.com"


def test_inline_edit_with_a_stale_version_is_409(org, login, web_platform):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    stale = org.version("customer", customer_id)
    web_platform.records.update(
        org.admin, "customer", customer_id, {"title": "他人改过"}, version=stale
    )
    answer = rep.post(
        f"/r/customer/{customer_id}/field/title",
        {"_fields": "title", "title": "我的值", "version": stale},
        htmx=True,
    )
    assert answer.status_code == 409
    assert "他人改过" in answer.text and "data-conflict" in answer.text
    assert f'name="version" value="{stale + 1}"' in answer.text  # saving again reapplies mine
    assert org.stored("customer", customer_id)["title"] == "他人改过"


def test_inline_edit_of_a_read_only_or_hidden_field(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    assert rep.htmx_get(f"/r/customer/{customer_id}/field/remarks/edit").status_code == 404
    assert rep.htmx_get(f"/r/customer/{customer_id}/field/number/edit").status_code == 403


# -- whole-form edit with conflict (DATA-01, DATA-02) -----------------------------------------


def test_whole_form_edit_conflict_shows_their_change_and_reapply_works(org, login, web_platform):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    form = rep.get(f"/r/customer/{customer_id}/edit")
    assert form.status_code == 200
    version = int(re.search(r'name="version" value="(\d+)"', form.text).group(1))
    web_platform.records.update(
        org.admin, "customer", customer_id, {"company": "别人改的公司"}, version=version
    )
    mine = form_of({"name": NAMES["east"], "company": "我改的公司", "source": "website"})
    conflict = rep.post(f"/r/customer/{customer_id}/edit", [*mine, ("version", str(version))])
    assert conflict.status_code == 409
    assert "别人改的公司" in conflict.text and 'value="我改的公司"' in conflict.text
    assert "Reapply my changes" in conflict.text or "重新应用" in conflict.text
    new_version = int(re.search(r'name="version" value="(\d+)"', conflict.text).group(1))
    assert new_version == version + 1
    assert org.stored("customer", customer_id)["company"] == "别人改的公司"
    reapplied = rep.post(f"/r/customer/{customer_id}/edit", [*mine, ("version", str(new_version))])
    assert reapplied.status_code == 303
    assert reapplied.headers["location"] == f"/r/customer/{customer_id}"
    assert org.stored("customer", customer_id)["company"] == "我改的公司"


def test_whole_form_edit_validation_error_is_422(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    version = org.version("customer", customer_id)
    answer = rep.post(
        f"/r/customer/{customer_id}/edit",
        [*form_of({"name": "", "company": "", "source": "website"}), ("version", str(version))],
    )
    assert answer.status_code == 422
    assert 'id="err-name"' in answer.text and 'id="err-company"' in answer.text
    assert org.stored("customer", customer_id)["name"] == NAMES["east"]


# -- copy, lock, delete (DATA-03, DATA-04) ----------------------------------------------------


def test_copy_prefills_the_create_form_without_unique_values(org, login, web_platform):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    form = rep.get(f"/r/customer/{customer_id}/copy")
    assert form.status_code == 200
    assert 'action="/r/customer/new"' in form.text
    assert f'value="{NAMES["east"]}"' in form.text
    assert f'value="{NAMES["east"]}有限公司"' in form.text
    assert REMARK not in form.text and 'name="owner_id"' not in form.text
    saved = rep.post(
        "/r/customer/new",
        form_of({"name": NAMES["east"] + "（副本）", "company": "东海重工有限公司",
                 "source": "website", "region": "east"}),
    )  # fmt: skip
    assert saved.status_code == 303
    assert NAMES["east"] + "（副本）" in names(web_platform, "customer")


def test_lock_refuses_edits_until_unlocked(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    assert rep.post(f"/r/customer/{customer_id}/lock", {}).status_code == 303
    assert org.stored("customer", customer_id)["locked"]
    page = rep.get(f"/r/customer/{customer_id}")
    assert "data-locked" in page.text and "/field/name/edit" not in page.text
    assert "data-unlock" in page.text
    version = org.version("customer", customer_id)
    refused = rep.post(
        f"/r/customer/{customer_id}/edit",
        [
            *form_of({"name": "改不了", "company": "x", "source": "website"}),
            ("version", str(version)),
        ],
    )
    assert refused.status_code == 423
    inline = rep.post(
        f"/r/customer/{customer_id}/field/name",
        {"_fields": "name", "name": "改不了", "version": version},
        htmx=True,
    )
    assert inline.status_code == 423 and inline.headers.get("HX-Retarget") == "#toasts"
    assert rep.post(f"/r/customer/{customer_id}/unlock", {}).status_code == 303
    assert not org.stored("customer", customer_id)["locked"]
    saved = rep.post(
        f"/r/customer/{customer_id}/field/name",
        {"_fields": "name", "name": "改得了", "version": org.version("customer", customer_id)},
        htmx=True,
    )
    assert saved.status_code == 200 and org.stored("customer", customer_id)["name"] == "改得了"


def test_delete_goes_to_the_list_and_approval_rule_shows_its_message(org, login, web_platform):
    rep = login("rep_east")
    followup_id = org.followups["east"]
    deleted = rep.post(f"/r/followup/{followup_id}/delete", {})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/r/followup"
    assert (
        web_platform.records.query(
            Actor.system(), "followup", {"field": "id", "op": "eq", "value": followup_id}
        ).rows
        == []
    )
    # Reps need a manager's approval to delete customers (PERM-06): the message is shown.
    refused = rep.post(f"/r/customer/{org.customers['east']}/delete", {})
    assert refused.status_code == 403
    assert "approval" in refused.text or "审批" in refused.text
    toast = rep.post(f"/r/customer/{org.customers['east']}/delete", {}, htmx=True)
    assert toast.status_code == 403 and toast.headers.get("HX-Retarget") == "#toasts"
    manager = login("manager")
    gone = manager.post(f"/r/customer/{org.customers['east']}/delete", {}, htmx=True)
    assert gone.status_code == 204 and gone.headers["HX-Redirect"] == "/r/customer"


# -- scope, permissions, CSRF -----------------------------------------------------------------


def test_rep_gets_404_for_another_reps_customer_on_every_route(org, login):
    rep = login("rep_east")
    base = f"/r/customer/{org.customers['north']}"
    for url in (base, f"{base}/edit", f"{base}/copy", f"{base}/field/name/edit",
                f"{base}/field/name", f"{base}/history",
                f"{base}/related/contact/customer"):  # fmt: skip
        assert rep.get(url).status_code == 404, url
    version = org.version("customer", org.customers["north"])
    for url, data in (
        (f"{base}/edit", [*form_of({"name": "x"}), ("version", str(version))]),
        (f"{base}/field/name", {"_fields": "name", "name": "x", "version": version}),
        (f"{base}/lock", {}),
        (f"{base}/unlock", {}),
        (f"{base}/delete", {}),
    ):
        assert rep.post(url, data).status_code == 404, url
    assert org.stored("customer", org.customers["north"])["name"] == NAMES["north"]


def test_post_without_csrf_token_is_refused(org, login):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    version = org.version("customer", customer_id)
    for url, data in (
        (f"/r/customer/{customer_id}/field/title", {"_fields": "title", "title": "x",
                                                    "version": version}),
        (f"/r/customer/{customer_id}/lock", {}),
        (f"/r/followup/{org.followups['east']}/delete", {}),
        ("/r/customer/new", {"_fields": "name", "name": "x"}),
    ):  # fmt: skip
        assert rep.client.post(url, data=data).status_code == 403, url
    stored = org.stored("customer", customer_id)
    assert stored["title"] != "x" and not stored["locked"]


# -- related lists and history ----------------------------------------------------------------


def _marketer(org, web_platform, login):
    """A user whose role may view customers and contacts only."""
    user_id = identity.create_user(web_platform.db, "marketer1", "市场甲")
    web_platform.permissions.assign_role(org.admin, user_id, "marketer")
    with web_platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(user).where(user.c.id == user_id).values(
                password_hash=hash_password("绿茶-Longjing-2024")
            )
        )  # fmt: skip
    return login("marketer1")


def test_related_panel_lists_contacts_and_hides_modules_not_viewable(org, login, web_platform):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    panel = rep.htmx_get(f"/r/customer/{customer_id}/related/contact/customer")
    assert panel.status_code == 200
    assert f"{NAMES['east']}联系人" in panel.text
    assert f'href="/r/contact/{org.contacts["east"]}"' in panel.text
    assert f"/r/contact/new?customer={customer_id}" in panel.text  # inline add
    assert f"/r/contact/{org.contacts['east']}/edit?next=" in panel.text  # inline edit
    view_all = "/r/contact?" + urlencode(
        {"filter": json.dumps({"field": "customer", "op": "eq", "value": customer_id})}
    )
    assert view_all.replace("&", "&amp;") in panel.text or view_all in panel.text
    followups = rep.htmx_get(f"/r/customer/{customer_id}/related/followup/customer")
    assert f'href="/r/followup/{org.followups["east"]}"' in followups.text
    marketer = _marketer(org, web_platform, login)
    page = marketer.get(f"/r/customer/{customer_id}")
    assert page.status_code == 200
    assert 'data-related="contact"' in page.text
    assert 'data-related="followup"' not in page.text and 'data-related="task"' not in page.text
    hidden = marketer.htmx_get(f"/r/customer/{customer_id}/related/followup/customer")
    assert hidden.status_code == 403
    assert rep.htmx_get(f"/r/customer/{customer_id}/related/contact/name").status_code == 404


def test_history_shows_old_and_new_values_with_reason(org, login, web_platform):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    version = org.version("customer", customer_id)
    rep.post(
        f"/r/customer/{customer_id}/field/region",
        {"_fields": "region", "region": "north", "version": version},
        htmx=True,
    )
    history = rep.htmx_get(f"/r/customer/{customer_id}/history")
    assert history.status_code == 200
    text = re.sub(r"\s+", " ", history.text)
    assert re.search(r'history-old">(华东|East)</span> .*?history-new">(华北|North)<', text), text
    assert "rep_east" in text
    assert REMARK not in history.text  # the hidden field's creation value never shows


def test_previous_and_next_follow_the_lists_sort(org, login, web_platform):
    """UI-04: neighbours within the list the user came from, in its sort, both directions."""
    manager = login("manager")  # sees the customers of east, shanghai and their own
    order = [
        row["id"]
        for row in web_platform.records.query(org.actor("manager"), "customer", sort="name").rows
    ]
    assert len(order) >= 3
    middle = order[1]
    for sort, before, after in (("name", order[0], order[2]), ("-name", order[2], order[0])):
        state = urlencode({"q": "", "sort": sort})
        page = manager.get(f"/r/customer/{middle}?" + urlencode({"list": state}))
        assert page.status_code == 200
        suffix = ("?" + urlencode({"list": state})).replace("&", "&amp;")
        assert f'href="/r/customer/{before}{suffix}" rel="prev"' in page.text, sort
        assert f'href="/r/customer/{after}{suffix}" rel="next"' in page.text, sort
        assert f'href="/r/customer?{state.replace("&", "&amp;")}"' in page.text  # back to list
    first = manager.get(f"/r/customer/{order[0]}?" + urlencode({"list": "sort=name"}))
    assert 'rel="prev"' not in first.text and 'rel="next"' in first.text
    # A list filtered down to this record has no neighbours.
    only = urlencode({"filter": json.dumps({"field": "id", "op": "eq", "value": middle})})
    alone = manager.get(f"/r/customer/{middle}?" + urlencode({"list": only}))
    assert 'rel="prev"' not in alone.text and 'rel="next"' not in alone.text


def test_names_are_escaped_on_the_detail_page_and_in_history(org, login, web_platform):
    rep = login("rep_east")
    customer_id = org.customers["east"]
    version = org.version("customer", customer_id)
    saved = rep.post(
        f"/r/customer/{customer_id}/field/name",
        {"_fields": "name", "name": XSS, "version": version},
        htmx=True,
    )
    assert saved.status_code == 200 and XSS not in saved.text
    page = rep.get(f"/r/customer/{customer_id}")
    assert XSS not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    history = rep.htmx_get(f"/r/customer/{customer_id}/history")
    assert XSS not in history.text and "&lt;script&gt;" in history.text


@pytest.mark.parametrize("entity", ["contact", "followup", "task", "note"])
def test_every_core_entity_has_working_new_and_detail_screens(org, login, entity):
    admin = login("admin")
    assert admin.get(f"/r/{entity}/new").status_code == 200
    if entity == "contact":
        assert admin.get(f"/r/contact/{org.contacts['east']}").status_code == 200


def test_inline_change_needing_a_reason_asks_for_it(org, login):
    """DATA-06: changing the mobile number needs a reason; the inline form asks for it and the
    history shows it (DATA-05)."""
    rep = login("rep_east")
    customer_id = org.customers["east"]
    url = f"/r/customer/{customer_id}/field/mobile"
    assert 'name="reason"' in rep.htmx_get(f"{url}/edit").text
    version = org.version("customer", customer_id)
    missing = rep.post(url, {"_fields": "mobile", "mobile": "13700000001", "version": version},
                       htmx=True)  # fmt: skip
    assert missing.status_code == 422 and 'id="err-i-mobile"' in missing.text
    assert org.stored("customer", customer_id)["mobile"] == "13812344321"
    given = rep.post(
        url,
        {"_fields": "mobile", "mobile": "13700000001", "version": version, "reason": "换号了"},
        htmx=True,
    )
    assert (
        given.status_code == 200 and org.stored("customer", customer_id)["mobile"] == "13700000001"
    )
    history = rep.htmx_get(f"/r/customer/{customer_id}/history").text
    assert "换号了" in history and "13700000001" in history


def test_admin_created_module_gets_the_same_screens(org, login, web_platform):
    """CORE-04 + UI-04: a module made in the admin has forms, detail and inline edit too; with
    no layout its fields share one general section and its related lists come from references."""
    web_platform.admin.create_entity(
        org.admin, "project", {"zh-CN": "项目", "en": "Project"},
        [{"key": "title", "type": "text", "label": "项目名称", "required": True},
         {"key": "customer", "type": "reference", "reference": "customer", "label": "客户"},
         {"key": "phase", "type": "select", "label": "阶段", "options": ["立项", "实施"]}],
        title_field="title",
    )  # fmt: skip
    web_platform.admin.create_entity(
        org.admin, "milestone", {"zh-CN": "里程碑", "en": "Milestone"},
        [{"key": "title", "type": "text", "label": "名称", "required": True},
         {"key": "project", "type": "reference", "reference": "project", "label": "项目"}],
        title_field="title",
    )  # fmt: skip
    admin = login("admin")
    missing = admin.post("/r/project/new", [("_fields", "title"), ("title", "")])
    assert missing.status_code == 422 and 'id="err-title"' in missing.text
    made = admin.post(
        "/r/project/new",
        [("_fields", "title"), ("title", "CRM 实施"), ("_fields", "customer"),
         ("customer", str(org.customers["east"])), ("_fields", "phase"), ("phase", "")],
    )  # fmt: skip
    assert made.status_code == 303
    url = made.headers["location"]
    page = admin.get(url)
    assert page.status_code == 200 and "CRM 实施" in page.text and NAMES["east"] in page.text
    assert 'data-section="general"' in page.text
    project_id = int(url.rsplit("/", 1)[1])
    assert f'hx-get="{url}/related/milestone/project"' in page.text  # found from the reference
    assert f"/r/milestone/new?project={project_id}" in page.text
    version = org.version("project", project_id)
    saved = admin.post(f"{url}/field/title", {"_fields": "title", "title": "CRM 二期",
                                              "version": version}, htmx=True)  # fmt: skip
    assert saved.status_code == 200 and org.stored("project", project_id)["title"] == "CRM 二期"


def test_detail_and_related_query_counts_do_not_grow_with_records(org, login, web_platform):
    """UI-04: a fixed number of statements for the detail page and a related panel."""
    rep = login("rep_east")
    customer_id = org.customers["east"]
    engine = web_platform.db.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if threading.current_thread().name != "guanxi-access-log":  # batched view rows
            statements.append(statement)

    def measure(url: str) -> int:
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            assert rep.get(url).status_code == 200
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    detail = f"/r/customer/{customer_id}?" + urlencode({"list": "sort=name"})
    panel = f"/r/customer/{customer_id}/related/contact/customer"
    rep.get(detail), rep.get(panel)  # warm caches
    before = (measure(detail), measure(panel))
    for n in range(8):
        web_platform.records.create(
            org.actor("rep_east"), "contact", {"name": f"联系人{n}", "customer": customer_id}
        )
    assert (measure(detail), measure(panel)) == before
    assert before[0] < 40, before


def test_one_detail_view_with_its_fragments_is_one_access_log_row(org, login, web_platform):
    """PERM-08: the detail page, its related panels, timeline and inline display fragment
    make one "view" entry in the access log, not one per fragment."""
    from guanxi.auth import access_log

    web_platform.permissions.set_access_logging(org.admin, "customer", True)
    rep = login("rep_east")
    customer = org.customers["east"]
    base = f"/r/customer/{customer}"
    assert rep.get(base).status_code == 200
    for fragment in ("/related/contact/customer", "/timeline", "/field/title"):
        assert rep.htmx_get(base + fragment).status_code == 200, fragment
    views = [
        e
        for e in access_log.entries(web_platform.db, entity="customer", record_id=customer)
        if e["action"] == "view"
    ]
    assert len(views) == 1 and views[0]["username"] == "rep_east"
