"""PERM-10 explanations and PERM-07 log retention, through the public service."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import access_log as access_log_writer
from guanxi.auth import identity
from guanxi.auth.retention import MINIMUM_DAYS, purge_logs
from guanxi.core import Guanxi
from guanxi.errors import MetadataError, PermissionDenied, PluginError
from guanxi.hookspecs import hookimpl
from guanxi.store.system_tables import access_log, audit, history
from tests.conftest import customer_data


@pytest.fixture
def org(platform: Guanxi) -> dict[str, Actor]:
    system = Actor.system()
    head = identity.create_department(platform.db, "总部")
    east = identity.create_department(platform.db, "华东", head)
    west = identity.create_department(platform.db, "华西", head)
    actors = {}
    for name, department, role in (
        ("rep_east", east, "sales_rep"),
        ("rep_west", west, "sales_rep"),
        ("manager", head, "sales_manager"),
        ("agent", head, "service_agent"),
    ):
        user_id = identity.create_user(platform.db, name, name, department_id=department)
        platform.permissions.assign_role(system, user_id, role)
        actors[name] = identity.actor_for(platform.db, name)
    return actors


def test_explain_names_the_deciding_policy_and_scope(platform: Guanxi, org: dict) -> None:
    customer = platform.records.create(org["rep_east"], "customer", customer_data())
    own = platform.permissions.explain("rep_east", "view", "customer", customer["id"])
    assert own.allowed
    assert own.policy == ("p2", "sales_rep", "customer", "*", "own", "allow")
    assert "own" in own.text("en")

    other = platform.permissions.explain("rep_west", "view", "customer", customer["id"])
    assert not other.allowed
    assert "outside every scope" in other.text("en")
    assert "范围" in other.text("zh-CN")

    manager = platform.permissions.explain("manager", "view", "customer", customer["id"])
    assert manager.allowed and manager.policy is not None
    assert manager.policy[4] == "department_tree"

    no_grant = platform.permissions.explain("agent", "edit", "customer")
    assert not no_grant.allowed and no_grant.policy is None
    assert "edit" in no_grant.text("en")

    masked = platform.permissions.explain(org["agent"], "read", "customer.mobile")
    assert not masked.allowed
    assert masked.policy == ("p", "service_agent", "customer.mobile", "read", "deny")
    assert "masked" in masked.text("en")


def test_explain_sees_a_policy_change_at_once(platform: Guanxi, org: dict) -> None:
    system = Actor.system()
    assert not platform.permissions.explain("agent", "edit", "customer").allowed
    platform.permissions.grant(system, "service_agent", "customer", "edit")
    decision = platform.permissions.explain("agent", "edit", "customer")
    assert decision.allowed
    assert decision.policy == ("p", "service_agent", "customer", "edit", "allow")


def test_retention_never_below_six_months(platform: Guanxi) -> None:
    with pytest.raises(MetadataError) as error:
        purge_logs(platform.db, MINIMUM_DAYS - 1)
    assert error.value.field == "audit_retention_days"
    assert "183" in error.value.message.render("zh-CN")


def test_purge_removes_only_rows_past_retention(platform: Guanxi, org: dict) -> None:
    customer = platform.records.create(org["rep_east"], "customer", customer_data())
    platform.records.get(org["rep_east"], "customer", customer["id"])  # an access-log row
    access_log_writer.flush(platform.db)  # view rows are written in batches
    old = clock.now_utc() - timedelta(days=400)
    with platform.db.unit_of_work() as connection:
        for table in (history, audit, access_log):
            first = connection.execute(sa.select(sa.func.min(table.c.id))).scalar()
            connection.execute(sa.update(table).where(table.c.id == first).values(at=old))
    with platform.db.read() as connection:
        before = {t.name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                  for t in (history, audit, access_log)}  # fmt: skip
    removed = purge_logs(platform.db, 365)
    assert removed == {"gx_history": 1, "gx_audit": 1, "gx_access_log": 1}
    with platform.db.read() as connection:
        for table in (history, audit, access_log):
            left = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            assert left == before[table.name] - 1
            assert connection.execute(sa.select(table.c.id).where(table.c.at < old + timedelta(
                days=1))).first() is None  # fmt: skip


class TelesalesPlugin:
    """A third-party plugin contributing a role, an action and default grants."""

    @hookimpl
    def register_actions(self) -> dict:
        return {
            "actions": {"customer": ["call"]},
            "roles": {"telesales": {"zh-CN": "电销", "en": "Telesales"}},
            "grants": [
                ["telesales", "customer", "view"],
                ["telesales", "customer", "call"],
                ["telesales", "customer.*", "read"],
            ],  # fmt: skip
            "scopes": [["telesales", "customer", "view", "department"]],
        }


def test_plugins_contribute_actions_roles_and_grants_seeded_once(make_platform) -> None:
    platform = make_platform(plugins=[("telesales", TelesalesPlugin())])
    system = Actor.system()
    assert "call" in platform.permissions.module_actions("customer")
    assert "telesales" in {role["code"] for role in platform.permissions.roles()}
    user_id = identity.create_user(platform.db, "tel", "tel")
    platform.permissions.assign_role(system, user_id, "telesales")
    actor = identity.actor_for(platform.db, "tel")
    assert platform.records.access(actor).allows("customer", "call")
    assert not platform.records.access(actor).allows("customer", "edit")

    # An admin removes a default grant; a restart (a new platform) does not bring it back.
    platform.permissions.revoke(system, "telesales", "customer", "call")
    again = make_platform(plugins=[("telesales", TelesalesPlugin())])
    assert ("p", "telesales", "customer", "call", "allow") not in again.permissions.policies("p")
    assert not again.records.access(actor).allows("customer", "call")


class BrokenContribution:
    @hookimpl
    def register_actions(self) -> dict:
        return {"grants": [["only_two", "fields"]]}


def test_a_malformed_contribution_names_the_plugin(make_platform) -> None:
    with pytest.raises(PluginError) as error:
        make_platform(plugins=[("broken_perms", BrokenContribution())])
    assert error.value.plugin == "broken_perms"


def test_org_changes_are_for_administrators(platform: Guanxi, org: dict) -> None:  # PERM-01
    rep = org["rep_east"]
    before = identity.list_users(platform.db)
    with pytest.raises(PermissionDenied) as error:
        identity.create_user(platform.db, "intruder", "intruder", actor=rep)
    assert "管理员" in error.value.message.render("zh-CN")
    with pytest.raises(PermissionDenied):
        identity.create_department(platform.db, "影子部门", actor=rep)
    with pytest.raises(PermissionDenied):
        identity.update_user(platform.db, rep.user_id, actor=rep, attributes={"region": "all"})
    assert identity.list_users(platform.db) == before

    system = Actor.system()
    boss_id = identity.create_user(platform.db, "boss", "boss")
    platform.permissions.assign_role(system, boss_id, "admin")
    boss = identity.actor_for(platform.db, "boss", ip="10.0.0.9")
    team = identity.create_team(platform.db, "大客户组", [rep.user_id], actor=boss)
    with platform.db.read() as connection:
        row = connection.execute(
            sa.select(audit).where(audit.c.target == f"team:{team}").order_by(audit.c.id)
        ).first()
    assert row is not None and row.actor_name == "boss" and row.ip == "10.0.0.9"
