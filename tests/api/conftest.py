"""The JSON API over HTTP: the org of tests/org.py plus a small plugin (a `visit` module and a
delete-approval queue), and API clients that send a user's bearer token."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from guanxi.actor import Actor
from guanxi.app import create_app
from guanxi.auth.passwords import hash_password
from guanxi.core import Guanxi
from guanxi.hookspecs import hookimpl
from guanxi.store.system_tables import user
from tests.org import Org, build_org

SECRET = "a test install's signing key, at least 32 characters"

VISIT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "guanxi:visit",
    "type": "object",
    "required": ["subject"],
    "properties": {
        "subject": {
            "maxLength": 100,
            "x-guanxi": {"type": "text", "label": {"zh-CN": "主题", "en": "Subject"}},
        },
        "cost": {"x-guanxi": {"type": "money", "label": {"zh-CN": "费用", "en": "Cost"}}},
        "visited_on": {"x-guanxi": {"type": "date", "label": {"zh-CN": "日期", "en": "Date"}}},
    },
    "x-guanxi": {
        "entity": "visit",
        "label": {"zh-CN": "拜访", "en": "Visit"},
        "title_field": "subject",
    },
}


class VisitPlugin:
    """A plugin module (`visit`) and an approval queue for deletes that need one (PERM-06)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []

    @hookimpl
    def register_schemas(self) -> list[dict[str, Any]]:
        return [VISIT_SCHEMA]

    @hookimpl
    def register_actions(self) -> dict[str, Any]:
        return {
            "grants": [
                ["sales_rep", "visit", "view"],
                ["sales_rep", "visit", "create"],
                ["sales_rep", "visit", "edit"],
                ["sales_rep", "visit", "delete"],
                ["sales_rep", "visit.*", "read"],
                ["sales_rep", "visit.*", "write"],
            ],
            "scopes": [["sales_rep", "visit", "view", "own"]],
        }

    @hookimpl
    def request_delete_approval(self, entity: Any, record: dict[str, Any]) -> str:
        self.requests.append((entity.name, record["id"]))
        return "pending_approval"


class ApiClient:
    """A TestClient that sends one bearer token (or none)."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **(kwargs.pop("headers", None) or {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def visits() -> VisitPlugin:
    return VisitPlugin()


@pytest.fixture
def api_platform(make_platform: Any, visits: VisitPlugin) -> Guanxi:
    return make_platform(secret_key=SECRET, plugins=[("visits", visits)])


@pytest.fixture
def org(api_platform: Guanxi) -> Org:
    return build_org(api_platform)


@pytest.fixture
def app(api_platform: Guanxi) -> Any:
    return create_app(api_platform)


@pytest.fixture
def test_client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


def issue_token(platform: Guanxi, user_id: int, **narrowing: Any) -> str:
    return platform.login.create_token(Actor.system(), user_id, "api test", **narrowing).token


@pytest.fixture
def api(org: Org, test_client: TestClient) -> Callable[..., ApiClient]:
    """api("rep_east", modules=[...], read_only=True) -> a client with a fresh token."""

    def client_for(username: str | None, **narrowing: Any) -> ApiClient:
        if username is None:
            return ApiClient(test_client, None)
        token = issue_token(org.platform, org.users[username], **narrowing)
        return ApiClient(test_client, token)

    return client_for


PASSWORD = "绿茶-Longjing-2024"


@pytest.fixture
def session(org: Org, app: Any) -> Iterator[Callable[[str], tuple[TestClient, str]]]:
    """session("rep_east") -> (a TestClient signed in through the login form, its CSRF token)."""
    with org.platform.db.unit_of_work() as connection:
        connection.execute(sa.update(user).values(password_hash=hash_password(PASSWORD)))
    clients: list[TestClient] = []

    def sign_in(username: str) -> tuple[TestClient, str]:
        client = TestClient(app, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        assert token
        answer = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        return client, client.get("/api/me").json()["csrf_token"]

    yield sign_in
    for client in clients:
        client.__exit__(None, None, None)
