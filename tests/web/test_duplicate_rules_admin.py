"""DATA-07, DATA-08, UI-09 over HTTP: administrators manage duplicate rules on screens (create,
edit, delete, scan now), a rule made there checks the record form at once, bad input is
refused per field, and the candidate-group report shows each viewer only the groups and
fields their scope and field permissions allow, each group linking to its merge page."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.defaults.duplicates import report
from guanxi.store.system_tables import audit, job_task
from tests.web.test_record_screens import form_of, names

NEW_RULE = "/admin/duplicates/new?entity=customer"


def rule_form(name: str, action: str, *fields: tuple[str, str], **extra: str) -> dict[str, Any]:
    """The rule form as the browser posts it: rows field.N / method.N, active ticked."""
    data: dict[str, Any] = {"name": name, "action": action, "active": "on"}
    for number, (key, method) in enumerate(fields, start=1):
        data[f"field.{number}"] = key
        data[f"method.{number}"] = method
    return {**data, **extra}


def only_rule(platform: Any) -> Any:
    platform.duplicates.invalidate()
    (rule,) = platform.duplicates.all()
    return rule


def rule_id_of(answer: Any) -> int:
    assert answer.status_code == 303, answer.text[:2000]
    found = re.fullmatch(r"/admin/duplicates/(\d+)\?saved=1", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


def add_customer(platform: Any, actor: Actor, name: str, **values: Any) -> int:
    data = {"name": name, "company": f"{name}公司", "source": "website", **values}
    return int(platform.records.create(actor, "customer", data, confirm_duplicates=True)["id"])


def groups_of(html: str) -> list[list[str]]:
    """The groups of a report page, each as its members' "entity:id"."""
    return [re.findall(r'data-member="([^"]+)"', part) for part in html.split("data-group>")[1:]]


def merge_links(html: str) -> list[str]:
    return re.findall(r'href="(/duplicates/merge/[^"]+)"[^>]*data-merge', html)


# -- admin screens --------------------------------------------------------------------------------


def test_admin_creates_edits_and_deletes_a_rule_on_the_screens(org, login, web_platform):
    """DATA-07, UI-09: the admin index links the rules; a rule is created with a field of
    another module, listed with its indexing state, changed, and deleted (audited)."""
    admin = login("admin")
    assert 'href="/admin/duplicates"' in admin.get("/admin").text
    empty = admin.get("/admin/duplicates")
    assert empty.status_code == 200 and "data-rule=" not in empty.text
    form = admin.get(NEW_RULE)
    assert form.status_code == 200
    field_1 = form.text.split('name="field.1"')[1].split("</select>")[0]
    assert 'value="mobile"' in field_1 and 'value="name"' in field_1
    for unusable in ("remarks", "tags", "stage", "owner_id", "created_at"):  # no identity in them
        assert f'value="{unusable}"' not in field_1, unusable
    assert 'name="target.contact"' in form.text and 'name="target.contact.1"' in form.text

    created = admin.post(NEW_RULE, rule_form("手机号相同", "block", ("mobile", "exact"),
                                             **{"target.contact": "on",
                                                "target.contact.1": "mobile"}))  # fmt: skip
    rule_id = rule_id_of(created)
    rule = only_rule(web_platform)
    assert (rule.id, rule.name, rule.entity, rule.action, rule.active) == (
        rule_id, "手机号相同", "customer", "block", True,
    )  # fmt: skip
    assert rule.fields == ("mobile",) and rule.methods == ("exact",)
    assert rule.targets == (("contact", ("mobile",)),)
    listed = admin.get("/admin/duplicates")
    row = listed.text.split(f'data-rule="{rule_id}"')[1].split("</tr>")[0]
    assert "手机号相同" in row and 'data-action="block"' in row and "data-indexing" in row
    web_platform.jobs.run_due()  # the backfill job builds the keys of existing records
    row = admin.get("/admin/duplicates").text.split(f'data-rule="{rule_id}"')[1].split("</tr>")[0]
    assert "data-indexing" not in row and "data-not-indexed" not in row

    page = admin.get(f"/admin/duplicates/{rule_id}?saved=1")
    assert page.status_code == 200 and 'value="手机号相同"' in page.text
    assert re.search(r'name="target.contact" value="on" id="f-target-contact" checked', page.text)
    changed = admin.post(f"/admin/duplicates/{rule_id}", rule_form(
        "名称相近", "warn", ("name", "normalized"), ("mobile", "exact")))  # fmt: skip
    assert rule_id_of(changed) == rule_id
    rule = only_rule(web_platform)
    assert (rule.name, rule.action, rule.fields, rule.methods, rule.targets) == (
        "名称相近", "warn", ("name", "mobile"), ("normalized", "exact"), ()
    )  # fmt: skip

    deleted = admin.post(f"/admin/duplicates/{rule_id}/delete", {}, htmx=True)
    assert deleted.status_code == 204
    assert deleted.headers["HX-Redirect"] == "/admin/duplicates?deleted=1"
    web_platform.duplicates.invalidate()
    assert web_platform.duplicates.all() == []
    assert admin.get(f"/admin/duplicates/{rule_id}").status_code == 404
    with web_platform.db.read() as connection:
        audited = connection.execute(
            sa.select(audit.c.changes).where(audit.c.kind == "duplicate_rule")
        ).all()
    assert len(audited) == 3 and audited[-1].changes == {"deleted": True}


def test_a_rule_made_on_the_screen_warns_then_blocks_on_the_record_form(org, login, web_platform):
    """DATA-07: the rule checks the next record entered through the form: warn offers to save
    anyway; changed to block, the duplicate is refused even when confirmed."""
    admin = login("admin")
    rule_id = rule_id_of(admin.post(NEW_RULE, rule_form("客户名称", "warn",
                                                        ("name", "normalized"))))  # fmt: skip
    web_platform.jobs.run_due()
    rep = login("rep_east")
    typed = {"name": "东海重工（中国）有限公司", "company": "东海", "source": "website"}
    warned = rep.post("/r/customer/new", form_of(typed))
    assert warned.status_code == 422
    assert f'data-duplicate="customer:{org.customers["east"]}"' in warned.text
    assert 'name="_confirm_duplicates"' in warned.text

    blocked = admin.post(f"/admin/duplicates/{rule_id}", rule_form("客户名称", "block",
                                                                   ("name", "normalized")))  # fmt: skip
    assert blocked.status_code == 303
    web_platform.jobs.run_due()
    for confirm in ([], [("_confirm_duplicates", "1")]):
        refused = rep.post("/r/customer/new", [*form_of(typed), *confirm])
        assert refused.status_code == 422
        assert f'data-duplicate="customer:{org.customers["east"]}"' in refused.text
        assert 'name="_confirm_duplicates"' not in refused.text
    assert "东海重工（中国）有限公司" not in names(web_platform, "customer")
    inactive = admin.post(f"/admin/duplicates/{rule_id}", {
        **rule_form("客户名称", "block", ("name", "normalized")), "active": ""})  # fmt: skip
    assert inactive.status_code == 303 and not only_rule(web_platform).active
    assert rep.post("/r/customer/new", form_of(typed)).status_code == 303


def test_bad_rule_input_is_refused_per_field_and_saves_nothing(org, login, web_platform):
    """DATA-07, UI-05: every problem at once, each next to its field, 422, nothing stored;
    what was typed is shown again."""
    admin = login("admin")
    answer = admin.post(NEW_RULE, {"name": "", "action": "maybe", "active": "on",
                                   "field.1": "", "method.1": "exact"})  # fmt: skip
    assert answer.status_code == 422
    for field in ("name", "action", "fields"):
        assert f'id="err-{field}"' in answer.text, field
    assert 'id="err-targets"' not in answer.text
    unknown = admin.post(NEW_RULE, rule_form("坏字段", "warn", ("nope", "exact")))
    assert unknown.status_code == 422 and 'id="err-fields"' in unknown.text
    assert "nope" in unknown.text.split('id="err-fields"')[1].split("</p>")[0]
    assert 'value="坏字段"' in unknown.text
    bad_method = admin.post(NEW_RULE, rule_form("方法", "warn", ("name", "soundex")))
    assert bad_method.status_code == 422 and 'id="err-fields"' in bad_method.text
    half_target = admin.post(NEW_RULE, rule_form("联系人", "warn", ("mobile", "exact"),
                                                 **{"target.contact": "on"}))  # fmt: skip
    assert half_target.status_code == 422 and 'id="err-targets"' in half_target.text
    assert re.search(r'name="target.contact" value="on" id="f-target-contact" checked',
                     half_target.text)  # fmt: skip
    long_name = admin.post(NEW_RULE, rule_form("长" * 101, "warn", ("name", "exact")))
    assert long_name.status_code == 422 and 'id="err-name"' in long_name.text
    web_platform.duplicates.invalidate()
    assert web_platform.duplicates.all() == []
    assert admin.get("/admin/duplicates/new?entity=nope").status_code == 404
    assert admin.get("/admin/duplicates/999").status_code == 404
    assert admin.post("/admin/duplicates/999/delete", {}).status_code == 404


def test_non_admins_get_403_and_change_nothing(org, login, web_platform):
    """PERM-01, UI-09: only administrators see or change the rules; RuleBook refuses too."""
    admin = login("admin")
    rule_id = rule_id_of(admin.post(NEW_RULE, rule_form("名称", "warn", ("name", "exact"))))
    for username in ("rep_east", "manager"):
        user = login(username)
        for url in ("/admin/duplicates", NEW_RULE, f"/admin/duplicates/{rule_id}"):
            assert user.get(url).status_code == 403, (username, url)
        posts = {
            NEW_RULE: rule_form("x", "block", ("name", "exact")),
            f"/admin/duplicates/{rule_id}": rule_form("x", "block", ("name", "exact")),
            f"/admin/duplicates/{rule_id}/delete": {},
            "/admin/duplicates/scan": {},
        }
        for url, data in posts.items():
            assert user.post(url, data).status_code == 403, (username, url)
    rule = only_rule(web_platform)
    assert (rule.name, rule.action) == ("名称", "warn")
    with web_platform.db.read() as connection:
        scans = connection.execute(
            sa.select(sa.func.count()).where(job_task.c.job == "duplicates.scan")
        ).scalar_one()
    assert scans == 0


def test_rule_posts_without_csrf_token_are_refused(org, login, web_platform):
    """PERM-09: creating, changing, deleting and scanning need the CSRF token."""
    admin = login("admin")
    rule_id = rule_id_of(admin.post(NEW_RULE, rule_form("名称", "warn", ("name", "exact"))))
    raw = admin.client
    assert raw.post(NEW_RULE, data=rule_form("新", "warn", ("name", "exact"))).status_code == 403
    assert raw.post(f"/admin/duplicates/{rule_id}",
                    data=rule_form("改", "block", ("name", "exact"))).status_code == 403  # fmt: skip
    assert raw.post(f"/admin/duplicates/{rule_id}/delete", data={}).status_code == 403
    assert raw.post("/admin/duplicates/scan", data={}).status_code == 403
    rule = only_rule(web_platform)
    assert (rule.id, rule.name, rule.action) == (rule_id, "名称", "warn")


def test_scan_now_queues_the_scan_and_the_list_shows_its_result(org, login, web_platform):
    """DATA-08, OPS-02: "scan now" queues the duplicates.scan job (audited); once it ran, the
    rule's row shows how many groups and records it found."""
    system = Actor.system()
    add_customer(web_platform, system, "东海重工有限公司")
    admin = login("admin")
    rule_id = rule_id_of(admin.post(NEW_RULE, rule_form("名称", "warn", ("name", "normalized"))))
    web_platform.jobs.run_due()  # the daily scan ran first (no keys yet), then the backfill
    listed = admin.get("/admin/duplicates").text
    assert 'data-scan-groups="1"' not in listed.split(f'data-rule="{rule_id}"')[1]
    queued = admin.post("/admin/duplicates/scan", {})
    assert queued.status_code == 303 and queued.headers["location"] == "/admin/duplicates?queued=1"
    waiting = admin.get("/admin/duplicates?queued=1")
    assert 'role="status"' in waiting.text and "data-scan-waiting" in waiting.text
    web_platform.jobs.run_due()
    row = admin.get("/admin/duplicates").text.split(f'data-rule="{rule_id}"')[1].split("</tr>")[0]
    assert 'data-scan-groups="1"' in row
    with web_platform.db.read() as connection:
        kinds = connection.execute(sa.select(audit.c.target).where(audit.c.kind == "job")).all()
    assert [k.target for k in kinds] == ["job:duplicates.scan"]


# -- the candidate-group report -------------------------------------------------------------------


@pytest.fixture
def name_groups(org, web_platform) -> dict[str, list[int]]:
    """Three groups under a normalized-name rule: one inside rep_east's scope, one split
    between rep_north and rep_east, one of rep_shanghai's (in manager's department tree)."""
    platform = web_platform
    east, north = org.actor("rep_east"), org.actor("rep_north")
    shanghai = org.actor("rep_shanghai")
    groups = {
        "east": [org.customers["east"], add_customer(platform, east, "东海重工有限公司")],
        "split": [org.customers["north"], add_customer(platform, east, "北辰机电（中国）有限公司")],
        "shanghai": [org.customers["shanghai"], add_customer(platform, shanghai, "浦江电子公司"),
                     add_customer(platform, shanghai, "浦江 电子 股份有限公司")],
    }  # fmt: skip
    add_customer(platform, north, "独一无二科技")
    platform.duplicates.save(Actor.system(), {"name": "客户名称", "entity": "customer",
                                              "action": "warn",
                                              "fields": [{"field": "name",
                                                          "method": "normalized"}]})  # fmt: skip
    platform.jobs.run_due()
    return groups


def members(entity: str, ids: list[int]) -> list[str]:
    return [f"{entity}:{i}" for i in ids]


def test_report_shows_groups_with_merge_links_per_viewer_scope(org, login, name_groups):
    """DATA-08, PERM-04: the admin sees every group, largest first, each linking to its merge
    page; a rep sees only groups with two records in their own scope; a manager those in
    their department tree."""
    admin = login("admin").get("/duplicates/report")
    assert admin.status_code == 200
    found = groups_of(admin.text)
    assert found[0] == members("customer", name_groups["shanghai"])  # the largest first
    assert sorted(found[1:]) == sorted(
        [members("customer", name_groups["east"]), members("customer", name_groups["split"])]
    )
    expected_links = {
        f"/duplicates/merge/customer?ids={','.join(map(str, ids))}" for ids in name_groups.values()
    }
    assert set(merge_links(admin.text)) == expected_links
    assert "东海重工有限公司" in admin.text and "北辰机电（中国）有限公司" in admin.text

    rep = login("rep_east").get("/duplicates/report")
    assert rep.status_code == 200
    assert groups_of(rep.text) == [members("customer", name_groups["east"])]
    assert merge_links(rep.text) == [
        f"/duplicates/merge/customer?ids={','.join(map(str, name_groups['east']))}"
    ]
    assert "北辰机电" not in rep.text and "浦江电子" not in rep.text
    assert "data-last-scan" not in rep.text  # company-wide counts are for administrators

    north = login("rep_north").get("/duplicates/report")
    assert groups_of(north.text) == [] and "data-no-groups" in north.text

    manager = login("manager").get("/duplicates/report")
    assert sorted(groups_of(manager.text)) == sorted(
        [members("customer", name_groups["shanghai"]), members("customer", name_groups["east"])]
    )


def test_report_pages_through_groups_with_a_cursor(
    org, login, name_groups, monkeypatch: pytest.MonkeyPatch
):
    """DATA-08: groups come a page at a time (capped); a rep's page skips groups outside
    their scope across read batches."""
    monkeypatch.setattr(report, "PAGE_GROUPS", 2)
    monkeypatch.setattr(report, "BATCH", 1)
    admin = login("admin")
    first = admin.get("/duplicates/report")
    assert len(groups_of(first.text)) == 2
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = admin.get("/duplicates/report" + next_url)
    assert len(groups_of(second.text)) == 1 and 'rel="next"' not in second.text
    seen = groups_of(first.text) + groups_of(second.text)
    assert sorted(seen) == sorted(members("customer", ids) for ids in name_groups.values())
    rep = login("rep_east").get("/duplicates/report")
    assert groups_of(rep.text) == [members("customer", name_groups["east"])]
    assert admin.get("/duplicates/report?after=garbage").status_code == 200
    assert admin.get("/duplicates/report?rule=999").status_code == 404


def test_report_hides_fields_the_viewer_may_not_see(org, login, web_platform):
    """DATA-08, PERM-03, DATA-12: the matched values follow the field mask: hidden for reps,
    masked for service agents, whole for the admin."""
    platform = web_platform
    platform.duplicates.save(Actor.system(), {
        "name": "手机", "entity": "customer", "action": "warn", "fields": [{"field": "mobile"}],
        "targets": [{"entity": "contact", "fields": ["mobile"]}]})  # fmt: skip
    east = org.actor("rep_east")
    twin = add_customer(platform, east, "东海重工二部", mobile=org.stored(
        "customer", org.customers["east"])["mobile"])  # fmt: skip
    platform.jobs.run_due()
    platform.permissions.set_field_access(org.admin, "sales_rep", "customer", "mobile", "hidden")
    mobile = "13812344321"
    admin = login("admin").get("/duplicates/report").text
    east_group = [g for g in groups_of(admin) if f"customer:{twin}" in g]
    assert east_group == [[f"customer:{org.customers['east']}", f"customer:{twin}",
                           f"contact:{org.contacts['east']}"]]  # fmt: skip
    assert mobile in admin
    assert f"/duplicates/merge/customer?ids={org.customers['east']},{twin}" in merge_links(admin)
    assert not any("/merge/contact" in link for link in merge_links(admin))

    rep = login("rep_east").get("/duplicates/report").text
    rep_group = [g for g in groups_of(rep) if f"customer:{twin}" in g]
    assert len(rep_group) == 1 and f"customer:{org.customers['east']}" in rep_group[0]
    customer_rows = [row for row in rep.split("data-member=")[1:] if row.startswith('"customer:')]
    assert customer_rows and all(mobile not in row and "data-value" not in row.split("</tr>")[0]
                                 for row in customer_rows)  # fmt: skip
    assert not any(f"customer:{org.customers['north']}" in g for g in groups_of(rep))

    agent = login("agent").get("/duplicates/report").text
    assert len(groups_of(agent)) == 5  # every customer with its contact, all in the agent's view
    assert mobile not in agent and "****" in agent


def test_report_entry_in_the_navigation_for_admins_and_managers(org, login, web_platform):
    """UI-01: the report appears in the menu for administrators, and for managers once a rule
    covers a module they may reassign; never for a sales rep."""
    menu_link = 'href="/duplicates/report"'
    assert menu_link in login("admin").get("/").text
    manager, rep = login("manager"), login("rep_east")
    assert menu_link not in manager.get("/").text
    web_platform.duplicates.save(Actor.system(), {"name": "名称", "entity": "customer",
                                                  "action": "warn",
                                                  "fields": [{"field": "name"}]})  # fmt: skip
    assert menu_link in manager.get("/").text
    assert menu_link not in rep.get("/").text
    assert rep.get("/duplicates/report").status_code == 200  # open to all; shows what they see
