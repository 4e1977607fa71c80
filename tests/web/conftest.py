"""Screens over HTTP: the org of tests/org.py, every user with the same password, and a
TestClient per user logged in through the real login form (session cookie + CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from guanxi.app import create_app
from guanxi.auth.passwords import hash_password
from guanxi.core import Guanxi
from guanxi.store.system_tables import user
from tests.org import Org, build_org

PASSWORD = "绿茶-Longjing-2024"
SECRET = "a test install's signing key, at least 32 characters"


class WebClient:
    """A logged-in browser stand-in: `csrf` is the token forms and htmx requests carry."""

    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: Any = None, *, htmx: bool = False, **kwargs: Any) -> Any:
        """A form POST carrying the CSRF token (as a form field, like a real form)."""
        pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
        fields: dict[str, list[Any]] = {}
        for key, value in pairs:
            fields.setdefault(key, []).extend(value if isinstance(value, list) else [value])
        fields["csrf_token"] = [self.csrf]
        headers = dict(kwargs.pop("headers", {}) or {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, data=fields, headers=headers, **kwargs)

    def htmx_get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, headers={"HX-Request": "true"}, **kwargs)


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found, html[:500]
    return found.group(1)


@pytest.fixture
def web_platform(make_platform: Any) -> Guanxi:
    return make_platform(secret_key=SECRET)


@pytest.fixture
def org(web_platform: Guanxi) -> Org:
    """tests/org.py's organisation; every user's password is PASSWORD."""
    built = build_org(web_platform)
    with web_platform.db.unit_of_work() as connection:
        connection.execute(sa.update(user).values(password_hash=hash_password(PASSWORD)))
    return built


@pytest.fixture
def login(web_platform: Guanxi) -> Iterator[Callable[[str], WebClient]]:
    """login("rep_east") -> a WebClient with that user's session (one app per test)."""
    app = create_app(web_platform)
    clients: list[TestClient] = []

    def log_in(username: str) -> WebClient:
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": form_token(page.text)},
        )
        assert answer.status_code == 303, answer.text
        home = client.get("/")
        assert home.status_code == 200, home.text
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
        assert found
        return WebClient(client, found.group(1))

    yield log_in
    for client in clients:
        client.__exit__(None, None, None)
