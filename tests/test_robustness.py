"""Hostile or odd input gets a clear 4xx-style error, never a crash; found in code review."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from guanxi.errors import GuanxiError, LockedError, MetadataError, QueryError, ValidationFailed
from tests.conftest import customer_data


def test_ids_are_never_reused_after_a_delete(platform, system):
    first = platform.records.create(system, "customer", customer_data(name="旧客户"))
    platform.records.delete(system, "customer", first["id"])
    second = platform.records.create(system, "customer", customer_data(name="新客户"))
    assert second["id"] != first["id"]
    assert [e["op"] for e in platform.records.history(system, "customer", second["id"])] == [
        "create"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rating", "inf"),
        ("rating", "sNaN"),
        ("rating", "1e2000000"),
        ("rating", "1e30"),
        ("expected_value", "1e2000000"),
        ("expected_value", "NaN"),
        ("expected_value", {"amount": 1}),
        ("owner_id", 10**20),
        ("tags", 5),
        ("tags", [1, 2]),
        ("source", ["exhibition"]),
        ("next_followup_at", "0001-01-01 00:00"),
        ("next_followup_at", "9999-12-31T23:00-05:00"),
        ("next_followup_at", 12345),
        ("title", "a\x00b"),
        ("remarks", "a\x00b"),
    ],
)
def test_bad_values_are_field_errors(platform, system, field, value):
    with pytest.raises(ValidationFailed) as caught:
        platform.records.create(system, "customer", customer_data(**{field: value}))
    assert field in caught.value.fields()
    assert platform.records.count(system, "customer").value == 0


@pytest.mark.parametrize(
    ("filters", "kwargs"),
    [
        ({"field": "company", "op": "contains", "value": ""}, {}),
        ({"field": "company", "op": "contains", "value": None}, {}),
        ({"field": "company", "op": "not_contains", "value": ""}, {}),
    ],
)
def test_empty_search_text_is_no_condition(platform, system, filters, kwargs):
    platform.records.create(system, "customer", customer_data())
    assert len(platform.records.query(system, "customer", filters, **kwargs).rows) == 1


@pytest.mark.parametrize("values", [["x", 1], [5, 1], [[1], 1], [{"a": 1}, 1], ["2024-01-01", "x"]])
def test_tampered_cursors_are_query_errors(platform, system, values):
    platform.records.create(system, "customer", customer_data())
    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    with pytest.raises(QueryError) as caught:
        platform.records.query(system, "customer", sort=["-created_at"], after=cursor)
    assert caught.value.code == "bad_cursor"


def test_malformed_measures_are_query_errors(platform, system):
    with pytest.raises(QueryError):
        platform.records.aggregate(system, "customer", group_by=["stage"], measures=["count"])


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda a, s: a.change_field(s, "customer", "title", constraints={"minimum": "0"}),
            "bad_constraints",
        ),
        (
            lambda a, s: a.change_field(
                s, "customer", "title", constraints={"$ref": "http://127.0.0.1:9/x"}
            ),
            "bad_constraints",
        ),
        (
            lambda a, s: a.change_field(s, "customer", "title", constraints={"pattern": "("}),
            "bad_constraints",
        ),
        (lambda a, s: a.change_field(s, "customer", "rating", search=True), "bad_search"),
        (lambda a, s: a.add_field(s, "customer", 5, "text", "x"), "bad_identifier"),
        (
            lambda a, s: a.create_entity(
                s,
                "project",
                "项目",
                [{"key": "t", "type": "text", "label": "t"}],
                number_format="A{seq:zz}",
            ),
            "bad_module",
        ),
        (
            lambda a, s: a.create_entity(
                s,
                "project",
                "项目",
                [{"key": "t", "type": "text", "label": "t"}],
                number_format="{seq}" + "x" * 40,
            ),
            "bad_module",
        ),
        (lambda a, s: a.set_layout(s, "customer", "detail", {"sections": ["x"]}), "bad_metadata"),
        (lambda a, s: a.set_pipeline(s, "customer", "stage", ["x"]), "bad_metadata"),
    ],
)
def test_invalid_admin_changes_are_refused_and_writes_keep_working(platform, system, call, code):
    with pytest.raises(MetadataError) as caught:
        call(platform.admin, system)
    assert caught.value.code == code
    assert platform.records.create(system, "customer", customer_data())["id"]


def test_a_stage_field_with_a_default_can_be_relabelled_and_hidden(platform, system):
    field = platform.admin.change_field(system, "customer", "stage", label="客户阶段(新)")
    assert field.title() == "客户阶段(新)"
    assert platform.admin.hide_field(system, "customer", "stage").hidden


def test_stage_history_only_for_visible_stage_fields(platform, system):
    record = platform.records.create(system, "customer", customer_data())
    with pytest.raises(QueryError):
        platform.records.stage_history(system, "customer", record["id"], "name")
    platform.admin.hide_field(system, "customer", "stage")
    with pytest.raises(QueryError):
        platform.records.stage_history(system, "customer", record["id"], "stage")


def test_search_flag_on_a_number_is_refused_and_search_still_works(platform, system):
    platform.records.create(system, "customer", customer_data(company="星辰物流"))
    with pytest.raises(MetadataError):
        platform.admin.change_field(system, "customer", "expected_value", search=True)
    assert len(platform.records.query(system, "customer", search="物流").rows) == 1


def test_a_removed_option_does_not_block_editing_other_fields(platform, system):
    record = platform.records.create(system, "customer", customer_data(source="exhibition"))
    options = [
        o
        for o in platform.registry.get("customer").field("source").options
        if o.code != "exhibition"
    ]
    platform.admin.change_field(
        system,
        "customer",
        "source",
        options=[{"code": o.code, "label": dict(o.label)} for o in options],
    )
    updated = platform.records.update(
        system, "customer", record["id"], {"name": "新名字"}, version=1
    )
    assert updated["name"] == "新名字" and updated["source"] == "exhibition"
    with pytest.raises(ValidationFailed):
        platform.records.update(
            system, "customer", record["id"], {"source": "exhibition2"}, version=2
        )


def test_date_from_an_instant_is_the_business_day_of_that_instant(platform, system):
    customer = platform.records.create(system, "customer", customer_data())
    contact = platform.records.create(
        system,
        "contact",
        {"name": "王五", "customer": customer["id"], "birthday": "2024-03-05T23:30:00Z"},
    )
    assert contact["birthday"] == date(2024, 3, 6)  # 07:30 on 6 March in Beijing


def test_cascade_stops_at_a_locked_child(platform, system):
    customer = platform.records.create(system, "customer", customer_data())
    contact = platform.records.create(
        system, "contact", {"name": "王五", "customer": customer["id"]}
    )
    platform.records.lock(system, "contact", contact["id"])
    with pytest.raises(LockedError):
        platform.records.delete(system, "customer", customer["id"])
    assert platform.records.get(system, "customer", customer["id"])["id"] == customer["id"]
    assert platform.records.get(system, "contact", contact["id"])["locked"] is True


def test_money_is_exact_in_history_and_copies(platform, system):
    record = platform.records.create(
        system, "customer", customer_data(expected_value="99999999999999.99")
    )
    copy = platform.records.copy(system, "customer", record["id"])
    assert str(copy["expected_value"]) == "99999999999999.99" or platform.db.is_sqlite
    created = platform.records.history(system, "customer", record["id"])[0]["changes"]
    assert created["expected_value"] == [None, "99999999999999.99"]


def test_every_failure_above_is_a_guanxi_error():
    """The error classes used above carry an HTTP status below 500."""
    for error_class in (ValidationFailed, QueryError, MetadataError, LockedError):
        assert issubclass(error_class, GuanxiError) and error_class.status < 500
