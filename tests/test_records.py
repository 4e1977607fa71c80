"""The record pipeline through the public service: validation, concurrency, locks, history."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.api import hookimpl
from guanxi.errors import ConflictError, LockedError, NotFound, ValidationFailed
from guanxi.store.system_tables import history
from tests.conftest import customer_data


def test_create_stores_parsed_values_and_number(platform, system):  # CORE-02, CORE-09
    record = platform.records.create(
        system,
        "customer",
        customer_data(mobile="+86 138-1234-5678", expected_value="¥12,000.50", source="展会"),
    )
    assert record["number"] == "C000001"
    assert record["mobile"] == "13812345678"
    assert str(record["expected_value"]) == "12000.50"
    assert record["source"] == "exhibition"
    assert record["stage"] == "potential"  # default from the schema
    assert record["version"] == 1
    assert (
        platform.records.get(system, "customer", record["id"])["company"] == "上海星辰科技有限公司"
    )


def test_invalid_input_reports_every_field_in_both_languages_and_writes_nothing(
    platform, system
):  # CORE-05
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(
            system,
            "customer",
            {"name": "", "company": "x" * 201, "mobile": "12345", "email": "not-mail", "nosuch": 1},
        )
    errors = {(e.field, e.code): e for e in caught.value.errors}
    assert {
        ("name", "required"),
        ("source", "required"),
        ("company", "maxLength"),
        ("mobile", "phone"),
        ("email", "email"),
        ("nosuch", "unknown_field"),
    } <= set(errors)
    mobile = errors[("mobile", "phone")].to_dict("en")
    assert mobile["messages"]["zh-CN"] == "手机号必须是以13-19开头的11位数字（或带+国家代码）"
    assert "11 digits" in mobile["messages"]["en"]
    assert "客户名称" in errors[("name", "required")].message.render("zh-CN")
    assert platform.records.count(system, "customer").value == 0


def test_stale_version_is_refused_and_nothing_is_overwritten(platform, system):  # DATA-01
    record = platform.records.create(system, "customer", customer_data())
    platform.records.update(system, "customer", record["id"], {"title": "总经理"}, version=1)
    with pytest.raises(ConflictError) as caught:
        platform.records.update(system, "customer", record["id"], {"title": "采购"}, version=1)
    assert caught.value.status == 409
    assert caught.value.current["title"] == "总经理"
    assert platform.records.get(system, "customer", record["id"])["title"] == "总经理"


def test_single_field_edit_bumps_version_and_records_history(platform, system):  # DATA-02, DATA-05
    record = platform.records.create(system, "customer", customer_data())
    updated = platform.records.update_field(
        system, "customer", record["id"], "title", "IT主管", version=1
    )
    assert updated["title"] == "IT主管" and updated["version"] == 2
    entries = platform.records.history(system, "customer", record["id"])
    assert [e["op"] for e in entries] == ["create", "update"]
    assert entries[1]["changes"] == {"title": [None, "IT主管"]}
    assert entries[0]["changes"]["company"] == [None, "上海星辰科技有限公司"]


def test_update_without_changes_writes_nothing(platform, system):
    record = platform.records.create(system, "customer", customer_data())
    same = platform.records.update(
        system, "customer", record["id"], {"company": "上海星辰科技有限公司"}, version=1
    )
    assert same["version"] == 1
    assert len(platform.records.history(system, "customer", record["id"])) == 1


def test_locked_record_refuses_edits_until_unlocked(platform, system):  # DATA-03
    record = platform.records.create(system, "customer", customer_data())
    locked = platform.records.lock(system, "customer", record["id"], reason="合同已签")
    with pytest.raises(LockedError):
        platform.records.update(
            system, "customer", record["id"], {"title": "x"}, version=locked["version"]
        )
    with pytest.raises(LockedError):
        platform.records.delete(system, "customer", record["id"])
    unlocked = platform.records.unlock(system, "customer", record["id"])
    edited = platform.records.update(
        system, "customer", record["id"], {"title": "x"}, version=unlocked["version"]
    )
    assert edited["title"] == "x"
    ops = [e["op"] for e in platform.records.history(system, "customer", record["id"])]
    assert ops == ["create", "lock", "unlock", "update"]


def test_copy_makes_a_new_numbered_record(platform, system):  # DATA-04
    record = platform.records.create(system, "customer", customer_data(title="总经理"))
    copy = platform.records.copy(system, "customer", record["id"], {"name": "李四"})
    assert copy["id"] != record["id"] and copy["number"] == "C000002"
    assert copy["title"] == "总经理" and copy["name"] == "李四"


def test_reason_required_for_sensitive_field_change(platform, system):  # DATA-06
    record = platform.records.create(system, "customer", customer_data())
    with pytest.raises(ValidationFailed) as caught:
        platform.records.update(
            system, "customer", record["id"], {"mobile": "13900001111"}, version=1
        )
    assert ("mobile", "reason_required") in {(e.field, e.code) for e in caught.value.errors}
    updated = platform.records.update(
        system,
        "customer",
        record["id"],
        {"mobile": "13900001111"},
        version=1,
        reason="客户换了手机号",
    )
    assert updated["mobile"] == "13900001111"
    assert (
        platform.records.history(system, "customer", record["id"])[-1]["reason"] == "客户换了手机号"
    )


def test_an_owner_id_beyond_the_user_id_range_is_a_field_error(platform, system):
    # CORE-05: gx_user.id is INTEGER; 2**40 once reached PostgreSQL and failed with a 500
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "customer", customer_data(owner_id=2**40))
    assert [e.field for e in caught.value.errors] == ["owner_id"]
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "customer", customer_data(department_id=2**31))
    assert [e.field for e in caught.value.errors] == ["department_id"]


def test_reference_must_exist(platform, system):
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "contact", {"name": "王五", "customer": 999})
    assert ("customer", "reference") in {(e.field, e.code) for e in caught.value.errors}


def test_delete_cascades_restricts_and_nulls_by_reference_rule(platform, system):
    customer = platform.records.create(system, "customer", customer_data())
    contact = platform.records.create(
        system, "contact", {"name": "王五", "customer": customer["id"]}
    )
    followup = platform.records.create(
        system,
        "followup",
        {
            "customer": customer["id"],
            "contact": contact["id"],
            "method": "phone",
            "content": "初次沟通",
        },
    )
    task = platform.records.create(system, "task", {"title": "回访", "followup": followup["id"]})
    # contact -> followup.contact is set_null; followup -> task.followup is set_null
    platform.records.delete(system, "contact", contact["id"])
    assert platform.records.get(system, "followup", followup["id"])["contact"] is None
    # customer -> followup is cascade, followup -> task is set_null
    platform.records.delete(system, "customer", customer["id"], reason="测试数据")
    assert platform.records.count(system, "followup").value == 0
    assert platform.records.get(system, "task", task["id"])["followup"] is None
    with pytest.raises(NotFound):
        platform.records.get(system, "customer", customer["id"])
    with platform.db.read() as connection:
        ops = connection.execute(
            sa.select(history.c.entity, history.c.op).where(history.c.op == "delete")
        ).all()
    assert {("customer", "delete"), ("followup", "delete"), ("contact", "delete")} <= set(ops)


def test_restrict_names_the_blocking_records(make_platform, system, tmp_path):
    import json
    from pathlib import Path

    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for path in (Path(__file__).resolve().parents[1] / "schemas").glob("*.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        if document["x-guanxi"]["entity"] == "contact":
            document["properties"]["customer"]["x-guanxi"]["on_delete"] = "restrict"
        (schemas / path.name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    platform = make_platform(schema_dir=schemas)
    customer = platform.records.create(system, "customer", customer_data())
    platform.records.create(system, "contact", {"name": "王五", "customer": customer["id"]})
    with pytest.raises(ValidationFailed) as caught:
        platform.records.delete(system, "customer", customer["id"])
    assert "联系人" in caught.value.errors[0].message.render("zh-CN")
    assert platform.records.get(system, "customer", customer["id"])["id"] == customer["id"]


class EventLog:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def record_changed(self, event):  # type: ignore[no-untyped-def]
        self.events.append(event)


def test_events_fire_after_commit_only_for_successful_writes(make_platform, system):
    log = EventLog()
    platform = make_platform(plugins=[("event_log", log)])
    record = platform.records.create(system, "customer", customer_data())
    with pytest.raises(ValidationFailed):
        platform.records.create(system, "customer", {"name": "x"})
    platform.records.update(system, "customer", record["id"], {"title": "总经理"}, version=1)
    assert [(e.entity, e.op) for e in log.events] == [
        ("customer", "create"),
        ("customer", "update"),
    ]
    assert log.events[1].changes == {"title": (None, "总经理")}


class FailingValidator:
    @hookimpl
    def validate_record(self, entity, record, old, actor, op, reason):  # type: ignore[no-untyped-def]
        from guanxi.api import FieldError, _

        if entity.name == "customer" and "测试" in (record.get("company") or ""):
            return [FieldError("company", "no_test_data", _("Test data is not allowed"))]
        return None


def test_plugin_validation_joins_the_collected_errors(make_platform, system):
    platform = make_platform(plugins=[("failing", FailingValidator())])
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "customer", customer_data(company="测试公司", mobile="1"))
    assert {("company", "no_test_data"), ("mobile", "phone")} <= {
        (e.field, e.code) for e in caught.value.errors
    }
    assert platform.records.count(system, "customer").value == 0


def test_unknown_module_and_record_are_not_found(platform, system):
    with pytest.raises(NotFound):
        platform.records.create(system, "nosuch", {})
    with pytest.raises(NotFound):
        platform.records.get(system, "customer", 12345)
    with pytest.raises(NotFound):
        platform.records.get(system, "customer", "abc")


def test_non_object_input_is_a_validation_error(platform, system):
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "customer", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert caught.value.errors[0].code == "bad_input"


def test_delete_with_a_stale_version_is_a_conflict_and_deletes_nothing(platform, system):
    """API-01: DELETE with If-Match passes `version`; a save in between wins (no lost update)."""
    created = platform.records.create(system, "customer", customer_data())
    platform.records.update(system, "customer", created["id"], {"name": "李四"}, version=1)
    with pytest.raises(ConflictError) as conflict:
        platform.records.delete(system, "customer", created["id"], version=1)
    assert conflict.value.current["name"] == "李四"
    assert platform.records.get(system, "customer", created["id"])["version"] == 2
    assert platform.records.delete(system, "customer", created["id"], version=2) == "deleted"
