"""Admin screens for users, departments, teams, roles, the permission matrix, plugins and the
audit and access logs (UI-09, PERM-01..10), over HTTP as an administrator would use them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from guanxi.errors import NotFound, PermissionDenied
from guanxi.hookspecs import hookimpl
from tests.web.conftest import PASSWORD, SECRET


class SettingsPlugin:
    """A plugin with a settings schema, to exercise the generated settings form."""

    settings_schema = {
        "type": "object",
        "properties": {
            "greeting": {"type": "string", "title": "Greeting", "maxLength": 5, "default": "hi"},
            "limit": {"type": "integer", "title": "Daily limit", "minimum": 1},
            "mode": {"type": "string", "title": "Mode", "enum": ["fast", "slow"]},
            "loud": {"type": "boolean", "title": "Loud"},
        },
        "additionalProperties": False,
    }

    @hookimpl
    def startup(self, platform: Any) -> None:
        """Nothing: the plugin only needs settings."""


@pytest.fixture
def web_platform(make_platform: Any) -> Any:
    return make_platform(secret_key=SECRET, plugins=[("demo_settings", SettingsPlugin())])


ADMIN_ROUTES = [
    "/admin/users", "/admin/users/new", "/admin/departments", "/admin/teams", "/admin/roles",
    "/admin/roles/sales_rep", "/admin/roles/sales_rep/modules/customer", "/admin/plugins",
    "/admin/audit", "/admin/access", "/admin/explain",
]  # fmt: skip


def test_admin_creates_a_user_with_a_role_who_can_then_log_in(org, login, web_platform):
    """PERM-01, PERM-09: username, department, role and the initial password are stored."""
    admin = login("admin")
    form = admin.get("/admin/users/new")
    assert form.status_code == 200 and 'name="roles" value="sales_rep"' in form.text
    answer = admin.post("/admin/users/new", {
        "username": "rep_new", "display_name": "新人", "email": "new@example.com",
        "department_id": str(org.departments["east"]), "roles": ["sales_rep"],
        "password": PASSWORD,
    })  # fmt: skip
    assert answer.status_code == 303, answer.text
    new = org.actor("rep_new")
    assert new.roles == {"sales_rep"} and new.department_id == org.departments["east"]
    listing = admin.get("/admin/users")
    assert "rep_new" in listing.text and "新人" in listing.text
    rep = login("rep_new")  # the password set through the form works
    assert rep.get("/").status_code == 200


def test_user_without_password_gets_a_one_time_password_shown_once(org, login, web_platform):
    """PERM-09: a generated password is shown in the answer and works, never stored plainly."""
    admin = login("admin")
    answer = admin.post("/admin/users/new", {"username": "temp1", "display_name": "临时"})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    password = re.search(r"<code data-password>([^<]+)</code>", answer.text).group(1)
    user_id = org.actor("temp1").user_id
    # Shown once: the edit page does not carry it.
    assert password not in admin.get(f"/admin/users/{user_id}").text
    assert web_platform.login.login("temp1", password) is not None


def test_create_user_errors_name_the_field_and_store_nothing(org, login, web_platform):
    """UI-05: a taken user name and a weak password come back next to their fields."""
    admin = login("admin")
    answer = admin.post("/admin/users/new", {"username": "rep_east", "display_name": "x",
                                              "password": "short"})  # fmt: skip
    assert answer.status_code == 422 and 'id="err-password"' in answer.text
    taken = admin.post("/admin/users/new", {"username": "rep_east", "display_name": "x",
                                             "password": PASSWORD})  # fmt: skip
    assert taken.status_code == 400 and 'id="err-username"' in taken.text
    bad = admin.post(
        "/admin/users/new",
        {"username": "ok_user", "display_name": "x", "department_id": "abc", "password": PASSWORD},
    )
    assert bad.status_code == 422 and 'id="err-department_id"' in bad.text
    assert "ok_user" not in admin.get("/admin/users").text


def test_edit_user_attributes_roles_and_deactivate(org, login, web_platform):
    """PERM-01: attributes feed condition scopes; roles are assigned and revoked by diff."""
    admin = login("admin")
    user_id = org.users["rep_north"]
    page = admin.get(f"/admin/users/{user_id}")
    assert page.status_code == 200 and 'value="region"' in page.text
    answer = admin.post(f"/admin/users/{user_id}", {
        "display_name": "赵北2", "email": "", "department_id": str(org.departments["north"]),
        "position_id": "", "locale": "en", "roles": ["marketer"], "active": "on",
        "attr_key": ["region", "level"], "attr_value": ["west", "3"],
    })  # fmt: skip
    assert answer.status_code == 303, answer.text
    actor = org.actor("rep_north")
    assert actor.roles == {"marketer"} and actor.attributes == {"region": "west", "level": "3"}
    assert actor.locale == "en"
    off = admin.post(
        f"/admin/users/{user_id}",
        {
            "display_name": "赵北2",
            "department_id": "",
            "locale": "en",
            "roles": ["marketer"],
            "attr_key": ["region"],
            "attr_value": ["west"],
        },
    )  # fmt: skip  ("active" unchecked)
    assert off.status_code == 303
    with pytest.raises(NotFound):  # an inactive user acts as nobody
        org.actor("rep_north")
    assert admin.get("/admin/users/999999").status_code == 404


def test_reset_password_and_unlock(org, login, web_platform):
    """PERM-09: an admin resets a password (sessions end) and lifts a lockout."""
    rep = login("rep_east")
    admin = login("admin")
    user_id = org.users["rep_east"]
    weak = admin.post(f"/admin/users/{user_id}/password", {"password": "abc"})
    assert weak.status_code == 422 and 'id="err-password"' in weak.text
    done = admin.post(f"/admin/users/{user_id}/password", {"password": "新的-Password-2024"})
    assert done.status_code == 303
    assert rep.get("/").status_code == 303  # the rep's session ended
    unlocked = admin.post(f"/admin/users/{user_id}/unlock", {})
    assert unlocked.status_code == 303 and "saved=unlocked" in unlocked.headers["location"]


def test_department_tree_create_and_move_cycle_refused(org, login, web_platform):
    """PERM-01: departments form a tree; moving one under its own subtree is refused."""
    admin = login("admin")
    admin.post("/me/locale", {"locale": "en", "next": "/"})
    page = admin.get("/admin/departments")
    assert page.status_code == 200 and "上海组" in page.text
    created = admin.post(
        "/admin/departments", {"name": "华南销售部", "parent_id": str(org.departments["sales"])}
    )
    assert created.status_code == 303
    assert any(d["name"] == "华南销售部" for d in _departments(web_platform))
    cycle = admin.post(f"/admin/departments/{org.departments['sales']}/move",
                       {"parent_id": str(org.departments["shanghai"])})  # fmt: skip
    assert cycle.status_code == 400
    assert 'id="err-move"' in cycle.text and "cannot move under itself" in cycle.text
    parents = {d["id"]: d["parent_id"] for d in _departments(web_platform)}
    assert parents[org.departments["sales"]] is None  # nothing changed
    moved = admin.post(f"/admin/departments/{org.departments['shanghai']}/move",
                       {"parent_id": str(org.departments["north"])})  # fmt: skip
    assert moved.status_code == 303
    parents = {d["id"]: d["parent_id"] for d in _departments(web_platform)}
    assert parents[org.departments["shanghai"]] == org.departments["north"]


def test_teams_create_add_and_remove_members(org, login, web_platform):
    """PERM-01: teams and their members (team scopes depend on them)."""
    admin = login("admin")
    assert admin.post("/admin/teams", {"name": "大客户组"}).status_code == 303
    page = admin.get("/admin/teams")
    team_id = int(re.search(r'id="team-(\d+)"', page.text).group(1))
    added = admin.post(f"/admin/teams/{team_id}/members", {"user_id": str(org.users["rep_east"])})
    assert added.status_code == 303
    assert team_id in org.actor("rep_east").team_ids
    duplicate = admin.post("/admin/teams", {"name": "大客户组"})
    assert duplicate.status_code == 400 and 'id="err-name"' in duplicate.text
    removed = admin.post(f"/admin/teams/{team_id}/members/{org.users['rep_east']}/remove", {})
    assert removed.status_code == 303 and team_id not in org.actor("rep_east").team_ids


def test_matrix_hiding_a_field_hides_it_from_the_rep(org, login, web_platform):
    """PERM-03: customer.mobile hidden for sales_rep through the form never reaches the rep."""
    admin = login("admin")
    page = admin.get("/admin/roles/sales_rep/modules/customer")
    assert page.status_code == 200 and 'name="level.mobile"' in page.text
    answer = admin.post("/admin/roles/sales_rep/modules/customer/save", {"level.mobile": "hidden"})
    assert answer.status_code == 303 and "saved=1" in answer.headers["location"]
    record = web_platform.records.get(org.actor("rep_east"), "customer", org.customers["east"])
    assert "mobile" not in record and record["name"]
    notice = admin.get(answer.headers["location"])
    assert 'class="notice"' in notice.text
    bad = admin.post("/admin/roles/sales_rep/modules/customer/save", {"level.email": "secret"})
    assert bad.status_code == 422


def test_matrix_revoking_a_module_action_denies_the_rep(org, login, web_platform):
    """PERM-02: taking 'view' on customers from sales_rep makes records.query refuse."""
    admin = login("admin")
    page = admin.get("/admin/roles/sales_rep")
    assert 'name="act.customer.view"' in page.text
    answer = admin.post("/admin/roles/sales_rep/actions", {"act.customer.view": ""})
    assert answer.status_code == 303 and "saved=1" in answer.headers["location"]
    with pytest.raises(PermissionDenied):
        web_platform.records.query(org.actor("rep_east"), "customer")
    # Only the difference was applied: creating customers is still allowed.
    assert ("sales_rep", "customer", "create", "allow") in {
        p[1:] for p in web_platform.permissions.policies("p")
    }


def test_matrix_scope_change_to_department_widens_what_the_rep_sees(org, login, web_platform):
    """PERM-04: a department view scope lets rep_east see rep_east2's customer."""
    admin = login("admin")
    rep = org.actor("rep_east")
    ids = {r["id"] for r in web_platform.records.query(rep, "customer").rows}
    assert org.customers["east2"] not in ids
    answer = admin.post("/admin/roles/sales_rep/modules/customer/save",
                        {"scope_action": "view", "scope_kind": "department",
                         "scope_effect": "allow"})  # fmt: skip
    assert answer.status_code == 303
    ids = {r["id"] for r in web_platform.records.query(org.actor("rep_east"), "customer").rows}
    assert org.customers["east2"] in ids and org.customers["north"] not in ids
    bad = admin.post("/admin/roles/sales_rep/modules/customer/save",
                     {"scope_action": "view", "scope_kind": "filter", "scope_arg": "{not json",
                      "level.mobile": "hidden"})  # fmt: skip
    assert bad.status_code == 422 and 'id="err-scope_arg"' in bad.text
    mobile = web_platform.records.get(org.actor("rep_east"), "customer", org.customers["east"])
    assert "mobile" in mobile  # the bad scope stopped the whole save


def test_role_create_include_delete_and_explain(org, login, web_platform):
    """PERM-02, PERM-10: roles are created, include others, and the explain box answers."""
    admin = login("admin")
    created = admin.post("/admin/roles", {"code": "key_rep", "label_zh": "大客户代表",
                                          "label_en": "Key rep"})  # fmt: skip
    assert created.status_code == 303
    bad = admin.post("/admin/roles", {"code": "bad code", "label_zh": ""})
    assert bad.status_code == 400 and 'id="err-code"' in bad.text
    included = admin.post("/admin/roles/key_rep/include", {"included": "sales_rep"})
    assert included.status_code == 303
    assert ("g", "key_rep", "sales_rep") in web_platform.permissions.policies("g")
    explained = admin.htmx_get("/admin/explain?user=rep_east&action=view&target=customer"
                               f"&record={org.customers['north']}")  # fmt: skip
    assert explained.status_code == 200 and "data-explanation" in explained.text
    unknown = admin.htmx_get("/admin/explain?user=nobody&action=view&target=customer")
    assert unknown.status_code == 422 and "err-explain-user" in unknown.text
    deleted = admin.post("/admin/roles/key_rep/delete", {})
    assert deleted.status_code == 303
    assert "key_rep" not in {r["code"] for r in web_platform.permissions.roles()}
    assert admin.get("/admin/roles/key_rep").status_code == 404


def test_plugin_settings_validation_errors_shown_per_field(org, login, web_platform):
    """UI-09: the settings form comes from settings_schema; each error sits by its field."""
    from guanxi.web.admin.plugins_admin import effective_settings

    admin = login("admin")
    page = admin.get("/admin/plugins")
    assert page.status_code == 200 and "demo_settings" in page.text
    assert 'name="setting.greeting"' in page.text and "Daily limit" in page.text
    bad = admin.post("/admin/plugins/demo_settings", {
        "settings_shown": "1", "setting.greeting": "far too long", "setting.limit": "0",
    })  # fmt: skip
    assert bad.status_code == 422
    assert 'id="err-s-demo_settings-greeting"' in bad.text
    assert 'id="err-s-demo_settings-limit"' in bad.text
    assert effective_settings(web_platform, "demo_settings") == {"greeting": "hi"}
    typed = admin.post(
        "/admin/plugins/demo_settings", {"settings_shown": "1", "setting.limit": "many"}
    )
    assert typed.status_code == 422 and 'id="err-s-demo_settings-limit"' in typed.text
    good = admin.post("/admin/plugins/demo_settings", {
        "settings_shown": "1", "setting.greeting": "您好", "setting.limit": "3",
        "setting.mode": "slow", "setting.loud": "on",
    })  # fmt: skip
    assert good.status_code == 303
    assert effective_settings(web_platform, "demo_settings") == {
        "greeting": "您好",
        "limit": 3,
        "mode": "slow",
        "loud": True,
    }
    assert admin.post("/admin/plugins/no_such_plugin", {}).status_code == 404


def test_audit_page_lists_the_role_change(org, login, web_platform):
    """PERM-07: a role assigned through the screens is in the audit log, in words."""
    admin = login("admin")
    user_id = org.users["rep_north"]
    admin.post(f"/admin/users/{user_id}", {
        "display_name": "赵北", "department_id": str(org.departments["north"]), "locale": "zh-CN",
        "active": "on", "roles": ["sales_rep", "marketer"], "attr_key": ["region"],
        "attr_value": ["north"],
    })  # fmt: skip
    page = admin.get("/admin/audit?kind=permission")
    assert page.status_code == 200
    assert f"user:{user_id} (rep_north)" in page.text and "role: — → marketer" in page.text
    assert '{"' not in page.text.split("<tbody>")[1]  # no raw JSON
    filtered = admin.get("/admin/audit?kind=department")
    assert "role: — → marketer" not in filtered.text
    assert admin.get("/admin/audit?from=yesterday").status_code == 422


def test_access_log_page_lists_a_view(org, login, web_platform):
    """PERM-08: with logging on for customers, a rep's view shows up, filterable by user."""
    admin = login("admin")
    web_platform.permissions.set_access_logging(org.admin, "customer", False)
    answer = admin.post("/admin/roles/sales_rep/modules/customer/save",
                        {"logging_shown": "1", "access_logging": "on"})  # fmt: skip
    assert answer.status_code == 303
    web_platform.records.get(org.actor("rep_east"), "customer", org.customers["east"])
    page = admin.get("/admin/access?user=rep_east&entity=customer")
    assert page.status_code == 200
    assert f"#{org.customers['east']}" in page.text and "rep_east" in page.text
    other = admin.get("/admin/access?user=rep_north")
    assert f"#{org.customers['east']}" not in other.text
    assert admin.get("/admin/access?user=nobody").status_code == 404


@pytest.mark.parametrize("url", ADMIN_ROUTES)
def test_non_admin_gets_403_on_every_admin_route(org, login, url):
    """UI-09: admin screens are for admins only."""
    rep = login("rep_east")
    assert rep.get(url).status_code == 403


def test_non_admin_posts_are_refused_and_change_nothing(org, login, web_platform):
    rep = login("manager")
    assert rep.post("/admin/roles/sales_rep/actions", {"act.customer.view": ""}).status_code == 403
    assert rep.post("/admin/users/new", {"username": "x1", "display_name": "x"}).status_code == 403
    assert rep.post("/admin/plugins/demo_settings", {}).status_code == 403
    assert ("sales_rep", "customer", "view", "allow") in {
        p[1:] for p in web_platform.permissions.policies("p")
    }


def test_admin_posts_without_csrf_token_are_refused(org, login, web_platform):
    """PERM-09: every state-changing request carries the CSRF token."""
    admin = login("admin")
    refused = admin.client.post("/admin/roles/sales_rep/actions", data={"act.customer.view": ""})
    assert refused.status_code == 403
    refused = admin.client.post("/admin/users/new", data={"username": "x2", "display_name": "x"})
    assert refused.status_code == 403
    assert ("sales_rep", "customer", "view", "allow") in {
        p[1:] for p in web_platform.permissions.policies("p")
    }


def test_display_names_are_escaped(org, login, web_platform):
    """A display name is data, never markup."""
    admin = login("admin")
    answer = admin.post(
        "/admin/users/new",
        {"username": "xss", "password": PASSWORD, "display_name": "<script>alert(1)</script>"},
    )
    assert answer.status_code == 303
    admin.post("/admin/teams", {"name": "<b>组</b>"})
    for url in ("/admin/users", f"/admin/users/{org.actor('xss').user_id}", "/admin/teams"):
        page = admin.get(url)
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def _departments(platform: Any) -> list[dict[str, Any]]:
    from guanxi.auth import identity

    return identity.list_departments(platform.db)
