"""Stage pipelines (CORE-06): transitions, entry requirements, reasons, time in stage."""

from __future__ import annotations

import pytest

from guanxi.errors import MetadataError, ValidationFailed
from tests.conftest import customer_data


def test_entering_a_stage_names_the_missing_fields(platform, system):
    record = platform.records.create(system, "customer", customer_data())
    with pytest.raises(ValidationFailed) as caught:
        platform.records.update(
            system, "customer", record["id"], {"stage": "negotiating"}, version=1
        )
    errors = {(e.field, e.code): e for e in caught.value.errors}
    assert ("stage", "stage_requirements") in errors
    message = errors[("stage", "stage_requirements")].message
    assert "行业" in message.render("zh-CN") and "预计金额" in message.render("zh-CN")
    assert "Industry" in message.render("en")
    assert {("industry", "required_for_stage"), ("expected_value", "required_for_stage")} <= set(
        errors
    )
    moved = platform.records.update(
        system,
        "customer",
        record["id"],
        {"stage": "negotiating", "industry": "it", "expected_value": 1},
        version=1,
    )
    assert moved["stage"] == "negotiating"


def test_reason_required_to_enter_lost(platform, system):
    record = platform.records.create(system, "customer", customer_data())
    with pytest.raises(ValidationFailed) as caught:
        platform.records.update(system, "customer", record["id"], {"stage": "lost"}, version=1)
    assert ("stage", "reason_required") in {(e.field, e.code) for e in caught.value.errors}
    lost = platform.records.update(
        system, "customer", record["id"], {"stage": "lost"}, version=1, reason="预算取消"
    )
    assert lost["stage"] == "lost"


def test_admin_pipeline_with_transitions_and_stage_history(platform, system):
    platform.admin.set_pipeline(
        system,
        "customer",
        "stage",
        [
            {"code": "new", "label": "新建", "probability": 10, "transitions": ["qualified"]},
            {
                "code": "qualified",
                "label": "已确认",
                "probability": 50,
                "transitions": ["won", "lost"],
            },
            {"code": "won", "label": "赢单", "probability": 100, "category": "won"},
            {"code": "lost", "label": "输单", "probability": 0, "category": "lost"},
        ],
        reason_required=True,
    )
    pipeline = platform.registry.get("customer").pipelines["stage"]
    assert [s.code for s in pipeline.stages] == ["new", "qualified", "won", "lost"]
    record = platform.records.create(system, "customer", customer_data(stage="new"))
    with pytest.raises(ValidationFailed) as caught:
        platform.records.update(
            system, "customer", record["id"], {"stage": "won"}, version=1, reason="跳过"
        )
    assert caught.value.errors[0].code == "transition"
    assert "新建" in caught.value.errors[0].message.render("zh-CN")
    with pytest.raises(ValidationFailed):
        platform.records.update(system, "customer", record["id"], {"stage": "qualified"}, version=1)
    record = platform.records.update(
        system, "customer", record["id"], {"stage": "qualified"}, version=1, reason="需求确认"
    )
    record = platform.records.update(
        system, "customer", record["id"], {"stage": "won"}, version=2, reason="签约"
    )
    entries = platform.records.stage_history(system, "customer", record["id"], "stage")
    assert [(e["from_stage"], e["to_stage"]) for e in entries] == [
        (None, "new"),
        ("new", "qualified"),
        ("qualified", "won"),
    ]
    assert entries[1]["reason"] == "需求确认"
    assert entries[0]["left_at"] is not None and entries[-1]["left_at"] is None
    assert all(e["seconds_in_stage"] >= 0 for e in entries)


def test_invalid_pipelines_are_refused(platform, system):
    with pytest.raises(MetadataError):
        platform.admin.set_pipeline(
            system, "customer", "stage", [{"code": "a", "label": "A", "transitions": ["zzz"]}]
        )
    with pytest.raises(MetadataError):
        platform.admin.set_pipeline(system, "customer", "name", [{"code": "a", "label": "A"}])
    with pytest.raises(MetadataError):
        platform.admin.set_pipeline(
            system,
            "customer",
            "stage",
            [{"code": "a", "label": "A", "required_fields": ["nosuch"]}],
        )
