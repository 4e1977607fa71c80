"""Sales force automation (SFA-01..17): leads to cash. Leads with scoring, a pool, assignment
rules and conversion; opportunities on the six-stage pipeline with entry conditions, won/lost
reasons, stale alerts and the weekly funnel review. See docs/sfa.md.

Written against the hook contract and `guanxi.api`. Every module it adds is an ordinary
schema (schemas/*.json beside this file), so administrators change fields, stages and
permissions without code; the fields it adds to follow-ups, tasks and customers come through
`extend_schemas`."""

from __future__ import annotations

from typing import Any

from guanxi.api import Actor, EntityDef, FieldError, RecordEvent, _, hookimpl
from guanxi_sfa import leads, opportunities, parts, schemas, seeding, translations
from guanxi_sfa.settings import SETTINGS_SCHEMA
from guanxi_sfa.tables import TABLES

settings_schema = parts.settings_schema(SETTINGS_SCHEMA)
translations.load()

SALES_MODULES = ("lead", "opportunity")


@hookimpl
def register_schemas() -> list[dict[str, Any]]:
    return [*schemas.documents(), *parts.gather("documents")]


@hookimpl
def extend_schemas() -> list[dict[str, Any]]:
    return [*schemas.EXTENSIONS, *parts.gather("extensions")]


@hookimpl
def register_tables() -> list[Any]:
    return [*TABLES, *parts.gather("tables")]


@hookimpl(trylast=True)  # after the core's duplicate rules have set up
def startup(platform: Any) -> None:
    seeding.seed(platform)
    parts.call("seed", platform)


def _module(role: str, entities: tuple[str, ...], actions: tuple[str, ...]) -> list[list[str]]:
    return [[role, entity, action] for entity in entities for action in actions]


@hookimpl
def register_actions() -> dict[str, Any]:
    """Reps work their own leads and deals, claim from the lead pool and convert; managers
    the same over their department tree, plus assigning, exporting and deleting; marketers
    enter leads (which the rules then route) and read all of them."""
    grants = [
        *_module("sales_rep", SALES_MODULES, ("view", "create", "edit")),
        *[["sales_rep", f"{e}.*", a] for e in SALES_MODULES for a in ("read", "write")],
        ["sales_rep", "lead", "convert"],
        ["sales_rep", "lead", "claim"],
        ["sales_rep", "opportunity", "delete"],
        *_module("sales_manager", SALES_MODULES, ("delete", "export", "assign", "approve_delete")),
        *_module("marketer", ("lead",), ("view", "create", "edit", "assign", "export")),
        ["marketer", "lead.*", "read"],
        ["marketer", "lead.*", "write"],
        ["service_agent", "opportunity", "view"],
        ["service_agent", "opportunity.*", "read"],
    ]
    scopes = [
        *[["sales_rep", e, "*", "own"] for e in SALES_MODULES],
        *[["sales_manager", e, "*", "department_tree"] for e in SALES_MODULES],
        ["marketer", "lead", "view", "all"],
        ["marketer", "lead", "edit", "own"],
        ["service_agent", "opportunity", "view", "all"],
    ]
    return parts.merge_permissions({
        "actions": {"lead": ["convert", "claim"]},
        "grants": grants,
        "scopes": scopes,
        "rules": [["l", "lead", "on"]],
    })  # fmt: skip


@hookimpl
def prepare_record(
    platform: Any, entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None,
    actor: Actor, op: str,
) -> None:  # fmt: skip
    if op == "restore":
        return
    if entity.name == "lead":
        leads.prepare(platform, record, old, actor)
    elif entity.name == "opportunity":
        opportunities.prepare(entity, record, old)
    parts.call("prepare", platform, entity, record, old, actor, op)


@hookimpl
def validate_record(
    entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None, op: str
) -> list[FieldError]:
    errors = parts.gather("validate", entity, record, old, op)
    if entity.name == "lead":
        return [*leads.validate(record), *errors]
    orphan = record.get("customer") is None and record.get("lead") is None
    if entity.name == "followup" and op in ("create", "update") and orphan:
        message = _("A follow-up belongs to a customer or a lead")
        return [FieldError("customer", "required", message), *errors]
    return errors


@hookimpl(tryfirst=True)  # before the recycle bin takes the deletion over
def delete_record(platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor) -> None:
    """Refuse deleting a line of a quote that is no longer a draft (the line's own deletion:
    this hook is not called for rows its quote's deletion cascades to)."""
    if entity.name == "quote_line":
        from guanxi_sfa.commerce import quotes

        quotes.refuse_line_delete(platform, record, actor)


@hookimpl
def record_stored(platform: Any, connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    if entity.name == "lead":
        leads.stored(platform, connection, event)
    parts.call("stored", platform, connection, entity, event)


@hookimpl
def record_changed(platform: Any, event: RecordEvent) -> None:
    if event.entity == "lead":
        leads.changed(platform, event)
    elif event.entity == "followup":
        leads.followup_logged(platform, event)
        _customer_followed(platform, event)
    elif event.entity == "opportunity":
        entity = platform.registry.snapshot().entities.get("opportunity")
        if entity is not None:
            opportunities.changed(platform, entity, event)
    parts.call("changed", platform, event)


def _customer_followed(platform: Any, event: RecordEvent) -> None:
    from guanxi_sfa import records_util

    record = event.record
    if event.op != "create" or record is None or not isinstance(record.get("customer"), int):
        return
    records_util.system_update(
        platform, "customer", record["customer"],
        {"last_followup_at": records_util.iso(record.get("followed_at") or event.at)},
        reason=None,
    )  # fmt: skip


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    from guanxi_sfa import assignment

    return [
        {"name": assignment.JOB, "run": assignment.run_job},
        {"name": leads.OVERDUE_JOB, "every": "hourly", "run": leads.overdue_job},
        {"name": "sfa.stale_opportunities", "every": "daily", "at": "07:30",
         "run": opportunities.stale_job},
        *parts.gather("jobs"),
    ]  # fmt: skip


@hookimpl
def register_routes() -> list[Any]:
    from guanxi_sfa import screens  # the web layer, with the app

    return [*screens.routes(), *parts.gather("routes")]


MENU = (
    ("/sfa/leads/pool", "lead", "view", {"zh-CN": "线索池", "en": "Lead pool"}, 20),
    ("/sfa/funnel", "opportunity", "view", {"zh-CN": "销售漏斗", "en": "Sales funnel"}, 30),
    ("/sfa/loss", "opportunity", "view", {"zh-CN": "输单分析", "en": "Loss analysis"}, 31),
)


@hookimpl
def menu_items(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    access = platform.records.access(actor)
    items = [
        {"href": href, "label": label, "position": position}
        for href, entity, action, label, position in MENU
        if access.allows(entity, action)
    ]
    if access.is_admin:
        items.append({"href": "/sfa/admin/assignment", "position": 85,
                      "label": {"zh-CN": "线索分配规则", "en": "Lead assignment"}})  # fmt: skip
    return [*items, *parts.gather("menu", platform, actor, access)]


@hookimpl
def demo_data(platform: Any, users: dict[str, Actor]) -> dict[str, int]:
    from guanxi_sfa import demo

    return demo.load(platform, users)


@hookimpl
def record_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]]:
    extra = parts.gather("record_actions", platform, actor, entity, record)
    if entity.name != "lead":
        return extra
    from guanxi_sfa import screens

    return [*screens.lead_actions(platform, actor, record), *extra]
