"""Admin screens of duplicate rules (DATA-07, UI-09): the rules per module with their indexing
and last scan, a form to create or change one, delete, and "scan now". RuleBook checks the
admin right again, validates and audits every change; these screens only translate forms."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.defaults.duplicates import book, report
from guanxi.defaults.duplicates.keys import METHODS
from guanxi.defaults.duplicates.rules import ACTIONS, INDEX_JOB, Rule
from guanxi.errors import NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.store.system_tables import dup_rule, job_task
from guanxi.web.admin.org_common import admin_screen, field_messages, path_id, text
from guanxi.web.screen import Screen

SCAN_JOB = "duplicates.scan"
ROWS = 4  # a rule matches on one to four fields
CROSS_ENTITIES = ("lead", "customer", "contact")  # modules whose records describe one party
PREFERRED_ENTITIES = ("customer", "lead", "contact")
# Types whose values say nothing about who a record is (or have no column to index).
UNMATCHABLE_TYPES = frozenset(
    {"boolean", "multiselect", "stage", "tags", "longtext", "rating", "percent", "money",
     "decimal", "datetime"}
)  # fmt: skip
WAITING = ("queued", "running")


@admin_screen
def rule_list(s: Screen) -> Response:
    platform = s.platform
    rules = book(platform).all()
    states = _states(platform)
    titles = {e.name: e.title(s.locale) for e in platform.registry.entities()}
    per_entity: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        per_entity.setdefault(rule.entity, []).append(
            {"rule": rule, "state": states["rules"].get(rule.id, {}), **_described(s, rule)}
        )
    sections = sorted(per_entity.items(), key=lambda item: titles.get(item[0], item[0]))
    notice = None
    if s.params.get("queued"):
        notice = s.t("Queued; a worker runs it within seconds")
    elif s.params.get("deleted"):
        notice = s.t("Deleted")
    return s.render("duplicates/rules.html", sections=sections, titles=titles, notice=notice,
                    scan_waiting=states["scan_waiting"], action_labels=action_labels(s))  # fmt: skip


@admin_screen
def rule_new(s: Screen) -> Response:
    entity = _entity(s, s.params.get("entity") or _preferred(s))
    if s.request.method == "GET":
        values = {"name": "", "action": "warn", "active": True,
                  "rows": _padded([]), "targets": {}}  # fmt: skip
        return _edit_page(s, entity, None, values, {})
    values, submitted = _submitted(s, entity)
    try:
        rule = book(s.platform).save(s.actor, submitted)
    except ValidationFailed as failed:
        return _edit_page(s, entity, None, values, field_messages(s, failed), status=422)
    return s.redirect(f"/admin/duplicates/{rule.id}?saved=1")


@admin_screen
def rule_edit(s: Screen) -> Response:
    rules = book(s.platform)
    rule = rules.get(path_id(s))
    entity = _entity(s, rule.entity)
    if s.request.method == "GET":
        notice = s.t("Saved") if s.params.get("saved") else None
        return _edit_page(s, entity, rule, _values_of(rule), {}, notice=notice)
    values, submitted = _submitted(s, entity)
    try:
        rules.save(s.actor, submitted, rule.id)
    except ValidationFailed as failed:
        return _edit_page(s, entity, rule, values, field_messages(s, failed), status=422)
    return s.redirect(f"/admin/duplicates/{rule.id}?saved=1")


@admin_screen
def rule_delete(s: Screen) -> Response:
    book(s.platform).delete(s.actor, path_id(s))
    return s.redirect("/admin/duplicates?deleted=1")


@admin_screen
def scan_now(s: Screen) -> Response:
    s.platform.jobs.request_run(s.actor, SCAN_JOB)  # admin-checked and audited
    return s.redirect("/admin/duplicates?queued=1")


# -- helpers ------------------------------------------------------------------------------------


def action_labels(s: Screen) -> dict[str, str]:
    return {
        "warn": s.t("Warn (the user may save anyway)"),
        "block": s.t("Block"),
        "owner": s.t("First entered owns"),
    }


def method_labels(s: Screen) -> dict[str, str]:
    return {"exact": s.t("Exact"), "normalized": s.t("Normalized (company names)")}


def _states(platform: Any) -> dict[str, Any]:
    """Per rule: when its keys were built, its last scan, whether a re-index is waiting; and
    whether a scan is waiting. Two reads, whatever the number of rules."""
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(dup_rule.c.id, dup_rule.c.indexed_at, dup_rule.c.last_scan)
        ).all()
        tasks = connection.execute(
            sa.select(job_task.c.job, job_task.c.payload).where(
                job_task.c.job.in_((INDEX_JOB, SCAN_JOB)), job_task.c.status.in_(WAITING)
            )
        ).all()
    indexing = {
        int((task.payload or {}).get("rule_id") or 0) for task in tasks if task.job == INDEX_JOB
    }
    states = {
        row.id: {
            "indexed_at": row.indexed_at,
            "indexing": row.id in indexing,
            "last_scan": report.scan_summary(row.last_scan),
        }
        for row in rows
    }
    return {"rules": states, "scan_waiting": any(task.job == SCAN_JOB for task in tasks)}


def _described(s: Screen, rule: Rule) -> dict[str, Any]:
    """The rule's fields and other modules' fields as labels."""
    snapshot = s.platform.registry.snapshot()
    methods = method_labels(s)

    def label(entity_name: str, key: str) -> str:
        entity = snapshot.entities.get(entity_name)
        field = entity.get_field(key) if entity is not None else None
        return field.title(s.locale) if field is not None else key

    def module(entity_name: str) -> str:
        entity = snapshot.entities.get(entity_name)
        return entity.title(s.locale) if entity is not None else entity_name

    return {
        "fields": [(label(rule.entity, key), methods.get(method, method))
                   for key, method in zip(rule.fields, rule.methods, strict=True)],
        "targets": [(module(name), [label(name, key) for key in keys])
                    for name, keys in rule.targets],
    }  # fmt: skip


def _preferred(s: Screen) -> str:
    names = sorted(e.name for e in s.platform.registry.entities())
    return next((n for n in PREFERRED_ENTITIES if n in names), names[0] if names else "")


def _entity(s: Screen, name: str) -> EntityDef:
    entity = s.platform.registry.snapshot().entities.get(name)
    if entity is None:
        raise NotFound(_("Unknown module '{name}'", name=name))
    return entity


def matchable(s: Screen, entity: EntityDef, keep: tuple[str, ...] = ()) -> list[FieldDef]:
    """Fields a rule can match on: stored business fields whose values tell who a record is
    (plus any `keep`, so an existing rule's fields are always offered)."""
    found = []
    for field in entity.visible_fields:
        field_type = s.platform.types.for_field(field)
        usable = not field.system and field_type.stored_in_column
        if (usable and field.type not in UNMATCHABLE_TYPES) or field.key in keep:
            found.append(field)
    return found


def _target_entities(s: Screen, entity: EntityDef, rule: Rule | None) -> list[EntityDef]:
    snapshot = s.platform.registry.snapshot()
    names = [n for n in CROSS_ENTITIES if n != entity.name]
    names += [n for n, _keys in (rule.targets if rule else ()) if n not in names]
    return [snapshot.entities[n] for n in names if n in snapshot.entities]


def _padded(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [*rows, *({"field": "", "method": "exact"} for _ in range(ROWS - len(rows)))][:ROWS]


def _values_of(rule: Rule) -> dict[str, Any]:
    rows = [{"field": k, "method": m} for k, m in zip(rule.fields, rule.methods, strict=True)]
    return {
        "name": rule.name,
        "action": rule.action,
        "active": rule.active,
        "rows": _padded(rows),
        "targets": {name: {"on": True, "fields": [*keys, *[""] * (ROWS - len(keys))][:ROWS]}
                    for name, keys in rule.targets},
    }  # fmt: skip


def _submitted(s: Screen, entity: EntityDef) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the form as typed, to show again; the service's input). Rows left empty are skipped;
    another module's matching fields stay aligned with the rows they match."""
    assert s.form is not None
    rows = [{"field": text(s, f"field.{i}"), "method": text(s, f"method.{i}") or "exact"}
            for i in range(1, ROWS + 1)]  # fmt: skip
    used = [i for i, row in enumerate(rows) if row["field"]]
    names = {str(key).split(".")[1] for key in s.form if str(key).startswith("target.")}
    targets = {
        name: {"on": text(s, f"target.{name}") == "on",
               "fields": [text(s, f"target.{name}.{i}") for i in range(1, ROWS + 1)]}
        for name in sorted(names)
    }  # fmt: skip
    shown = {
        "name": text(s, "name"),
        "action": text(s, "action"),
        "active": text(s, "active") == "on",
        "rows": rows,
        "targets": targets,
    }
    submitted = {
        "name": shown["name"],
        "entity": entity.name,
        "action": shown["action"],
        "active": shown["active"],
        "fields": [rows[i] for i in used],
        "targets": [{"entity": name, "fields": [target["fields"][i] for i in used]}
                    for name, target in targets.items() if target["on"]],
    }  # fmt: skip
    return shown, submitted


def _edit_page(
    s: Screen,
    entity: EntityDef,
    rule: Rule | None,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    keep = rule.fields if rule else ()
    targets = []
    for target in _target_entities(s, entity, rule):
        kept = dict(rule.targets).get(target.name, ()) if rule else ()
        chosen = values["targets"].get(target.name) or {"on": False, "fields": [""] * ROWS}
        targets.append({"entity": target, "fields": matchable(s, target, tuple(kept)),
                        "on": chosen["on"], "chosen": chosen["fields"]})  # fmt: skip
    entities = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    state = _states(s.platform)["rules"].get(rule.id, {}) if rule else {}
    return s.render("duplicates/rules_edit.html", status=status, rule=rule, entity=entity,
                    entities=entities, values=values, errors=errors, notice=notice,
                    fields=matchable(s, entity, keep), targets=targets, methods=METHODS,
                    method_labels=method_labels(s), actions=ACTIONS,
                    action_labels=action_labels(s), state=state)  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/duplicates", rule_list),
        Route("/admin/duplicates/new", rule_new, methods=["GET", "POST"]),
        Route("/admin/duplicates/scan", scan_now, methods=["POST"]),
        Route("/admin/duplicates/{id:int}", rule_edit, methods=["GET", "POST"]),
        Route("/admin/duplicates/{id:int}/delete", rule_delete, methods=["POST"]),
        *report.routes(),
    ]
