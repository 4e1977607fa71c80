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
