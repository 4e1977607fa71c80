"""Policies at one version, and what one role set may do under them.

Casbin evaluates every policy line on each enforce call (~8 ms at 2,000 lines). A role set
only ever matches the lines of its own roles, so each role set gets a small enforcer holding
just those lines (same model file, same allow/deny semantics), and every answer it gives —
module actions, field masks, scopes — is cached until the policy version changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import casbin
import sqlalchemy as sa
from casbin.util import key_match
from sqlalchemy.engine import Connection

from guanxi.auth.fields import FieldMask, Level
from guanxi.auth.vocabulary import ADMIN_ROLE, USER_PREFIX
from guanxi.meta.entity import EntityDef
from guanxi.meta.field_types import FieldTypeRegistry
from guanxi.store.system_tables import policy

MODEL_FILE = Path(__file__).with_name("model.conf")
ROLE_SET_SUBJECT = "__role_set__"
MAX_CACHED_ROLE_SETS = 512
DEFAULT_SCOPE = "own"  # a granted module without scope rules: least privilege


@cache
def model_text() -> str:
    return MODEL_FILE.read_text(encoding="utf-8")


def new_enforcer() -> casbin.Enforcer:
    model = casbin.model.Model()
    model.load_model_from_text(model_text())
    return casbin.Enforcer(model)


@dataclass(frozen=True)
class ScopeRule:
    role: str
    entity: str  # keyMatch pattern: "customer" or "*"
    action: str  # "view", "edit", "delete" or "*"
    scope: str
    effect: str

    def matches(self, entity: str, action: str) -> bool:
        return (self.action in (action, "*")) and key_match(entity, self.entity)

    def as_row(self) -> str:
        return f"p2, {self.role}, {self.entity}, {self.action}, {self.scope}, {self.effect}"


@dataclass(frozen=True)
class ScopeSet:
    """The scope rules a role set has for one entity and action."""

    allow: tuple[ScopeRule, ...]
    deny: tuple[ScopeRule, ...]
    defaulted: bool  # no allow rule: least privilege ("own") applies

    def rules(self, entity: str, action: str) -> tuple[ScopeRule, ...]:
        """The allow rules in force: the role set's own, or the least-privilege default."""
        if self.allow or not self.defaulted:
            return self.allow
        return (ScopeRule("(default)", entity, action, DEFAULT_SCOPE, "allow"),)


class PolicySnapshot:
    """Every policy row at one auth version."""

    def __init__(self, version: int, rows: Iterable[tuple[str, ...]]) -> None:
        self.version = version
        self.p: list[tuple[str, str, str, str]] = []
        self.p2: list[ScopeRule] = []
        self.inherits: dict[str, set[str]] = {}  # role -> roles it includes
        self.delete_rules: dict[str, str] = {}
        self.access_logged: set[str] = set()
        for ptype, v0, v1, v2, v3, v4, _v5 in rows:
            if ptype == "p":
                self.p.append((v0, v1, v2, v3 or "allow"))
            elif ptype == "p2":
                self.p2.append(ScopeRule(v0, v1, v2, v3, v4 or "allow"))
            elif ptype == "g" and not v0.startswith(USER_PREFIX):
                self.inherits.setdefault(v0, set()).add(v1)
            elif ptype == "d":
                self.delete_rules[v0] = v1
            elif ptype == "l" and v1 == "on":
                self.access_logged.add(v0)
        self._grants: dict[frozenset[str], RoleSetGrants] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, connection: Connection, version: int) -> PolicySnapshot:
        columns = [policy.c.ptype, policy.c.v0, policy.c.v1, policy.c.v2, policy.c.v3,
                   policy.c.v4, policy.c.v5]  # fmt: skip
        rows = connection.execute(sa.select(*columns).order_by(policy.c.id)).all()
        return cls(version, [tuple(row) for row in rows])

    def closure(self, roles: Iterable[str]) -> frozenset[str]:
        """The roles and every role they include (g role -> role), cycles tolerated."""
        found: set[str] = set()
        todo = list(roles)
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(self.inherits.get(current, ()))
        return frozenset(found)

    def grants(self, roles: frozenset[str]) -> RoleSetGrants:
        found = self._grants.get(roles)
        if found is None:
            with self._lock:
                found = self._grants.get(roles)
                if found is None:
                    if len(self._grants) >= MAX_CACHED_ROLE_SETS:
                        self._grants.clear()
                    found = self._grants[roles] = RoleSetGrants(self, roles)
        return found


class RoleSetGrants:
    """What a set of roles may do at one policy version; every answer computed once."""

    def __init__(self, policies: PolicySnapshot, roles: frozenset[str]) -> None:
        self.policies = policies
        self.roles = roles
        self.closure = policies.closure(roles)
        self.is_admin = ADMIN_ROLE in self.closure
        self.enforcer = new_enforcer()
        lines = [list(row) for row in policies.p if row[0] in self.closure]
        if lines:
            self.enforcer.add_policies(lines)
        links = [[ROLE_SET_SUBJECT, role] for role in roles]
        links += [
            [role, parent] for role in self.closure for parent in policies.inherits.get(role, ())
        ]
        if links:
            self.enforcer.add_grouping_policies(links)
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], bool] = {}
        self._masks: dict[tuple[str, int], FieldMask] = {}
        self._scopes: dict[tuple[str, str], ScopeSet] = {}

    def allows(self, obj: str, action: str) -> bool:
        key = (obj, action)
        answer = self._answers.get(key)
        if answer is None:
            with self._lock:
                answer = self._answers[key] = bool(
                    self.enforcer.enforce(ROLE_SET_SUBJECT, obj, action)
                )
        return answer

    def explain(self, obj: str, action: str) -> tuple[bool, list[str]]:
        """Casbin's answer and the policy line that decided it ([] when none matched)."""
        with self._lock:
            allowed, rule = self.enforcer.enforce_ex(ROLE_SET_SUBJECT, obj, action)
        return bool(allowed), list(rule or [])

    def mask(self, entity: EntityDef, types: FieldTypeRegistry) -> FieldMask:
        key = (entity.name, entity.version)
        mask = self._masks.get(key)
        if mask is None:
            mask = FieldMask.build(entity, types, lambda field: self._field_level(entity, field))
            self._masks[key] = mask
        return mask

    def _field_level(self, entity: EntityDef, key: str) -> Level:
        obj = f"{entity.name}.{key}"
        if self.allows(obj, "read"):
            return Level.WRITE if self.allows(obj, "write") else Level.READ
        return Level.MASKED if self.allows(obj, "mask") else Level.HIDDEN

    def scopes(self, entity: str, action: str) -> ScopeSet:
        key = (entity, action)
        found = self._scopes.get(key)
        if found is None:
            rules = [
                rule
                for rule in self.policies.p2
                if rule.role in self.closure and rule.matches(entity, action)
            ]
            allow = tuple(r for r in rules if r.effect != "deny")
            deny = tuple(r for r in rules if r.effect == "deny")
            found = self._scopes[key] = ScopeSet(allow, deny, not allow)
        return found
