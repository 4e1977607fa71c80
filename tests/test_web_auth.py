"""Login security over HTTP (PERM-09): the login page, session cookies, CSRF, logout and
bearer tokens, through Starlette's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from guanxi.actor import Actor
from guanxi.app import create_app
from guanxi.auth import identity
from guanxi.auth.passwords import hash_password
from guanxi.core import Guanxi
from guanxi.web_auth import AuthMiddleware
from tests.conftest import customer_data

PASSWORD = "绿茶-Longjing-2024"
SECRET = "a test install's signing key, at least 32 characters"


@pytest.fixture
def platform(make_platform: Any) -> Guanxi:
    platform = make_platform(secret_key=SECRET)
    user_id = identity.create_user(
        platform.db, "boss", "老板", password_hash=hash_password(PASSWORD)
    )
    platform.permissions.assign_role(Actor.system(), user_id, "admin")
    return platform


@pytest.fixture
def client(platform: Guanxi) -> Iterator[TestClient]:
    with TestClient(create_app(platform), follow_redirects=False) as client:
        yield client


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert found, page.text
    return found.group(1)


def log_in(client: TestClient, username: str = "boss", password: str = PASSWORD) -> str:
    """Log in through the form; returns the session cookie's value."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token(page)},
    )
    assert answer.status_code == 303, answer.text
    return client.cookies["guanxi_session"]


def set_cookie_header(response: httpx.Response, name: str) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


# -- the login page -------------------------------------------------------------------------


def test_the_login_page_is_chinese_by_default_and_english_on_request(
    client: TestClient,
) -> None:  # PERM-09
    chinese = client.get("/login")
    assert chinese.status_code == 200
    assert '<html lang="zh-CN">' in chinese.text
    assert "<h1>登录关系 Guanxi</h1>" in chinese.text and "用户名" in chinese.text
    english = client.get("/login?lang=en")
    assert "<h1>Sign in to Guanxi</h1>" in english.text and "User name" in english.text
    by_header = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,zh;q=0.5"})
    assert "<h1>Sign in to Guanxi</h1>" in by_header.text
    preferring_chinese = client.get("/login", headers={"Accept-Language": "zh-CN,en;q=0.5"})
    assert "<h1>登录关系 Guanxi</h1>" in preferring_chinese.text


def test_the_home_page_requires_login_and_health_stays_public(
    client: TestClient,
) -> None:  # PERM-09
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/login?next=%2F"
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_wrong_password_is_shown_on_the_page_with_the_name_escaped(
    client: TestClient,
) -> None:  # PERM-09
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": "<b>boss</b>", "password": "nope", "csrf_token": form_token(page)},
    )
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.text
    assert 'value="&lt;b&gt;boss&lt;/b&gt;"' in answer.text and "<b>boss</b>" not in answer.text
    assert "guanxi_session" not in client.cookies
    english = client.post(
        "/login?lang=en",
        data={"username": "boss", "password": "nope", "csrf_token": form_token(page)},
    )
    assert english.status_code == 401 and "Wrong user name or password" in english.text


def test_a_locked_account_is_told_when_to_try_again(client: TestClient) -> None:  # PERM-09
    token = form_token(client.get("/login"))
    statuses = [
        client.post(
            "/login", data={"username": "boss", "password": "nope", "csrf_token": token}
        ).status_code
        for _attempt in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 429]
    locked = client.post(
        "/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 429 and "账号已锁定" in locked.text


# -- cookies and CSRF -----------------------------------------------------------------------


def test_the_session_cookie_is_httponly_samesite_and_path_wide(
    client: TestClient,
) -> None:  # PERM-09
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"username": "boss", "password": PASSWORD, "csrf_token": form_token(page)},
    )
    header = set_cookie_header(answer, "guanxi_session").lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert "secure" not in header  # plain http on a laptop; GUANXI_COOKIE_SECURE turns it on
    assert answer.headers["location"] == "/"


def test_secure_cookies_behind_https(make_platform: Any) -> None:  # PERM-09
    platform = make_platform(secret_key=SECRET, cookie_secure=True)
    identity.create_user(platform.db, "boss", "老板", password_hash=hash_password(PASSWORD))
    with TestClient(
        create_app(platform), base_url="https://testserver", follow_redirects=False
    ) as client:
        page = client.get("/login")
        assert "secure" in set_cookie_header(page, "guanxi_login_csrf").lower()
        answer = client.post(
            "/login",
            data={"username": "boss", "password": PASSWORD, "csrf_token": form_token(page)},
        )
        header = set_cookie_header(answer, "__Host-guanxi_session").lower()
        assert "secure" in header and "httponly" in header and "path=/" in header
        assert client.get("/").status_code == 200


def test_the_login_form_needs_its_csrf_token(client: TestClient) -> None:  # PERM-09
    client.get("/login")
    missing = client.post("/login", data={"username": "boss", "password": PASSWORD})
    assert missing.status_code == 403
    assert "CSRF" in missing.text and "请刷新页面后重试" in missing.text
    forged = client.post(
        "/login", data={"username": "boss", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 403 and "guanxi_session" not in client.cookies
    client.cookies.clear()  # a form posted from another site carries no token cookie
    token = form_token(client.get("/login"))
    client.cookies.clear()
    crossed = client.post(
        "/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token}
    )
    assert crossed.status_code == 403 and "guanxi_session" not in client.cookies


def test_unsafe_requests_with_a_session_need_the_csrf_token(
    client: TestClient,
) -> None:  # PERM-09
    log_in(client)
    home = client.get("/")
    token = form_token(home)
    refused = client.post("/logout")
    assert refused.status_code == 403 and "CSRF" in refused.text
    refused_json = client.post("/api/tokens", json={"name": "x"})
    assert refused_json.status_code == 403
    assert refused_json.json()["errors"][0]["field"] == "csrf_token"
    english = client.post("/logout?lang=en")  # a signed-in user's own locale beats the header
    assert "Reload the page and try again" in english.text
    assert client.get("/").status_code == 200  # nothing happened
    by_header = client.post("/api/tokens", json={"name": "报表"}, headers={"X-CSRF-Token": token})
    assert by_header.status_code == 201
    by_form = client.post("/logout", data={"csrf_token": token})
    assert by_form.status_code == 303 and by_form.headers["location"] == "/login"


def test_a_form_read_by_the_csrf_check_still_reaches_the_page(platform: Guanxi) -> None:
    async def echo(request: Request) -> JSONResponse:  # PERM-09
        form = await request.form()
        return JSONResponse({"note": form.get("note"), "user": request.state.actor.username})

    app = Starlette(
        routes=[Route("/echo", echo, methods=["POST"])],
        middleware=[Middleware(AuthMiddleware, platform=platform)],
    )
    cookie, _actor = platform.login.login("boss", PASSWORD)
    _actor, csrf = platform.login.session_actor(cookie)
    with TestClient(app, cookies={"guanxi_session": cookie}) as client:
        answer = client.post("/echo", data={"csrf_token": csrf, "note": "你好"})
        assert answer.json() == {"note": "你好", "user": "boss"}
        files = {"attachment": ("a.txt", b"x" * 100_000)}
        upload = client.post("/echo", data={"csrf_token": csrf, "note": "附件"}, files=files)
        assert upload.json()["note"] == "附件"
        assert client.post("/echo", data={"note": "无令牌"}).status_code == 403


def test_the_login_page_is_neither_cached_nor_framed(client: TestClient) -> None:  # PERM-09
    page = client.get("/login")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:  # PERM-09
    cookie = log_in(client)
    token = form_token(client.get("/"))
    client.post("/logout", data={"csrf_token": token})
    assert "guanxi_session" not in client.cookies
    client.cookies.set("guanxi_session", cookie)  # an old copy of the cookie
    assert client.get("/").status_code == 303


def test_logging_in_again_ends_the_previous_session(
    platform: Guanxi, client: TestClient
) -> None:  # PERM-09
    first = log_in(client)
    second = log_in(client)
    assert first != second
    assert platform.login.session_actor(first) is None
    assert platform.login.session_actor(second) is not None


def test_next_only_leads_to_pages_of_this_site(client: TestClient) -> None:  # PERM-09
    page = client.get("/login?next=/healthz")
    assert 'name="next" value="/healthz"' in page.text
    for target, expected in [("/healthz", "/healthz"), ("//evil.example/", "/")]:
        client.cookies.delete("guanxi_session")
        answer = client.post(
            "/login",
            data={
                "username": "boss",
                "password": PASSWORD,
                "csrf_token": form_token(page),
                "next": target,
            },
        )
        assert answer.headers["location"] == expected


# -- the home page --------------------------------------------------------------------------


def test_home_counts_records_for_the_logged_in_user(platform: Guanxi, client: TestClient) -> None:
    platform.records.create(Actor.system(), "customer", customer_data())  # PERM-09
    log_in(client)
    home = client.get("/")
    assert home.status_code == 200
    assert re.search(
        r'<div class="figure">1</div>\s*<div class="figure-label">客户</div>', home.text
    )
    assert '<summary title="boss">老板</summary>' in home.text


def test_modules_a_user_may_not_view_are_not_listed(
    platform: Guanxi, client: TestClient
) -> None:  # PERM-09, PERM-02
    system = Actor.system()
    platform.records.create(system, "customer", customer_data())
    marketer = identity.create_user(
        platform.db, "marketer", "市场专员", password_hash=hash_password(PASSWORD)
    )
    platform.permissions.assign_role(system, marketer, "marketer")  # customers and contacts
    identity.create_user(platform.db, "newcomer", "新人", password_hash=hash_password(PASSWORD))
    log_in(client, "marketer")
    home = client.get("/?lang=en")
    assert home.status_code == 200
    assert re.search(
        r'<div class="figure">1</div>\s*<div class="figure-label">Customer</div>', home.text
    )
    assert 'data-module="contact"' in home.text
    assert 'data-module="followup"' not in home.text and 'data-module="task"' not in home.text
    client.cookies.clear()
    log_in(client, "newcomer")  # no role yet: signed in, but no module to show
    empty = client.get("/?lang=en")
    assert empty.status_code == 200 and ">新人</summary>" in empty.text
    assert 'data-module="customer"' not in empty.text


# -- bearer tokens --------------------------------------------------------------------------


def test_a_bearer_token_answers_json_and_needs_no_csrf_token(
    platform: Guanxi, client: TestClient
) -> None:  # PERM-09
    user_id = identity.user_id_for(platform.db, "boss")
    kept = platform.login.create_token(Actor.system(), user_id, "ERP")
    spare = platform.login.create_token(Actor.system(), user_id, "spare")
    bearer = {"Authorization": f"Bearer {kept.token}"}
    me = client.get("/api/me", headers=bearer)
    assert me.status_code == 200
    assert me.json()["username"] == "boss" and me.json()["auth"] == "token"
    revoked = client.delete(f"/api/tokens/{spare.id}", headers=bearer)
    assert revoked.status_code == 204
    assert platform.login.token_actor(spare.token) is None
    listed = client.get("/api/tokens", headers=bearer).json()["tokens"]
    assert [t["name"] for t in listed] == ["ERP"] and "token_hash" not in listed[0]


def test_a_bad_bearer_token_is_refused(client: TestClient) -> None:  # PERM-09
    answer = client.get("/api/me", headers={"Authorization": "Bearer gx_00000000_nope"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert answer.json()["errors"][0]["code"] == "invalid_token"
    assert client.get("/api/me").status_code == 401


def test_tokens_are_created_while_signed_in_not_with_another_token(
    platform: Guanxi, client: TestClient
) -> None:  # PERM-09: a leaked token cannot mint its successors
    user_id = identity.user_id_for(platform.db, "boss")
    existing = platform.login.create_token(Actor.system(), user_id, "ERP")
    minted = client.post(
        "/api/tokens",
        json={"name": "more"},
        headers={"Authorization": f"Bearer {existing.token}"},
    )
    assert minted.status_code == 403 and minted.json()["errors"][0]["code"] == "session_required"
    log_in(client)
    csrf = client.get("/api/me").json()["csrf_token"]
    created = client.post(
        "/api/tokens",
        json={"name": "报表", "expires_at": "2099-01-01T00:00:00Z"},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["expires_at"] == "2099-01-01T00:00:00Z"
    assert platform.login.token_actor(body["token"]) is not None
    invalid = client.post("/api/tokens", json={"name": ""}, headers={"X-CSRF-Token": csrf})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "name"
