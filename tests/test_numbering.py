"""Record numbers (CORE-09) are unique under concurrent creation on both databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from guanxi.store.numbering import check_format, sequence_name
from tests.conftest import customer_data


def test_two_hundred_concurrent_creates_get_two_hundred_numbers(make_platform, system):
    workers = [make_platform(), make_platform()]  # two engines, like two processes

    def create(index: int) -> str:
        platform = workers[index % 2]
        data = {"customer": None}
        record = platform.records.create(
            system, "task", {**data, "title": f"并发任务 {index}", "priority": "normal"}
        )
        return record["number"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        numbers = list(pool.map(create, range(200)))
    assert len(set(numbers)) == 200
    assert sorted(numbers) == [f"T{n:06d}" for n in range(1, 201)]
    assert workers[0].records.count(system, "task").value == 200


def test_period_formats_restart_yearly():
    assert (
        sequence_name("lead", "number", "L{yyyy}-{seq:06d}", datetime(2026, 5, 1))
        == "lead.number:2026"
    )
    assert (
        sequence_name("lead", "number", "L{yyyy}{mm}-{seq:04d}", datetime(2026, 5, 1))
        == "lead.number:202605"
    )
    assert (
        sequence_name("customer", "number", "C{seq:06d}", datetime(2026, 5, 1)) == "customer.number"
    )
    assert check_format("X{seq}") == [] and check_format("X{id}") and check_format("X")


def test_yearly_number_format_in_use(platform, system):
    record = platform.records.create(
        system,
        "followup",
        {
            "customer": platform.records.create(system, "customer", customer_data())["id"],
            "method": "visit",
            "content": "拜访",
        },
    )
    assert record["number"] == f"F{datetime.now().year}-000001" or record["number"].endswith(
        "-000001"
    )
