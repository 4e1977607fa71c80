"""Web form admin screens over HTTP (API-04, UI-09): create, edit, embed snippets,
activate/deactivate, submission log and delete, for admins only; and the public form posted
from a browser that is signed in as staff."""

from __future__ import annotations

import re
import time
from typing import Any

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.defaults.webforms import service, spam
from guanxi.store.system_tables import audit, web_form
from tests.org import Org


def new_form_data(org: Org, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "展会登记",
        "owner_id": str(org.users["rep_east"]),
        "fields": ["mobile", "company", "name"],
        "order.name": "1", "order.company": "2", "order.mobile": "3",
        "default.source": "exhibition",
        "default.source_detail": "",
        "match_fields": ["mobile"],
        "thank_you.zh-CN": "谢谢！", "thank_you.en": "Thanks!",
        "redirect_url": "",
        "active_shown": "1", "active": "on",
    }  # fmt: skip
    data.update(changes)
    return data


def only_form(org: Org) -> service.WebForm:
    [row] = service.list_forms(org.platform, org.admin)
    return row["form"]


def test_admin_creates_edits_and_embeds_a_form(org, login):
    """API-04: the list, the new-form screen with its field checklist, the edit screen with
    the iframe, HTML and curl snippets; every change audited."""
    admin = login("admin")
    empty = admin.get("/admin/forms")
    assert empty.status_code == 200 and "/admin/forms/new" in empty.text
    blank = admin.get("/admin/forms/new?entity=customer")
    assert blank.status_code == 200
    assert 'name="fields" value="name"' in blank.text and 'name="default.source"' in blank.text
    assert 'name="fields" value="tags"' not in blank.text  # needs a signed-in user
    created = admin.post("/admin/forms/new?entity=customer", new_form_data(org))
    assert created.status_code == 303, created.text
    form = only_form(org)
    assert created.headers["location"] == f"/admin/forms/{form.id}?saved=1"
    assert form.fields == ("name", "company", "mobile")  # by the order numbers
    assert form.defaults == {"source": "exhibition"} and form.match_fields == ("mobile",)
    assert form.thank_you == {"zh-CN": "谢谢！", "en": "Thanks!"}
    page = admin.get(f"/admin/forms/{form.id}")
    assert page.status_code == 200
    assert f"http://testserver/f/{form.key}" in page.text
    assert "&lt;iframe src=&#34;http://testserver/f/" in page.text  # shown as text to copy
    assert f"action=&#34;http://testserver/f/{form.key}&#34;" in page.text
    assert f"curl -X POST &#39;http://testserver/api/forms/{form.key}&#39;" in page.text
    edited = admin.post(f"/admin/forms/{form.id}", new_form_data(
        org, name="展会登记 2024", **{"thank_you.en": ""}))  # fmt: skip
    assert edited.status_code == 303
    form = only_form(org)
    assert form.name == "展会登记 2024" and form.thank_you == {"zh-CN": "谢谢！"}
    listed = admin.get("/admin/forms")
    assert "展会登记 2024" in listed.text and f'data-form="{form.id}"' in listed.text
    with org.platform.db.read() as connection:
        kinds = connection.execute(
            sa.select(audit.c.actor_name).where(audit.c.kind == "web_form")
        ).scalars().all()  # fmt: skip
    assert kinds == ["admin", "admin"]
    assert "web_form" in admin.get("/admin/audit?kind=web_form").text


def test_invalid_definition_is_shown_again_with_messages(org, login):
    """API-04: a required field neither on the form nor fixed, and an http redirect, are
    refused by name; nothing is stored."""
    admin = login("admin")
    answer = admin.post("/admin/forms/new?entity=customer", new_form_data(
        org, **{"default.source": "", "redirect_url": "http://example.com"}))  # fmt: skip
    assert answer.status_code == 422
    assert "线索来源" in answer.text and "https://" in answer.text
    assert 'value="展会登记"' in answer.text  # what was typed stays
    with org.platform.db.read() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(web_form)).scalar() == 0


def test_deactivate_activate_log_and_delete(org, login):
    """API-04: switching a form off makes its address 404; the submission log lists the
    outcome and links the record; deleting removes form and log, not the records."""
    admin = login("admin")
    admin.post("/admin/forms/new?entity=customer", new_form_data(org))
    form = only_form(org)
    visitor = admin.client  # the same browser: the public page ignores the staff session
    answer = visitor.post(f"/api/forms/{form.key}", json={"name": "刘洋", "company": "洋帆物流",
                                                           "mobile": "13500001234"})  # fmt: skip
    assert answer.status_code == 201
    record = org.platform.records.query(Actor.system(), "customer", {
        "field": "name", "op": "eq", "value": "刘洋"}).rows[0]  # fmt: skip
    log = admin.get(f"/admin/forms/{form.id}/submissions")
    assert log.status_code == 200 and f"/r/customer/{record['id']}" in log.text
    assert 'data-outcome="created"' in log.text and "13500001234" not in log.text
    assert admin.get(f"/admin/forms/{form.id}/submissions?outcome=spam").text.count(
        "data-submission=") == 0  # fmt: skip
    assert admin.post(f"/admin/forms/{form.id}/active", {"active": "off"}).status_code == 303
    assert visitor.get(f"/f/{form.key}").status_code == 404
    assert admin.post(f"/admin/forms/{form.id}/active", {"active": "on"}).status_code == 303
    assert visitor.get(f"/f/{form.key}").status_code == 200
    deleted = admin.post(f"/admin/forms/{form.id}/delete", {}, htmx=True)
    assert deleted.status_code == 204 and deleted.headers["HX-Redirect"] == "/admin/forms?deleted=1"
    assert admin.get(f"/admin/forms/{form.id}").status_code == 404
    assert visitor.get(f"/f/{form.key}").status_code == 404
    assert org.stored("customer", record["id"])["name"] == "刘洋"


def test_non_admins_cannot_open_or_change_forms(org, login):
    """API-04, PERM-01: only administrators manage web forms."""
    admin = login("admin")
    admin.post("/admin/forms/new?entity=customer", new_form_data(org))
    form = only_form(org)
    rep = login("rep_east")
    for url in ("/admin/forms", "/admin/forms/new", f"/admin/forms/{form.id}",
                f"/admin/forms/{form.id}/submissions"):  # fmt: skip
        assert rep.get(url).status_code == 403, url
    assert rep.post("/admin/forms/new?entity=customer", new_form_data(org)).status_code == 403
    assert rep.post(f"/admin/forms/{form.id}/active", {"active": "off"}).status_code == 403
    assert rep.post(f"/admin/forms/{form.id}/delete", {}).status_code == 403
    assert only_form(org).active and len(service.list_forms(org.platform, org.admin)) == 1


def test_signed_in_staff_posting_the_public_form_is_an_anonymous_visitor(org, login):
    """API-04, PERM-09: the public form needs no CSRF token and never acts as the signed-in
    user: the record is created as the form's owner."""
    admin = login("admin")
    admin.post("/admin/forms/new?entity=customer", new_form_data(org))
    form = only_form(org)
    manager = login("manager")
    page = manager.get(f"/f/{form.key}")
    assert page.status_code == 200
    token = re.search(rf'name="{spam.TOKEN_FIELD}" value="([^"]+)"', page.text).group(1)
    assert spam.fill_problem(org.platform, form.key, token, now=time.time() + 5) is None
    older = spam.fill_token(org.platform, form.key, shown_at=time.time() - 10)
    answer = manager.client.post(f"/f/{form.key}", data={  # no csrf_token field
        "name": "孙悦", "company": "悦来客栈", "mobile": "13600004321",
        spam.TOKEN_FIELD: older})  # fmt: skip
    assert answer.status_code == 200 and "谢谢！" in answer.text
    record = org.platform.records.query(Actor.system(), "customer", {
        "field": "name", "op": "eq", "value": "孙悦"}).rows[0]  # fmt: skip
    assert record["owner_id"] == org.users["rep_east"]
    history = org.platform.records.history(Actor.system(), "customer", record["id"])
    assert history[0]["actor_name"] == "rep_east"
    # the session still works for staff pages afterwards
    assert manager.get("/").status_code == 200
