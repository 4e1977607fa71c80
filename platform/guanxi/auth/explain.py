"""PERM-10 "Why can't X see Y?": the deciding policy line or scope for a user, an action and
optionally a record, in words (zh-CN / en), for admins and for `guanxi explain`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.auth.authorizer import ActorAccess, SystemAccess
from guanxi.auth.fields import Level
from guanxi.auth.grants import ScopeRule
from guanxi.auth.identity import actor_for, load_actor
from guanxi.auth.version import versions
from guanxi.auth.vocabulary import FIELD_ACTIONS, SCOPED_ACTION
from guanxi.errors import NotFound
from guanxi.i18n import DEFAULT_LOCALE, Message, _

if TYPE_CHECKING:
    from guanxi.core import Guanxi

LEVEL_NAMES = {
    Level.HIDDEN: _("hidden"),
    Level.MASKED: _("masked"),
    Level.READ: _("read only"),
    Level.WRITE: _("read and write"),
}


@dataclass(frozen=True)
class Explanation:
    allowed: bool
    reasons: list[Message] = field(default_factory=list)
    policy: tuple[str, ...] | None = None  # the deciding policy line, if one decided

    def text(self, locale: str = DEFAULT_LOCALE) -> str:
        verdict = (_("Allowed") if self.allowed else _("Denied")).render(locale)
        return verdict + ": " + " ".join(reason.render(locale) for reason in self.reasons)


def explain(
    platform: Guanxi, user: Any, action: str, target: str, record_id: int | None = None
) -> Explanation:
    """`target` is a module ("customer") for module actions or "customer.mobile" for field
    actions (read / write / mask). `user` is a user name, a user id or an Actor."""
    actor = _actor(platform, user)
    with platform.db.read() as connection:
        meta_version, auth_version = versions(connection)
        snapshot = platform.registry.snapshot(connection, meta_version)
        access = platform.authorizer.access(connection, actor, auth_version)
        entity_name, _dot, field_key = target.partition(".")
        entity = snapshot.entity(entity_name)
        if isinstance(access, SystemAccess):
            return Explanation(True, [_("The platform itself passes every check.")])
        assert isinstance(access, ActorAccess)
        roles = ", ".join(sorted(actor.roles)) or "-"
        if not actor.roles:
            return Explanation(False, [_("{user} has no roles.", user=actor.username)])
        if field_key or action in FIELD_ACTIONS:
            return _explain_field(access, entity, field_key or "*", action, roles)
        allowed, rule = access.grants.explain(entity.name, action)
        if not allowed:
            if rule:
                return Explanation(
                    False,
                    [_("Denied by the policy line {rule}.", rule=_line("p", rule))],
                    ("p", *rule),
                )
            return Explanation(
                False,
                [_("No policy gives the roles {roles} the action '{action}' on {entity}.",
                   roles=roles, action=action, entity=entity.label)],
            )  # fmt: skip
        reasons = [_("Allowed by the policy line {rule}.", rule=_line("p", rule))]
        if record_id is None or action not in SCOPED_ACTION:
            return Explanation(True, reasons, ("p", *rule))
        table = snapshot.tables[entity.name]
        row = connection.execute(sa.select(table).where(table.c.id == record_id)).first()
        if row is None:
            return Explanation(False, [_("There is no record {id}.", id=record_id)])
        compiler = access.scope_compiler(connection, snapshot)
        scoped_action = SCOPED_ACTION[action]
        scopes = access.grants.scopes(entity.name, scoped_action)
        rules = scopes.rules(entity.name, scoped_action)

        def matches(rule: ScopeRule) -> bool:
            clause = compiler.rule_clause(entity, table, rule.scope, scoped_action, 0)
            if clause is None:
                return True
            query = sa.select(table.c.id).where(table.c.id == record_id, clause)
            return connection.execute(query).first() is not None

        for deny in scopes.deny:
            if matches(deny):
                return Explanation(
                    False,
                    [*reasons, _("But the scope line {rule} excludes this record.",
                                 rule=deny.as_row())],
                    ("p2", deny.role, deny.entity, deny.action, deny.scope, deny.effect),
                )  # fmt: skip
        for rule in rules:
            if matches(rule):
                return Explanation(
                    True,
                    [*reasons, _("The record is within the scope '{scope}' (role {role}).",
                                 scope=rule.scope, role=rule.role)],
                    ("p2", rule.role, rule.entity, rule.action, rule.scope, rule.effect),
                )  # fmt: skip
        given = ", ".join(f"{r.role}: {r.scope}" for r in rules) or "-"
        return Explanation(
            False,
            [
                *reasons,
                _("But the record is outside every scope the roles give ({scopes}); its owner "
                  "is user {owner}, its department {department}.", scopes=given,
                  owner=row.owner_id, department=row.department_id),
            ],
        )  # fmt: skip


def _explain_field(
    access: ActorAccess, entity: Any, key: str, action: str, roles: str
) -> Explanation:
    mask = access.mask(entity)
    level = mask.level(key)
    needed = {"read": Level.READ, "write": Level.WRITE, "mask": Level.MASKED}.get(
        action, Level.READ
    )
    allowed, rule = access.grants.explain(f"{entity.name}.{key}", action)
    reasons = [
        _("Field {field} is {level} for the roles {roles}.",
          field=f"{entity.name}.{key}", level=LEVEL_NAMES[level], roles=roles)
    ]  # fmt: skip
    if rule:
        reasons.append(_("Deciding policy line: {rule}.", rule=_line("p", rule)))
    return Explanation(level >= needed, reasons, ("p", *rule) if rule else None)


def _line(ptype: str, rule: list[str]) -> str:
    return ", ".join([ptype, *rule])


def _actor(platform: Guanxi, user: Any) -> Actor:
    if isinstance(user, Actor):
        return user
    if isinstance(user, int):
        with platform.db.read() as connection:
            found = load_actor(connection, user)
        if found is None:
            raise NotFound(_("No such user"))
        return found
    return actor_for(platform.db, str(user))
