"""Signing in and out in a real browser (PERM-09, UI-11): headless Chromium against the real
`guanxi serve`, on SQLite or PostgreSQL like the rest of the suite."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import SESSION_COOKIES, LiveServer, login

WRONG_LOGIN = "用户名或密码错误"
PHONE = {"width": 375, "height": 812}


def session_cookies(page: Any) -> list[str]:
    return [c["name"] for c in page.context.cookies() if c["name"] in SESSION_COOKIES]


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the document is wider than the viewport (0: no horizontal scroll)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    return max(0, int(width) - page.viewport_size["width"])


def test_admin_signs_in_through_the_form_and_out_again(page: Any, live_server: LiveServer) -> None:
    """PERM-09, UI-11: the admin signs in with the form, lands on the home page under their
    name with an httpOnly session cookie, signs out and is back at /login without it."""
    page.goto(live_server.url + "/")
    assert page.url.startswith(f"{live_server.url}/login")  # not signed in yet
    assert page.locator("html").get_attribute("lang") == "zh-CN"  # from the browser's locale

    login(page, live_server, live_server.admin_username, live_server.admin_password)

    assert page.url == f"{live_server.url}/"
    user_menu = page.locator(f"header summary[title='{live_server.admin_username}']")
    assert user_menu.is_visible()  # the signed-in person, named in the header
    cookies = {c["name"]: c for c in page.context.cookies() if c["name"] in SESSION_COOKIES}
    assert list(cookies) == ["guanxi_session"]
    assert cookies["guanxi_session"]["httpOnly"] is True

    sign_out = page.locator("form[action='/logout']").get_by_role("button")
    if not sign_out.is_visible():  # tucked away in the user menu: open it
        user_menu.click()
    with page.expect_navigation():
        sign_out.click()

    assert page.url.startswith(f"{live_server.url}/login")
    assert page.locator("#username").is_visible()
    assert session_cookies(page) == []
    page.goto(live_server.url + "/")  # the old session is gone, not just the cookie
    assert page.url.startswith(f"{live_server.url}/login")


def test_wrong_password_shows_the_error_and_sets_no_session(
    page: Any, live_server: LiveServer
) -> None:
    """PERM-09, UI-11: a wrong password re-shows the login page with the error, keeps the
    user name filled in and sets no session cookie."""
    login(page, live_server, live_server.admin_username, "not-the-password-42")

    assert page.url.startswith(f"{live_server.url}/login")
    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert alert.inner_text() == WRONG_LOGIN
    assert page.input_value("#username") == live_server.admin_username
    assert page.input_value("#password") == ""
    assert session_cookies(page) == []


def test_login_form_fits_a_375px_phone_screen(make_page: Any, live_server: LiveServer) -> None:
    """UI-11, PERM-09: on a 375px-wide phone viewport the login form, also with its error
    message, has no horizontal scrolling, and signing in works there."""
    page = make_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(live_server.url + "/login")
    assert page.locator("#username").is_visible() and page.locator("#password").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert horizontal_overflow(page) == 0

    login(page, live_server, live_server.admin_username, "not-the-password-42")
    assert page.get_by_role("alert").inner_text() == WRONG_LOGIN
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert session_cookies(page) == []

    login(page, live_server, live_server.admin_username, live_server.admin_password)
    assert page.url == f"{live_server.url}/"
    assert session_cookies(page) == ["guanxi_session"]


def test_a_user_arranged_in_process_signs_in(page: Any, live_server: LiveServer) -> None:
    """PERM-09: a sales rep created through the platform's services (live_server.add_user)
    while the server runs can sign in at once and sees the home page under their name."""
    live_server.add_user("rep_east", "Dongfeng-2024-东风", "sales_rep", department="华东销售部")

    login(page, live_server, "rep_east", "Dongfeng-2024-东风")

    assert page.url == f"{live_server.url}/"
    assert page.locator("header").get_by_text("rep_east", exact=True).is_visible()
