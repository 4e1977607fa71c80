"""Set-based updates through the record service (SFA-10's nightly pool job stands on them):
one change to every record a filter matches, with a history row each, in the actor's scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guanxi.actor import Actor
from guanxi.errors import ValidationFailed
from tests.org import build_org

EAST = [{"field": "region", "op": "eq", "value": "east"}]


def test_every_matching_record_changes_with_its_history(platform):
    org = build_org(platform)
    system = Actor.system()
    records = platform.records
    before = {key: records.get(system, "customer", cid) for key, cid in org.customers.items()}
    records.lock(system, "customer", org.customers["east2"], reason="审计冻结")
    seen: list[int] = []

    result = records.update_matching(
        system, "customer", EAST, {"owner_id": None, "level": "C"}, reason="公海回收",
        within=lambda _connection, ids: seen.extend(ids),
    )  # fmt: skip

    moved = {org.customers["east"], org.customers["shanghai"]}  # east2 is locked
    assert result.updated == result.matched == 2
    assert set(seen) == moved
    for key, cid in org.customers.items():
        after = records.get(system, "customer", cid)
        if cid in moved:
            assert after["owner_id"] is None and after["level"] == "C"
            assert after["version"] == before[key]["version"] + 1
            last = records.history(system, "customer", cid)[-1]
            assert last["op"] == "update" and last["reason"] == "公海回收"
            assert last["changes"] == {
                "owner_id": [before[key]["owner_id"], None],
                "level": [before[key]["level"], "C"],
            }
        else:
            assert after["owner_id"] == before[key]["owner_id"]
            assert after["version"] == before[key]["version"] + (1 if key == "east2" else 0)


def test_date_times_in_history_read_like_a_single_update(platform):
    org = build_org(platform)
    system = Actor.system()
    records = platform.records
    due = datetime(2026, 12, 1, 9, 30, 15, 250000, tzinfo=UTC).isoformat()
    one, other = org.customers["east"], org.customers["north"]
    records.update(system, "customer", one, {"next_followup_at": due},
                   version=records.get(system, "customer", one)["version"])  # fmt: skip
    records.update_matching(
        system, "customer", [{"field": "region", "op": "eq", "value": "north"}],
        {"next_followup_at": due}, reason=None,
    )  # fmt: skip
    single = records.history(system, "customer", one)[-1]["changes"]["next_followup_at"]
    bulk = records.history(system, "customer", other)[-1]["changes"]["next_followup_at"]
    assert bulk == single == [None, "2026-12-01T09:30:15.250000Z"]
    later = datetime(2026, 12, 2, 8, 0, 0, 500000, tzinfo=UTC).isoformat()
    records.update_matching(
        system, "customer", [{"field": "region", "op": "eq", "value": "north"}],
        {"next_followup_at": later}, reason=None,
    )  # fmt: skip
    old, new = records.history(system, "customer", other)[-1]["changes"]["next_followup_at"]
    assert (old, new) == ("2026-12-01T09:30:15.250000Z", "2026-12-02T08:00:00.500000Z")


def test_a_rep_changes_only_records_in_their_scope(platform):
    org = build_org(platform)
    rep = org.actor("rep_east")
    result = platform.records.update_matching(rep, "customer", EAST, {"level": "A"}, reason=None)
    assert result.updated == 1
    system = Actor.system()
    assert platform.records.get(system, "customer", org.customers["east"])["level"] == "A"
    assert platform.records.get(system, "customer", org.customers["east2"])["level"] != "A"


def test_values_are_checked_and_derived_fields_refused(platform):
    org = build_org(platform)
    system = Actor.system()
    with pytest.raises(ValidationFailed) as caught:
        platform.records.update_matching(
            system, "customer", EAST, {"level": "Z", "tags": ["vip"], "nosuch": 1}, reason=None
        )
    assert {e.field for e in caught.value.errors} == {"level", "tags", "nosuch"}
    rep = org.actor("rep_east")
    with pytest.raises(ValidationFailed) as caught:
        platform.records.update_matching(rep, "customer", EAST, {}, reason=None)
    assert caught.value.errors[0].code == "empty"
    with pytest.raises(ValidationFailed) as caught:  # owner and stage moves: system jobs only
        platform.records.update_matching(
            rep, "customer", EAST, {"owner_id": None, "stage": "lost"}, reason=None
        )
    assert {e.field for e in caught.value.errors} == {"owner_id", "stage"}
    east = platform.records.get(system, "customer", org.customers["east"])
    assert east["version"] == 1  # nothing written
