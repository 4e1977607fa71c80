"""Record scopes (PERM-04) -> SQL WHERE clauses.

Kinds: all, none, own (owner_id is me), team (owner in one of my teams), department
(record's department is mine), department_tree (mine or below), via:<reference field> (the
referenced record is in my scope, e.g. contacts of my customers) and filter:<filter tree>
with $user.<attribute> placeholders ("region = my region"). A role set's allow rules are
OR-ed, its deny rules AND-NOT-ed; with no allow rule least privilege applies: own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.auth.grants import ScopeSet
from guanxi.errors import MetadataError, QueryError
from guanxi.i18n import Message, _
from guanxi.meta.entity import EntityDef
from guanxi.meta.field_types import FieldTypeRegistry
from guanxi.meta.registry import Snapshot
from guanxi.store.query import QueryCompiler

MAX_VIA_DEPTH = 3
MAX_SPLIT = 40  # beyond this many departments or members, one IN branch beats many branches
PLACEHOLDER = "$user."


class OrgFacts:
    """The actor's place in the organisation that scopes need: their teams' members and their
    department subtree (loaded once per actor and auth version by the Access holding them)."""

    def __init__(
        self, actor: Actor, team_members: frozenset[int], department_tree: frozenset[int]
    ) -> None:
        self.actor = actor
        self.team_members = team_members
        self.department_tree = department_tree

    def attribute(self, name: str) -> Any:
        if name == "id":
            return self.actor.user_id
        if name == "department_id":
            return self.actor.department_id
        if name == "position_id":
            return self.actor.position_id
        return self.actor.attributes.get(name)


class ScopeCompiler:
    """Compiles the scopes of one actor for one statement."""

    def __init__(
        self,
        snapshot: Snapshot,
        types: FieldTypeRegistry,
        facts: OrgFacts,
        scopes_for: Callable[[str, str], ScopeSet | None],
    ) -> None:
        self.snapshot = snapshot
        self.types = types
        self.facts = facts
        self.scopes_for = scopes_for  # None = unrestricted (system actor)

    def clause(
        self, entity: EntityDef, action: str, table: sa.Table | None = None, depth: int = 0
    ) -> sa.ColumnElement[bool] | None:
        """The WHERE clause limiting `entity` rows for `action`; None when nothing limits."""
        branches = self.branches(entity, action, table, depth)
        if branches is None:
            return None
        return branches[0] if len(branches) == 1 else sa.or_(*branches)

    def branches(
        self,
        entity: EntityDef,
        action: str,
        table: sa.Table | None = None,
        depth: int = 0,
        *,
        split: bool = False,
    ) -> list[sa.ColumnElement[bool]] | None:
        """The scope as OR-ed branches (each with the deny conditions), None when nothing
        limits: a list query can run one index-ordered branch each and merge them, which
        SQLite needs (its MULTI-INDEX OR reads and sorts every row in scope). With `split`,
        a department tree or team becomes one equality branch per department or member, so
        each branch walks one (department_id, created_at) range in order whatever the
        tie-breaking sort keys are."""
        scopes = self.scopes_for(entity.name, action)
        if scopes is None:
            return None
        table = table if table is not None else self.snapshot.tables[entity.name]
        allowed: list[sa.ColumnElement[bool]] = []
        unrestricted = False
        rules = scopes.rules(entity.name, action)
        if not rules:
            return [sa.false()]
        for rule in rules:
            condition = self.rule_clause(entity, table, rule.scope, action, depth)
            if condition is None:
                unrestricted = True
                break
            allowed.extend(self._split(table, rule.scope, condition) if split else [condition])
        denied: list[sa.ColumnElement[bool]] = []
        for rule in scopes.deny:
            condition = self.rule_clause(entity, table, rule.scope, action, depth)
            if condition is None:
                denied.append(sa.false())
            else:  # a row the condition is unknown for (NULL level vs "level = S") stays
                denied.append(sa.not_(sa.func.coalesce(condition, sa.false())))
        if unrestricted:
            return [sa.and_(*denied)] if denied else None
        if not allowed:
            return [sa.false()]
        return [sa.and_(branch, *denied) if denied else branch for branch in allowed]

    def decide(self, entity: EntityDef, record: Mapping[str, Any], action: str) -> bool | None:
        """rule_clause's verdict for one record, from its owner and department alone, when
        every rule is of those kinds (None: a via or filter rule, or a deny rule, needs SQL)."""
        scopes = self.scopes_for(entity.name, action)
        if scopes is None:
            return True
        if scopes.deny:
            return None
        facts, actor = self.facts, self.facts.actor
        owner, department = record.get("owner_id"), record.get("department_id")
        undecided = False
        for rule in scopes.rules(entity.name, action):
            kind = rule.scope
            if kind == "all":
                return True
            if kind == "own":
                matched = owner is not None and owner == actor.user_id
            elif kind == "team":
                matched = owner is not None and owner in facts.team_members | {actor.user_id}
            elif kind == "department":
                matched = department is not None and department == actor.department_id
            elif kind == "department_tree":
                matched = department is not None and department in facts.department_tree
            elif kind == "none":
                matched = False
            else:
                undecided = True
                continue
            if matched:
                return True
        return None if undecided else False

    def _split(
        self, table: sa.Table, scope: str, condition: sa.ColumnElement[bool]
    ) -> list[sa.ColumnElement[bool]]:
        facts, actor = self.facts, self.facts.actor
        if scope == "department_tree" and 1 < len(facts.department_tree) <= MAX_SPLIT:
            return [table.c.department_id == d for d in sorted(facts.department_tree)]
        members = facts.team_members | ({actor.user_id} if actor.user_id else set())
        if scope == "team" and 1 < len(members) <= MAX_SPLIT:
            return [table.c.owner_id == m for m in sorted(members)]
        return [condition]

    def rule_clause(
        self, entity: EntityDef, table: sa.Table, scope: str, action: str, depth: int
    ) -> sa.ColumnElement[bool] | None:
        facts = self.facts
        actor = facts.actor
        if scope == "all":
            return None
        if scope == "none":
            return sa.false()
        if scope == "own":
            return table.c.owner_id == actor.user_id if actor.user_id is not None else sa.false()
        if scope == "team":
            members = facts.team_members | ({actor.user_id} if actor.user_id else set())
            return table.c.owner_id.in_(sorted(members)) if members else sa.false()
        if scope == "department":
            if actor.department_id is None:
                return sa.false()
            return table.c.department_id == actor.department_id
        if scope == "department_tree":
            tree = facts.department_tree
            return table.c.department_id.in_(sorted(tree)) if tree else sa.false()
        if scope.startswith("via:"):
            return self._via(entity, table, scope[4:], action, depth)
        if scope.startswith("filter:"):
            tree = substitute(json.loads(scope[7:]), facts)
            if tree is _UNSET:
                return sa.false()  # an attribute the user lacks never matches
            try:
                return QueryCompiler(entity, table, self.types).where(tree)
            except QueryError:
                # Nor does one no record can hold (region "mars"): the user's reads must not
                # fail because of an attribute they cannot change.
                return sa.false()
        return sa.false()  # unknown kinds were refused when stored; never widen on surprise

    def _via(
        self, entity: EntityDef, table: sa.Table, key: str, action: str, depth: int
    ) -> sa.ColumnElement[bool]:
        field = entity.get_field(key)
        if field is None or field.type != "reference" or field.reference is None:
            return sa.false()
        target = self.snapshot.entities.get(field.reference)
        if target is None or depth >= MAX_VIA_DEPTH:
            return sa.false()
        column = table.c[field.column]
        target_table = self.snapshot.tables[target.name].alias(f"via{depth}")
        inner = self.clause(target, action, target_table, depth + 1)
        if inner is None:
            return column.is_not(None)
        return column.in_(sa.select(target_table.c.id).where(inner))


class _Unset:
    pass


_UNSET: Any = _Unset()


def substitute(node: Any, facts: OrgFacts) -> Any:
    """Replace "$user.<name>" values with the actor's; _UNSET if any is missing."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            replaced = substitute(value, facts)
            if replaced is _UNSET:
                return _UNSET
            out[key] = replaced
        return out
    if isinstance(node, list):
        items = [substitute(item, facts) for item in node]
        return _UNSET if any(item is _UNSET for item in items) else items
    if isinstance(node, str) and node.startswith(PLACEHOLDER):
        value = facts.attribute(node[len(PLACEHOLDER) :])
        return _UNSET if value is None else value
    return node


def check_scope(scope: str, entity: EntityDef | None, types: FieldTypeRegistry) -> None:
    """Refuse a scope that could not be compiled for `entity` (None = a "*" pattern)."""
    from guanxi.auth.vocabulary import SCOPE_KINDS

    def bad(message: Message) -> MetadataError:
        return MetadataError(message, field="scope", code="bad_scope")

    if scope in SCOPE_KINDS:
        return
    if scope.startswith("via:"):
        key = scope[4:]
        field = entity.get_field(key) if entity else None
        if entity is None or field is None or field.type != "reference":
            raise bad(_("Scope '{scope}' needs a reference field of the module", scope=scope))
        return
    if scope.startswith("filter:"):
        if entity is None:
            raise bad(_("A condition scope must name one module"))
        try:
            tree = json.loads(scope[7:])
        except ValueError:
            raise bad(
                _("The condition of scope '{scope}' is not valid JSON", scope=scope)
            ) from None
        _check_tree(tree, QueryCompiler(entity, _placeholder_table(entity), types), types)
        return
    raise bad(_("Unknown scope '{scope}'", scope=scope))


def _check_tree(node: Any, compiler: QueryCompiler, types: FieldTypeRegistry) -> None:
    if isinstance(node, list):
        for item in node:
            _check_tree(item, compiler, types)
        return
    if not isinstance(node, dict):
        raise MetadataError(_("A filter must be an object or a list"), field="scope")
    for key in ("and", "or"):
        if key in node:
            _check_tree(node[key], compiler, types)
            return
    if "not" in node:
        _check_tree(node["not"], compiler, types)
        return
    try:
        field = compiler.field(node.get("field"))
    except QueryError as error:
        raise MetadataError(error.message, field="scope", code="unknown_field") from None
    if node.get("op", "eq") not in types.for_field(field).operators:
        raise MetadataError(
            _("Field '{field}' does not support the operator '{op}'", field=field.label,
              op=str(node.get("op"))),
            field="scope",
            code="bad_operator",
        )  # fmt: skip
    if not _has_placeholder(node.get("value")):
        try:  # a literal value no record can hold would fail every read of the role
            compiler.where(node)
        except QueryError as error:
            raise MetadataError(error.message, field="scope", code="bad_value") from None


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_placeholder(item) for item in value)
    return isinstance(value, str) and value.startswith(PLACEHOLDER)


def _placeholder_table(entity: EntityDef) -> sa.Table:
    return sa.Table(entity.table, sa.MetaData(), *(sa.Column(f.column) for f in entity.fields))
