"""The web app starts on the platform and answers health checks (OPS-03) and the home page."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from guanxi.app import create_app
from guanxi.auth import identity
from guanxi.auth.passwords import hash_password
from tests.conftest import customer_data

PASSWORD = "绿茶-Longjing-2024"


def test_health_and_home_page_show_module_counts(make_platform, system):
    platform = make_platform()
    platform.records.create(system, "customer", customer_data())
    admin = identity.create_user(platform.db, "boss", "老板", password_hash=hash_password(PASSWORD))
    platform.permissions.assign_role(system, admin, "admin")
    with TestClient(create_app(platform)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        login_page = client.get("/")  # PERM-09: the home page needs a login
        assert login_page.url.path == "/login"
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
        home = client.post(
            "/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token}
        )
        assert home.status_code == 200 and home.url.path == "/"
        assert 'data-module="customer"' in home.text  # UI-01: the module is in the navigation
        assert re.search(
            r'<div class="figure">1</div>\s*<div class="figure-label">客户</div>', home.text
        )
