"""Permissions administration (PERM-02..06): roles, role membership, grants, field access,
record scopes and entity rules — validated, audited and versioned in one transaction each.

Policies live in our own gx_policy table rather than a Casbin adapter's: the maintained
SQLAlchemy adapter opens its own sessions, so a policy edit could not commit together with
its audit row and the auth-version bump every worker watches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from casbin.util import key_match
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit, version
from guanxi.auth.identity import user_subject
from guanxi.auth.scopes import check_scope
from guanxi.auth.vocabulary import (
    DELETE_RULES,
    EFFECTS,
    FIELD_ACTIONS,
    MODULE_ACTIONS,
    USER_PREFIX,
    Contribution,
    scope_text,
)
from guanxi.errors import MetadataError, NotFound, PluginError
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.store.system_tables import policy, policy_seed, role, user

if TYPE_CHECKING:
    from guanxi.core import Guanxi

log = logging.getLogger(__name__)
ROLE_CODE_MAX = 64
FIELD_LEVELS = ("hidden", "masked", "read", "write")


def _bad(message: Any, field: str, code: str) -> MetadataError:
    return MetadataError(message, field=field, code=code)


class Permissions:
    """platform.permissions: every method that changes something takes the acting admin."""

    def __init__(self, platform: Guanxi) -> None:
        self.platform = platform
        self.db = platform.db
        self.contributions: list[Contribution] = []

    # -- vocabulary ------------------------------------------------------------------------

    def load_contributions(self) -> None:
        self.contributions = []
        for implementation in self.platform.pm.hook.register_actions.get_hookimpls():
            name = self.platform.pm.get_name(implementation.plugin) or "?"
            try:
                raw = implementation.function()
                if raw:
                    self.contributions.append(Contribution.parse(name, raw))
            except (ValueError, TypeError) as error:
                raise PluginError(name, str(error)) from None

    def module_actions(self, entity: str) -> tuple[str, ...]:
        extra = [
            action
            for contribution in self.contributions
            for pattern, actions in contribution.actions.items()
            if key_match(entity, pattern)
            for action in actions
        ]
        return tuple(dict.fromkeys([*MODULE_ACTIONS, *extra]))

    # -- seeding (start-up) -----------------------------------------------------------------

    def seed_defaults(self) -> int:
        """Insert contributed roles and default grants not seeded before; returns how many
        policy rows were added. Runs at start in every worker; the seed table makes it
        idempotent and respects an admin's removals."""
        self.load_contributions()
        added = 0
        with self.db.unit_of_work() as connection:
            seeded = set(connection.execute(sa.select(policy_seed.c.key)).scalars())
            roles = set(connection.execute(sa.select(role.c.code)).scalars())
            now = clock.now_utc()
            for contribution in self.contributions:
                for code, label in contribution.roles.items():
                    if code not in roles:
                        connection.execute(
                            sa.insert(role).values(
                                code=code, label=label, builtin=True, created_at=now
                            )  # fmt: skip
                        )
                        roles.add(code)
                rows = (
                    [("p", *g) for g in contribution.grants]
                    + [
                        ("p2", r, e, a, scope_text(s), eft)
                        for r, e, a, s, eft in contribution.scopes
                    ]
                    + [("g", child, parent) for child, parent in contribution.inherits]
                    + [(kind, entity, value) for kind, entity, value in contribution.rules]
                )
                for row in rows:
                    key = f"{contribution.plugin}|" + "|".join(row)
                    if key[:400] in seeded:
                        continue
                    if self._insert(connection, row):
                        added += 1
                    connection.execute(sa.insert(policy_seed).values(key=key[:400], seeded_at=now))
                    seeded.add(key[:400])
            if added:
                audit.write(
                    connection, Actor.system(), "permission", "defaults", {"seeded_rows": added}
                )
                version.bump(connection)
        return added

    # -- reading ---------------------------------------------------------------------------

    def roles(self) -> list[dict[str, Any]]:
        with self.db.read() as connection:
            return [
                dict(row)
                for row in connection.execute(sa.select(role).order_by(role.c.code)).mappings()
            ]

    def policies(self, ptype: str | None = None) -> list[tuple[str, ...]]:
        """Every policy row as (ptype, v0, v1, ...) without trailing blanks."""
        query = sa.select(policy).order_by(policy.c.id)
        if ptype:
            query = query.where(policy.c.ptype == ptype)
        with self.db.read() as connection:
            rows = connection.execute(query).all()
        return [_trim((r.ptype, r.v0, r.v1, r.v2, r.v3, r.v4, r.v5)) for r in rows]

    def user_roles(self, user_id: int) -> list[str]:
        subject = user_subject(user_id)
        return sorted(r[2] for r in self.policies("g") if r[1] == subject)

    def explain(self, user: Any, action: str, target: str, record_id: int | None = None) -> Any:
        """Why a user may or may not do something (PERM-10); see guanxi.auth.explain."""
        from guanxi.auth.explain import explain

        return explain(self.platform, user, action, target, record_id)

    # -- changing ----------------------------------------------------------------------------

    def create_role(self, actor: Actor, code: str, label: dict[str, str]) -> None:
        self._admin(actor)
        if not isinstance(code, str) or not code.isidentifier() or len(code) > ROLE_CODE_MAX:
            raise _bad(_("A role code is a short identifier such as key_account_rep"), "code",
                       "bad_code")  # fmt: skip
        if code.startswith(USER_PREFIX.rstrip(":")):
            raise _bad(_("A role code cannot start with 'user'"), "code", "bad_code")
        if not isinstance(label, dict) or not label.get("zh-CN"):
            raise _bad(_("A role needs a Chinese label"), "label", "required")
        with self.db.unit_of_work() as connection:
            if connection.execute(sa.select(role.c.code).where(role.c.code == code)).first():
                raise _bad(_("Role '{code}' exists", code=code), "code", "exists")
            connection.execute(
                sa.insert(role).values(code=code, label=label, created_at=clock.now_utc())
            )
            self._changed(connection, actor, f"role:{code}", {"role": [None, code]})

    def delete_role(self, actor: Actor, code: str) -> None:
        """Remove a role with every grant, scope and membership it has."""
        self._admin(actor)
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            removed = connection.execute(
                sa.delete(policy).where(
                    sa.or_(
                        sa.and_(policy.c.ptype.in_(("p", "p2")), policy.c.v0 == code),
                        sa.and_(policy.c.ptype == "g", sa.or_(policy.c.v1 == code,
                                                              policy.c.v0 == code)),
                    )
                )
            ).rowcount  # fmt: skip
            connection.execute(sa.delete(role).where(role.c.code == code))
            self._changed(connection, actor, f"role:{code}", {"role": [code, None],
                                                               "rows_removed": removed})  # fmt: skip

    def assign_role(self, actor: Actor, user_id: int, code: str) -> None:
        self._admin(actor)
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            self._user(connection, user_id)
            if self._insert(connection, ("g", user_subject(user_id), code)):
                self._changed(connection, actor, f"user:{user_id}", {"role": [None, code]})

    def revoke_role(self, actor: Actor, user_id: int, code: str) -> None:
        self._admin(actor)
        with self.db.unit_of_work() as connection:
            self._role(connection, code)  # a mistyped role must not look like a done revoke
            if self._delete(connection, ("g", user_subject(user_id), code)):
                self._changed(connection, actor, f"user:{user_id}", {"role": [code, None]})

    def include_role(self, actor: Actor, code: str, included: str) -> None:
        """Role inheritance: `code` gets everything `included` has (g, code, included)."""
        self._admin(actor)
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            self._role(connection, included, field="included")
            if self._insert(connection, ("g", code, included)):
                self._changed(connection, actor, f"role:{code}", {"includes": [None, included]})

    def grant(self, actor: Actor, code: str, obj: str, action: str, effect: str = "allow") -> None:
        """A p row: module action on "customer" (or a pattern such as "*"), or a field action
        (read / write / mask) on "customer.mobile" or "customer.*"."""
        self._admin(actor)
        row = self._grant_row(obj, action, effect, code)  # metadata checks: before the write
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            if self._insert(connection, row):
                self._changed(connection, actor, f"role:{code}", {"grant": [None, list(row[1:])]})

    def revoke(self, actor: Actor, code: str, obj: str, action: str, effect: str = "allow") -> None:
        self._admin(actor)
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            if self._delete(connection, ("p", code, obj, action, effect)):
                self._changed(connection, actor, f"role:{code}",
                              {"grant": [[code, obj, action, effect], None]})  # fmt: skip

    def set_field_access(
        self, actor: Actor, code: str, entity: str, field: str, level: str
    ) -> None:
        """Hidden / masked / read / write for one field and role, replacing the role's previous
        rows for exactly that field (PERM-03, DATA-12)."""
        self._admin(actor)
        if level not in FIELD_LEVELS:
            raise _bad(_("Field access is one of hidden, masked, read, write"), "level",
                       "bad_level")  # fmt: skip
        obj = f"{entity}.{field}"
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            self._check_object(obj, "read", connection)
            old = [
                tuple(r)
                for r in connection.execute(
                    sa.select(policy.c.v2, policy.c.v3).where(
                        policy.c.ptype == "p", policy.c.v0 == code, policy.c.v1 == obj
                    )
                )
            ]
            connection.execute(
                sa.delete(policy).where(
                    policy.c.ptype == "p", policy.c.v0 == code, policy.c.v1 == obj
                )
            )
            wanted = {
                "hidden": [("read", "deny"), ("mask", "deny")],
                "masked": [("read", "deny"), ("mask", "allow")],
                "read": [("read", "allow"), ("write", "deny")],
                "write": [("read", "allow"), ("write", "allow")],
            }[level]
            for action, effect in wanted:
                self._insert(connection, ("p", code, obj, action, effect))
            self._changed(connection, actor, f"role:{code}", {obj: [old, level]})

    def set_scope(
        self,
        actor: Actor,
        code: str,
        entity: str,
        action: str,
        scope: str,
        effect: str = "allow",
    ) -> None:
        """A p2 row (PERM-04): own, team, department, department_tree, all, none,
        via:<reference field> or filter:<filter tree JSON with $user.<attribute> values>."""
        self._admin(actor)
        if action not in ("view", "edit", "delete", "*"):
            raise _bad(_("Scopes apply to view, edit, delete or *"), "action", "bad_action")
        if effect not in EFFECTS:
            raise _bad(_("The effect is allow or deny"), "effect", "bad_effect")
        target = self._entity_pattern(entity)
        scope = scope_text(scope) if isinstance(scope, str) else ""
        check_scope(scope, target, self.platform.types)
        row = ("p2", code, entity, action, scope, effect)
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            if self._insert(connection, row):
                self._changed(connection, actor, f"role:{code}", {"scope": [None, list(row[1:])]})

    def remove_scope(
        self, actor: Actor, code: str, entity: str, action: str, scope: str, effect: str = "allow"
    ) -> None:
        self._admin(actor)
        row = ("p2", code, entity, action, scope_text(scope), effect)
        with self.db.unit_of_work() as connection:
            self._role(connection, code)
            if self._delete(connection, row):
                self._changed(connection, actor, f"role:{code}", {"scope": [list(row[1:]), None]})

    def set_delete_rule(self, actor: Actor, entity: str, rule: str) -> None:
        """PERM-06: "allowed", "approval" (a manager approves) or "admin_only"."""
        self._admin(actor)
        if rule not in DELETE_RULES:
            raise _bad(_("The delete rule is allowed, approval or admin_only"), "rule",
                       "bad_rule")  # fmt: skip
        self._entity(entity)
        self._set_entity_rule(actor, "d", entity, rule)

    def set_access_logging(self, actor: Actor, entity: str, on: bool) -> None:
        """PERM-08: log every view of this module's records."""
        self._admin(actor)
        self._entity(entity)
        self._set_entity_rule(actor, "l", entity, "on" if on else "off")

    def _set_entity_rule(self, actor: Actor, kind: str, entity: str, value: str) -> None:
        with self.db.unit_of_work() as connection:
            old = connection.execute(
                sa.select(policy.c.v1).where(policy.c.ptype == kind, policy.c.v0 == entity)
            ).scalar()
            connection.execute(
                sa.delete(policy).where(policy.c.ptype == kind, policy.c.v0 == entity)
            )
            self._insert(connection, (kind, entity, value))
            self._changed(connection, actor, f"{kind}:{entity}", {"rule": [old, value]})

    # -- checks ----------------------------------------------------------------------------

    def _admin(self, actor: Actor) -> None:
        self.platform.authorizer.check_admin(actor)

    def _role(self, connection: Connection, code: str, field: str = "role") -> None:
        if (
            not isinstance(code, str)
            or not connection.execute(sa.select(role.c.code).where(role.c.code == code)).first()
        ):
            raise _bad(_("Unknown role '{code}'", code=str(code)), field, "unknown_role")

    def _user(self, connection: Connection, user_id: int) -> None:
        if not connection.execute(sa.select(user.c.id).where(user.c.id == user_id)).first():
            raise NotFound(_("No such user"))

    def _entity(self, name: str, connection: Connection | None = None) -> EntityDef:
        # Inside a unit of work pass its connection: on SQLite a second connection would wait
        # for the write lock this transaction holds.
        entity = self.platform.registry.snapshot(connection).entities.get(name)
        if entity is None:
            raise _bad(_("Unknown module '{name}'", name=str(name)), "entity", "unknown_entity")
        return entity

    def _entity_pattern(
        self, pattern: str, connection: Connection | None = None
    ) -> EntityDef | None:
        """An entity name, or a keyMatch pattern ("*") that must match at least one entity."""
        if not isinstance(pattern, str) or not pattern:
            raise _bad(_("Unknown module '{name}'", name=str(pattern)), "entity", "unknown_entity")
        if "*" in pattern:
            names = self.platform.registry.snapshot(connection).entities
            if not any(key_match(name, pattern) for name in names):
                raise _bad(_("'{pattern}' matches no module", pattern=pattern), "entity",
                           "unknown_entity")  # fmt: skip
            return None
        return self._entity(pattern, connection)

    def _check_object(self, obj: str, action: str, connection: Connection | None = None) -> None:
        """Module actions take a module (pattern); field actions take module.field (pattern)."""
        if not isinstance(obj, str) or not obj:
            raise _bad(_("Unknown module '{name}'", name=str(obj)), "object", "unknown_entity")
        if action in FIELD_ACTIONS and obj != "*":
            entity_name, _dot, key = obj.partition(".")
            entity = self._entity_pattern(entity_name, connection) if entity_name != "*" else None
            if not key:
                raise _bad(_("A field permission names a field, e.g. customer.mobile"), "object",
                           "bad_object")  # fmt: skip
            if entity is not None and "*" not in key:
                field = entity.get_field(key)
                if field is None or field.hidden:
                    raise _bad(
                        _("Unknown field '{field}' in {entity}", field=key, entity=entity.label),
                        "object",
                        "unknown_field",
                    )
            return
        if action in FIELD_ACTIONS or action == "*":
            self._entity_pattern(obj.partition(".")[0] or obj, connection)
            return
        if "." in obj:
            raise _bad(_("Module actions apply to a module, not a field"), "object", "bad_object")
        entity = self._entity_pattern(obj, connection)
        known = self.module_actions(entity.name) if entity else self._all_actions()
        if action not in known:
            raise _bad(_("Unknown action '{action}'", action=action), "action", "unknown_action")

    def _all_actions(self) -> tuple[str, ...]:
        extra = [a for c in self.contributions for actions in c.actions.values() for a in actions]
        return tuple(dict.fromkeys([*MODULE_ACTIONS, *FIELD_ACTIONS, *extra]))

    def _grant_row(self, obj: str, action: str, effect: str, code: str) -> tuple[str, ...]:
        if effect not in EFFECTS:
            raise _bad(_("The effect is allow or deny"), "effect", "bad_effect")
        if not isinstance(action, str) or (action != "*" and action not in self._all_actions()):
            raise _bad(_("Unknown action '{action}'", action=str(action)), "action",
                       "unknown_action")  # fmt: skip
        self._check_object(obj, action)
        return ("p", code, obj, action, effect)

    # -- storage -----------------------------------------------------------------------------

    def _insert(self, connection: Connection, row: Iterable[str]) -> bool:
        values = _padded(row)
        exists = connection.execute(
            sa.select(policy.c.id).where(*(policy.c[k] == v for k, v in values.items()))
        ).first()
        if exists:
            return False
        connection.execute(sa.insert(policy).values(**values))
        return True

    def _delete(self, connection: Connection, row: Iterable[str]) -> bool:
        values = _padded(row)
        result = connection.execute(
            sa.delete(policy).where(*(policy.c[k] == v for k, v in values.items()))
        )
        return bool(result.rowcount)

    def _changed(
        self, connection: Connection, actor: Actor, target: str, changes: dict[str, Any]
    ) -> None:
        audit.write(connection, actor, "permission", target, changes)
        version.bump(connection)


def _padded(row: Iterable[str]) -> dict[str, str]:
    values = list(row)
    names = ["ptype", "v0", "v1", "v2", "v3", "v4", "v5"]
    values += [""] * (len(names) - len(values))
    return dict(zip(names, values, strict=True))


def _trim(row: tuple[str, ...]) -> tuple[str, ...]:
    values = list(row)
    while values and values[-1] == "":
        values.pop()
    return tuple(values)
