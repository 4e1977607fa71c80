"""DATA-08: merging duplicates through the service. The survivor takes the value chosen per
field, every row that pointed at the other records points at it, the others are deleted with
their history kept, and a merge log + audit row record it, all in one transaction: a refusal
or a failure half-way leaves every table as it was (PERM-02..04, PERM-06, DATA-12)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi import attachments, notifications
from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.defaults.duplicates.jobs import candidate_groups
from guanxi.defaults.duplicates.merge import MergeResult, merge
from guanxi.defaults.duplicates.merge_log import merge_record
from guanxi.errors import (
    ConflictError,
    GuanxiError,
    LockedError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from guanxi.events import RecordEvent
from guanxi.hookspecs import hookimpl
from guanxi.store.system_tables import (
    attachment,
    audit,
    dup_key,
    history,
    merge_log,
    notification,
    web_form,
    web_form_submission,
)
from tests.conftest import customer_data
from tests.org import Org, build_org

SYSTEM = Actor.system()


@pytest.fixture
def org(platform: Guanxi) -> Org:
    return build_org(platform)


def stored(platform: Guanxi, entity: str, record_id: int) -> dict[str, Any]:
    return platform.records.get(SYSTEM, entity, record_id, log_view=False)


def gone(platform: Guanxi, entity: str, record_id: int) -> bool:
    try:
        stored(platform, entity, record_id)
    except NotFound:
        return True
    return False


def table_state(platform: Guanxi) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a merge writes: equal before and after means nothing changed."""
    snapshot = platform.registry.snapshot()
    tables = [snapshot.tables[name] for name in ("customer", "contact", "followup", "note", "task")]
    tables += [history, audit, merge_log, dup_key, attachment, notification]
    with platform.db.read() as connection:
        return {
            t.name: sorted(
                (tuple(str(v) for v in row) for row in connection.execute(sa.select(t))), key=str
            )
            for t in tables
        }


def rule(platform: Guanxi, action: str, field: str = "name") -> int:
    saved = platform.duplicates.save(
        SYSTEM,
        {"name": f"按{field}", "entity": "customer", "action": action,
         "fields": [{"field": field, "method": "normalized"}]},
    )  # fmt: skip
    platform.jobs.run_due()
    return saved.id


# -- the merge itself -----------------------------------------------------------------------------


def test_manager_merges_two_customers_choosing_values_and_moving_related_records(org: Org) -> None:
    """DATA-08: values per field, contacts/follow-ups/notes/tasks re-linked across modules,
    attachments, notifications and web-form submissions follow; the merged-away customer is
    deleted with its history kept; the survivor's history names the merge; log + audit."""
    platform, manager = org.platform, org.actor("manager")
    survivor, away = org.customers["east"], org.customers["east2"]
    owner2 = org.actor("rep_east2")
    note = platform.records.create(owner2, "note", {"customer": away, "content": "老客户转介绍"})
    task = platform.records.create(owner2, "task", {"title": "回访", "customer": away})
    upload = attachments.save(platform, owner2, "customer", away, "合同.pdf", "application/pdf",
                              io.BytesIO(b"%PDF-1.4 merge"))  # fmt: skip
    with platform.db.unit_of_work() as connection:
        notice = notifications.notify(
            connection, org.users["rep_east2"], "share_request", {"zh-CN": "请共享", "en": "Share"},
            link=f"/r/customer/{away}?tab=info", source=("customer", away),
        )  # fmt: skip
        form_id = connection.execute(
            sa.insert(web_form).values(
                key="k1", name="官网", entity="customer", fields=["name"], owner_id=org.users["admin"],
                created_at=sa.func.now(), updated_at=sa.func.now(),
            ).returning(web_form.c.id)
        ).scalar_one()  # fmt: skip
        connection.execute(
            sa.insert(web_form_submission).values(
                form_id=form_id, at=sa.func.now(), outcome="created", record_id=away
            )
        )
    before_away = stored(platform, "customer", away)

    result = merge(platform, manager, "customer", survivor, [away],
                   {"name": away, "interests": away, "company": survivor})  # fmt: skip

    assert isinstance(result, MergeResult) and result.merged_ids == (away,)
    kept = stored(platform, "customer", survivor)
    assert kept["name"] == "东岳精密" and kept["interests"].endswith("-east2")
    assert kept["company"] == "东海重工有限公司" and kept["mobile"] == "13812344321"
    assert result.survivor["name"] == "东岳精密" and result.survivor["version"] == kept["version"]
    assert gone(platform, "customer", away)
    for entity, record_id in (("contact", org.contacts["east2"]),
                              ("followup", org.followups["east2"]),
                              ("note", note["id"]), ("task", task["id"])):  # fmt: skip
        assert stored(platform, entity, record_id)["customer"] == survivor, entity
    assert stored(platform, "contact", org.contacts["east"])["customer"] == survivor
    with platform.db.read() as connection:
        assert (
            connection.execute(
                sa.select(attachment.c.record_id).where(attachment.c.id == upload["id"])
            ).scalar_one()
            == survivor
        )
        moved_notice = connection.execute(
            sa.select(notification.c.source_id, notification.c.link)
            .where(notification.c.id == notice)
        ).one()  # fmt: skip
        assert tuple(moved_notice) == (survivor, f"/r/customer/{survivor}?tab=info")
        assert connection.execute(sa.select(web_form_submission.c.record_id)).scalar_one() == (
            survivor
        )
        away_history = connection.execute(
            sa.select(history.c.op, history.c.reason)
            .where(history.c.entity == "customer", history.c.record_id == away)
            .order_by(history.c.id)
        ).all()  # fmt: skip
        log = connection.execute(sa.select(merge_log)).mappings().one()
        trail = connection.execute(
            sa.select(audit).where(audit.c.kind == "record_merged")
        ).mappings().one()  # fmt: skip
        contact_history = connection.execute(
            sa.select(history.c.changes, history.c.reason).where(
                history.c.entity == "contact", history.c.record_id == org.contacts["east2"],
                history.c.op == "update",
            )
        ).one()  # fmt: skip
    # the merged-away record keeps its history, ending with a delete that says where it went
    assert [op for op, _reason in away_history] == ["create", "delete"]
    assert before_away["number"] not in away_history[-1].reason
    assert stored(platform, "customer", survivor)["number"] in away_history[-1].reason
    assert contact_history.changes == {"customer": [away, survivor]}
    entries = platform.records.history(org.admin, "customer", survivor)
    assert entries[-1]["op"] == "merge" and before_away["number"] in entries[-1]["reason"]
    assert {"name", "interests"} <= set(entries[-2]["changes"])  # the chosen values, audited
    assert log["entity"] == "customer" and log["survivor_id"] == survivor
    assert log["merged_ids"] == [away] and log["actor_id"] == org.users["manager"]
    assert log["values_from"] == {"name": away, "interests": away}
    assert log["merged_values"][str(away)]["name"] == "东岳精密"
    assert log["survivor_before"]["name"] == "东海重工"
    relinked = {(r["table"], r["column"]): r["ids"] for r in log["relinked"]}
    assert relinked[("e_contact", "customer")] == [org.contacts["east2"]]
    assert relinked[("e_note", "customer")] == [note["id"]]
    assert relinked[("gx_attachment", "record_id")] == [upload["id"]]
    assert relinked[("gx_notification", "source_id")] == [notice]
    assert all(r["from"] == away and r["to"] == survivor for r in log["relinked"])
    assert trail["target"] == f"customer:{survivor}" and trail["actor_id"] == org.users["manager"]
    assert trail["changes"]["merged"] == [away] and trail["changes"]["merge_id"] == log["id"]


def test_three_records_merge_into_one(org: Org) -> None:
    """DATA-08: a survivor and two others (Salesforce's limit); values from both."""
    platform = org.platform
    admin = org.admin
    one, two, three = (org.customers[k] for k in ("east", "east2", "shanghai"))
    result = merge(platform, admin, "customer", one, [two, three],
                   {"name": two, "interests": three, "region": one})  # fmt: skip
    kept = stored(platform, "customer", one)
    assert kept["name"] == "东岳精密" and kept["interests"].endswith("-shanghai")
    assert gone(platform, "customer", two) and gone(platform, "customer", three)
    assert result.merged_ids == (two, three)
    for key in ("east2", "shanghai"):
        assert stored(platform, "contact", org.contacts[key])["customer"] == one
        assert stored(platform, "followup", org.followups[key])["customer"] == one
    with platform.db.read() as connection:
        log = connection.execute(sa.select(merge_log)).mappings().one()
    assert log["merged_ids"] == [two, three]
    assert set(log["merged_values"]) == {str(two), str(three)}


def test_events_fire_after_the_commit_only(make_platform: Any) -> None:
    """Subscribers see every write of the merge (moves, deletion, values, the merge entry)
    once it has committed; a refused merge fires nothing."""
    seen: list[tuple[str, str, bool]] = []

    class Listener:
        @hookimpl
        def record_changed(self, platform: Any, event: RecordEvent) -> None:
            with platform.db.read() as connection:
                logged = connection.execute(sa.select(sa.func.count()).select_from(merge_log))
                seen.append((event.entity, event.op, bool(logged.scalar())))

    platform = make_platform(plugins=[("listener", Listener())])
    org = build_org(platform)
    seen.clear()
    with pytest.raises(ValidationFailed):
        merge(platform, org.admin, "customer", org.customers["east"], [org.customers["east"]])
    assert seen == []
    merge(platform, org.admin, "customer", org.customers["east"], [org.customers["north"]],
          {"name": org.customers["north"]})  # fmt: skip
    assert ("customer", "delete", True) in seen and ("customer", "merge", True) in seen
    assert ("contact", "update", True) in seen and ("customer", "update", True) in seen
    assert all(committed for _entity, _op, committed in seen)


# -- permissions: refused, nothing changed ----------------------------------------------------------


def test_rep_cannot_merge_someone_elses_record_and_nothing_changes(org: Org) -> None:
    """PERM-04: reps delete their own follow-ups, but another rep's follow-up does not exist
    for them, whichever side of the merge it is on."""
    platform = org.platform
    rep = org.actor("rep_east")
    mine, theirs = org.followups["east"], org.followups["north"]
    before = table_state(platform)
    with pytest.raises(NotFound):
        merge(platform, rep, "followup", mine, [theirs])
    with pytest.raises(NotFound):
        merge(platform, rep, "followup", theirs, [mine])
    assert table_state(platform) == before
    second = platform.records.create(
        rep, "followup", {"customer": org.customers["east"], "method": "visit", "content": "拜访"}
    )
    merge(platform, rep, "followup", mine, [second["id"]], {"method": second["id"]})
    assert stored(platform, "followup", mine)["method"] == "visit"


def test_merging_needs_a_direct_delete_right_and_nothing_changes(org: Org) -> None:
    """PERM-02, PERM-06: a rep's customer deletions need approval, and reps may not delete
    contacts at all: either way the merge is refused before anything is written."""
    platform = org.platform
    rep = org.actor("rep_east")
    mine = platform.records.create(rep, "customer", customer_data(name="东海重工(副本)"))
    second_contact = platform.records.create(
        rep, "contact", {"name": "东海联系人2", "customer": org.customers["east"]}
    )
    before = table_state(platform)
    with pytest.raises(PermissionDenied) as refused:
        merge(platform, rep, "customer", org.customers["east"], [mine["id"]])
    assert refused.value.code == "needs_approval"
    with pytest.raises(PermissionDenied):
        merge(platform, rep, "contact", org.contacts["east"], [second_contact["id"]])
    assert table_state(platform) == before


def test_a_hidden_field_stays_untouched_and_is_sealed_in_the_log(org: Org) -> None:
    """PERM-03: remarks are hidden from managers (they inherit the reps' rule): they cannot
    choose it, the survivor keeps its own, the result leaves it out and the log seals it."""
    platform, manager = org.platform, org.actor("manager")
    survivor, away = org.customers["east"], org.customers["east2"]
    before = table_state(platform)
    with pytest.raises(ValidationFailed) as refused:
        merge(platform, manager, "customer", survivor, [away], {"remarks": away})
    assert [(e.field, e.code) for e in refused.value.errors] == [("remarks", "unknown_field")]
    assert table_state(platform) == before
    result = merge(platform, manager, "customer", survivor, [away], {"name": away})
    assert "remarks" not in result.survivor
    assert stored(platform, "customer", survivor)["remarks"] == "底价八折内部评估-east"
    with platform.db.read() as connection:
        log = connection.execute(sa.select(merge_log)).mappings().one()
    text = json.dumps(dict(log), ensure_ascii=False, default=str)
    assert "底价八折内部评估" not in text
    opened = merge_record(platform, log["id"])  # what an undo restores
    assert opened["merged_values"][str(away)]["remarks"] == "底价八折内部评估-east2"
    assert opened["survivor_before"]["remarks"] == "底价八折内部评估-east"


def test_sensitive_values_are_sealed_in_the_merge_log(org: Org) -> None:
    """DATA-12: no plain mobile number or e-mail in gx_merge; the chosen mobile moves (its
    required change reason is the merge's)."""
    platform = org.platform
    survivor, away = org.customers["east"], org.customers["north"]
    merge(platform, org.admin, "customer", survivor, [away], {"mobile": away})
    assert stored(platform, "customer", survivor)["mobile"] == "13900000003"
    with platform.db.read() as connection:
        raw = connection.execute(sa.select(merge_log)).mappings().one()
    text = json.dumps(dict(raw), ensure_ascii=False, default=str)
    for plain in ("13900000003", "13812344321", "north@example.com", "east@example.com"):
        assert plain not in text
    opened = merge_record(platform, raw["id"])
    assert opened["merged_values"][str(away)]["mobile"] == "13900000003"
    assert opened["survivor_before"]["email"] == "east@example.com"


def test_a_read_only_field_keeps_the_survivors_value(org: Org) -> None:
    """PERM-03: a field the actor may read but not write cannot take another record's value."""
    platform = org.platform
    platform.permissions.set_field_access(org.admin, "sales_manager", "customer", "company",
                                          "read")  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        merge(platform, org.actor("manager"), "customer", org.customers["east"],
              [org.customers["east2"]], {"company": org.customers["east2"]})  # fmt: skip
    assert [(e.field, e.code) for e in refused.value.errors] == [("company", "read_only")]
    assert not gone(platform, "customer", org.customers["east2"])


# -- failures half-way ---------------------------------------------------------------------------


def test_a_failure_after_the_moves_and_deletion_rolls_everything_back(org: Org) -> None:
    """DATA-07 + DATA-08: the survivor's new name is blocked by a third record (not merged):
    the related records already moved and the record already deleted come back."""
    platform = org.platform
    third = platform.records.create(SYSTEM, "customer", customer_data(name="东岳精密"))
    rule(platform, "block")
    before = table_state(platform)
    with pytest.raises(ValidationFailed) as refused:
        merge(platform, org.admin, "customer", org.customers["east"], [org.customers["east2"]],
              {"name": org.customers["east2"]})  # fmt: skip
    assert [(e.field, e.code) for e in refused.value.errors] == [("name", "duplicate")]
    assert refused.value.errors[0].details[0]["id"] == third["id"]  # not the merged record
    assert table_state(platform) == before


def test_a_locked_related_record_of_the_second_record_rolls_back_the_first(org: Org) -> None:
    """DATA-03: the first record's children moved and it was deleted before the second
    record's locked contact refused: nothing of it stays."""
    platform = org.platform
    platform.records.lock(SYSTEM, "contact", org.contacts["shanghai"])
    before = table_state(platform)
    with pytest.raises(LockedError):
        merge(platform, org.admin, "customer", org.customers["east"],
              [org.customers["east2"], org.customers["shanghai"]])  # fmt: skip
    assert table_state(platform) == before


def test_a_record_changed_since_the_comparison_is_a_conflict(org: Org) -> None:
    platform = org.platform
    away = org.customers["east2"]
    seen = stored(platform, "customer", away)["version"]
    platform.records.update(SYSTEM, "customer", away, {"title": "总监"}, version=seen)
    before = table_state(platform)
    with pytest.raises(ConflictError):
        merge(platform, org.admin, "customer", org.customers["east"], [away],
              versions={away: seen})  # fmt: skip
    assert table_state(platform) == before


# -- bad input, named ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("merged", "values", "field", "code"),
    [
        (["east"], {}, "ids", "same_record"),
        ([], {}, "ids", "count"),
        (["east2", "shanghai", "north"], {}, "ids", "count"),
        ([("contact", "east2")], {}, "ids", "other_entity"),
        (["x"], {}, "ids", "invalid"),
        (["east2"], {"name": 999999}, "name", "bad_source"),
        (["east2"], {"nope": "east2"}, "nope", "unknown_field"),
        (["east2"], {"number": "east2"}, "number", "unknown_field"),
    ],
)
def test_bad_selections_are_refused_naming_the_field(
    org: Org, merged: list[Any], values: dict[str, Any], field: str, code: str
) -> None:
    platform = org.platform

    def record_id(value: Any) -> Any:
        if isinstance(value, tuple):
            return (value[0], org.contacts[value[1]])
        return org.customers.get(value, value) if isinstance(value, str) else value

    before = table_state(platform)
    with pytest.raises(ValidationFailed) as refused:
        merge(platform, org.admin, "customer", org.customers["east"],
              [record_id(m) for m in merged],
              {k: record_id(v) for k, v in values.items()})  # fmt: skip
    assert (field, code) in [(e.field, e.code) for e in refused.value.errors]
    assert all(e.message.render("zh-CN") for e in refused.value.errors)
    assert table_state(platform) == before


def test_unknown_module_is_not_found(org: Org) -> None:
    with pytest.raises(GuanxiError) as refused:
        merge(org.platform, org.admin, "nothing", 1, [2])
    assert refused.value.status == 404


# -- duplicate keys -------------------------------------------------------------------------------


def test_duplicate_keys_of_merged_records_go_and_the_group_disappears(org: Org) -> None:
    """DATA-07/08: the warn rule's candidate group of two becomes one record; the merge is
    not blocked by the records it merges."""
    platform = org.platform
    copy = platform.records.create(
        SYSTEM, "customer", customer_data(name="东海重工有限公司", mobile="13811112222")
    )
    rule_id = rule(platform, "block")
    assert candidate_groups(platform, rule_id)[0]["size"] == 2
    merge(platform, org.admin, "customer", org.customers["east"], [copy["id"]],
          {"name": copy["id"]})  # fmt: skip
    with platform.db.read() as connection:
        keys = connection.execute(sa.select(dup_key.c.entity, dup_key.c.record_id)).all()
    assert ("customer", copy["id"]) not in keys and ("customer", org.customers["east"]) in keys
    assert candidate_groups(platform, rule_id) == []


# -- the recycle bin's seam -----------------------------------------------------------------------


class SoftDelete:
    """A stand-in for the recycle bin (issue 7): takes over deletions with an update."""

    @hookimpl
    def delete_record(
        self, platform: Any, entity: Any, record: dict[str, Any], actor: Actor, reason: str | None
    ) -> str | None:
        platform.records.update(actor, entity.name, record["id"], {"title": "[回收站]"},
                                version=record["version"], reason=reason)  # fmt: skip
        return "binned"


def test_a_plugin_taking_over_deletion_joins_the_merge_transaction(make_platform: Any) -> None:
    """BIN-01 later: a recycle bin's soft delete is written inside the merge's transaction
    (committed with it, rolled back with it), so a merge can be undone from the bin."""
    platform = make_platform(plugins=[("bin", SoftDelete())])
    org = build_org(platform)
    survivor, away = org.customers["east"], org.customers["east2"]
    platform.records.create(SYSTEM, "customer", customer_data(name="东岳精密"))
    rule(platform, "block")
    before = table_state(platform)
    with pytest.raises(ValidationFailed):  # the third record blocks the survivor's new name
        merge(platform, org.admin, "customer", survivor, [away], {"name": away})
    assert table_state(platform) == before
    result = merge(platform, org.admin, "customer", survivor, [away], {"interests": away})
    binned = stored(platform, "customer", away)
    assert binned["title"] == "[回收站]" and result.merged_ids == (away,)
    assert stored(platform, "contact", org.contacts["east2"])["customer"] == survivor
    with platform.db.read() as connection:
        reasons = connection.execute(
            sa.select(history.c.reason).where(
                history.c.entity == "customer", history.c.record_id == away,
                history.c.op == "update",
            )
        ).scalars().all()  # fmt: skip
    assert len(reasons) == 1 and stored(platform, "customer", survivor)["number"] in reasons[0]
