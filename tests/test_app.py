"""The web app starts on the platform and answers health checks (OPS-03) and the home page."""

from __future__ import annotations

from starlette.testclient import TestClient

from guanxi.app import create_app
from tests.conftest import customer_data


def test_health_and_home_page_show_module_counts(make_platform, system):
    platform = make_platform()
    platform.records.create(system, "customer", customer_data())
    with TestClient(create_app(platform)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        home = client.get("/")
        assert home.status_code == 200
        assert "客户" in home.text and "<td>1</td>" in home.text
