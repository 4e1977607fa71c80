"""The page frame (UI-01, UI-11, UI-12): navigation follows permissions, the language switch is
saved per user, the password can be changed, notifications can be read."""

from __future__ import annotations

from guanxi import notifications
from tests.org import build_org
from tests.web.conftest import PASSWORD

NEW = "另一个-Password-9"


def test_navigation_lists_only_modules_the_user_may_view(org, login):
    agent = login("agent")
    page = agent.get("/")
    assert 'data-module="customer"' in page.text
    admin_link = 'href="/admin"'
    assert admin_link not in page.text  # UI-09 entries only for admins
    assert admin_link in login("admin").get("/").text


def test_language_switch_is_saved_for_the_user(org, login):
    rep = login("rep_east")
    assert "退出登录" in rep.get("/").text or "Sign out" not in rep.get("/").text
    answer = rep.post("/me/locale", {"locale": "en", "next": "/?lang=zh-CN"})
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    english = rep.get("/")
    assert 'lang="en"' in english.text and "Sign out" in english.text
    assert rep.post("/me/locale", {"locale": "fr", "next": "/"}).status_code == 400


def test_locale_switch_without_csrf_token_is_refused(org, login):
    rep = login("rep_east")
    answer = rep.client.post("/me/locale", data={"locale": "en", "next": "/"})
    assert answer.status_code == 403
    assert 'lang="zh-CN"' in rep.get("/").text


def test_password_change_checks_the_current_password_and_ends_sessions(org, login):
    rep = login("rep_east")
    wrong = rep.post(
        "/me/password",
        {"current_password": "nope", "new_password": NEW, "repeat_password": NEW},
    )
    assert wrong.status_code == 422 and 'id="err-current_password"' in wrong.text
    differ = rep.post(
        "/me/password",
        {"current_password": PASSWORD, "new_password": NEW, "repeat_password": "x"},
    )
    assert differ.status_code == 422 and 'id="err-repeat_password"' in differ.text
    done = rep.post(
        "/me/password",
        {"current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW},
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/login")
    assert rep.get("/").status_code == 303  # this session ended with the change


def test_notification_centre_shows_due_reminders_and_marks_them_read(org, login, web_platform):
    user_id = org.users["rep_east"]
    with web_platform.db.unit_of_work() as connection:
        notifications.notify(
            connection,
            user_id,
            "reminder",
            {"zh-CN": "回访东海重工", "en": "Call back"},
            link="/r/customer/1",
        )
    rep = login("rep_east")
    home = rep.get("/")
    assert "data-unread>1<" in home.text
    centre = rep.get("/notifications")
    assert "回访东海重工" in centre.text
    notification_id = notifications.entries(web_platform.db, org.actor("rep_east"))[0]["id"]
    read = rep.post(f"/notifications/{notification_id}/read", {"next": "/r/customer/1"})
    assert read.status_code == 303 and read.headers["location"] == "/r/customer/1"
    assert "data-unread" not in rep.get("/").text
    # Another user's notification cannot be marked read by this one.
    other = login("rep_north")
    assert other.post(f"/notifications/{notification_id}/read", {}).status_code == 303
    assert notifications.unread_count(web_platform.db, org.actor("rep_north")) == 0


def test_picker_offers_only_records_in_the_users_scope(org, login):
    rep = login("rep_east")
    found = rep.htmx_get("/pick/customer?field=customer&_q_customer=东")
    assert "东海重工" in found.text and "东岳精密" not in found.text  # a colleague's customer
    users = rep.htmx_get("/pick/user?field=owner_id&_q_owner_id=王")
    assert "王东" in users.text


PLUGIN_MODULE = """
from guanxi.hookspecs import hookimpl
from guanxi.web.screen import screen
from starlette.routing import Route


@screen
def page(s):
    return s.render("gx_test_screens/page.html", greeting=s.t("Hello"))


@hookimpl
def register_routes():
    return [Route("/plugins/hello", page)]


@hookimpl
def menu_items(platform, actor):
    return [{"href": "/plugins/hello", "label": {"zh-CN": "问候", "en": "Greeting"}}]


@hookimpl
def record_actions(platform, actor, entity, record):
    if entity.name == "customer":
        return [{"label": {"zh-CN": "移入公海", "en": "Move to pool"},
                 "href": f"/plugins/pool/{record['id']}", "method": "post"}]


@hookimpl
def dashboard_panels(platform, actor):
    count = platform.records.count(actor, "customer").value
    return [{"title": {"zh-CN": "公海", "en": "Pool"},
             "figures": [{"label": {"zh-CN": "我的客户", "en": "Mine"}, "value": count}]}]
"""


def test_plugins_add_menu_entries_screens_actions_and_panels(
    make_platform, tmp_path, monkeypatch
):  # UI-01, UI-04, UI-08: plugins contribute to the screens through hooks
    import importlib
    import sys

    from starlette.testclient import TestClient

    from guanxi.actor import Actor
    from guanxi.app import create_app
    from tests.web.conftest import SECRET, WebClient, form_token

    package = tmp_path / "plugin_src"
    (package / "templates" / "gx_test_screens").mkdir(parents=True)
    (package / "gx_test_screens.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    (package / "templates" / "gx_test_screens" / "page.html").write_text(
        '{% extends "base.html" %}{% block content %}<p id="greeting">{{ greeting }}</p>'
        "{% endblock %}",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(package))
    module = importlib.import_module("gx_test_screens")
    try:
        platform = make_platform(secret_key=SECRET, plugins=[("gx_test_screens", module)])
        org = build_org(platform)
        import sqlalchemy as sa

        from guanxi.auth.passwords import hash_password
        from guanxi.store.system_tables import user

        with platform.db.unit_of_work() as connection:
            connection.execute(sa.update(user).values(password_hash=hash_password(PASSWORD)))
        with TestClient(create_app(platform), follow_redirects=False) as client:
            page = client.get("/login")
            client.post(
                "/login",
                data={"username": "rep_east", "password": PASSWORD,
                      "csrf_token": form_token(page.text)},
            )  # fmt: skip
            rep = WebClient(client, "")
            home = rep.get("/")
            assert 'href="/plugins/hello"' in home.text and "问候" in home.text
            assert "公海" in home.text  # the dashboard panel
            screen_page = rep.get("/plugins/hello?lang=en")
            assert (
                screen_page.status_code == 200 and '<p id="greeting">Hello</p>' in screen_page.text
            )
            detail = rep.get(f"/r/customer/{org.customers['east']}")
            assert (
                "移入公海" in detail.text
                and f"/plugins/pool/{org.customers['east']}" in detail.text
            )
            # UI-09: an admin switches the plugin off: its entry, panel and screen go at once.
            from guanxi.plugin_overrides import save_plugin

            save_plugin(platform, org.admin, "gx_test_screens", False, None)
            assert 'href="/plugins/hello"' not in rep.get("/").text
            assert rep.get("/plugins/hello").status_code == 404
            save_plugin(platform, org.admin, "gx_test_screens", True, None)
            assert rep.get("/plugins/hello").status_code == 200
        assert Actor.system()  # the platform stays usable after the client closed
    finally:
        sys.modules.pop("gx_test_screens", None)
