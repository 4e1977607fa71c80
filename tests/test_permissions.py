"""Permissions through the record pipeline and query layer (PERM-02..06, DATA-12): who reaches
which records by which path, which fields they see, and what gets logged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.auth import access_log, identity
from guanxi.core import Guanxi
from guanxi.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    QueryError,
    ValidationFailed,
)
from guanxi.hookspecs import hookimpl
from guanxi.store.system_tables import audit, history
from tests.org import (
    COMPANY_SUFFIX,
    INTEREST,
    MOBILES,
    NAMES,
    OWNERS,
    REMARK,
    Org,
    build_org,
    customer_input,
    rep_input,
)

ALL = frozenset(OWNERS)
EAST_TREE = frozenset({"east", "east2", "shanghai", "manager"})
# Which customers (by record key, see tests/org.py) each user reaches. For rep_east: own is
# "east", a colleague's is "east2", another department's is "north" (and "shanghai" is a
# sub-department's). The manager sits in east: own is "manager", a colleague's (a rep of
# theirs) "east", another department's "north".
VIEW = {
    "rep_east": frozenset({"east"}),
    "rep_north": frozenset({"north"}),
    "manager": EAST_TREE,
    "agent": ALL,
    "admin": ALL,
}
EDIT: dict[str, frozenset[str] | None] = {  # None: the module action itself is refused
    "rep_east": frozenset({"east"}),
    "rep_north": frozenset({"north"}),
    "manager": EAST_TREE,
    "agent": None,
    "admin": ALL,
}
# Follow-ups: agents may edit only the ones they own (none in the fixture).
FOLLOWUP_EDIT = {name: reached or frozenset() for name, reached in EDIT.items()}
CREATES_CUSTOMERS = {"rep_east", "rep_north", "manager", "admin"}
EXPORTS = {"manager", "admin"}
# Customer fields hidden from each user: the manager inherits the sales rep role, and its
# deny on remarks wins over everything the manager role allows.
HIDDEN = {
    "rep_east": ("remarks", REMARK),
    "rep_north": ("remarks", REMARK),
    "manager": ("remarks", REMARK),
    "agent": ("interests", INTEREST),
}
DELETE = {  # outcome of deleting each customer; anything not listed: not_found
    "rep_east": {"east": "needs_approval"},
    "rep_north": {"north": "needs_approval"},
    "manager": dict.fromkeys(EAST_TREE, "deleted"),
    "agent": dict.fromkeys(ALL, "forbidden"),
    "admin": dict.fromkeys(ALL, "deleted"),
}


@pytest.fixture
def org(platform: Guanxi) -> Org:
    return build_org(platform)


def attempt(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """("ok", the result), ("not_found", None) or (the PermissionDenied code, None)."""
    try:
        return "ok", call(*args, **kwargs)
    except NotFound:
        return "not_found", None
    except PermissionDenied as error:
        return error.code, None


def outcome(kept: list[Any], call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """attempt()'s verdict; the result, if any, is kept for the hidden-field checks."""
    verdict, result = attempt(call, *args, **kwargs)
    if verdict == "ok":
        kept.append(result)
    return verdict


def field_errors(error: ValidationFailed) -> list[tuple[str | None, str]]:
    return [(e.field, e.code) for e in error.errors]


def ids(rows: Iterable[dict[str, Any]]) -> set[int]:
    return {row["id"] for row in rows}


def keys_of(org: Org, record_ids: Iterable[int], kind: str = "customers") -> set[str]:
    by_id = {record_id: key for key, record_id in getattr(org, kind).items()}
    return {by_id[record_id] for record_id in record_ids if record_id in by_id}


def only(record_id: int) -> dict[str, Any]:
    return {"field": "id", "op": "eq", "value": record_id}


def history_rows(platform: Guanxi, entity: str, record_id: int) -> list[dict[str, Any]]:
    with platform.db.read() as connection:
        query = (
            sa.select(history)
            .where(history.c.entity == entity, history.c.record_id == record_id)
            .order_by(history.c.id)
        )
        return [dict(row) for row in connection.execute(query).mappings()]


def audit_rows(platform: Guanxi) -> list[dict[str, Any]]:
    with platform.db.read() as connection:
        return [
            dict(r) for r in connection.execute(sa.select(audit).order_by(audit.c.id)).mappings()
        ]


# -- the matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize("username", list(VIEW))
def test_permission_matrix_for_every_read_and_write_path(org: Org, username: str) -> None:
    """PERM-02 module actions, PERM-04 scopes, PERM-05 least privilege, PERM-03 / DATA-12
    field masks: every path on own, colleagues' and other departments' records."""
    records = org.platform.records
    actor = org.actor(username)
    view, edit = VIEW[username], EDIT[username]
    outputs: list[Any] = []  # everything the pipeline handed this user
    customer_outputs: list[dict[str, Any]] = []

    # Reads: single records, their history, and the children reached through the customer.
    for key, customer_id in org.customers.items():
        expected = "ok" if key in view else "not_found"
        contact_id, followup_id = org.contacts[key], org.followups[key]
        seen = {
            "get": outcome(customer_outputs, records.get, actor, "customer", customer_id),
            "history": outcome(outputs, records.history, actor, "customer", customer_id),
            "contact": outcome(outputs, records.get, actor, "contact", contact_id),
            "followup": outcome(outputs, records.get, actor, "followup", followup_id),
            "followup history": outcome(outputs, records.history, actor, "followup", followup_id),
        }
        assert seen == dict.fromkeys(seen, expected), key
        assert len(records.query(actor, "customer", only(customer_id)).rows) == int(key in view)
        assert records.count(actor, "customer", only(customer_id)).value == (key in view)
        found = records.query(actor, "customer", search=NAMES[key]).rows
        customer_outputs.extend(found)
        assert ids(found) == ({customer_id} if key in view else set()), key
        children = {"field": "customer", "op": "eq", "value": customer_id}
        assert ids(records.query(actor, "contact", children).rows) == (
            {org.contacts[key]} if key in view else set()
        )
        assert ids(records.query(actor, "followup", children).rows) == (
            {org.followups[key]} if key in view else set()
        )
        # present_for shows a record someone else was sent (a notification): masked the same way
        outputs.append(records.present_for(actor, "customer", org.stored("customer", customer_id)))

    page = records.query(actor, "customer", limit=100)
    customer_outputs.extend(page.rows)
    assert keys_of(org, ids(page.rows)) == view
    assert records.count(actor, "customer").value == len(view)
    groups = records.aggregate(actor, "customer", group_by=["owner_id"])
    outputs.append(groups)
    assert {row["owner_id"]: row["count"] for row in groups} == {
        org.users[OWNERS[key]]: 1 for key in view
    }
    if username in EXPORTS:
        exported = list(records.export(actor, "customer"))
        customer_outputs.extend(exported)
        assert keys_of(org, ids(exported)) == view
    else:
        with pytest.raises(PermissionDenied):
            list(records.export(actor, "customer"))

    # Writes.
    for key, customer_id in org.customers.items():
        expected = "forbidden" if edit is None else "ok" if key in edit else "not_found"
        contact_id, followup_id = org.contacts[key], org.followups[key]
        change = {"title": username}
        seen = {
            "update": outcome(
                customer_outputs,
                records.update,
                actor,
                "customer",
                customer_id,
                change,
                version=org.version("customer", customer_id),
            ),
            "update_field": outcome(
                customer_outputs,
                records.update_field,
                actor,
                "customer",
                customer_id,
                "level",
                "A",
                version=org.version("customer", customer_id),
            ),
            "lock": outcome(outputs, records.lock, actor, "customer", customer_id),
            "unlock": outcome(outputs, records.unlock, actor, "customer", customer_id),
            "contact": outcome(
                outputs,
                records.update,
                actor,
                "contact",
                contact_id,
                change,
                version=org.version("contact", contact_id),
            ),
        }
        assert seen == dict.fromkeys(seen, expected), key
        if expected == "ok":
            with pytest.raises(ConflictError) as conflict:
                records.update(actor, "customer", customer_id, {"title": "旧版本"}, version=1)
            customer_outputs.append(conflict.value.current)
        followup_edit = FOLLOWUP_EDIT[username]
        followup_update = outcome(
            outputs,
            records.update,
            actor,
            "followup",
            followup_id,
            {"next_step": username},
            version=org.version("followup", followup_id),
        )
        assert followup_update == ("ok" if key in followup_edit else "not_found"), key

        # A follow-up on a customer outside the scope is refused like one on a missing customer.
        followup = {"customer": customer_id, "method": "visit", "content": username}
        if key in view:
            created = records.create(actor, "followup", followup)
            outputs.append(created)
            if username == "agent":  # agents edit the follow-ups they own
                records.update(actor, "followup", created["id"], {"next_step": "回访"}, version=1)
        else:
            with pytest.raises(ValidationFailed) as caught:
                records.create(actor, "followup", followup)
            assert field_errors(caught.value) == [("customer", "reference")]

        copied = outcome(customer_outputs, records.copy, actor, "customer", customer_id)
        may_create = "ok" if username in CREATES_CUSTOMERS else "forbidden"
        assert copied == (may_create if key in view else "not_found"), key

    created = outcome(customer_outputs, records.create, actor, "customer", rep_input("east"))
    assert created == ("ok" if username in CREATES_CUSTOMERS else "forbidden")

    # Deletes last: each customer, then whether it is gone.
    for key, customer_id in org.customers.items():
        expected = DELETE[username].get(key, "not_found")
        verdict, result = attempt(records.delete, actor, "customer", customer_id, reason="测试")
        assert (result if verdict == "ok" else verdict) == expected, key
        still_there = attempt(org.stored, "customer", customer_id)[0] == "ok"
        assert still_there == (expected != "deleted"), key

    # Nothing hidden left the server; masked values never appeared in full.
    text = repr([outputs, customer_outputs])
    if username in HIDDEN:
        field, secret = HIDDEN[username]
        assert secret not in text
        assert all(field not in record for record in customer_outputs if record)
        for entry in (e for group in outputs if isinstance(group, list) for e in group):
            assert field not in (entry.get("changes") or {})
    else:
        assert REMARK in text and INTEREST in text  # the check above is not vacuous
    if username == "agent":
        assert not any(mobile in text for mobile in MOBILES.values())
        assert "138****4321" in text


# -- module actions (PERM-02) -----------------------------------------------------------------


def test_giving_a_customer_to_another_owner_needs_assign(org: Org) -> None:  # PERM-02
    records = org.platform.records
    rep, customer_id = org.actor("rep_east"), org.customers["east"]
    before = org.stored("customer", customer_id)
    with pytest.raises(PermissionDenied) as caught:
        records.update(
            rep,
            "customer",
            customer_id,
            {"owner_id": org.users["rep_east2"]},
            version=before["version"],
        )
    assert caught.value.field == "owner_id"
    assert org.stored("customer", customer_id) == before
    with pytest.raises(PermissionDenied) as caught:
        records.create(rep, "customer", {**rep_input("east"), "owner_id": org.users["rep_east2"]})
    assert caught.value.field == "owner_id"
    assert records.count(Actor.system(), "customer").value == len(org.customers)

    # The manager may reassign, even out of their own scope: the department follows the owner.
    manager = org.actor("manager")
    moved = records.update(
        manager,
        "customer",
        customer_id,
        {"owner_id": org.users["rep_north"]},
        version=before["version"],
    )
    assert moved["owner_id"] == org.users["rep_north"]
    assert moved["department_id"] == org.departments["north"]
    with pytest.raises(NotFound):
        records.get(manager, "customer", customer_id)
    with pytest.raises(NotFound):
        records.get(rep, "customer", customer_id)
    assert records.get(org.actor("rep_north"), "customer", customer_id)["name"] == NAMES["east"]


def test_a_deny_grant_beats_an_allow_from_another_role(org: Org) -> None:  # PERM-02, PERM-03
    permissions, records = org.platform.permissions, org.platform.records
    admin = org.admin
    permissions.create_role(admin, "no_export", {"zh-CN": "禁止导出", "en": "No export"})
    permissions.grant(admin, "no_export", "customer", "export", "deny")
    permissions.assign_role(admin, org.users["manager"], "no_export")
    manager = org.actor("manager")
    with pytest.raises(PermissionDenied) as caught:
        list(records.export(manager, "customer"))
    assert caught.value.code == "forbidden"
    assert records.count(manager, "customer").value == len(EAST_TREE)  # viewing is untouched

    # A field deny from one role beats the other role's allow: a rep who is also a service
    # agent sees even their own customer's mobile masked, and its interests not at all.
    permissions.assign_role(admin, org.users["rep_east"], "service_agent")
    rep = org.actor("rep_east")
    own = records.get(rep, "customer", org.customers["east"])
    assert own["mobile"] == "138****4321"
    assert "interests" not in own and "remarks" not in own
    with pytest.raises(ValidationFailed) as refused:
        records.update(
            rep,
            "customer",
            own["id"],
            {"mobile": "13700000000"},
            version=own["version"],
            reason="换号",
        )
    assert field_errors(refused.value) == [("mobile", "forbidden")]


def test_the_roles_of_a_user_add_up(org: Org) -> None:  # PERM-02, PERM-04
    """A sales rep who is also a service agent views every customer (the agent's scope) but
    edits only their own (the only edit scope either role gives)."""
    org.platform.permissions.assign_role(org.admin, org.users["rep_east"], "service_agent")
    records, rep = org.platform.records, org.actor("rep_east")
    assert keys_of(org, ids(records.query(rep, "customer", limit=100).rows)) == ALL
    for key, customer_id in org.customers.items():
        version = org.version("customer", customer_id)
        verdict, _ = attempt(
            records.update, rep, "customer", customer_id, {"level": "B"}, version=version
        )
        assert verdict == ("ok" if key == "east" else "not_found"), key
    # Follow-ups: the agent role lets them log one on any customer.
    created = records.create(
        rep, "followup", {"customer": org.customers["north"], "method": "phone", "content": "售后"}
    )
    assert created["owner_id"] == org.users["rep_east"]


def test_a_module_grant_without_scope_rules_reaches_only_own_records(org: Org) -> None:
    """PERM-05: least privilege — a role given a module but no scope reaches its own records."""
    permissions, records, admin = org.platform.permissions, org.platform.records, org.admin
    permissions.create_role(admin, "reader", {"zh-CN": "只读"})
    permissions.grant(admin, "reader", "customer", "view")
    permissions.grant(admin, "reader", "customer.*", "read")
    user_id = identity.create_user(
        org.platform.db, "reader1", "钱读", department_id=org.departments["east"]
    )
    reader = org.actor("reader1")
    with pytest.raises(PermissionDenied):  # no role yet: no access at all
        records.count(reader, "customer")
    permissions.assign_role(admin, user_id, "reader")
    reader = org.actor("reader1")
    assert records.count(reader, "customer").value == 0
    given = records.create(admin, "customer", {**customer_input("east"), "owner_id": user_id})
    assert ids(records.query(reader, "customer").rows) == {given["id"]}


# -- field levels (PERM-03, DATA-12) ------------------------------------------------------------


def test_field_levels_hidden_masked_read_write(org: Org) -> None:  # PERM-03, DATA-12
    permissions, records, admin = org.platform.permissions, org.platform.records, org.admin
    customer_id = org.customers["east"]

    def level(name: str) -> tuple[Any, Any, str | None]:
        """(value the rep reads, outcome of a filter on it, outcome of writing it)"""
        permissions.set_field_access(admin, "sales_rep", "customer", "mobile", name)
        rep = org.actor("rep_east")
        record = records.get(rep, "customer", customer_id)
        try:
            records.count(rep, "customer", {"field": "mobile", "op": "eq", "value": "13812344321"})
            filtered = "ok"
        except QueryError as error:
            filtered = error.code
        try:
            records.update(
                rep,
                "customer",
                customer_id,
                {"mobile": "13812340000"},
                version=record["version"],
                reason="客户换号",
            )
            written = "ok"
        except ValidationFailed as error:
            written = field_errors(error)[0][1]
        return record.get("mobile", "<absent>"), filtered, written

    assert level("masked") == ("138****4321", "masked_field", "forbidden")
    assert level("read") == ("13812344321", "ok", "forbidden")
    assert level("hidden") == ("<absent>", "unknown_field", "unknown_field")
    assert level("write") == ("13812344321", "ok", "ok")
    assert org.stored("customer", customer_id)["mobile"] == "13812340000"


def test_a_hidden_field_appears_in_no_output(org: Org) -> None:  # PERM-03
    """Customer remarks are hidden from sales reps (and so from their manager)."""
    platform, records = org.platform, org.platform.records
    rep, manager, admin = org.actor("rep_east"), org.actor("manager"), org.admin
    customer_id = org.customers["east"]
    records.update(admin, "customer", customer_id, {"remarks": f"{REMARK}-改"}, version=1)
    outputs: list[Any] = []

    outputs.append(records.get(rep, "customer", customer_id))
    outputs.extend(records.query(rep, "customer").rows)
    outputs.extend(list(records.export(manager, "customer")))
    outputs.append(records.present_for(rep, "customer", org.stored("customer", customer_id)))
    created = records.create(rep, "customer", rep_input("east"))
    outputs.append(created)
    outputs.append(records.update(rep, "customer", customer_id, {"title": "总经理"}, version=2))
    with pytest.raises(ConflictError) as conflict:
        records.update(rep, "customer", customer_id, {"title": "副总"}, version=1)
    outputs.append(conflict.value.current)
    assert all("remarks" not in record for record in outputs)

    entries = records.history(rep, "customer", customer_id)
    assert [e["op"] for e in entries] == ["create", "update", "update"]
    assert entries[1]["changes"] == {}  # the admin's change of remarks shows as a bare entry
    assert all("remarks" not in e["changes"] for e in entries)
    assert REMARK not in repr([outputs, entries])

    # Filters, grouping and search treat it exactly like a field that does not exist.
    def query_error(call: Callable[[], Any]) -> tuple[str | None, str, str, str]:
        with pytest.raises(QueryError) as caught:
            call()
        error = caught.value
        return error.field, error.code, error.message.render("zh-CN"), error.message.render("en")

    def unknown(field: str) -> tuple[str | None, str, str, str]:
        return query_error(
            lambda: records.count(rep, "customer", {"field": field, "op": "eq", "value": "x"})
        )

    assert unknown("remarks") == tuple(
        part.replace("no_such_field", "remarks") for part in unknown("no_such_field")
    )
    is_empty = {"field": "remarks", "op": "is_empty"}
    assert query_error(lambda: records.count(rep, "customer", is_empty))[1] == "unknown_field"
    grouped = query_error(lambda: records.aggregate(rep, "customer", group_by=["remarks"]))
    assert grouped[:2] == ("remarks", "unknown_field")
    sorted_by = query_error(lambda: records.query(rep, "customer", sort=["remarks"]))
    assert sorted_by[:2] == ("remarks", "unknown_field")

    # Search never matches on a field the searcher cannot see.
    platform.permissions.set_field_access(admin, "service_agent", "customer", "company", "hidden")
    agent = org.actor("agent")
    assert records.query(admin, "customer", search=COMPANY_SUFFIX).rows
    assert records.query(agent, "customer", search=COMPANY_SUFFIX).rows == []
    assert records.count(agent, "customer", search=COMPANY_SUFFIX).value == 0
    assert len(records.query(agent, "customer", search=NAMES["north"]).rows) == 1


def test_writing_a_hidden_field_is_reported_like_an_unknown_field(org: Org) -> None:  # PERM-03
    records, rep = org.platform.records, org.actor("rep_east")
    customer_id = org.customers["east"]

    def errors(call: Callable[[], Any]) -> list[tuple[str | None, str, str, str]]:
        with pytest.raises(ValidationFailed) as caught:
            call()
        return [
            (e.field, e.code, e.message.render("zh-CN"), e.message.render("en"))
            for e in caught.value.errors
        ]

    def as_hidden(found: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [tuple(str(p).replace("no_such_field", "remarks") for p in e) for e in found]

    data = customer_input("east")
    hidden = errors(lambda: records.create(rep, "customer", data))
    unknown = errors(
        lambda: records.create(
            rep, "customer", {**rep_input("east"), "no_such_field": data["remarks"]}
        )
    )
    assert hidden == as_hidden(unknown) and hidden[0][:2] == ("remarks", "unknown_field")
    hidden = errors(
        lambda: records.update(rep, "customer", customer_id, {"remarks": "x"}, version=1)
    )
    unknown = errors(
        lambda: records.update(rep, "customer", customer_id, {"no_such_field": "x"}, version=1)
    )
    assert hidden == as_hidden(unknown)
    assert org.stored("customer", customer_id)["version"] == 1
    assert records.count(Actor.system(), "customer").value == len(org.customers)


def test_an_error_about_a_hidden_field_does_not_name_it(org: Org) -> None:  # PERM-03
    """A required field the rep cannot see blocks the save with one generic error: naming the
    field (or its rule) would tell them what they may not know."""
    org.platform.permissions.set_field_access(
        org.admin, "sales_rep", "customer", "company", "hidden"
    )
    data = {k: v for k, v in rep_input("east").items() if k not in ("company", "name")}
    with pytest.raises(ValidationFailed) as caught:
        org.platform.records.create(org.actor("rep_east"), "customer", data)
    assert field_errors(caught.value) == [("name", "required"), (None, "hidden_field")]
    assert not any(
        word in str(e.message.all_locales())
        for e in caught.value.errors
        for word in ("公司", "ompany")
    )


def test_writing_a_read_only_field_is_refused_by_name(org: Org) -> None:  # PERM-03
    org.platform.permissions.set_field_access(org.admin, "sales_rep", "customer", "title", "read")
    records, rep = org.platform.records, org.actor("rep_east")
    customer_id = org.customers["east"]
    assert "title" in records.get(rep, "customer", customer_id)
    with pytest.raises(ValidationFailed) as caught:
        records.update(rep, "customer", customer_id, {"title": "总监", "level": "S"}, version=1)
    [error] = caught.value.errors
    assert (error.field, error.code) == ("title", "forbidden")
    assert error.message.render("en") == "You may not change Job title"
    assert "职位" in error.message.render("zh-CN")
    assert org.stored("customer", customer_id)["level"] is None  # nothing written
    with pytest.raises(ValidationFailed) as caught:
        records.create(rep, "customer", {**rep_input("east"), "title": "总监"})
    assert field_errors(caught.value) == [("title", "forbidden")]


def test_service_agents_see_contact_details_masked_everywhere(org: Org) -> None:  # DATA-12
    records, agent = org.platform.records, org.actor("agent")
    customer_id = org.customers["east"]
    record = records.get(agent, "customer", customer_id)
    assert record["mobile"] == "138****4321"
    assert record["email"] != "east@example.com" and "****" in record["email"]
    [row] = records.query(agent, "customer", only(customer_id)).rows
    assert (row["mobile"], row["email"]) == (record["mobile"], record["email"])
    [created] = records.history(agent, "customer", customer_id)
    assert created["changes"]["mobile"] == [None, "138****4321"]
    presented = records.present_for(agent, "customer", org.stored("customer", customer_id))
    assert presented["mobile"] == "138****4321"
    contact = records.get(agent, "contact", org.contacts["east"])
    assert contact["mobile"] == "138****4321"

    # A masked field cannot be filtered, sorted or grouped on: that would reveal it.
    for call in (
        lambda: records.query(
            agent, "customer", {"field": "mobile", "op": "starts_with", "value": "1381"}
        ),
        lambda: records.query(agent, "customer", sort=["mobile"]),
        lambda: records.aggregate(agent, "customer", group_by=["mobile"]),
    ):
        with pytest.raises(QueryError) as caught:
            call()
        assert (caught.value.field, caught.value.code) == ("mobile", "masked_field")


# -- record scopes (PERM-04) -----------------------------------------------------------------


def test_team_scope_reaches_the_records_of_team_members(org: Org) -> None:  # PERM-04
    db, records = org.platform.db, org.platform.records
    team_id = identity.create_team(
        db, "跨区攻坚组", [org.users["rep_east"], org.users["rep_north"]]
    )
    org.platform.permissions.set_scope(org.admin, "sales_rep", "customer", "view", "team")
    rep = org.actor("rep_east")
    assert keys_of(org, ids(records.query(rep, "customer").rows)) == {"east", "north"}
    version = org.stored("customer", org.customers["north"])["version"]
    with pytest.raises(NotFound):  # the team scope was given for viewing only
        records.update(rep, "customer", org.customers["north"], {"level": "A"}, version=version)
    identity.remove_team_member(db, team_id, org.users["rep_north"])
    rep = org.actor("rep_east")
    assert keys_of(org, ids(records.query(rep, "customer").rows)) == {"east"}


def test_department_scope_leaves_out_sub_departments(org: Org) -> None:  # PERM-04
    org.platform.permissions.set_scope(org.admin, "sales_rep", "customer", "view", "department")
    records = org.platform.records
    found = keys_of(org, ids(records.query(org.actor("rep_east"), "customer").rows))
    assert found == {"east", "east2", "manager"}
    found = keys_of(org, ids(records.query(org.actor("rep_shanghai"), "customer").rows))
    assert found == {"shanghai"}


def test_department_tree_scope_follows_the_org_chart(org: Org) -> None:  # PERM-04
    db, records = org.platform.db, org.platform.records
    director_id = identity.create_user(
        db, "director", "郑总监", department_id=org.departments["sales"]
    )
    org.platform.permissions.assign_role(org.admin, director_id, "sales_manager")
    director = org.actor("director")
    assert keys_of(org, ids(records.query(director, "customer").rows)) == ALL
    assert keys_of(org, ids(records.query(org.actor("manager"), "customer").rows)) == EAST_TREE
    # Moving the Shanghai team under north moves its records out of the east manager's tree.
    identity.move_department(db, org.departments["shanghai"], org.departments["north"])
    found = keys_of(org, ids(records.query(org.actor("manager"), "customer").rows))
    assert found == EAST_TREE - {"shanghai"}
    with pytest.raises(NotFound):
        records.get(org.actor("manager"), "contact", org.contacts["shanghai"])


def test_via_customer_scope_reaches_contacts_and_followups_of_own_customers(org: Org) -> None:
    """PERM-04: a rep reaches the contacts and follow-ups of their customers, whoever owns
    them, and edits them; never those of other customers."""
    records, admin = org.platform.records, org.admin
    east = org.customers["east"]
    colleague = org.users["rep_east2"]
    contact = records.create(
        admin, "contact", {"name": "同事录入的联系人", "customer": east, "owner_id": colleague}
    )
    followup = records.create(
        org.actor("agent"), "followup", {"customer": east, "method": "phone", "content": "客服回访"}
    )
    rep = org.actor("rep_east")
    assert ids(records.query(rep, "contact").rows) == {org.contacts["east"], contact["id"]}
    assert ids(records.query(rep, "followup").rows) == {org.followups["east"], followup["id"]}
    records.update(rep, "contact", contact["id"], {"title": "采购"}, version=1)
    records.update(rep, "followup", followup["id"], {"next_step": "报价"}, version=1)
    # The colleague owns that contact (own scope) without seeing its customer.
    colleague_actor = org.actor("rep_east2")
    assert records.get(colleague_actor, "contact", contact["id"])["customer"] == east
    with pytest.raises(NotFound):
        records.get(colleague_actor, "customer", east)
    with pytest.raises(NotFound):
        records.get(rep, "contact", org.contacts["north"])


def test_condition_scope_matches_the_users_region(org: Org) -> None:  # PERM-04
    permissions, records, db, admin = (
        org.platform.permissions,
        org.platform.records,
        org.platform.db,
        org.admin,
    )
    permissions.create_role(admin, "regional", {"zh-CN": "区域专员", "en": "Regional rep"})
    for action in ("view", "edit"):
        permissions.grant(admin, "regional", "customer", action)
    for action in ("read", "write"):
        permissions.grant(admin, "regional", "customer.*", action)
    permissions.set_scope(
        admin,
        "regional",
        "customer",
        "*",
        'filter:{"field":"region","op":"eq","value":"$user.region"}',
    )
    user_id = identity.create_user(
        db,
        "regional1",
        "冯区域",
        department_id=org.departments["service"],
        attributes={"region": "east"},
    )
    permissions.assign_role(admin, user_id, "regional")
    regional = org.actor("regional1")
    assert keys_of(org, ids(records.query(regional, "customer").rows)) == {
        "east",
        "east2",
        "shanghai",
    }

    # Moving a record out of the scope is refused, and nothing is written.
    customer_id = org.customers["east2"]
    before = org.stored("customer", customer_id)
    with pytest.raises(PermissionDenied) as caught:
        records.update(regional, "customer", customer_id, {"region": "north"}, version=1)
    assert caught.value.code == "out_of_scope"
    assert org.stored("customer", customer_id) == before
    assert len(history_rows(org.platform, "customer", customer_id)) == 1
    records.update(regional, "customer", customer_id, {"level": "S"}, version=1)

    identity.update_user(db, user_id, attributes={"region": "north"})
    assert keys_of(org, ids(records.query(org.actor("regional1"), "customer").rows)) == {"north"}
    identity.update_user(db, user_id, attributes={})  # no region: the condition matches nothing
    assert records.count(org.actor("regional1"), "customer").value == 0
    identity.update_user(db, user_id, attributes={"region": "mars"})  # nor does a bad one
    assert records.query(org.actor("regional1"), "customer").rows == []


def test_moving_a_record_to_another_department_needs_assign(org: Org) -> None:  # PERM-02
    records = org.platform.records
    customer_id = org.customers["east"]
    before = org.stored("customer", customer_id)
    with pytest.raises(PermissionDenied) as caught:
        records.update(
            org.actor("rep_east"),
            "customer",
            customer_id,
            {"department_id": org.departments["north"]},
            version=1,
        )
    assert caught.value.field == "owner_id"
    assert org.stored("customer", customer_id) == before
    assert len(history_rows(org.platform, "customer", customer_id)) == 1
    with pytest.raises(PermissionDenied):
        records.create(
            org.actor("rep_east"),
            "customer",
            {**rep_input("east"), "department_id": org.departments["north"]},
        )
    assert records.count(Actor.system(), "customer").value == len(org.customers)
    # A manager hands the Shanghai customer over to the north department, out of their tree.
    manager = org.actor("manager")
    shanghai = org.customers["shanghai"]
    moved = records.update(
        manager, "customer", shanghai, {"department_id": org.departments["north"]}, version=1
    )
    assert moved["department_id"] == org.departments["north"]
    with pytest.raises(NotFound):
        records.get(manager, "customer", shanghai)


def test_deny_scope_rows_take_matching_records_away(org: Org) -> None:  # PERM-04
    permissions, records, admin = org.platform.permissions, org.platform.records, org.admin
    vip = org.customers["east2"]
    records.update(admin, "customer", vip, {"level": "S"}, version=1)
    scope = '{"field": "level", "op": "eq", "value": "S"}'
    permissions.set_scope(admin, "service_agent", "customer", "view", f"filter:{scope}", "deny")
    agent = org.actor("agent")
    assert keys_of(org, ids(records.query(agent, "customer").rows)) == ALL - {"east2"}
    with pytest.raises(NotFound):
        records.get(agent, "customer", vip)
    assert records.count(agent, "customer", {"field": "level", "op": "eq", "value": "S"}).value == 0
    with pytest.raises(ValidationFailed) as caught:  # nor can a follow-up be logged on it
        records.create(agent, "followup", {"customer": vip, "method": "phone", "content": "x"})
    assert field_errors(caught.value) == [("customer", "reference")]
    permissions.remove_scope(admin, "service_agent", "customer", "view", f"filter:{scope}", "deny")
    assert records.get(org.actor("agent"), "customer", vip)["level"] == "S"


def test_a_reference_outside_the_scope_is_reported_like_a_missing_record(org: Org) -> None:
    """PERM-04: choosing another rep's customer for a contact says "does not exist", exactly
    as for an id that was never used — the record's existence is not confirmed."""
    records, rep = org.platform.records, org.actor("rep_east")

    def reference_errors(customer_id: int) -> list[tuple[Any, ...]]:
        with pytest.raises(ValidationFailed) as caught:
            records.create(rep, "contact", {"name": "新联系人", "customer": customer_id})
        return [
            (e.field, e.code, e.message.render("zh-CN"), e.message.render("en"))
            for e in caught.value.errors
        ]

    assert reference_errors(org.customers["north"]) == reference_errors(987_654)
    assert reference_errors(987_654)[0][:2] == ("customer", "reference")
    contact = org.contacts["east"]
    with pytest.raises(ValidationFailed) as caught:
        records.update(rep, "contact", contact, {"customer": org.customers["east2"]}, version=1)
    assert field_errors(caught.value) == [("customer", "reference")]


# -- delete rules (PERM-06) ------------------------------------------------------------------


class ApprovalQueue:
    """A plugin that files delete requests for a manager instead of refusing them."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int, str, str | None]] = []

    @hookimpl
    def request_delete_approval(
        self, entity: Any, record: dict[str, Any], actor: Actor, reason: str | None
    ) -> str:
        self.requests.append((entity.name, record["id"], actor.username, reason))
        return "pending_approval"


def test_deleting_a_customer_needs_a_managers_approval_by_default(org: Org) -> None:  # PERM-06
    records = org.platform.records
    customer_id = org.customers["east"]
    with pytest.raises(PermissionDenied) as caught:
        records.delete(org.actor("rep_east"), "customer", customer_id)
    assert caught.value.code == "needs_approval"
    assert "审批" in caught.value.message.render("zh-CN")
    assert "approval" in caught.value.message.render("en")
    assert org.stored("customer", customer_id)["id"] == customer_id
    # Follow-ups carry no rule: a rep deletes their own directly.
    assert records.delete(org.actor("rep_east"), "followup", org.followups["east"]) == "deleted"
    assert records.delete(org.actor("manager"), "customer", customer_id) == "deleted"
    with pytest.raises(NotFound):
        org.stored("contact", org.contacts["east"])  # cascaded


def test_an_approval_plugin_takes_over_a_delete_request(make_platform) -> None:  # PERM-06
    queue = ApprovalQueue()
    org = build_org(make_platform(plugins=[("approvals", queue)]))
    customer_id = org.customers["east"]
    result = org.platform.records.delete(
        org.actor("rep_east"), "customer", customer_id, reason="重复录入"
    )
    assert result == "pending_approval"
    assert queue.requests == [("customer", customer_id, "rep_east", "重复录入")]
    assert org.stored("customer", customer_id)["id"] == customer_id
    # Who may approve deletes directly; the plugin is not asked.
    assert org.platform.records.delete(org.actor("manager"), "customer", customer_id) == "deleted"
    assert len(queue.requests) == 1


def test_admin_only_and_allowed_delete_rules(org: Org) -> None:  # PERM-06
    permissions, records, admin = org.platform.permissions, org.platform.records, org.admin
    permissions.set_delete_rule(admin, "customer", "admin_only")
    with pytest.raises(PermissionDenied) as caught:
        records.delete(org.actor("manager"), "customer", org.customers["east"])
    assert caught.value.code == "admin_only"
    assert records.delete(admin, "customer", org.customers["east"]) == "deleted"

    permissions.set_delete_rule(admin, "customer", "allowed")
    rep = org.actor("rep_east2")
    with pytest.raises(NotFound):  # the rule never widens the scope
        records.delete(rep, "customer", org.customers["north"])
    assert records.delete(rep, "customer", org.customers["east2"]) == "deleted"
    with pytest.raises(PermissionDenied) as caught:  # nor grants the module action
        records.delete(org.actor("agent"), "customer", org.customers["north"])
    assert caught.value.code == "forbidden"


# -- logs (PERM-07, PERM-08) -----------------------------------------------------------------


def test_customer_views_and_exports_go_to_the_access_log(org: Org) -> None:  # PERM-08
    db, records = org.platform.db, org.platform.records
    rep = org.actor("rep_east", ip="10.1.2.3")
    customer_id = org.customers["east"]
    records.get(rep, "customer", customer_id)
    [view] = access_log.entries(db, entity="customer", record_id=customer_id)
    assert (view["action"], view["user_id"], view["username"], view["ip"]) == (
        "view",
        org.users["rep_east"],
        "rep_east",
        "10.1.2.3",
    )
    records.get(rep, "contact", org.contacts["east"])
    assert len(access_log.entries(db, entity="contact")) == 1
    records.get(rep, "followup", org.followups["east"])  # follow-ups are not logged
    records.query(rep, "customer")  # nor are lists
    with pytest.raises(NotFound):  # nor failed looks at other records
        records.get(rep, "customer", org.customers["north"])
    assert len(access_log.entries(db)) == 2

    manager = org.actor("manager", ip="10.1.2.4")
    filters = {"field": "region", "op": "eq", "value": "east"}
    rows = list(records.export(manager, "customer", filters))
    [export] = access_log.entries(db, user_id=org.users["manager"])
    assert (export["action"], export["entity"], export["row_count"], export["ip"]) == (
        "export",
        "customer",
        len(rows),
        "10.1.2.4",
    )
    assert export["filters"] == filters and len(rows) == 3


def test_permission_changes_are_audited_with_actor_and_changes(org: Org) -> None:  # PERM-07
    permissions = org.platform.permissions
    admin = org.actor("admin", ip="10.9.8.7")
    before = len(audit_rows(org.platform))
    permissions.grant(admin, "service_agent", "customer", "export")
    permissions.set_field_access(admin, "service_agent", "customer", "level", "read")
    permissions.set_scope(admin, "sales_rep", "customer", "view", "team")
    permissions.assign_role(admin, org.users["agent"], "marketer")
    permissions.set_delete_rule(admin, "customer", "admin_only")
    rows = audit_rows(org.platform)[before:]
    assert [(r["kind"], r["actor_id"], r["actor_name"], r["ip"]) for r in rows] == [
        ("permission", org.users["admin"], "admin", "10.9.8.7")
    ] * 5
    assert [r["target"] for r in rows] == [
        "role:service_agent",
        "role:service_agent",
        "role:sales_rep",
        f"user:{org.users['agent']}",
        "d:customer",
    ]
    assert rows[0]["changes"] == {"grant": [None, ["service_agent", "customer", "export", "allow"]]}
    assert rows[1]["changes"]["customer.level"][1] == "read"
    assert rows[2]["changes"] == {
        "scope": [None, ["sales_rep", "customer", "view", "team", "allow"]]
    }
    assert rows[3]["changes"] == {"role": [None, "marketer"]}
    assert rows[4]["changes"] == {"rule": ["approval", "admin_only"]}


def test_history_records_the_ip_a_change_came_from(org: Org) -> None:  # PERM-07
    rep = org.actor("rep_east").from_ip("10.1.2.3")
    customer_id = org.customers["east"]
    org.platform.records.update(rep, "customer", customer_id, {"level": "A"}, version=1)
    rows = history_rows(org.platform, "customer", customer_id)
    assert [(r["op"], r["actor_name"], r["ip"]) for r in rows] == [
        ("create", "rep_east", None),
        ("update", "rep_east", "10.1.2.3"),
    ]
