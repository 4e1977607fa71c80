"""platform.permissions as an administrator meets it (PERM-02..06): bad input is refused with
an error naming the problem and changes nothing; a change made in one worker or process is
seen by every other one without a restart."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.auth import identity
from guanxi.auth.policies import Permissions
from guanxi.auth.version import versions
from guanxi.core import Guanxi
from guanxi.errors import MetadataError, PermissionDenied
from guanxi.store.system_tables import audit
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected
from tests.org import Org, build_org

CJK = re.compile(r"[\u4e00-\u9fff]")
REGION_SCOPE = 'filter:{"field":"region","op":"eq","value":"%s"}'


@pytest.fixture
def org(platform: Guanxi) -> Org:
    return build_org(platform)


def state(platform: Guanxi) -> tuple[Any, ...]:
    """Everything a permission change could touch: policies, roles, audit trail, version."""
    with platform.db.read() as connection:
        audit_count = connection.execute(sa.select(sa.func.count()).select_from(audit)).scalar()
        auth_version = versions(connection)[1]
    permissions = platform.permissions
    return permissions.policies(), permissions.roles(), audit_count, auth_version


# (what is wrong, the call, the field the error names, its code)
BadCall = Callable[[Permissions, Any, Org], None]
BAD_INPUT: list[tuple[str, BadCall, str, str]] = [
    ("grant to an unknown role",
     lambda p, a, o: p.grant(a, "sales_rap", "customer", "view"), "role", "unknown_role"),
    ("assign an unknown role",
     lambda p, a, o: p.assign_role(a, o.users["rep_east"], "sales_rap"), "role", "unknown_role"),
    ("revoke an unknown role",
     lambda p, a, o: p.revoke_role(a, o.users["rep_east"], "sales_rap"), "role", "unknown_role"),
    ("revoke a grant of an unknown role",
     lambda p, a, o: p.revoke(a, "sales_rap", "customer", "view"), "role", "unknown_role"),
    ("field access for an unknown role",
     lambda p, a, o: p.set_field_access(a, "sales_rap", "customer", "mobile", "read"), "role",
     "unknown_role"),
    ("scope for an unknown role",
     lambda p, a, o: p.set_scope(a, "sales_rap", "customer", "view", "all"), "role",
     "unknown_role"),
    ("remove a scope of an unknown role",
     lambda p, a, o: p.remove_scope(a, "sales_rap", "customer", "view", "own"), "role",
     "unknown_role"),
    ("include an unknown role",
     lambda p, a, o: p.include_role(a, "sales_manager", "sales_rap"), "included", "unknown_role"),
    ("delete an unknown role",
     lambda p, a, o: p.delete_role(a, "sales_rap"), "role", "unknown_role"),
    ("an unknown action",
     lambda p, a, o: p.grant(a, "sales_rep", "customer", "fly"), "action", "unknown_action"),
    ("an unknown module",
     lambda p, a, o: p.grant(a, "sales_rep", "lead", "view"), "entity", "unknown_entity"),
    ("a pattern matching no module",
     lambda p, a, o: p.grant(a, "sales_rep", "lead*", "view"), "entity", "unknown_entity"),
    ("a module action on a field",
     lambda p, a, o: p.grant(a, "sales_rep", "customer.mobile", "view"), "object", "bad_object"),
    ("a field action on a module",
     lambda p, a, o: p.grant(a, "sales_rep", "customer", "read"), "object", "bad_object"),
    ("an effect other than allow or deny",
     lambda p, a, o: p.grant(a, "sales_rep", "customer", "view", "maybe"), "effect",
     "bad_effect"),
    ("a field permission on a missing field",
     lambda p, a, o: p.grant(a, "sales_rep", "customer.wechat", "read"), "object",
     "unknown_field"),
    ("field access on a missing field",
     lambda p, a, o: p.set_field_access(a, "sales_rep", "customer", "wechat", "read"), "object",
     "unknown_field"),
    ("an unknown field level",
     lambda p, a, o: p.set_field_access(a, "sales_rep", "customer", "mobile", "invisible"),
     "level", "bad_level"),
    ("an unknown scope kind",
     lambda p, a, o: p.set_scope(a, "sales_rep", "customer", "view", "region"), "scope",
     "bad_scope"),
    ("a condition scope on a missing field",
     lambda p, a, o: p.set_scope(a, "sales_rep", "customer", "view",
                                 'filter:{"field":"wechat","op":"eq","value":"$user.wechat"}'),
     "scope", "unknown_field"),
    ("a condition scope that is not JSON",
     lambda p, a, o: p.set_scope(a, "sales_rep", "customer", "view", "filter:{region=east}"),
     "scope", "bad_scope"),
    ("a condition scope with an operator the field lacks",
     lambda p, a, o: p.set_scope(a, "sales_rep", "customer", "view",
                                 'filter:{"field":"region","op":"gt","value":"east"}'),
     "scope", "bad_operator"),
    ("a condition scope with a value no record can hold",
     lambda p, a, o: p.set_scope(a, "sales_rep", "customer", "view", REGION_SCOPE % "mars"),
     "scope", "bad_value"),
    ("a via scope over a field that is no reference",
     lambda p, a, o: p.set_scope(a, "sales_rep", "contact", "view", "via:name"), "scope",
     "bad_scope"),
    ("a scope for an action without scopes",
     lambda p, a, o: p.set_scope(a, "sales_rep", "customer", "export", "all"), "action",
     "bad_action"),
    ("a scope on an unknown module",
     lambda p, a, o: p.set_scope(a, "sales_rep", "lead", "view", "all"), "entity",
     "unknown_entity"),
    ("an unknown delete rule",
     lambda p, a, o: p.set_delete_rule(a, "customer", "sometimes"), "rule", "bad_rule"),
    ("a delete rule for an unknown module",
     lambda p, a, o: p.set_delete_rule(a, "lead", "approval"), "entity", "unknown_entity"),
    ("a role code that is no identifier",
     lambda p, a, o: p.create_role(a, "key account", {"zh-CN": "大客户代表"}), "code",
     "bad_code"),
    ("a role without a Chinese label",
     lambda p, a, o: p.create_role(a, "key_account", {"en": "Key account rep"}), "label",
     "required"),
    ("a role that exists",
     lambda p, a, o: p.create_role(a, "sales_rep", {"zh-CN": "销售"}), "code", "exists"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "field", "code"), [case[1:] for case in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
def test_bad_policy_input_is_refused_and_changes_nothing(
    org: Org, call: BadCall, field: str, code: str
) -> None:  # PERM-02, PERM-03, PERM-04, PERM-06
    platform = org.platform
    before = state(platform)
    with pytest.raises(MetadataError) as caught:
        call(platform.permissions, org.admin, org)
    error = caught.value
    assert (error.field, error.code) == (field, code)
    chinese, english = error.message.render("zh-CN"), error.message.render("en")
    assert CJK.search(chinese), chinese
    assert english.isascii() and english != chinese
    assert state(platform) == before
    # The people the refused change was about work as before.
    assert len(platform.records.query(org.actor("rep_east"), "customer").rows) == 1


def test_only_administrators_change_permissions(org: Org) -> None:  # PERM-02
    platform = org.platform
    before = state(platform)
    manager = org.actor("manager")
    for call in (
        lambda: platform.permissions.grant(manager, "sales_rep", "customer", "export"),
        lambda: platform.permissions.assign_role(manager, org.users["rep_east"], "sales_manager"),
        lambda: platform.permissions.set_field_access(
            manager, "sales_rep", "customer", "remarks", "write"
        ),
        lambda: platform.permissions.set_scope(manager, "sales_rep", "customer", "view", "all"),
        lambda: platform.permissions.set_delete_rule(manager, "customer", "allowed"),
    ):
        with pytest.raises(PermissionDenied) as caught:
            call()
        assert CJK.search(caught.value.message.render("zh-CN"))
    assert state(platform) == before


def test_an_admin_role_held_through_inheritance_may_change_permissions(org: Org) -> None:
    """PERM-02: include_role(chief, admin) makes every chief an administrator."""
    permissions, admin = org.platform.permissions, org.admin
    permissions.create_role(admin, "chief", {"zh-CN": "总管", "en": "Chief"})
    permissions.include_role(admin, "chief", "admin")
    permissions.assign_role(admin, org.users["manager"], "chief")
    permissions.grant(org.actor("manager"), "sales_rep", "customer", "export")
    assert ("p", "sales_rep", "customer", "export", "allow") in permissions.policies("p")


# -- other workers and processes -------------------------------------------------------------


def test_a_policy_change_is_seen_by_another_worker_without_restart(
    org: Org, make_platform: Callable[..., Guanxi]
) -> None:  # PERM-02, PERM-03, PERM-04, PERM-06
    permissions, admin = org.platform.permissions, org.admin
    other = make_platform(start=False)  # its own engine, registry and policy cache
    other.start(sync=False)
    rep = identity.actor_for(other.db, "rep_east")
    customer_id = org.customers["east"]
    assert len(other.records.query(rep, "customer").rows) == 1
    assert "title" in other.records.get(rep, "customer", customer_id)

    permissions.set_scope(admin, "sales_rep", "customer", "view", "department")
    permissions.set_field_access(admin, "sales_rep", "customer", "title", "hidden")
    permissions.set_delete_rule(admin, "customer", "admin_only")
    assert len(other.records.query(rep, "customer").rows) == 3
    assert "title" not in other.records.get(rep, "customer", customer_id)
    with pytest.raises(PermissionDenied) as caught:
        other.records.delete(identity.actor_for(other.db, "manager"), "customer", customer_id)
    assert caught.value.code == "admin_only"


SECOND_PROCESS = r"""
import json, sys
from guanxi.auth import identity
from guanxi.core import Guanxi
from guanxi.settings import Settings

platform = Guanxi.create(Settings.from_env(), entry_points=False)
platform.start(sync=False)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    actor = identity.actor_for(platform.db, command["user"])
    try:
        if command["op"] == "query":
            rows = platform.records.query(actor, command["entity"], limit=100).rows
            reply = {"ids": sorted(row["id"] for row in rows)}
        elif command["op"] == "get":
            reply = {"keys": sorted(platform.records.get(actor, command["entity"], command["id"]))}
        else:  # a platform.permissions method, called as this user
            getattr(platform.permissions, command["op"])(actor, *command["args"])
            reply = {"done": True}
    except Exception as error:
        reply = {"error": type(error).__name__, "code": getattr(error, "code", None)}
    print(json.dumps(reply), flush=True)
"""


class SecondProcess:
    """A Guanxi worker in its own OS process on this test's database, answering one JSON
    command per line; it keeps running (and caching) between commands, like a web worker."""

    def __init__(self, test_db: DatabaseFixture, cwd: Path) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
        environment.update(test_db.env(), GUANXI_PLUGINS_TOML=str(cwd / "plugins.toml"))
        self.process = subprocess.Popen(
            [sys.executable, "-c", SECOND_PROCESS],
            env=environment,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._reply() == {"ready": True}

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _reply(self) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=60)
        except queue.Empty:
            raise AssertionError("the second process did not answer within 60 s") from None
        if line is None:
            assert self.process.stderr is not None
            raise AssertionError(f"the second process ended:\n{self.process.stderr.read()}")
        return json.loads(line)

    def ask(self, user: str, op: str, **values: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"user": user, "op": op, **values}) + "\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def second_process(org: Org, test_db: DatabaseFixture, tmp_path: Path) -> Iterator[SecondProcess]:
    worker = SecondProcess(test_db, tmp_path)
    yield worker
    worker.close()


def test_a_policy_change_is_seen_by_a_running_second_process(
    org: Org, second_process: SecondProcess
) -> None:  # PERM-02, PERM-03, PERM-04
    permissions, admin = org.platform.permissions, org.admin
    east, east2, manager = (org.customers[k] for k in ("east", "east2", "manager"))
    # The second process answers from its cache, then must notice each change made here.
    assert second_process.ask("rep_east", "query", entity="customer") == {"ids": [east]}
    assert "title" in second_process.ask("rep_east", "get", entity="customer", id=east)["keys"]

    permissions.set_scope(admin, "sales_rep", "customer", "view", "department")
    assert second_process.ask("rep_east", "query", entity="customer") == {
        "ids": sorted([east, east2, manager])
    }
    permissions.set_field_access(admin, "sales_rep", "customer", "title", "hidden")
    reply = second_process.ask("rep_east", "get", entity="customer", id=east)
    assert "title" not in reply["keys"] and "name" in reply["keys"]
    assert second_process.ask("rep_east", "get", entity="customer", id=org.customers["north"]) == {
        "error": "NotFound",
        "code": "not_found",
    }

    # And the other way round: the second process changes policy, this one sees it.
    records = org.platform.records
    assert len(records.query(org.actor("rep_east"), "customer").rows) == 3
    reply = second_process.ask(
        "admin", "remove_scope", args=["sales_rep", "customer", "view", "department"]
    )
    assert reply == {"done": True}
    assert len(records.query(org.actor("rep_east"), "customer").rows) == 1
    with org.platform.db.read() as connection:
        row = connection.execute(sa.select(audit).order_by(audit.c.id.desc())).mappings().first()
    assert (row["actor_name"], row["target"]) == ("admin", "role:sales_rep")
    removed = ["sales_rep", "customer", "view", "department", "allow"]
    assert row["changes"] == {"scope": [removed, None]}
    refused = second_process.ask("admin", "grant", args=["sales_rap", "customer", "view"])
    assert refused == {"error": "MetadataError", "code": "unknown_role"}
    refused = second_process.ask("rep_east", "grant", args=["sales_rep", "customer", "export"])
    assert refused == {"error": "PermissionDenied", "code": "forbidden"}
    assert ("p2", "sales_rep", "customer", "view", "department", "allow") not in (
        permissions.policies("p2")
    )
