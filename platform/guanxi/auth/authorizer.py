"""CasbinAuthorizer: policies from the database, cached per auth version; one Access object
per actor holding its role set's grants and its place in the org chart."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.actor import Actor
from guanxi.auth.fields import FieldMask
from guanxi.auth.grants import PolicySnapshot, RoleSetGrants, ScopeSet
from guanxi.auth.identity import subtree
from guanxi.auth.scopes import OrgFacts, ScopeCompiler
from guanxi.auth.version import versions
from guanxi.auth.vocabulary import ADMIN_ROLE
from guanxi.errors import PermissionDenied
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.meta.field_types import FieldTypeRegistry
from guanxi.meta.registry import Snapshot
from guanxi.store.db import Database
from guanxi.store.system_tables import team_member

MAX_CACHED_ACTORS = 4096

ACTION_LABELS = {
    "view": _("view"),
    "create": _("create"),
    "edit": _("edit"),
    "delete": _("delete"),
    "import": _("import"),
    "export": _("export"),
    "assign": _("reassign"),
    "approve_delete": _("approve deletion of"),
}


def denied(entity: EntityDef, action: str) -> PermissionDenied:
    label = ACTION_LABELS.get(action)
    return PermissionDenied(
        _(
            "You may not {action} {entity} records",
            action=label if label is not None else action,
            entity=entity.label,
        ),
        code="forbidden",
    )


class SystemAccess:
    """The platform itself (init, demo, jobs): everything, no scope, full masks."""

    def __init__(self, actor: Actor, policies: PolicySnapshot | None) -> None:
        self.actor = actor
        self.policies = policies

    is_admin = True

    def allows(self, entity: str, action: str) -> bool:
        return True

    def check_module(self, entity: EntityDef, action: str) -> None:
        return None

    def mask(self, entity: EntityDef) -> FieldMask:
        return FieldMask.full(entity)

    def scope_clause(self, connection: Connection, snapshot: Snapshot, entity: EntityDef,
                     action: str, table: sa.Table | None = None) -> None:  # fmt: skip
        return None

    def scope_branches(self, connection: Connection, snapshot: Snapshot, entity: EntityDef,
                       action: str, split: bool = False) -> None:  # fmt: skip
        return None

    def record_in_scope(self, connection: Connection, snapshot: Snapshot, entity: EntityDef,
                        record: Any, action: str) -> bool:  # fmt: skip
        return True

    def delete_rule(self, entity: str) -> str:
        return "allowed"

    def logs_access(self, entity: str) -> bool:
        return False


class ActorAccess:
    """A user's Access: grants of their role set + their org facts, at one policy version."""

    def __init__(self, actor: Actor, policies: PolicySnapshot, types: FieldTypeRegistry) -> None:
        self.actor = actor
        self.policies = policies
        self.types = types
        self.grants: RoleSetGrants = policies.grants(actor.roles)
        self._facts: OrgFacts | None = None
        self._lock = threading.Lock()

    @property
    def is_admin(self) -> bool:
        return self.grants.is_admin

    def allows(self, entity: str, action: str) -> bool:
        return self.grants.allows(entity, action)

    def check_module(self, entity: EntityDef, action: str) -> None:
        if not self.grants.allows(entity.name, action):
            raise denied(entity, action)

    def mask(self, entity: EntityDef) -> FieldMask:
        return self.grants.mask(entity, self.types)

    def scope_clause(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        action: str,
        table: sa.Table | None = None,
    ) -> sa.ColumnElement[bool] | None:
        return self.scope_compiler(connection, snapshot).clause(entity, action, table)

    def scope_branches(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        action: str,
        split: bool = False,
    ) -> list[sa.ColumnElement[bool]] | None:
        return self.scope_compiler(connection, snapshot).branches(entity, action, split=split)

    def record_in_scope(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        record: Mapping[str, Any],
        action: str,
    ) -> bool | None:
        """Decided from the values where possible: saves a read-back per write."""
        return self.scope_compiler(connection, snapshot).decide(entity, record, action)

    def scope_compiler(self, connection: Connection, snapshot: Snapshot) -> ScopeCompiler:
        """This actor's scopes, ready to compile or decide."""
        return ScopeCompiler(snapshot, self.types, self.facts(connection), self._scopes_for)

    def _scopes_for(self, entity: str, action: str) -> ScopeSet | None:
        if not self.grants.allows(entity, "view"):
            return _NOTHING
        return self.grants.scopes(entity, action)

    def facts(self, connection: Connection) -> OrgFacts:
        """Org facts, loaded on first use with the caller's connection and then cached with
        this Access (which lives as long as the auth version). Loaded eagerly under a lock:
        the Access is shared between threads, a connection is not."""
        if self._facts is None:
            with self._lock:
                if self._facts is None:
                    self._facts = OrgFacts(
                        self.actor, self._load_members(connection), self._load_tree(connection)
                    )
        return self._facts

    def _load_members(self, connection: Connection) -> frozenset[int]:
        if not self.actor.team_ids:
            return frozenset()
        return frozenset(
            connection.execute(
                sa.select(team_member.c.user_id).where(
                    team_member.c.team_id.in_(sorted(self.actor.team_ids))
                )
            ).scalars()
        )

    def _load_tree(self, connection: Connection) -> frozenset[int]:
        if self.actor.department_id is None:
            return frozenset()
        return frozenset(subtree(connection, self.actor.department_id))

    def delete_rule(self, entity: str) -> str:
        return self.policies.delete_rules.get(entity, "allowed")

    def logs_access(self, entity: str) -> bool:
        return entity in self.policies.access_logged


_NOTHING = ScopeSet((), (), False)  # a module the actor cannot view: no rows reachable via it


class CasbinAuthorizer:
    def __init__(self, types: FieldTypeRegistry, db: Database) -> None:
        self.types = types
        self.db = db
        self._policies: PolicySnapshot | None = None
        self._actors: dict[tuple[Any, ...], ActorAccess] = {}
        self._lock = threading.Lock()

    def policies(self, connection: Connection, auth_version: int) -> PolicySnapshot:
        """The policy snapshot for this version, reloaded when another worker changed it."""
        current = self._policies
        if current is None or current.version != auth_version:
            with self._lock:
                if self._policies is None or self._policies.version != auth_version:
                    self._policies = PolicySnapshot.load(connection, auth_version)
                    self._actors = {}
                current = self._policies
        return current

    def access(self, connection: Connection, actor: Actor, auth_version: int) -> Any:
        policies = self.policies(connection, auth_version)
        if actor.is_system:
            return SystemAccess(actor, policies)
        key = (
            actor.user_id,
            actor.roles,
            actor.department_id,
            actor.team_ids,
            actor.position_id,
            json.dumps(dict(actor.attributes), sort_keys=True, default=str),
        )
        found = self._actors.get(key)
        if found is None or found.policies is not policies:
            found = ActorAccess(actor, policies, self.types)
            with self._lock:
                if len(self._actors) >= MAX_CACHED_ACTORS:
                    self._actors.clear()
                self._actors[key] = found
        if found.actor.ip != actor.ip:
            found = _with_ip(found, actor)
        return found

    def check_admin(self, actor: Actor) -> None:
        if actor.is_system:
            return
        with self.db.read() as connection:  # the current policies: a revoked admin is no admin
            policies = self.policies(connection, versions(connection)[1])
        if ADMIN_ROLE not in policies.closure(actor.roles):
            raise PermissionDenied(
                _("Only administrators may change fields, modules and permissions")
            )

    def invalidate(self) -> None:
        with self._lock:
            self._policies = None
            self._actors = {}


def _with_ip(access: ActorAccess, actor: Actor) -> ActorAccess:
    """Same grants and org facts, the request's own actor (its IP goes to audit rows)."""
    clone = object.__new__(ActorAccess)
    clone.__dict__.update(access.__dict__)
    clone.actor = actor
    return clone
