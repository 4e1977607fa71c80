"""Pages over an OR-ed scope (own records OR the department tree) are exact at every depth:
on SQLite they run as one ordered query per scope branch, merged (PERM-04)."""

from __future__ import annotations

from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.core import Guanxi
from tests.conftest import customer_data


def test_manager_pages_match_the_expected_rows_in_order(platform: Guanxi) -> None:
    system = Actor.system()
    head = identity.create_department(platform.db, "总部")
    east = identity.create_department(platform.db, "华东", head)
    shanghai = identity.create_department(platform.db, "上海", east)
    west = identity.create_department(platform.db, "华西", head)
    users = {}
    for name, department, role in (
        ("manager", east, "sales_manager"),
        ("rep_sh", shanghai, "sales_rep"),
        ("rep_west", west, "sales_rep"),
    ):
        users[name] = identity.create_user(platform.db, name, name, department_id=department)
        platform.permissions.assign_role(system, users[name], role)
    actors = {name: identity.actor_for(platform.db, name) for name in users}
    expected = set()
    for index in range(24):
        owner = ("manager", "rep_sh", "rep_west")[index % 3]
        data = customer_data(name=f"客户{index:02d}", rating=index % 5 + 1)
        record = platform.records.create(actors[owner], "customer", data)
        if owner != "rep_west":
            expected.add(record["id"])
    # A record the manager owns in another department: visible through "own" only, and one
    # in both branches (own AND in the tree) must appear once.
    moved = platform.records.create(system, "customer", customer_data(name="跨部门"))
    platform.records.update(
        system,
        "customer",
        moved["id"],
        {"owner_id": users["manager"], "department_id": west},
        version=moved["version"],
    )
    expected.add(moved["id"])

    manager = actors["manager"]
    for sort in (None, ["rating", "-name"], ["-rating"]):
        everything = platform.records.query(system, "customer", sort=sort, limit=500).rows
        wanted = [row["id"] for row in everything if row["id"] in expected]
        seen, after = [], None
        while True:
            page = platform.records.query(manager, "customer", sort=sort, limit=7, after=after)
            seen += [row["id"] for row in page.rows]
            if page.next_cursor is None:
                break
            after = page.next_cursor
        assert seen == wanted
        by_offset = platform.records.query(manager, "customer", sort=sort, limit=5, offset=10)
        assert [row["id"] for row in by_offset.rows] == wanted[10:15]
    assert platform.records.count(manager, "customer").value == len(expected)
    filtered = platform.records.query(
        manager, "customer", {"field": "rating", "op": "gte", "value": 4}, limit=100
    )
    rated = {row["id"] for row in everything if row["rating"] and row["rating"] >= 4}
    assert {row["id"] for row in filtered.rows} == expected & rated
