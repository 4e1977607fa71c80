"""DATA-07/08 (+ BIZ-05 once the credit code exists): admin-defined duplicate rules checked on
create and update through indexed keys, across entities, with warn / block / first entered
owns, a backfill job for existing records and a scan reporting candidate groups."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.defaults.duplicates.jobs import candidate_groups
from guanxi.defaults.duplicates.keys import normalize_company
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi.store.system_tables import audit, dup_key, dup_rule
from tests.conftest import customer_data
from tests.org import Org, build_org


@pytest.fixture
def org(platform: Guanxi) -> Org:
    return build_org(platform)


@pytest.mark.parametrize(
    "given",
    [
        "华为技术有限公司",
        "华为技术（中国）有限公司",
        " 华为 技术 股份有限公司",
        "ＨＵＡＷＥＩ技术有限责任公司",
    ],
)
def test_company_names_normalize_alike(given: str) -> None:
    expected = "huawei技术" if "ＨＵＡＷＥＩ" in given else "华为技术"
    assert normalize_company(given) == expected


def rule(platform: Guanxi, **values: Any) -> int:
    saved = platform.duplicates.save(Actor.system(), values)
    platform.jobs.run_due()
    return saved.id


def refused(platform: Guanxi, data: dict[str, Any], **kwargs: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as failure:
        platform.records.create(Actor.system(), "customer", data, **kwargs)
    return failure.value


def test_warn_rule_lets_the_user_confirm_and_audits_the_choice(
    platform: Guanxi, system: Actor
) -> None:
    first = platform.records.create(system, "customer", customer_data(name="华为技术有限公司"))
    rule(platform, name="公司名称", entity="customer", action="warn",
         fields=[{"field": "name", "method": "normalized"}])  # fmt: skip
    failure = refused(platform, customer_data(name="华为技术（中国）有限公司"))
    (error,) = failure.errors
    assert error.code == "duplicate_warning" and error.warning and error.field == "name"
    assert error.details[0]["id"] == first["id"] and error.details[0]["number"] == first["number"]
    assert "华为技术有限公司" in error.message.render("en")
    created = platform.records.create(
        system, "customer", customer_data(name="华为技术（中国）有限公司"), confirm_duplicates=True
    )
    with platform.db.read() as connection:
        row = connection.execute(
            sa.select(audit).where(audit.c.kind == "duplicate_confirmed")
        ).one()
    assert row.target == f"customer:{created['id']}"
    assert row.changes["matches"][0]["id"] == first["id"]


def test_block_rule_on_an_encrypted_mobile_refuses_and_confirming_does_not_help(
    platform: Guanxi, system: Actor
) -> None:
    rule(platform, name="手机号", entity="customer", action="block",
         fields=[{"field": "mobile", "method": "exact"}])  # fmt: skip
    first = platform.records.create(
        system, "customer", customer_data(name="甲", mobile="13911112222")
    )
    for kwargs in ({}, {"confirm_duplicates": True}):
        failure = refused(platform, customer_data(name="乙", mobile="+86 139-1111-2222"), **kwargs)
        assert [e.code for e in failure.errors] == ["duplicate"]
        assert failure.errors[0].field == "mobile"
    # editing another field of a record is not blocked; moving onto the number is
    second = platform.records.create(
        system, "customer", customer_data(name="丙", mobile="13900000000")
    )
    platform.records.update(system, "customer", first["id"], {"remarks": "老客户"},
                            version=first["version"])  # fmt: skip
    with pytest.raises(ValidationFailed):
        platform.records.update(system, "customer", second["id"], {"mobile": "13911112222"},
                                version=second["version"], field_reasons={"mobile": "改"})  # fmt: skip
    with platform.db.read() as connection:
        keys = connection.execute(sa.select(dup_key.c.key)).scalars().all()
    assert keys and all("13911112222" not in k for k in keys)


def test_first_entered_owns_across_entities_names_the_owner(org: Org) -> None:  # PERM-04 scope too
    platform = org.platform
    rep_east, rep_north = org.actor("rep_east"), org.actor("rep_north")
    rule(platform, name="联系人手机", entity="contact", action="owner",
         fields=[{"field": "mobile", "method": "exact"}],
         targets=[{"entity": "customer", "fields": ["mobile"]}])  # fmt: skip
    customer = platform.records.create(
        rep_east, "customer", customer_data(name="东方电气", mobile="13722223333")
    )
    with pytest.raises(ValidationFailed) as failure:
        platform.records.create(rep_north, "contact",
                                {"name": "张三", "mobile": "137 2222 3333",
                                 "customer": org.customers["north"]})  # fmt: skip
    (error,) = failure.value.errors
    detail = error.details[0]
    assert error.code == "duplicate" and detail["action"] == "owner"
    assert detail["entity"] == "customer" and detail["id"] == customer["id"]
    assert detail["owner"] == "王东" and detail["title"] == ""  # outside rep_north's scope
    assert "王东" in error.message.render("zh-CN")


def test_existing_records_get_keys_and_the_scan_reports_groups(
    platform: Guanxi, system: Actor
) -> None:
    names = ["恒达科技有限公司", "恒达科技股份有限公司", "恒达 科技", "远航物流有限公司"]
    made = [platform.records.create(system, "customer", customer_data(name=n)) for n in names]
    rule_id = rule(platform, name="公司名称", entity="customer", action="warn",
                   fields=[{"field": "name", "method": "normalized"}])  # fmt: skip
    groups = candidate_groups(platform, rule_id)
    assert groups == [{"size": 3, "members": [("customer", m["id"]) for m in made[:3]]}]
    platform.jobs.enqueue("duplicates.scan", {})
    platform.jobs.run_due()
    with platform.db.read() as connection:
        scan = connection.execute(sa.select(dup_rule.c.last_scan)).scalar_one()
    assert scan["groups"] == 1 and scan["records"] == 3
    found = platform.pm.hook.find_duplicate(
        platform=platform, entity=platform.registry.get("customer"),
        record={"name": "恒达科技(中国)有限公司"}, actor=system, source="import",
    )  # fmt: skip
    assert found == made[0]["id"]


def test_rules_are_validated_and_admin_only(org: Org) -> None:
    platform = org.platform
    with pytest.raises(ValidationFailed) as failure:
        platform.duplicates.save(Actor.system(), {"entity": "customer", "action": "maybe",
                                                  "fields": [{"field": "nope"}]})  # fmt: skip
    assert {e.field for e in failure.value.errors} == {"name", "action", "fields"}
    with pytest.raises(PermissionDenied):
        platform.duplicates.save(org.actor("manager"), {"name": "x", "entity": "customer", "action": "warn",
                                        "fields": [{"field": "name"}]})  # fmt: skip
