"""records.create_many (DATA-09): many rows through the one write pipeline in one transaction;
bad rows are reported and left out, the caller's progress commits with the good ones."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.store.system_tables import history
from tests.conftest import customer_data


def count(platform: Guanxi, table: str) -> int:
    with platform.db.read() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar()
            or 0
        )


def test_good_rows_are_created_with_history_and_bad_rows_reported(
    platform: Guanxi, system: Actor
) -> None:
    rows: list[dict[str, Any]] = [
        customer_data(name="甲公司", mobile="13800000001"),
        customer_data(name="", mobile="12345"),
        customer_data(name="乙公司", mobile="+86 138 0000 0002"),
    ]
    seen: list[Any] = []
    outcomes = platform.records.create_many(
        system, "customer", rows, within=lambda connection, found: seen.extend(found)
    )
    assert [o.index for o in outcomes] == [0, 1, 2] and seen == outcomes
    assert outcomes[0].record_id and outcomes[2].record_id and outcomes[1].record_id is None
    assert {e.field for e in outcomes[1].errors} >= {"name", "mobile"}
    assert count(platform, "e_customer") == 2
    with platform.db.read() as connection:
        ops = connection.execute(sa.select(history.c.record_id, history.c.op)).all()
    assert sorted(ops) == sorted([(outcomes[0].record_id, "create"),
                                  (outcomes[2].record_id, "create")])  # fmt: skip
    created = platform.records.get(system, "customer", outcomes[2].record_id)
    assert created["mobile"] == "13800000002" and created["number"]


def test_a_failure_in_within_rolls_back_every_row(platform: Guanxi, system: Actor) -> None:
    def crash(connection: Any, outcomes: Any) -> None:
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        platform.records.create_many(
            system, "customer", [customer_data(name="丙公司")], within=crash
        )
    assert count(platform, "e_customer") == 0 and count(platform, "gx_history") == 0


def test_dry_run_checks_everything_and_writes_nothing(platform: Guanxi, system: Actor) -> None:
    calls: list[int] = []
    outcomes = platform.records.create_many(
        system,
        "customer",
        [customer_data(name="丁公司"), customer_data(name="戊公司", email="bad")],
        dry_run=True,
        within=lambda connection, found: calls.append(len(found)),
    )
    assert outcomes[0].record_id is not None and not outcomes[0].errors
    assert [e.field for e in outcomes[1].errors] == ["email"]
    assert calls == [2]
    assert count(platform, "e_customer") == 0 and count(platform, "gx_history") == 0


def test_two_rows_of_one_batch_sharing_a_unique_value_refuse_only_the_second(
    platform: Guanxi, system: Actor
) -> None:  # DATA-09: the multi-row INSERT fails, the batch is redone row by row
    platform.admin.add_field(system, "customer", "tax_no", "text", "税号", unique=True)
    rows = [
        customer_data(name="甲公司", cf_tax_no="91310000MA1"),
        customer_data(name="乙公司", cf_tax_no="91310000MA2"),
        customer_data(name="丙公司", cf_tax_no="91310000MA1"),
    ]
    outcomes = platform.records.create_many(system, "customer", rows)
    assert outcomes[0].record_id and outcomes[1].record_id and outcomes[2].record_id is None
    assert [e.field for e in outcomes[2].errors] == ["cf_tax_no"]
    assert count(platform, "e_customer") == 2 and count(platform, "gx_history") == 2
    created = [platform.records.get(system, "customer", o.record_id) for o in outcomes[:2]]
    assert [c["name"] for c in created] == ["甲公司", "乙公司"]


def test_numbers_of_a_batch_follow_the_rows_and_leave_no_gap(
    platform: Guanxi, system: Actor
) -> None:  # CORE-09: a block of numbers is reserved per batch; what is left goes back
    rows = [customer_data(name=f"公司{n}") for n in range(5)]
    rows[1]["name"] = ""  # refused: draws no number
    outcomes = platform.records.create_many(system, "customer", rows)
    numbers = [
        platform.records.get(system, "customer", o.record_id)["number"]
        for o in outcomes
        if o.record_id
    ]
    names = [
        platform.records.get(system, "customer", o.record_id)["name"]
        for o in outcomes
        if o.record_id
    ]
    assert names == ["公司0", "公司2", "公司3", "公司4"]
    following = platform.records.create(system, "customer", customer_data(name="之后"))
    sequence = [
        int("".join(ch for ch in n if ch.isdigit())) for n in [*numbers, following["number"]]
    ]
    assert sequence == list(range(sequence[0], sequence[0] + 5))
