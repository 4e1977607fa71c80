"""CRUD over /api/v1 for a core module, a plugin module and an admin-created module with a
custom field, all through the record service (API-01)."""

from __future__ import annotations

from typing import Any

from guanxi.actor import Actor
from tests.api.conftest import VisitPlugin
from tests.org import Org, rep_input


def test_core_customer_create_get_patch_delete(api: Any, org: Org) -> None:  # API-01
    rep = api("rep_east")
    created = rep.post(
        "/api/v1/customer",
        json={**rep_input("east"), "name": "西湖茶业", "mobile": "138 1234 5678"},
    )
    assert created.status_code == 201, created.text
    record = created.json()
    url = f"/api/v1/customer/{record['id']}"
    assert created.headers["location"] == url
    assert created.headers["etag"] == '"1"'
    assert record["mobile"] == "13812345678"  # parsed by the field type, as on screens
    assert record["owner_id"] == org.users["rep_east"]
    assert record["created_at"].endswith("Z")

    fetched = rep.get(url)
    assert fetched.status_code == 200 and fetched.json()["name"] == "西湖茶业"

    changed = rep.patch(url, json={"title": "采购经理"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "采购经理" and changed.json()["version"] == 2
    assert changed.headers["etag"] == '"2"'
    history = org.platform.records.history(org.admin, "customer", record["id"])
    assert [entry["changes"] for entry in history][-1] == {"title": [None, "采购经理"]}

    # A rep's customer deletion needs approval: the test plugin files the request (202).
    pending = rep.delete(url, params={"reason": "重复录入"})
    assert pending.status_code == 202 and pending.json() == {"outcome": "pending_approval"}
    assert rep.get(url).status_code == 200
    gone = api("manager").delete(url)
    assert gone.status_code == 204 and gone.content == b""
    assert rep.get(url).status_code == 404


def test_plugin_module_crud_with_exact_money(api: Any, org: Org) -> None:  # API-01
    rep = api("rep_east")
    created = rep.post(
        "/api/v1/visit",
        json={"subject": "季度回访", "cost": "12000.50", "visited_on": "2024-03-05"},
    )
    assert created.status_code == 201, created.text
    visit = created.json()
    assert visit["cost"] == "12000.50" and visit["visited_on"] == "2024-03-05"
    url = f"/api/v1/visit/{visit['id']}"
    # money may be sent as a JSON number too; it is stored and returned exactly
    changed = rep.patch(url, json={"cost": 0.1, "version": 1})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cost"] == "0.10"
    listed = rep.get("/api/v1/visit").json()
    assert [row["subject"] for row in listed["data"]] == ["季度回访"]
    assert rep.delete(url).status_code == 204
    assert rep.get(url).status_code == 404


def test_admin_created_module_with_custom_field_is_served_at_once(
    api: Any, org: Org, app: Any
) -> None:  # API-01
    admin = api("admin")
    assert admin.get("/api/v1/contract").status_code == 404  # not yet
    org.platform.admin.create_entity(
        Actor.system(),
        "contract",
        {"zh-CN": "合同", "en": "Contract"},
        [{"key": "title", "type": "text", "label": "标题", "required": True}],
    )
    org.platform.admin.add_field(Actor.system(), "contract", "amount", "money", "金额")
    created = admin.post("/api/v1/contract", json={"title": "年度框架", "cf_amount": "88000"})
    assert created.status_code == 201, created.text
    assert created.json()["cf_amount"] == "88000.00"
    record_id = created.json()["id"]
    listed = admin.get("/api/v1/contract", params={"filter[cf_amount][gte]": "50000"})
    assert [row["id"] for row in listed.json()["data"]] == [record_id]
    # a custom field added to a core module appears in the next response too
    org.platform.admin.add_field(Actor.system(), "customer", "wechat", "text", "微信号")
    customer = admin.get(f"/api/v1/customer/{org.customers['east']}").json()
    assert customer["cf_wechat"] is None


def test_plugin_schema_registered_by_test_plugin(visits: VisitPlugin, api: Any) -> None:
    modules = {m["name"]: m for m in api("rep_east").get("/api/v1").json()["data"]}
    assert modules["visit"]["actions"] == ["view", "create", "edit", "delete"]
    assert "customer" in modules and modules["customer"]["url"] == "/api/v1/customer"


def test_validation_errors_list_every_field(api: Any) -> None:  # API-01
    answer = api("rep_east").post(
        "/api/v1/customer", json={"company": "", "source": "nowhere", "mobile": "123", "x": 1}
    )
    assert answer.status_code == 422
    errors = {(e["field"], e["code"]) for e in answer.json()["errors"]}
    assert {("name", "required"), ("source", "option"), ("mobile", "phone")} <= errors
    assert ("x", "unknown_field") in errors
