"""The permission matrix of one role (PERM-02..06, PERM-08): module actions, field levels,
record scopes, delete rule and access logging. A save computes the differences against the
stored policy rows and applies each through platform.permissions; everything is checked
first, so a bad input changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth.fields import Level
from guanxi.auth.grants import PolicySnapshot
from guanxi.auth.policies import FIELD_LEVELS
from guanxi.auth.scopes import check_scope
from guanxi.auth.vocabulary import DELETE_RULES, EFFECTS, SCOPE_KINDS, scope_text
from guanxi.errors import GuanxiError, NotFound
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.web.admin.org_common import FORM, admin_screen, field_messages, text
from guanxi.web.screen import Screen

SCOPE_ACTIONS = ("view", "edit", "delete", "*")
LEVEL_NAMES = {Level.HIDDEN: "hidden", Level.MASKED: "masked", Level.READ: "read",
               Level.WRITE: "write"}  # fmt: skip


@dataclass
class RolePolicies:
    """One role's own policy rows, and what the role (with what it includes) may do."""

    code: str
    grants: Any  # RoleSetGrants of {code}
    direct: dict[tuple[str, str], str] = field(default_factory=dict)  # (obj, action) -> effect
    scopes: list[tuple[str, str, str, str]] = field(default_factory=list)  # entity, action, ..
    includes: list[str] = field(default_factory=list)
    delete_rules: dict[str, str] = field(default_factory=dict)
    logged: set[str] = field(default_factory=set)
    inherited_scopes: list[Any] = field(default_factory=list)


def load_role(s: Screen, code: str) -> tuple[dict[str, Any], RolePolicies]:
    role = next((r for r in s.platform.permissions.roles() if r["code"] == code), None)
    if role is None:
        raise NotFound(_("Unknown role '{code}'", code=code))
    with s.platform.db.read() as connection:
        snapshot = PolicySnapshot.load(connection, 0)  # fresh, uncached: this page edits it
    policies = RolePolicies(code, snapshot.grants(frozenset({code})))
    for rule_role, obj, action, effect in snapshot.p:
        if rule_role == code:
            policies.direct[(obj, action)] = effect
    for rule in snapshot.p2:
        if rule.role == code:
            policies.scopes.append((rule.entity, rule.action, rule.scope, rule.effect))
        elif rule.role in policies.grants.closure:
            policies.inherited_scopes.append(rule)
    policies.includes = sorted(snapshot.inherits.get(code, ()))
    policies.delete_rules = dict(snapshot.delete_rules)
    policies.logged = set(snapshot.access_logged)
    return role, policies


def _entities(s: Screen) -> list[EntityDef]:
    return sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))


def matrix_fields(entity: EntityDef) -> list[Any]:
    """Fields a level can be set for: what users see, plus the owner and department."""
    return [f for f in entity.visible_fields
            if not f.system or f.key in ("owner_id", "department_id")]  # fmt: skip


def _page(
    s: Screen, code: str, *, status: int = 200, errors: dict[str, str] | None = None,
    notice: str | None = None, submitted: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    role, policies = load_role(s, code)
    entities = _entities(s)
    permissions = s.platform.permissions
    grid = [
        {
            "entity": entity,
            "cells": [
                {
                    "action": action,
                    "direct": policies.direct.get((entity.name, action), ""),
                    "effective": policies.grants.allows(entity.name, action),
                }
                for action in permissions.module_actions(entity.name)
            ],
        }
        for entity in entities
    ]
    actions = list(dict.fromkeys(c["action"] for row in grid for c in row["cells"]))
    names = {e.name for e in entities}
    module_name = s.path_params.get("entity") or s.params.get("module") or ""
    module = next((e for e in entities if e.name == module_name), entities[0] if entities else None)
    other_rules = sorted(
        (obj, action, effect) for (obj, action), effect in policies.direct.items()
        if obj not in names and obj.partition(".")[0] not in names
    )  # fmt: skip
    detail = _module_detail(s, policies, module) if module else None
    return s.render(
        "admin/org/role.html",
        status=status,
        role=role,
        policies=policies,
        grid=grid,
        actions=actions,
        entities=entities,
        module=module,
        detail=detail,
        other_rules=other_rules,
        all_roles=[r for r in permissions.roles() if r["code"] != code],
        errors=errors or {},
        submitted=submitted or {},
        notice=notice,
        levels=FIELD_LEVELS,
        scope_kinds=(*SCOPE_KINDS, "via", "filter"),
        scope_actions=SCOPE_ACTIONS,
        delete_rules=DELETE_RULES,
        tab="roles",
    )


def _module_detail(s: Screen, policies: RolePolicies, entity: EntityDef) -> dict[str, Any]:
    mask = policies.grants.mask(entity, s.platform.types)
    fields = [
        {"field": f, "level": LEVEL_NAMES[mask.level(f.key)],
         "capped": bool(f.readonly or (f.system and f.key not in ("owner_id", "department_id")))}
        for f in matrix_fields(entity)
    ]  # fmt: skip
    scopes = [
        {"key": json.dumps([action, scope, effect], ensure_ascii=False), "action": action,
         "scope": scope, "effect": effect}
        for ent, action, scope, effect in policies.scopes if ent == entity.name
    ]  # fmt: skip
    pattern_scopes = [row for row in policies.scopes if row[0] != entity.name]
    inherited = [
        rule for rule in policies.inherited_scopes if rule.matches(entity.name, rule.action)
    ]
    references = [f.key for f in entity.visible_fields if f.type == "reference"]
    return {
        "fields": fields,
        "scopes": scopes,
        "pattern_scopes": pattern_scopes,
        "inherited": inherited,
        "references": references,
        "delete_rule": policies.delete_rules.get(entity.name, "allowed"),
        "logged": entity.name in policies.logged,
    }


@admin_screen
def role_page(s: Screen) -> Response:
    count = s.params.get("saved", "")
    notice = None
    if count == "created":
        notice = s.t("Role created")
    elif count.isdigit():
        notice = s.t("Saved: {count} change(s) applied", count=int(count))
    return _page(s, str(s.path_params["code"]), notice=notice)


@admin_screen
def save_actions(s: Screen) -> Response:
    """Module × action cells: "" (no rule of this role), allow or deny."""
    code = str(s.path_params["code"])
    _role, policies = load_role(s, code)
    assert s.form is not None
    permissions = s.platform.permissions
    wanted: list[tuple[str, str, str, str]] = []  # entity, action, old, new
    errors: dict[str, str] = {}
    for entity in _entities(s):
        for action in permissions.module_actions(entity.name):
            key = f"act.{entity.name}.{action}"
            if key not in s.form:
                continue
            new = str(s.form.get(key) or "")
            if new and new not in EFFECTS:
                errors[key] = s.t("The effect is allow or deny")
                continue
            old = policies.direct.get((entity.name, action), "")
            if new != old:
                wanted.append((entity.name, action, old, new))
    if errors:
        return _page(s, code, status=422, errors=errors)
    for entity_name, action, old, new in wanted:
        if old:
            permissions.revoke(s.actor, code, entity_name, action, old)
        if new:
            permissions.grant(s.actor, code, entity_name, action, new)
    return s.redirect(f"/admin/roles/{code}?saved={len(wanted)}#actions")


@admin_screen
def save_module(s: Screen) -> Response:
    """Field levels, scopes, delete rule and access logging of one module, for one role."""
    code = str(s.path_params["code"])
    _role, policies = load_role(s, code)
    entity = next((e for e in _entities(s) if e.name == s.path_params["entity"]), None)
    if entity is None:
        raise NotFound(_("Unknown module '{name}'", name=str(s.path_params["entity"])))
    assert s.form is not None
    form = s.form
    permissions = s.platform.permissions
    errors: dict[str, str] = {}
    steps: list[tuple[str, tuple[Any, ...]]] = []
    mask = policies.grants.mask(entity, s.platform.types)
    for item in matrix_fields(entity):
        key = f"level.{item.key}"
        if key not in form:
            continue
        new = str(form.get(key) or "")
        if new not in FIELD_LEVELS:
            errors[key] = s.t("Field access is one of hidden, masked, read, write")
        elif new != LEVEL_NAMES[mask.level(item.key)]:
            steps.append(("set_field_access", (code, entity.name, item.key, new)))
    present = {json.dumps([a, sc, ef], ensure_ascii=False)
               for ent, a, sc, ef in policies.scopes if ent == entity.name}  # fmt: skip
    for raw in form.getlist("remove_scope"):
        if str(raw) in present:
            action, scope, effect = json.loads(str(raw))
            steps.append(("remove_scope", (code, entity.name, action, scope, effect)))
    kind = text(s, "scope_kind")
    if kind:
        action, effect, argument = text(s, "scope_action"), text(s, "scope_effect"), text(
            s, "scope_arg")  # fmt: skip
        scope = f"{kind}:{argument}" if kind in ("via", "filter") else kind
        if action not in SCOPE_ACTIONS:
            errors["scope_action"] = s.t("Scopes apply to view, edit, delete or *")
        if effect not in EFFECTS:
            errors["scope_effect"] = s.t("The effect is allow or deny")
        if kind in ("via", "filter") and not argument:
            errors["scope_arg"] = (s.t("Choose a reference field") if kind == "via"
                                   else s.t("Write the condition as JSON"))  # fmt: skip
        else:
            try:
                check_scope(scope_text(scope), entity, s.platform.types)
            except GuanxiError as error:
                errors["scope_arg" if kind in ("via", "filter") else "scope_kind"] = "；".join(
                    field_messages(s, error).values())  # fmt: skip
        if not errors:
            steps.append(("set_scope", (code, entity.name, action, scope, effect)))
    if "delete_rule" in form:
        rule = text(s, "delete_rule")
        if rule not in DELETE_RULES:
            errors["delete_rule"] = s.t("The delete rule is allowed, approval or admin_only")
        elif rule != policies.delete_rules.get(entity.name, "allowed"):
            steps.append(("set_delete_rule", (entity.name, rule)))
    if "logging_shown" in form:
        logged = form.get("access_logging") == "on"
        if logged != (entity.name in policies.logged):
            steps.append(("set_access_logging", (entity.name, logged)))
    submitted = {k: str(v) for k, v in form.items()}
    if errors:
        return _page(s, code, status=422, errors=errors, submitted=submitted)
    try:
        for method, args in steps:
            getattr(permissions, method)(s.actor, *args)
    except GuanxiError as error:  # checked above; a concurrent change can still refuse
        return _page(s, code, status=error.status, errors={FORM: "；".join(
            field_messages(s, error).values())}, submitted=submitted)  # fmt: skip
    return s.redirect(f"/admin/roles/{code}/modules/{entity.name}?saved={len(steps)}#module")


@admin_screen
def include_role(s: Screen) -> Response:
    code = str(s.path_params["code"])
    included = text(s, "included")
    try:
        s.platform.permissions.include_role(s.actor, code, included)
    except GuanxiError as error:
        return _page(
            s,
            code,
            status=error.status,
            errors={"included": "；".join(field_messages(s, error).values())},
        )
    return s.redirect(f"/admin/roles/{code}?saved=1#includes")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/roles/{code}", role_page),
        Route("/admin/roles/{code}/actions", save_actions, methods=["POST"]),
        Route("/admin/roles/{code}/include", include_role, methods=["POST"]),
        Route("/admin/roles/{code}/modules/{entity}", role_page),
        Route("/admin/roles/{code}/modules/{entity}/save", save_module, methods=["POST"]),
    ]
