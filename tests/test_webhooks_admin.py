"""Managing webhooks (API-03): administrators only, every problem named by field, private
targets refused unless allowed (when saved and again when sending), and an audit trail."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.auth import identity
from guanxi.core import Guanxi
from guanxi.defaults.webhooks import targets
from guanxi.defaults.webhooks.service import webhooks
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi.store.system_tables import audit, webhook_delivery
from tests.org import Org, build_org
from tests.test_webhooks import Receiver, deliver, receiver  # noqa: F401 (fixture)


@pytest.fixture
def org(platform: Guanxi) -> Org:
    """The default settings: private targets are refused."""
    return build_org(platform)


def spec(org: Org, **values: Any) -> dict[str, Any]:
    return {
        "name": "OA",
        "url": "https://93.184.215.14/hooks",
        "entity": "customer",
        "events": ["created"],
        "owner_id": org.users["admin"],
        **values,
    }


def problems(error: ValidationFailed) -> dict[str | None, str]:
    return {e.field: e.code for e in error.errors}


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:8080/hook", "private_target"),
        ("http://localhost/hook", "private_target"),
        ("http://169.254.169.254/latest/meta-data", "private_target"),
        ("http://10.1.2.3/hook", "private_target"),
        ("http://192.168.1.10/hook", "private_target"),
        ("http://[::1]/hook", "private_target"),
        ("http://[::ffff:127.0.0.1]/hook", "private_target"),
        ("http://2130706433/hook", "private_target"),  # 127.0.0.1 written as one number
        ("http://0.0.0.0/hook", "private_target"),
        ("http://[64:ff9b::a00:1]/hook", "private_target"),  # NAT64 of 10.0.0.1
        ("http://[2002:a00:1::]/hook", "private_target"),  # 6to4 of 10.0.0.1
        ("http://[::10.0.0.1]/hook", "private_target"),  # IPv4-compatible
        ("ftp://example.com/hook", "bad_scheme"),
        ("javascript:alert(1)", "bad_scheme"),
        ("https://user:secret@example.com/hook", "credentials"),
        ("https://", "bad_url"),
        ("", "required"),
    ],
)
def test_unsafe_urls_are_refused_naming_the_url(url, code):
    """API-03: private, loopback, link-local and reserved targets, other schemes and
    credentials in the URL are refused unless webhook_allow_private."""
    with pytest.raises(targets.TargetRefused) as refused:
        targets.check(url, allow_private=False)
    assert (refused.value.error.field, refused.value.error.code) == ("url", code)


def test_the_service_refuses_a_private_url_and_stores_nothing(org):
    """API-03: saving an endpoint runs the same check (without webhook_allow_private)."""
    with pytest.raises(ValidationFailed) as refused:
        webhooks(org.platform).create(org.admin, spec(org, url="http://127.0.0.1:8080/hook"))
    assert problems(refused.value) == {"url": "private_target"}
    assert "private" in refused.value.errors[0].message.render("en")
    assert webhooks(org.platform).list_endpoints(org.admin) == []


def test_public_addresses_pass_the_target_check():
    """API-03: a public IP literal is callable, and the checked address is the one used."""
    target = targets.check("https://93.184.215.14:8443/hook", allow_private=False)
    assert (target.host, target.address) == ("93.184.215.14", "93.184.215.14")
    assert targets.check("http://127.0.0.1/x", allow_private=True).address is None


def test_private_target_is_refused_again_at_delivery_time(make_platform, receiver):  # noqa: F811
    """API-03: an endpoint saved where private targets were allowed is not called by a worker
    that does not allow them (the check runs before every attempt)."""
    allowing = make_platform(webhook_allow_private=True)
    org = build_org(allowing)
    webhooks(allowing).create(org.admin, spec(org, url=receiver.url, events=["updated"]))
    strict = make_platform()
    allowing.records.update(org.admin, "customer", org.customers["east"], {"name": "私网"},
                            version=org.version("customer", org.customers["east"]))  # fmt: skip
    assert [o.status for o in deliver(strict)] == ["retry"]
    assert receiver.requests == []
    with strict.db.read() as connection:
        row = connection.execute(sa.select(webhook_delivery)).one()
    assert row.attempts == 1 and "private" in row.last_error


def test_every_problem_is_reported_by_field(org):
    """API-03: all invalid values at once, each with its field and code; nothing stored."""
    with pytest.raises(ValidationFailed) as refused:
        webhooks(org.platform).create(
            org.admin,
            {"name": " ", "url": "gopher://x", "entity": "nothing", "events": ["exploded"],
             "owner_id": "abc"},
        )  # fmt: skip
    assert problems(refused.value) == {
        "name": "required",
        "url": "bad_scheme",
        "entity": "unknown_entity",
        "events": "bad_event",
        "owner_id": "bad_choice",
    }
    with pytest.raises(ValidationFailed) as refused:
        webhooks(org.platform).create(org.admin, spec(org, entity="note", events=["stage_changed"],
                                                      owner_id=999_999))  # fmt: skip
    assert problems(refused.value) == {"events": "no_stages", "owner_id": "unknown_user"}
    with pytest.raises(ValidationFailed) as refused:
        webhooks(org.platform).create(org.admin, spec(org, events=[], name="x" * 101))
    assert problems(refused.value) == {"events": "required", "name": "too_long"}
    assert webhooks(org.platform).list_endpoints(org.admin) == []


def test_owner_must_be_able_to_view_the_module(org):
    """API-03: payloads are read as the owner, so an owner without view rights is refused."""
    nobody = identity.create_user(org.platform.db, "intern", "实习生")
    with pytest.raises(ValidationFailed) as refused:
        webhooks(org.platform).create(org.admin, spec(org, owner_id=nobody))
    assert problems(refused.value) == {"owner_id": "cannot_view"}
    assert "may not view" in refused.value.errors[0].message.render("en")


def test_only_administrators_manage_webhooks(org):
    """API-03: the service refuses everyone but administrators, for every operation."""
    service = webhooks(org.platform)
    hook = service.create(org.admin, spec(org))
    calls = [
        ("list_endpoints", ()),
        ("endpoint", (hook["id"],)),
        ("create", (spec(org, name="mine"),)),
        ("update", (hook["id"], {"url": "https://93.184.215.15/"})),
        ("rotate_secret", (hook["id"],)),
        ("set_active", (hook["id"], False)),
        ("delete", (hook["id"],)),
        ("deliveries", (hook["id"],)),
        ("send_test", (hook["id"],)),
        ("redeliver", (1,)),
    ]
    for username in ("rep_east", "manager", "agent"):
        actor = org.actor(username)
        for name, args in calls:
            with pytest.raises(PermissionDenied):
                getattr(service, name)(actor, *args)
    assert service.endpoint(org.admin, hook["id"]) == hook  # unchanged


def test_changes_are_audited_without_the_secret(org):
    """API-03 + PERM-07: create, update, rotate and delete write "webhook" audit rows."""
    service = webhooks(org.platform)
    hook = service.create(org.admin, spec(org))
    service.update(org.admin, hook["id"], {"events": ["created", "deleted"]})
    secret = service.rotate_secret(org.admin, hook["id"])
    service.delete(org.admin, hook["id"])
    with org.platform.db.read() as connection:
        rows = connection.execute(
            sa.select(audit).where(audit.c.kind == "webhook").order_by(audit.c.id)
        ).all()
    assert [row.target for row in rows] == [f"webhook:{hook['id']}"] * 4
    assert rows[0].changes["url"] == [None, "https://93.184.215.14/hooks"]
    assert rows[1].changes == {"events": [["created"], ["created", "deleted"]]}
    assert rows[2].changes == {"secret": "rotated"}
    assert rows[3].changes["name"] == ["OA", None]
    assert all(secret not in str(row.changes) and hook["secret"] not in str(row.changes)
               for row in rows)  # fmt: skip
    assert all(row.actor_name == "admin" for row in rows)
