"""The webhook admin screens (API-03) over HTTP: create with entity, event and owner pickers,
the secret and its rotation, activate / deactivate, a test event, the delivery log with its
status filter, redelivery by hand, deletion; everyone but administrators is refused."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi import clock
from guanxi.core import Guanxi
from guanxi.defaults.webhooks.service import webhooks
from guanxi.store.system_tables import webhook, webhook_delivery
from tests.test_webhooks import Receiver, deliver, receiver  # noqa: F401 (fixture)
from tests.web.conftest import SECRET


@pytest.fixture
def web_platform(make_platform: Any) -> Guanxi:
    """Jobs run only when a test says so (run_due), not in the app's background worker."""
    return make_platform(secret_key=SECRET, webhook_allow_private=True, jobs_in_web=False)


def form(org: Any, url: str, **values: Any) -> dict[str, Any]:
    return {
        "name": "ERP 同步",
        "url": url,
        "entity": "customer",
        "events": ["created", "stage_changed"],
        "owner_id": str(org.users["rep_east"]),
        "active": "on",
        **values,
    }


def secret_on(page: str) -> str:
    found = re.search(r"<code data-secret>([^<]+)</code>", page)
    assert found, page[:2000]
    return found.group(1)


def create(admin: Any, org: Any, url: str) -> int:
    answer = admin.post("/admin/webhooks/new", form(org, url))
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/admin/webhooks/(\d+)\?notice=created", answer.headers["location"])
    assert found
    return int(found.group(1))


def test_admin_creates_a_webhook_and_sees_its_secret(org, login, receiver):  # noqa: F811
    """API-03: the form offers modules, events and owners; the new endpoint shows its secret."""
    admin = login("admin")
    page = admin.get("/admin/webhooks/new")
    assert page.status_code == 200
    assert 'name="entity"' in page.text and '<option value="customer"' in page.text
    assert 'name="events" value="stage_changed"' in page.text
    assert f'<option value="{org.users["rep_east"]}"' in page.text
    webhook_id = create(admin, org, receiver.url)
    detail = admin.get(f"/admin/webhooks/{webhook_id}?notice=created")
    assert detail.status_code == 200
    secret = secret_on(detail.text)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret == webhooks(org.platform).endpoint(org.admin, webhook_id)["secret"]
    listing = admin.get("/admin/webhooks")
    assert listing.status_code == 200
    assert "ERP 同步" in listing.text and receiver.url in listing.text
    assert secret not in listing.text
    assert "王东" in listing.text  # the owner


def test_invalid_form_answers_422_naming_each_field(org, login):
    """API-03: every problem next to its field, nothing stored."""
    admin = login("admin")
    answer = admin.post("/admin/webhooks/new", form(org, "ftp://example.com/x", name="",
                                                     events=[], owner_id=""))  # fmt: skip
    assert answer.status_code == 422
    for key in ("name", "url", "events", "owner_id"):
        assert f'id="err-{key}"' in answer.text, key
    assert "http:// 或 https://" in answer.text  # zh-CN by default
    assert 'value="ftp://example.com/x"' in answer.text  # what was typed stays
    with org.platform.db.read() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(webhook)).scalar() == 0


def test_private_url_is_refused_on_the_form_without_the_setting(org, login, monkeypatch):
    """API-03: with private targets not allowed, the form says why the URL is refused."""
    strict = dataclasses.replace(org.platform.settings, webhook_allow_private=False)
    monkeypatch.setattr(org.platform, "settings", strict)
    answer = login("admin").post("/admin/webhooks/new", form(org, "http://127.0.0.1:9/x"))
    assert answer.status_code == 422
    assert 'id="err-url"' in answer.text and "内网" in answer.text


def test_edit_rotate_deactivate_and_delete(org, login, receiver):  # noqa: F811
    """API-03: edits are saved, rotation replaces the secret, deactivation stops events,
    delete removes the endpoint."""
    admin = login("admin")
    webhook_id = create(admin, org, receiver.url)
    first = secret_on(admin.get(f"/admin/webhooks/{webhook_id}").text)
    saved = admin.post(f"/admin/webhooks/{webhook_id}",
                       form(org, receiver.url, name="OA 推送", events=["updated"]))  # fmt: skip
    assert saved.status_code == 303
    stored = webhooks(org.platform).endpoint(org.admin, webhook_id)
    assert stored["name"] == "OA 推送" and stored["events"] == ["updated"]
    assert admin.post(f"/admin/webhooks/{webhook_id}/rotate").status_code == 303
    second = secret_on(admin.get(f"/admin/webhooks/{webhook_id}").text)
    assert second != first
    assert admin.post(f"/admin/webhooks/{webhook_id}/active", {"active": "off"}).status_code == 303
    page = admin.get(f"/admin/webhooks/{webhook_id}?notice=deactivated")
    assert '<input type="hidden" name="active" value="on">' in page.text  # offers "Activate"
    assert webhooks(org.platform).endpoint(org.admin, webhook_id)["active"] is False
    org.platform.records.update(org.admin, "customer", org.customers["east"], {"name": "停用"},
                                version=org.version("customer", org.customers["east"]))  # fmt: skip
    assert deliver(org.platform) == []
    admin.post(f"/admin/webhooks/{webhook_id}/active", {"active": "on"})
    assert webhooks(org.platform).endpoint(org.admin, webhook_id)["active"] is True
    gone = admin.post(f"/admin/webhooks/{webhook_id}/delete", htmx=True)
    assert gone.status_code == 204 and gone.headers["HX-Redirect"].startswith("/admin/webhooks")
    assert admin.get(f"/admin/webhooks/{webhook_id}").status_code == 404


def test_test_event_delivery_log_filter_and_redelivery(org, login, receiver):  # noqa: F811
    """API-03: "send test event" is delivered through the job runner; the log shows time,
    event, status, attempts, HTTP status and response time, filters by status, and a
    failed delivery is sent again by hand."""
    admin = login("admin")
    webhook_id = create(admin, org, receiver.url)
    receiver.script = [500] * 9
    org.platform.records.update(org.admin, "customer", org.customers["east"], {"stage": "deal"},
                                version=org.version("customer", org.customers["east"]))  # fmt: skip
    moment = clock.now_utc()
    for _ in range(9):  # every attempt meets a 500 until the last marks it failed
        deliver(org.platform, moment)
        moment += timedelta(hours=7)
    assert admin.post(f"/admin/webhooks/{webhook_id}/test").status_code == 303
    assert [o.status for o in deliver(org.platform)] == ["ok"]
    test_payload = next(p for p in receiver.payloads() if p["event"] == "customer.test")
    assert test_payload["record"] == {} and test_payload["actor"]["name"] == "管理员"
    log = admin.get(f"/admin/webhooks/{webhook_id}/deliveries")
    assert log.status_code == 200
    assert "customer.test" in log.text and "customer.stage_changed" in log.text
    assert re.search(r'data-status="delivered"', log.text)
    failed_only = admin.get(f"/admin/webhooks/{webhook_id}/deliveries?status=failed")
    assert "customer.stage_changed" in failed_only.text and "customer.test" not in failed_only.text
    assert admin.get(f"/admin/webhooks/{webhook_id}/deliveries?status=bogus").status_code == 400
    with org.platform.db.read() as connection:
        failed_id = connection.execute(sa.select(webhook_delivery.c.id).where(
            webhook_delivery.c.status == "failed")).scalar_one()  # fmt: skip
    answer = admin.post(f"/admin/webhooks/deliveries/{failed_id}/redeliver")
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("?notice=redelivered")
    pending = admin.get(f"/admin/webhooks/{webhook_id}/deliveries?status=pending")
    assert f'data-delivery="{failed_id}"' in pending.text
    assert [o.status for o in deliver(org.platform)] == ["ok"]
    delivered = admin.get(f"/admin/webhooks/{webhook_id}/deliveries?status=delivered")
    row = re.search(rf'<tr data-delivery="{failed_id}">(.*?)</tr>', delivered.text, re.S)
    assert row and '<td class="num" data-attempts>1</td>' in row.group(1)
    assert "200" in row.group(1) and " 毫秒" in row.group(1)
    body_page = admin.get(f"/admin/webhooks/deliveries/{failed_id}")
    assert body_page.status_code == 200 and "customer.stage_changed" in body_page.text
    sent = json.loads(receiver.requests[-1]["body"])
    assert sent["id"] == str(failed_id) and sent["changes"]["stage"] == ["potential", "deal"]


def test_non_admins_are_refused(org, login):
    """API-03: only administrators open or change webhooks; a crafted POST changes nothing."""
    rep = login("rep_east")
    for url in ("/admin/webhooks", "/admin/webhooks/new", "/admin/webhooks/1",
                "/admin/webhooks/1/deliveries", "/admin/webhooks/deliveries/1"):  # fmt: skip
        assert rep.get(url).status_code == 403, url
    answer = rep.post("/admin/webhooks/new", form(org, "http://127.0.0.1:9/x"))
    assert answer.status_code == 403
    for url in ("/admin/webhooks/1/rotate", "/admin/webhooks/1/delete", "/admin/webhooks/1/test",
                "/admin/webhooks/deliveries/1/redeliver"):  # fmt: skip
        assert rep.post(url).status_code == 403, url
    with org.platform.db.read() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(webhook)).scalar() == 0


def test_webhook_changes_appear_in_the_audit_log(org, login, receiver):  # noqa: F811
    """API-03 + PERM-07: the audit log filters on the "webhook" kind."""
    admin = login("admin")
    webhook_id = create(admin, org, receiver.url)
    page = admin.get("/admin/audit?kind=webhook")
    assert page.status_code == 200
    assert '<option value="webhook" selected' in page.text
    assert f"webhook:{webhook_id}" in page.text
