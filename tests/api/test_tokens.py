"""API tokens narrowed to modules and to reading (API-01): refused with 403 over HTTP and in the
Python service alike (the check sits where every read and write opens its module); created
through /api/tokens and `guanxi token create`; revoking one works at once."""

from __future__ import annotations

from typing import Any

import pytest

from guanxi import cli
from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.errors import PermissionDenied
from tests.conftest import TestDatabase
from tests.org import Org


def test_a_token_narrowed_to_modules_is_refused_elsewhere(api: Any, org: Org) -> None:  # API-01
    contacts_only = api("rep_east", modules=["contact"])
    assert contacts_only.get("/api/v1/contact").status_code == 200
    refused = contacts_only.get(f"/api/v1/customer/{org.customers['east']}", params={"lang": "en"})
    assert refused.status_code == 403
    [error] = refused.json()["errors"]
    assert error["code"] == "token_scope" and "Customer" in error["message"]
    assert contacts_only.get("/api/v1/customer").status_code == 403
    created = contacts_only.post(
        "/api/v1/customer", json={"name": "x", "company": "y", "source": "website"}
    )
    assert created.status_code == 403
    assert [m["name"] for m in contacts_only.get("/api/v1").json()["data"]] == ["contact"]


def test_a_read_only_token_reads_but_never_writes(api: Any, org: Org) -> None:  # API-01
    reader = api("rep_east", read_only=True)
    url = f"/api/v1/customer/{org.customers['east']}"
    assert reader.get(url).status_code == 200
    assert reader.get("/api/v1/customer").status_code == 200
    for answer in (
        reader.patch(url, json={"title": "x"}, headers={"If-Match": "*"}),
        reader.delete(url),
        reader.post(
            "/api/v1/followup",
            json={"customer": org.customers["east"], "method": "phone", "content": "x"},
        ),
    ):
        assert answer.status_code == 405, answer.text  # not in the token's OpenAPI document
        assert answer.headers["Allow"] == "GET"
        assert answer.json()["errors"][0]["code"] == "token_read_only"
    assert org.stored("customer", org.customers["east"])["version"] == 1


def test_the_narrowing_also_holds_in_the_python_service(org: Org) -> None:  # API-01
    platform = org.platform
    contacts = platform.login.create_token(
        Actor.system(), org.users["rep_east"], "t", modules=["contact"]
    )
    actor = platform.login.token_actor(contacts.token)
    assert actor is not None and actor.token_scope is not None
    assert platform.records.query(actor, "contact").rows
    with pytest.raises(PermissionDenied):
        platform.records.query(actor, "customer")
    with pytest.raises(PermissionDenied):
        list(platform.records.export(actor, "customer"))
    reader = platform.login.token_actor(
        platform.login.create_token(
            Actor.system(), org.users["rep_east"], "r", read_only=True
        ).token
    )
    assert reader is not None
    assert platform.records.get(reader, "customer", org.customers["east"])["id"]
    with pytest.raises(PermissionDenied):
        platform.records.update(
            reader, "customer", org.customers["east"], {"title": "x"}, version=1
        )
    with pytest.raises(PermissionDenied):
        platform.records.delete(reader, "followup", org.followups["east"])


def test_narrowed_tokens_stay_inside_the_api(api: Any) -> None:  # API-01
    reader = api("admin", read_only=True)
    assert reader.get("/").status_code == 403
    assert reader.post("/admin/fields/customer", data={"x": "1"}).status_code == 403
    assert api("admin").get("/").status_code == 200  # an unrestricted token works as before


def test_create_a_narrowed_token_through_the_api(session: Any, org: Org) -> None:  # API-01
    client, csrf = session("rep_east")
    headers = {"X-CSRF-Token": csrf}
    bad = client.post(
        "/api/tokens",
        json={"name": "ERP", "modules": ["customer", "nope"], "read_only": "yes"},
        headers={**headers, "Accept-Language": "en"},
    )
    assert bad.status_code == 422
    problems = {(e["field"], e["code"]) for e in bad.json()["errors"]}
    assert problems == {("modules", "unknown_module"), ("read_only", "type")}
    assert (
        client.post("/api/tokens", json={"name": "ERP", "modules": []}, headers=headers).status_code
        == 422
    )
    made = client.post(
        "/api/tokens",
        json={"name": "ERP", "modules": ["customer", "contact"], "read_only": True},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["modules"] == ["contact", "customer"] and made.json()["read_only"] is True
    [listed] = client.get("/api/tokens").json()["tokens"]
    assert listed["modules"] == ["contact", "customer"] and listed["read_only"] is True
    token = made.json()["token"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["token"]["modules"] == ["contact", "customer"] and me["token"]["read_only"]
    # a read-only token cannot revoke tokens either
    revoke = client.delete(
        f"/api/tokens/{made.json()['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoke.status_code == 403


def test_revoking_or_deactivating_takes_effect_at_once(api: Any, org: Org) -> None:  # API-01
    platform = org.platform
    issued = platform.login.create_token(Actor.system(), org.users["rep_east"], "t")
    headers = {"Authorization": f"Bearer {issued.token}"}
    client = api(None)
    assert client.get("/api/v1/customer", headers=headers).status_code == 200  # now cached
    platform.login.revoke_token(Actor.system(), issued.id)
    answer = client.get("/api/v1/customer", headers=headers)
    assert answer.status_code == 401 and "Bearer" in answer.headers["www-authenticate"]

    other = platform.login.create_token(Actor.system(), org.users["rep_east2"], "t2")
    headers = {"Authorization": f"Bearer {other.token}"}
    assert client.get("/api/v1/customer", headers=headers).status_code == 200
    identity.update_user(platform.db, org.users["rep_east2"], active=False)
    assert client.get("/api/v1/customer", headers=headers).status_code == 401


def test_cli_creates_narrowed_tokens(
    org: Org, test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:  # API-01
    for name, value in test_db.env().items():
        monkeypatch.setenv(name, value)
    code = cli.main(
        ["token", "create", "rep_east", "报表", "--module", "customer,contact", "--read-only"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "[modules contact, customer; read-only]" in out
    actor = org.platform.login.token_actor(out.strip().splitlines()[-1])
    assert actor is not None and actor.token_scope is not None
    assert actor.token_scope.modules == {"contact", "customer"} and actor.token_scope.read_only
    assert cli.main(["token", "create", "rep_east", "x", "--module", "nope"]) == 1
    assert "Unknown module 'nope'" in capsys.readouterr().err
