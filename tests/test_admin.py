"""Admin changes without code: custom fields and modules in real columns, live in every worker."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.errors import MetadataError, PermissionDenied, QueryError, ValidationFailed
from tests.conftest import customer_data


def live_columns(platform, table: str) -> dict[str, str]:
    with platform.db.read() as connection:
        return {c["name"]: str(c["type"]) for c in sa.inspect(connection).get_columns(table)}


def live_indexes(platform, table: str) -> set[str]:
    with platform.db.read() as connection:
        return {i["name"] for i in sa.inspect(connection).get_indexes(table)}


def test_custom_field_gets_a_real_column_and_works_in_filters_and_sorts(
    platform, system
):  # CORE-03
    record = platform.records.create(system, "customer", customer_data())
    field = platform.admin.add_field(
        system,
        "customer",
        "annual_budget",
        "money",
        {"zh-CN": "年度预算", "en": "Annual budget"},
        index=True,
    )
    assert field.key == "cf_annual_budget" and field.custom
    columns = live_columns(platform, "e_customer")
    assert "cf_annual_budget" in columns and "NUMERIC" in columns["cf_annual_budget"].upper()
    assert "ix_e_customer_cf_annual_budget" in live_indexes(platform, "e_customer")
    platform.records.update(
        system, "customer", record["id"], {"cf_annual_budget": "50,000"}, version=1
    )
    platform.records.create(
        system, "customer", customer_data(name="李四", cf_annual_budget=800, mobile="13900000000")
    )
    page = platform.records.query(
        system,
        "customer",
        {"field": "cf_annual_budget", "op": "gt", "value": 1000},
        sort=["-cf_annual_budget"],
    )
    assert [row["name"] for row in page.rows] == ["张三"]
    assert [
        r["name"]
        for r in platform.records.query(system, "customer", sort=["cf_annual_budget"]).rows
    ] == ["李四", "张三"]


def test_another_worker_sees_a_new_field_without_restart(make_platform, system):  # CORE-03
    worker_a = make_platform()
    worker_b = make_platform()  # its own engine and registry on the same database
    assert worker_b.registry.get("customer").get_field("cf_wechat") is None
    worker_a.admin.add_field(system, "customer", "wechat", "text", "微信号")
    created = worker_b.records.create(system, "customer", customer_data(cf_wechat="wx_zhang"))
    assert created["cf_wechat"] == "wx_zhang"
    found = worker_b.records.query(
        system, "customer", {"field": "cf_wechat", "op": "eq", "value": "wx_zhang"}
    )
    assert [row["id"] for row in found.rows] == [created["id"]]


def test_relabel_require_default_options_and_reorder(platform, system):  # CORE-03
    platform.admin.add_field(
        system, "customer", "channel", "select", "渠道", options=["线上", "线下"]
    )
    platform.admin.change_field(
        system,
        "customer",
        "cf_channel",
        label={"zh-CN": "获客渠道", "en": "Channel"},
        required=True,
        default="线上",
        options=["线上", "线下", "展会"],
    )
    entity = platform.registry.get("customer")
    field = entity.field("cf_channel")
    assert (
        field.title("zh-CN") == "获客渠道"
        and field.required
        and [o.code for o in field.options] == ["线上", "线下", "展会"]
    )
    assert platform.records.create(system, "customer", customer_data())["cf_channel"] == "线上"
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(
            system, "customer", customer_data(cf_channel="电视", mobile="13900000001")
        )
    assert ("cf_channel", "option") in {(e.field, e.code) for e in caught.value.errors}
    platform.admin.change_field(
        system, "customer", "name", label={"zh-CN": "客户姓名", "en": "Name"}
    )
    assert platform.registry.get("customer").field("name").title() == "客户姓名"
    platform.admin.reorder_fields(system, "customer", ["cf_channel", "company", "name"])
    order = [f.key for f in platform.registry.get("customer").visible_fields if not f.system]
    assert order[:3] == ["cf_channel", "company", "name"]


def test_hiding_a_field_keeps_its_data(platform, system):  # CORE-03
    platform.admin.add_field(system, "customer", "old_code", "text", "旧编码")
    record = platform.records.create(system, "customer", customer_data(cf_old_code="A-1"))
    platform.records.update(system, "customer", record["id"], {"cf_old_code": "A-2"}, version=1)
    platform.admin.hide_field(system, "customer", "cf_old_code")
    assert "cf_old_code" not in platform.records.get(system, "customer", record["id"])
    for entry in platform.records.history(system, "customer", record["id"]):
        assert "cf_old_code" not in entry["changes"]  # hidden data never leaves via history
    with pytest.raises(QueryError):
        platform.records.query(
            system, "customer", {"field": "cf_old_code", "op": "eq", "value": "A-1"}
        )
    with pytest.raises(ValidationFailed):
        platform.records.create(
            system, "customer", customer_data(cf_old_code="B", mobile="13900000002")
        )
    assert "cf_old_code" in live_columns(platform, "e_customer")
    platform.admin.show_field(system, "customer", "cf_old_code")
    assert platform.records.get(system, "customer", record["id"])["cf_old_code"] == "A-2"
    changes = platform.records.history(system, "customer", record["id"])[-1]["changes"]
    assert changes == {"cf_old_code": ["A-1", "A-2"]}


@pytest.mark.parametrize(
    ("key", "type_", "extra", "code"),
    [
        (
            "select",
            "text",
            {},
            "reserved_identifier",
        ),  # cf_ prefix is added, so test reserved via entity names below
        ("Bad-Key", "text", {}, "bad_identifier"),
        ("x" * 45, "text", {}, "bad_identifier"),
        ("colour", "nosuchtype", {}, "bad_metadata"),
        ("choice", "select", {}, "options_required"),
        ("ref", "reference", {"reference": "nosuch"}, "bad_reference"),
        ("number2", "autonumber", {}, "bad_type"),
        ("amount", "integer", {"default": "lots"}, "bad_default"),
    ],
)
def test_invalid_custom_fields_are_refused_with_a_reason(platform, system, key, type_, extra, code):
    if code == "reserved_identifier":
        with pytest.raises(MetadataError) as caught:
            platform.admin.create_entity(
                system, "select", "选择", [{"key": "name", "type": "text", "label": "名称"}]
            )
    else:
        with pytest.raises(MetadataError) as caught:
            platform.admin.add_field(system, "customer", key, type_, "字段", **extra)
    assert caught.value.code == code
    assert caught.value.message.render("zh-CN") != caught.value.message.render("en")


def test_duplicate_field_and_non_admin_are_refused(platform, system):
    platform.admin.add_field(system, "customer", "wechat", "text", "微信号")
    with pytest.raises(MetadataError):
        platform.admin.add_field(system, "customer", "wechat", "text", "微信号")
    rep = Actor(user_id=None, username="rep", roles=frozenset({"sales_rep"}))
    with pytest.raises(PermissionDenied):
        platform.admin.add_field(rep, "customer", "other", "text", "其他")


def test_column_budget_is_enforced(make_platform, system):
    platform = make_platform(column_budget=35)  # customer has 32 columns today
    platform.admin.add_field(system, "customer", "a1", "text", "一")
    with pytest.raises(MetadataError) as caught:
        for index in range(2, 10):
            platform.admin.add_field(system, "customer", f"a{index}", "text", "字段")
    assert caught.value.code == "column_budget"
    assert "35" in caught.value.message.render("zh-CN")


def test_custom_module_with_reference_and_records(platform, system):  # CORE-04
    entity = platform.admin.create_entity(
        system,
        "project",
        {"zh-CN": "项目", "en": "Project"},
        [
            {"key": "title", "type": "text", "label": "项目名称", "required": True, "search": True},
            {
                "key": "customer",
                "type": "reference",
                "reference": "customer",
                "label": "客户",
                "on_delete": "cascade",
            },
            {"key": "budget", "type": "money", "label": "预算", "minimum": 0},
            {
                "key": "phase",
                "type": "select",
                "label": "阶段",
                "options": ["立项", "实施", "验收"],
            },
        ],
        number_format="PRJ{yyyy}-{seq:04d}",
    )
    assert entity.table == "e_project" and entity.source == "admin"
    customer = platform.records.create(system, "customer", customer_data())
    project = platform.records.create(
        system,
        "project",
        {"title": "CRM 实施", "customer": customer["id"], "budget": 180000, "phase": "实施"},
    )
    assert project["number"].startswith("PRJ") and project["number"].endswith("-0001")
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "project", {"budget": -5})
    assert {("title", "required"), ("budget", "minimum")} <= {
        (e.field, e.code) for e in caught.value.errors
    }
    page = platform.records.query(
        system, "project", {"field": "customer", "op": "eq", "value": customer["id"]}
    )
    assert [row["title"] for row in page.rows] == ["CRM 实施"]
    platform.records.delete(system, "customer", customer["id"])
    assert platform.records.count(system, "project").value == 0


def test_custom_module_names_are_validated(platform, system):
    for name, code in (
        ("Project", "bad_identifier"),
        ("order", "reserved_identifier"),
        ("gx_x", "reserved_identifier"),
    ):
        with pytest.raises(MetadataError) as caught:
            platform.admin.create_entity(
                system, name, "模块", [{"key": "title", "type": "text", "label": "标题"}]
            )
        assert caught.value.code == code
    platform.admin.create_entity(
        system, "project", "项目", [{"key": "title", "type": "text", "label": "标题"}]
    )
    with pytest.raises(MetadataError):
        platform.admin.create_entity(
            system, "project", "项目", [{"key": "title", "type": "text", "label": "标题"}]
        )


def test_tag_groups_and_tags(platform, system):  # CORE-07
    platform.admin.add_tag_group(
        system, "customer", "industry_tags", {"zh-CN": "行业", "en": "Industry"}
    )
    platform.admin.add_tag(
        system, "customer", "industry_tags", "manufacturing", "制造业", color="#c00"
    )
    with pytest.raises(MetadataError):
        platform.admin.add_tag(system, "customer", "nosuch", "x", "X")
    record = platform.records.create(system, "customer", customer_data(tags="manufacturing"))
    assert record["tags"] == ["manufacturing"]
    assert platform.admin.tags("customer")[0]["group"] == "industry_tags"
    assert [g["code"] for g in platform.admin.tag_groups("customer")] == ["industry_tags"]
    platform.admin.change_tag(
        system, "customer", "manufacturing", {"zh-CN": "制造", "en": "Making"}, color="#0a0"
    )
    changed = platform.admin.tags("customer")[0]
    assert changed["label"] == {"zh-CN": "制造", "en": "Making"} and changed["color"] == "#0a0"
    assert platform.records.get(system, "customer", record["id"])["tags"] == ["manufacturing"]
    with pytest.raises(PermissionDenied):
        platform.admin.remove_tag(Actor(user_id=None, username="x"), "customer", "manufacturing")
    assert platform.admin.remove_tag(system, "customer", "manufacturing") == 1
    assert platform.records.get(system, "customer", record["id"])["tags"] == []
    with pytest.raises(MetadataError):
        platform.admin.change_tag(system, "customer", "manufacturing", "制造")


def test_layouts_are_stored_and_checked(platform, system):  # CORE-08
    layout = {
        "sections": [{"code": "main", "label": "主要", "fields": ["name", "company"]}],
        "related": [{"entity": "contact", "field": "customer"}],
    }
    entity = platform.admin.set_layout(system, "customer", "detail", layout)
    assert entity.layouts["detail"]["sections"][0]["fields"] == ["name", "company"]
    with pytest.raises(MetadataError):
        platform.admin.set_layout(
            system, "customer", "detail", {"sections": [{"fields": ["nosuch"]}]}
        )


def test_hidden_tags_field_never_leaves_through_pages_or_gets(platform, system):  # CORE-03
    platform.admin.add_tag_group(system, "customer", "behaviour", "行为标签")
    platform.admin.add_tag(system, "customer", "behaviour", "vip", "VIP")
    record = platform.records.create(system, "customer", customer_data(tags=["vip"]))
    platform.admin.hide_field(system, "customer", "tags")
    page = platform.records.query(system, "customer")
    assert "tags" not in page.rows[0]
    assert "tags" not in platform.records.get(system, "customer", record["id"])


def test_number_format_change_is_live_and_checked(make_platform, system):  # CORE-05, UI-09
    platform = make_platform()
    first = platform.records.create(system, "customer", customer_data())
    assert first["number"].startswith("C")
    other_worker = make_platform()
    platform.admin.set_number_format(system, "customer", "KH{yyyy}-{seq:05d}")
    second = other_worker.records.create(system, "customer", customer_data(name="李四"))
    assert re.fullmatch(r"KH\d{4}-00001", second["number"])  # {yyyy}: a counter per year
    assert platform.records.get(system, "customer", first["id"])["number"] == first["number"]
    with pytest.raises(MetadataError) as refused:
        platform.admin.set_number_format(system, "customer", "KH{month}")
    assert refused.value.field == "number_format"
    with pytest.raises(PermissionDenied):
        platform.admin.set_number_format(Actor(user_id=None, username="x"), "customer", "X{seq}")
