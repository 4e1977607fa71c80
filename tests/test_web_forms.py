"""Inbound web forms (API-04): the public page and JSON endpoint create records as the form's
owner through the record pipeline, with spam checks, a per-IP limit, a size limit and
duplicate matching; the service checks what an admin configures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from guanxi.actor import Actor
from guanxi.app import create_app
from guanxi.defaults.webforms import service, spam
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi.hookspecs import hookimpl
from guanxi.store.system_tables import audit, notification, web_form, web_form_submission
from tests.org import MOBILES, Org, build_org

SECRET = "a test install's signing key, at least 32 characters"
FORM = {
    "name": "官网咨询",
    "entity": "customer",
    "fields": ["name", "company", "mobile", "email", "industry"],
    "defaults": {"source": "website", "source_detail": "2024 春季活动"},
    "match_fields": ["mobile"],
    "thank_you": {
        "zh-CN": "感谢您的咨询，我们会尽快联系您。",
        "en": "Thanks, we will call you soon.",
    },
    "owner_id": None,  # filled in per test: rep_east
}
VISITOR = {"name": "陈晨", "company": "晨光文具有限公司", "mobile": "13700001111",
           "email": "chen@example.cn", "industry": "retail"}  # fmt: skip


@pytest.fixture
def org(make_platform: Any) -> Org:
    return build_org(make_platform(secret_key=SECRET))


def make_form(org: Org, **changes: Any) -> service.WebForm:
    values = {**FORM, "owner_id": org.users["rep_east"], **changes}
    return service.create_form(org.platform, org.admin, values)


@pytest.fixture
def client(org: Org) -> Iterator[TestClient]:
    with TestClient(create_app(org.platform), follow_redirects=False) as test_client:
        yield test_client


def page_token(org: Org, form: service.WebForm, age: float = 10.0) -> str:
    """A token as if the page had been shown `age` seconds ago (no sleeping in tests)."""
    return spam.fill_token(org.platform, form.key, shown_at=time.time() - age)


def post_form(client: TestClient, org: Org, form: service.WebForm, data: dict[str, Any],
              *, age: float = 10.0, **kwargs: Any) -> Any:  # fmt: skip
    body = {**data, spam.TOKEN_FIELD: page_token(org, form, age)}
    return client.post(f"/f/{form.key}", data=body, **kwargs)


def customers_named(org: Org, name: str) -> list[dict[str, Any]]:
    page = org.platform.records.query(
        Actor.system(), "customer", {"field": "name", "op": "eq", "value": name}
    )
    return page.rows


def outcomes(org: Org) -> list[dict[str, Any]]:
    with org.platform.db.read() as connection:
        rows = connection.execute(sa.select(web_form_submission).order_by(web_form_submission.c.id))
        return [dict(row) for row in rows.mappings()]


# -- the public page ----------------------------------------------------------------------------


def test_form_page_renders_the_chosen_fields_in_the_visitors_language(org, client):
    """API-04: a standalone page with the form's fields, labels per language, required marks."""
    form = make_form(org)
    page = client.get(f"/f/{form.key}")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "客户名称" in page.text and "手机号" in page.text
    assert (
        'name="mobile"' in page.text and 'type="tel"' in page.text and 'type="email"' in page.text
    )
    assert 'name="remarks"' not in page.text and 'name="source"' not in page.text  # not chosen
    assert "零售" in page.text  # the industry select's options
    assert 'name="homepage"' in page.text and spam.TOKEN_FIELD in page.text
    assert "/static/" not in page.text and "csrf" not in page.text.lower()  # not the staff page
    assert "X-Frame-Options" not in page.headers  # it is meant to be framed elsewhere
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    english = client.get(f"/f/{form.key}", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Name" in english.text
    assert '<html lang="en">' in client.get(f"/f/{form.key}?lang=en").text


def test_submission_creates_a_record_owned_by_the_form_owner_with_defaults(org, client):
    """API-04: created as the owner through the pipeline: defaults, numbering, history,
    notification; the log keeps the outcome, never the personal data."""
    form = make_form(org)
    answer = post_form(client, org, form, {**VISITOR, "mobile": "+86 137-0000-1111"})
    assert answer.status_code == 200, answer.text
    assert "感谢您的咨询" in answer.text
    [record] = customers_named(org, "陈晨")
    assert record["owner_id"] == org.users["rep_east"]
    assert record["department_id"] == org.departments["east"]
    assert record["source"] == "website" and record["source_detail"] == "2024 春季活动"
    assert record["mobile"] == "13700001111" and record["number"].startswith("C")
    history = org.platform.records.history(Actor.system(), "customer", record["id"])
    assert history[0]["op"] == "create" and history[0]["actor_id"] == org.users["rep_east"]
    assert history[0]["ip"] == "testclient" and "官网咨询" in history[0]["reason"]
    [logged] = outcomes(org)
    assert logged["outcome"] == "created" and logged["record_id"] == record["id"]
    assert logged["errors"] is None and set(logged) == {"id", "form_id", "at", "ip", "outcome",
                                                        "record_id", "errors"}  # fmt: skip
    with org.platform.db.read() as connection:
        told = connection.execute(
            sa.select(notification).where(notification.c.user_id == org.users["rep_east"],
                                          notification.c.kind == "web_form")  # fmt: skip
        ).mappings().all()  # fmt: skip
    assert len(told) == 1 and told[0]["link"] == f"/r/customer/{record['id']}"
    assert "官网咨询" in told[0]["title"]["zh-CN"]


def test_redirect_after_submitting_goes_to_the_https_address(org, client):
    """API-04: an optional https thank-you page instead of the text."""
    form = make_form(org, redirect_url="https://www.example.com/thanks")
    answer = post_form(client, org, form, VISITOR)
    assert (
        answer.status_code == 303 and answer.headers["location"] == "https://www.example.com/thanks"
    )


def test_invalid_input_shows_errors_per_field_and_writes_nothing(org, client):
    """API-04: 422 with the page again, each message beside its field; nothing stored."""
    form = make_form(org)
    answer = post_form(client, org, form, {**VISITOR, "name": "", "mobile": "12345"})
    assert answer.status_code == 422
    assert "客户名称为必填项" in answer.text
    assert 'id="err-mobile"' in answer.text and 'id="err-name"' in answer.text
    assert 'value="晨光文具有限公司"' in answer.text  # what was typed is kept
    assert customers_named(org, "陈晨") == [] and customers_named(org, "") == []
    [logged] = outcomes(org)
    assert logged["outcome"] == "invalid" and logged["record_id"] is None
    assert {"field": "name", "code": "required"} in logged["errors"]
    assert {e["field"] for e in logged["errors"]} == {"name", "mobile"}
    english = post_form(client, org, form, {**VISITOR, "name": ""}, params={"lang": "en"})
    assert english.status_code == 422 and "Name is required" in english.text


# -- the JSON endpoint --------------------------------------------------------------------------


def test_json_endpoint_answers_201_or_422_in_the_request_language(org, client):
    """API-04: JSON in, {"status": "created"} or {"errors": [...]} per field, en or zh."""
    form = make_form(org)
    created = client.post(f"/api/forms/{form.key}", json=VISITOR)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "created"
    assert created.headers["access-control-allow-origin"] == "*"
    assert customers_named(org, "陈晨")[0]["owner_id"] == org.users["rep_east"]
    zh = client.post(f"/api/forms/{form.key}", json={"company": "某公司", "mobile": "1"})
    assert zh.status_code == 422
    errors = {e["field"]: e for e in zh.json()["errors"]}
    assert errors["name"]["code"] == "required" and errors["name"]["message"] == "客户名称为必填项"
    assert errors["mobile"]["code"] == "phone"
    en = client.post(f"/api/forms/{form.key}", json={"company": "X", "remarks": "secret"},
                     headers={"Accept-Language": "en"})  # fmt: skip
    assert en.status_code == 422
    messages = {e["field"]: e["message"] for e in en.json()["errors"]}
    assert messages["name"] == "Name is required"
    assert messages["remarks"] == "Unknown field 'remarks'"  # not on the form
    bad = client.post(f"/api/forms/{form.key}", content=b"[1, 2]",
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "bad_json"
    assert len(customers_named(org, "陈晨")) == 1


def test_json_endpoint_answers_cors_preflight(org, client):
    """API-04: browsers on other sites may post JSON (no credentials are involved)."""
    form = make_form(org)
    answer = client.options(f"/api/forms/{form.key}", headers={
        "Origin": "https://www.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})  # fmt: skip
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "Content-Type" in answer.headers["access-control-allow-headers"]


# -- spam, limits -------------------------------------------------------------------------------


def test_filled_honeypot_pretends_success_and_stores_nothing(org, client):
    """API-04: a bot filling the hidden field sees the thank-you; nothing is created."""
    form = make_form(org)
    answer = post_form(client, org, form, {**VISITOR, "homepage": "http://spam.example"})
    assert answer.status_code == 200 and "感谢您的咨询" in answer.text
    api = client.post(f"/api/forms/{form.key}", json={**VISITOR, "homepage": "x"})
    assert api.status_code == 201
    assert customers_named(org, "陈晨") == []
    assert [(o["outcome"], o["errors"]) for o in outcomes(org)] == [
        ("spam", [{"field": None, "code": "honeypot"}])] * 2  # fmt: skip


def test_too_fast_or_untokened_html_submission_is_spam(org, client):
    """API-04: a page posted within 2 s of being shown, or without its signed token, is spam;
    a forged token too. The JSON endpoint has no page and so no time check."""
    form = make_form(org)
    fast = post_form(client, org, form, VISITOR, age=0.2)
    assert fast.status_code == 200 and "感谢您的咨询" in fast.text
    missing = client.post(f"/f/{form.key}", data=VISITOR)
    forged = client.post(f"/f/{form.key}", data={**VISITOR, spam.TOKEN_FIELD: "x.y"})
    assert missing.status_code == forged.status_code == 200
    other = make_form(org, name="另一个")
    body = {**VISITOR, spam.TOKEN_FIELD: page_token(org, other)}  # another form's token
    assert client.post(f"/f/{form.key}", data=body).status_code == 200
    assert customers_named(org, "陈晨") == []
    assert [o["errors"][0]["code"] for o in outcomes(org) if o["outcome"] == "spam"] == [
        "too_fast", "no_token", "bad_token", "bad_token"]  # fmt: skip


def test_rate_limit_per_ip_answers_429_with_retry_after(make_platform):
    """API-04: form_rate_limit submissions per IP per hour, counted in the database (so
    every worker agrees); refused attempts are logged as "limited"."""
    org = build_org(make_platform(secret_key=SECRET, form_rate_limit=3))
    form = make_form(org)
    with TestClient(create_app(org.platform), follow_redirects=False) as client:
        for n in range(3):
            answer = client.post(f"/api/forms/{form.key}", json={**VISITOR, "name": f"客户{n}",
                                                                 "mobile": f"1370000000{n}"})  # fmt: skip
            assert answer.status_code == 201, answer.text
        limited = client.post(f"/api/forms/{form.key}", json=VISITOR)
        assert limited.status_code == 429
        assert 3500 <= int(limited.headers["retry-after"]) <= 3600
        assert limited.json()["errors"][0]["code"] == "rate_limited"
        page = post_form(client, org, form, VISITOR)
        assert page.status_code == 429 and page.headers["retry-after"]
    assert customers_named(org, "陈晨") == []
    assert [o["outcome"] for o in outcomes(org)] == ["created"] * 3 + ["limited"] * 2
    # another address is not affected; an hour later the first one may submit again
    assert spam.retry_after(org.platform, "10.9.9.9") is None
    later = outcomes(org)[2]["at"] + spam.WINDOW
    assert spam.retry_after(org.platform, "testclient", now=later) is None


def test_body_over_the_size_limit_is_refused_without_reading_it(org, client):
    """API-04: 413 from Content-Length, or as soon as a streamed body passes the limit."""
    form = make_form(org)
    big = {**VISITOR, "name": "x" * (65 * 1024)}
    assert post_form(client, org, form, big).status_code == 413
    assert client.post(f"/api/forms/{form.key}", json=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body arrives in pieces
        yield b'{"name": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    streamed = client.post(f"/api/forms/{form.key}", content=chunks(),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert streamed.status_code == 413
    assert streamed.json()["errors"][0]["code"] == "too_large"
    assert [o["outcome"] for o in outcomes(org)] == ["invalid"] * 3


# -- duplicates ---------------------------------------------------------------------------------


def test_duplicate_by_mobile_adds_a_note_and_tells_the_records_owner(org, client):
    """API-04: the same mobile as an existing customer creates nothing; the submission is a
    note on that customer (sensitive values not copied) and its owner is notified."""
    form = make_form(org, owner_id=org.users["rep_north"])
    existing = org.customers["east"]  # rep_east's customer
    mobile = MOBILES["east"]
    answer = post_form(client, org, form, {**VISITOR, "mobile": f"{mobile[:3]} {mobile[3:]}"})
    assert answer.status_code == 200 and "感谢您的咨询" in answer.text
    assert customers_named(org, "陈晨") == []
    [logged] = outcomes(org)
    assert logged["outcome"] == "duplicate" and logged["record_id"] == existing
    notes = org.platform.records.query(
        Actor.system(), "note", {"field": "customer", "op": "eq", "value": existing}
    ).rows
    [note] = [n for n in notes if "官网咨询" in (n["content"] or "")]
    assert note["owner_id"] == org.users["rep_east"]
    assert "陈晨" in note["content"] and "零售" in note["content"]
    assert mobile not in note["content"] and "chen@example.cn" not in note["content"]
    with org.platform.db.read() as connection:
        told = connection.execute(
            sa.select(notification.c.user_id, notification.c.link)
            .where(notification.c.kind == "web_form")
        ).all()  # fmt: skip
    assert told == [(org.users["rep_east"], f"/r/customer/{existing}")]


def test_find_duplicate_hook_lets_another_rule_decide(make_platform):
    """API-04: find_duplicate is the seam for duplicate rules (issue 6): any plugin's answer
    turns a submission into a duplicate of that record."""
    seen: list[tuple[str, str]] = []

    class SameCompany:
        @hookimpl
        def find_duplicate(self, platform, entity, record, actor, source):
            seen.append((entity.name, source))
            page = platform.records.query(actor, entity.name, {
                "field": "company", "op": "eq", "value": record.get("company")})  # fmt: skip
            return page.rows[0]["id"] if page.rows else None

    platform = make_platform(secret_key=SECRET, plugins=[("same_company", SameCompany())])
    org = build_org(platform)
    form = make_form(org, match_fields=[])
    with TestClient(create_app(platform)) as client:
        company = "东海重工有限公司"  # rep_east's customer
        answer = client.post(f"/api/forms/{form.key}", json={**VISITOR, "company": company})
    assert answer.status_code == 201
    assert seen == [("customer", "web_form")]
    assert outcomes(org)[0]["record_id"] == org.customers["east"]
    assert customers_named(org, "陈晨") == []


# -- availability -------------------------------------------------------------------------------


def test_inactive_form_and_unknown_key_answer_404(org, client):
    """API-04: a switched-off form looks exactly like one that never existed."""
    form = make_form(org)
    service.set_active(org.platform, org.admin, form.id, False)
    for url in (f"/f/{form.key}", "/f/unknownkey123", "/f/x"):
        assert client.get(url).status_code == 404
    assert post_form(client, org, form, VISITOR).status_code == 404
    answer = client.post(f"/api/forms/{form.key}", json=VISITOR)
    assert answer.status_code == 404 and answer.json()["errors"][0]["code"] == "not_found"
    service.set_active(org.platform, org.admin, form.id, True)
    assert client.get(f"/f/{form.key}").status_code == 200


def test_owner_who_lost_the_right_makes_the_form_unavailable_not_an_error(org, client):
    """API-04: nothing the visitor can fix is a calm 503, never a 500; logged as invalid."""
    form = make_form(org)
    with org.platform.db.unit_of_work() as connection:  # an option removed after saving, say
        connection.execute(sa.update(web_form).values(defaults={"source": "gone"}))
    assert client.post(f"/api/forms/{form.key}", json=VISITOR).status_code == 503
    with org.platform.db.unit_of_work() as connection:
        connection.execute(sa.update(web_form).values(defaults=dict(form.defaults)))
    org.platform.permissions.set_field_access(org.admin, "sales_rep", "customer", "email", "read")
    answer = client.post(f"/api/forms/{form.key}", json=VISITOR)
    assert answer.status_code == 503
    assert post_form(client, org, form, VISITOR).status_code == 503
    assert {o["outcome"] for o in outcomes(org)} == {"invalid"}
    assert customers_named(org, "陈晨") == []


# -- what an admin may configure ----------------------------------------------------------------


def codes(error: ValidationFailed) -> set[tuple[str | None, str]]:
    return {(e.field, e.code) for e in error.errors}


def test_definition_is_checked_against_the_entity_and_the_owner(org):
    """API-04: fields must exist, be writable by the owner and fillable in public; required
    fields on the form or fixed; match fields on the form; redirects https only."""
    with pytest.raises(ValidationFailed) as failed:
        make_form(org, name="", fields=["name", "remarks", "tags", "nope"], defaults={},
                  match_fields=["email"], redirect_url="http://example.com/")  # fmt: skip
    assert codes(failed.value) >= {
        ("name", "required"),
        ("fields", "forbidden"),  # remarks is hidden from sales reps
        ("fields", "not_public"),  # tags need a signed-in user
        ("fields", "unknown_field"),
        ("fields", "required_field"),  # company and source neither shown nor fixed
        ("match_fields", "not_on_form"),
        ("redirect_url", "https_only"),
    }
    message = next(e for e in failed.value.errors if e.code == "required_field").message
    assert "公司名称" in message.render("zh-CN") and "Company" in message.render("en")
    with pytest.raises(ValidationFailed) as failed:
        make_form(org, defaults={"source": "nonsense", "name": "x"})
    assert codes(failed.value) >= {("defaults.source", "option"), ("defaults.name", "on_form")}
    with pytest.raises(ValidationFailed) as failed:  # long text has no equality to match on
        make_form(org, owner_id=org.users["admin"], fields=[*FORM["fields"], "remarks"],
                  match_fields=["remarks"])  # fmt: skip
    assert codes(failed.value) == {("match_fields", "not_matchable")}
    with pytest.raises(ValidationFailed) as failed:
        make_form(org, owner_id=999999)
    assert ("owner_id", "inactive_owner") in codes(failed.value)
    form = make_form(org, redirect_url="https://example.com/ok?from=form")
    assert len(form.key) == 16 and form.active and form.defaults["source"] == "website"


def test_only_admins_manage_forms_and_every_change_is_audited(org):
    """API-04, PERM-07: the service refuses non-admins; creates, edits, switches and deletes
    leave audit rows of kind web_form."""
    rep = org.actor("rep_east")
    with pytest.raises(PermissionDenied):
        service.create_form(org.platform, rep, {**FORM, "owner_id": org.users["rep_east"]})
    form = make_form(org)
    for call in (lambda: service.list_forms(org.platform, rep),
                 lambda: service.get_form(org.platform, rep, form.id),
                 lambda: service.set_active(org.platform, rep, form.id, False),
                 lambda: service.delete_form(org.platform, rep, form.id)):  # fmt: skip
        with pytest.raises(PermissionDenied):
            call()
    service.update_form(org.platform, org.admin, form.id, {**form.settings(), "name": "新名字"})
    service.set_active(org.platform, org.admin, form.id, False)
    service.delete_form(org.platform, org.admin, form.id)
    with org.platform.db.read() as connection:
        rows = connection.execute(
            sa.select(audit.c.target, audit.c.changes).where(audit.c.kind == "web_form")
            .order_by(audit.c.id)
        ).all()  # fmt: skip
    assert [target for target, _changes in rows] == [f"web_form:{form.id}"] * 4
    assert rows[1][1] == {"name": ["官网咨询", "新名字"]}
    assert rows[2][1] == {"active": [True, False]}
    assert service.list_forms(org.platform, org.admin) == []


def test_submission_log_is_purged_after_90_days(platform: Any) -> None:
    """The submission log holds IP addresses: the daily job forgets rows after 90 days."""
    from datetime import timedelta

    import sqlalchemy as sa

    from guanxi import clock
    from guanxi.store.system_tables import web_form_submission

    now = clock.now_utc()
    with platform.db.unit_of_work() as connection:
        for age in (91, 10):
            connection.execute(sa.insert(web_form_submission).values(
                form_id=1, at=now - timedelta(days=age), ip="203.0.113.9", outcome="created"))  # fmt: skip
    outcomes = [o for o in platform.jobs.run_due(worker="t") if o.job == "webforms.purge"]
    assert [(o.status, o.result) for o in outcomes] == [("ok", {"deleted": 1})]
    with platform.db.read() as connection:
        left = connection.execute(sa.select(web_form_submission.c.ip)).all()
    assert len(left) == 1
