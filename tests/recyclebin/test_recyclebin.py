"""The recycle-bin plugin (BIN-01..03, PERM-06) through the record service, the JSON API and
the bin screen, on SQLite and PostgreSQL: a deletion is kept but gone from every read path,
comes back whole with its related records, and is purged for good after its retention."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.store.system_tables import audit, history
from guanxi_recyclebin import binning
from guanxi_recyclebin.settings import Settings
from tests.org import Org
from tests.web.conftest import SECRET


def _visible(platform: Any, actor: Actor, entity: str, record_id: int) -> bool:
    try:
        platform.records.get(actor, entity, record_id, log_view=False)
    except NotFound:
        return False
    return True


def test_deleted_customer_is_kept_and_gone_from_every_read(bin_org: Org) -> None:  # BIN-01
    platform, manager = bin_org.platform, bin_org.actor("manager")
    customer, contact = bin_org.customers["east"], bin_org.contacts["east"]
    followup = bin_org.followups["east"]
    task = platform.records.create(manager, "task", {"title": "回访", "customer": customer})
    before = bin_org.stored("customer", customer)

    outcome = platform.records.delete(manager, "customer", customer, reason="客户已注销")

    assert outcome == "binned"
    for entity, record_id in (("customer", customer), ("contact", contact), ("followup", followup)):
        assert not _visible(platform, manager, entity, record_id)
        assert not _visible(platform, Actor.system(), entity, record_id)
    ids = [r["id"] for r in platform.records.query(manager, "customer", limit=100).rows]
    assert customer not in ids
    assert platform.records.count(manager, "customer", search=before["name"]).value == 0
    related = platform.records.query(
        manager, "contact", {"field": "customer", "op": "eq", "value": customer}
    )
    assert related.rows == []
    totals = platform.records.aggregate(manager, "customer", group_by=["owner_id"])
    assert all(row["owner_id"] != bin_org.users["rep_east"] for row in totals)
    # Kept: the bin reads it, the task (on_delete set_null) still points at it.
    binned = platform.records.get(manager, "customer", customer, action="binned")
    assert binned["name"] == before["name"]
    assert binned["deleted_by"] == bin_org.users["manager"]
    assert bin_org.stored("task", task["id"])["customer"] == customer
    found = binning.deletion_of(platform, "customer", customer)
    assert found is not None and found.reason == "客户已注销"
    assert found.members[-1] == ("customer", customer)  # children first, the record last
    assert set(found.members) == {
        ("customer", customer),
        ("contact", contact),
        ("followup", followup),
    }


def test_restore_brings_the_deletion_back_identical(bin_org: Org) -> None:  # BIN-02
    platform, manager = bin_org.platform, bin_org.actor("manager")
    customer, contact = bin_org.customers["east"], bin_org.contacts["east"]
    followup = bin_org.followups["east"]
    members = [("customer", customer), ("contact", contact), ("followup", followup)]
    before = {(e, i): bin_org.stored(e, i) for e, i in members}
    platform.records.delete(manager, "customer", customer, reason="误删")

    restored = binning.restore(platform, Settings.of(platform), manager, "customer", customer)

    assert restored[0] == ("customer", customer) and set(restored) == set(members)
    for (entity, record_id), old in before.items():
        now = bin_org.stored(entity, record_id)
        assert {k: v for k, v in now.items() if k != "version"} == {
            k: v for k, v in old.items() if k != "version"
        }
    assert binning.deletion_of(platform, "customer", customer) is None
    page = platform.records.query(
        manager, "contact", {"field": "customer", "op": "eq", "value": customer}
    )
    assert [r["id"] for r in page.rows] == [contact]
    with platform.db.read() as connection:
        ops = (
            connection.execute(
                sa.select(history.c.op)
                .where(history.c.entity == "customer", history.c.record_id == customer)
                .order_by(history.c.id)
            )
            .scalars()
            .all()
        )
    assert ops[-2:] == ["delete", "restore"]


def test_restore_refuses_while_the_parent_is_still_binned(bin_org: Org) -> None:
    platform, manager = bin_org.platform, bin_org.actor("manager")
    customer, contact = bin_org.customers["east"], bin_org.contacts["east"]
    platform.records.delete(manager, "contact", contact)  # a deletion of its own
    platform.records.delete(manager, "customer", customer)

    with pytest.raises(ValidationFailed) as refused:
        binning.restore(platform, Settings.of(platform), manager, "contact", contact)

    assert refused.value.errors[0].field == "customer"
    assert "回收站" in refused.value.errors[0].message.render("zh-CN")
    assert not _visible(platform, manager, "contact", contact)


def test_who_may_restore_and_purge(bin_org: Org, make_platform: Any) -> None:  # BIN-02/03
    platform = bin_org.platform
    rep, colleague = bin_org.actor("rep_east"), bin_org.actor("rep_east2")
    followup = bin_org.followups["east"]
    platform.records.delete(rep, "followup", followup)
    settings = Settings.of(platform)

    with pytest.raises(NotFound):  # outside the colleague's scope: not even there
        binning.restore(platform, settings, colleague, "followup", followup)
    with pytest.raises(PermissionDenied):
        binning.purge(platform, rep, "followup", followup)
    late = Settings(self_restore_days=0)
    with pytest.raises(PermissionDenied):  # the self-restore window has passed
        binning.restore(platform, late, rep, "followup", followup)
    assert binning.restore(platform, settings, rep, "followup", followup) == [
        ("followup", followup)
    ]


def test_a_rep_sees_only_their_scope_in_the_bin(bin_org: Org) -> None:
    platform = bin_org.platform
    for key in ("east", "north"):
        owner = bin_org.actor(f"rep_{key}")
        platform.records.delete(owner, "followup", bin_org.followups[key])

    def binned(username: str) -> set[int]:
        page = platform.records.query(bin_org.actor(username), "followup", action="binned")
        return {row["id"] for row in page.rows}

    assert binned("rep_east") == {bin_org.followups["east"]}
    assert binned("rep_north") == {bin_org.followups["north"]}
    assert binned("admin") == {bin_org.followups["east"], bin_org.followups["north"]}


def test_purge_job_removes_old_deletions_and_keeps_a_trace(
    bin_org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:  # BIN-03
    platform, manager = bin_org.platform, bin_org.actor("manager")
    customer, contact = bin_org.customers["east"], bin_org.contacts["east"]
    stored = bin_org.stored("customer", customer)
    task = platform.records.create(manager, "task", {"title": "回访", "customer": customer})
    platform.records.delete(manager, "customer", customer, reason="清理")
    platform.records.delete(manager, "contact", bin_org.contacts["shanghai"])
    later = clock.now_utc() + timedelta(days=91)
    monkeypatch.setattr(clock, "now_utc", lambda: later)
    platform.records.delete(manager, "contact", bin_org.contacts["manager"])  # fresh: stays

    platform.jobs.enqueue("recyclebin.purge", {})
    outcomes = platform.jobs.run_due(now=later)

    assert [o.job for o in outcomes if o.job == "recyclebin.purge"]
    system = Actor.system()
    for entity, record_id in (("customer", customer), ("contact", contact)):
        with pytest.raises(NotFound):
            platform.records.get(system, entity, record_id, action="binned")
    assert platform.records.get(system, "contact", bin_org.contacts["manager"], action="binned")
    assert bin_org.stored("task", task["id"])["customer"] is None
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(history.c.op, history.c.changes).where(
                history.c.entity == "customer", history.c.record_id == customer
            )
        ).all()
        traces = (
            connection.execute(
                sa.select(audit.c.changes).where(
                    audit.c.kind == "record_purged", audit.c.target == f"customer:{customer}"
                )
            )
            .scalars()
            .all()
        )
    assert [op for op, _changes in rows] == ["purge"]  # the content went with the record
    assert rows[0][1] == {"number": [stored["number"], None], "name": [stored["name"], None]}
    assert traces == [{"number": stored["number"], "name": stored["name"]}]
    assert stored["company"] not in str(rows) + str(traces)


def test_without_the_plugin_deletion_is_hard_and_binned_records_stay_hidden(
    bin_org: Org, make_platform: Any
) -> None:
    platform, manager = bin_org.platform, bin_org.actor("manager")
    binned = bin_org.contacts["east"]
    platform.records.delete(manager, "contact", binned)
    plain = make_platform(secret_key=SECRET)  # the same database, the plugin switched off

    assert plain.records.delete(manager, "contact", bin_org.contacts["shanghai"]) == "deleted"
    with pytest.raises(NotFound):
        plain.records.get(Actor.system(), "contact", bin_org.contacts["shanghai"], action="binned")
    assert not _visible(plain, manager, "contact", binned)
    assert plain.records.get(Actor.system(), "contact", binned, action="binned")["id"] == binned


# -- HTTP: the JSON API and the bin screen --------------------------------------------------------


def test_api_and_export_do_not_show_binned_records(bin_org: Org, login: Any) -> None:
    platform, contact = bin_org.platform, bin_org.contacts["east"]
    platform.records.delete(bin_org.actor("manager"), "contact", contact)
    client = login("manager")

    assert client.get(f"/api/v1/contact/{contact}").status_code == 404
    listed = client.get("/api/v1/contact?limit=100").json()
    assert contact not in [row["id"] for row in listed["data"]]
    export = client.get("/r/contact/export")
    assert export.status_code == 200
    assert "东海重工联系人" not in export.text and "东岳精密联系人" in export.text


def test_bin_screen_lists_restores_and_purges(bin_org: Org, login: Any) -> None:  # BIN-02
    platform = bin_org.platform
    customer, contact = bin_org.customers["east"], bin_org.contacts["east"]
    platform.records.delete(bin_org.actor("manager"), "customer", customer, reason="重复客户")
    manager = login("manager")

    page = manager.get("/bin?entity=customer")
    assert page.status_code == 200
    assert f'data-record="{customer}"' in page.text and "重复客户" in page.text
    assert "2 条相关记录" in page.text or "2 related" in page.text
    today = clock.today_local()
    by_manager = f"&by={bin_org.users['manager']}"
    same_day = manager.get(f"/bin?entity=customer&from={today}&to={today}{by_manager}").text
    assert f'data-record="{customer}"' in same_day
    tomorrow = manager.get(f"/bin?entity=customer&from={today + timedelta(days=1)}").text
    assert f'data-record="{customer}"' not in tomorrow
    someone_else = manager.get(f"/bin?entity=customer&by={bin_org.users['admin']}").text
    assert f'data-record="{customer}"' not in someone_else
    detail = manager.get(f"/bin/customer/{customer}")
    assert detail.status_code == 200 and "东海重工" in detail.text
    assert "data-purge" not in page.text  # administrators only

    refused = manager.post("/bin/purge", {"entity": "customer", "ids": [str(customer)]})
    assert refused.status_code == 403
    answer = manager.post("/bin/restore", {"entity": "customer", "ids": [str(customer)]})
    assert answer.status_code == 303
    assert _visible(platform, bin_org.actor("manager"), "contact", contact)

    platform.records.delete(bin_org.actor("manager"), "customer", customer)
    admin = login("admin")
    assert "data-purge" in admin.get("/bin?entity=customer").text
    purged = admin.post("/bin/purge", {"entity": "customer", "ids": [str(customer)]})
    assert purged.status_code == 303 and re.search(r"purged=3", purged.headers["location"])
    with pytest.raises(NotFound):
        platform.records.get(Actor.system(), "contact", contact, action="binned")


def test_bin_screen_forms_need_the_csrf_token(bin_org: Org, login: Any) -> None:
    contact = bin_org.contacts["east"]
    bin_org.platform.records.delete(bin_org.actor("manager"), "contact", contact)
    client = login("manager")
    answer = client.client.post("/bin/restore", data={"entity": "contact", "ids": str(contact)})
    assert answer.status_code == 403
    assert not _visible(bin_org.platform, bin_org.actor("manager"), "contact", contact)


def test_bin_commands_empty_the_bin_without_the_plugin(bin_org: Org, make_platform: Any) -> None:
    from guanxi import bin_cli
    from guanxi.cli import build_parser

    platform, manager = bin_org.platform, bin_org.actor("manager")
    customer, contact = bin_org.customers["east"], bin_org.contacts["east"]
    platform.records.delete(manager, "customer", customer)
    platform.records.delete(manager, "contact", bin_org.contacts["shanghai"])
    plain = make_platform(secret_key=SECRET)  # the plugin switched off

    assert build_parser().parse_args(["bin", "purge", "--older-than", "7"]).older_than == 7
    assert bin_cli.purge_older(plain, 7) == 0  # nothing that old
    restored, refusals = bin_cli.restore_all(plain)

    assert (restored, refusals) == (4, [])  # customer, contact, follow-up, the other contact
    assert _visible(plain, manager, "customer", customer)
    assert _visible(plain, manager, "contact", contact)
    plain.records.delete(manager, "contact", contact)  # hard: the plugin is off
    platform.records.delete(manager, "customer", customer)
    assert bin_cli.purge_older(plain, 0) == 2  # the customer and its follow-up
    with pytest.raises(NotFound):
        plain.records.get(Actor.system(), "customer", customer, action="binned")


def test_settings_are_edited_on_the_admin_plugin_screen(bin_org: Org, login: Any) -> None:
    platform, admin = bin_org.platform, login("admin")
    page = admin.get("/admin/plugins").text
    assert 'name="setting.approval_modules"' in page
    assert 'name="setting.retention_by_module"' in page

    bad = admin.post("/admin/plugins/guanxi_recyclebin", {
        "enabled": "on", "settings_shown": "1", "setting.retention_by_module": "followup thirty",
    })  # fmt: skip
    assert bad.status_code == 422
    assert 'id="err-s-guanxi_recyclebin-retention_by_module"' in bad.text
    assert Settings.of(platform).retention("followup") == 90
    good = admin.post("/admin/plugins/guanxi_recyclebin", {
        "enabled": "on", "settings_shown": "1", "setting.retention_days": "60",
        "setting.retention_by_module": "followup = 30\ncontact: 45",
        "setting.self_restore_days": "7", "setting.approval_modules": "followup，contact",
    })  # fmt: skip
    assert good.status_code == 303
    settings = Settings.of(platform)
    assert (settings.retention("customer"), settings.retention("followup")) == (60, 30)
    assert settings.retention("contact") == 45 and settings.self_restore_days == 7
    assert settings.approval_modules == ("followup", "contact")
    rep = bin_org.actor("rep_east")
    assert platform.records.delete(rep, "followup", bin_org.followups["east"]) == (
        "pending_approval"
    )


def test_restore_clashing_with_a_duplicate_created_since_is_explained(bin_org: Org) -> None:
    from tests.conftest import customer_data

    platform, manager = bin_org.platform, bin_org.actor("manager")
    platform.duplicates.save(Actor.system(), {
        "name": "公司名称", "entity": "customer", "action": "block",
        "fields": [{"field": "name", "method": "normalized"}],
    })  # fmt: skip
    platform.jobs.run_due()
    customer = bin_org.customers["east"]
    platform.records.delete(manager, "customer", customer)
    # Binned records match no rule: the same company may be entered again meanwhile.
    again = platform.records.create(manager, "customer", customer_data(name="东海重工"))

    with pytest.raises(ValidationFailed) as refused:
        binning.restore(platform, Settings.of(platform), manager, "customer", customer)

    (error,) = refused.value.errors
    assert error.field == "name" and error.details[0]["id"] == again["id"]
    assert not _visible(platform, manager, "customer", customer)
    assert not _visible(platform, manager, "contact", bin_org.contacts["east"])  # nor its batch


def test_board_and_search_pages_do_not_show_binned_records(bin_org: Org, login: Any) -> None:
    customer = bin_org.customers["east"]
    bin_org.platform.records.delete(bin_org.actor("manager"), "customer", customer)
    client = login("manager")
    board = client.get("/r/customer/board")
    assert board.status_code == 200 and "浦江电子" in board.text and "东海重工" not in board.text
    found = client.get("/r/customer?q=东海")
    assert found.status_code == 200 and f"/r/customer/{customer}" not in found.text
    assert client.get(f"/r/customer/{customer}").status_code == 404


def test_a_unique_value_held_by_a_binned_record_is_explained(bin_org: Org) -> None:
    from tests.conftest import customer_data

    platform, system = bin_org.platform, Actor.system()
    platform.admin.add_field(system, "customer", "tax_no", "text", "税号", unique=True)
    first = platform.records.create(system, "customer", customer_data(name="甲", cf_tax_no="91X"))
    platform.records.delete(system, "customer", first["id"])

    with pytest.raises(ValidationFailed) as refused:
        platform.records.create(system, "customer", customer_data(name="乙", cf_tax_no="91X"))

    (error,) = refused.value.errors
    assert error.field == "cf_tax_no" and "回收站" in error.message.render("zh-CN")
    restored = binning.restore(platform, Settings.of(platform), system, "customer", first["id"])
    assert restored == [("customer", first["id"])]  # it kept its value: nothing to clash with
