"""The roles Guanxi ships (PERM-05: least privilege by default), as a plugin like any other.

- admin: everything. executive: reads (and exports) everything, changes nothing.
- sales_rep: own customers, and the contacts, follow-ups, tasks and notes of those customers;
  deleting a customer needs a manager's approval.
- sales_manager: a sales rep's rights over their department and every department below it,
  plus reassigning, exporting and approving deletions.
- service_agent / service_manager: all customers and contacts for support; agents see mobile
  numbers and e-mail masked (138****4321).
- marketer: all customers and contacts for segmentation, contact details masked.
Customers need a manager's approval to delete (PERM-06); views of customers and contacts go
to the access log (PERM-08).
"""

from __future__ import annotations

from typing import Any

from guanxi.hookspecs import hookimpl

CRM = ("customer", "contact", "followup", "task", "note")
CHILDREN = ("contact", "followup", "task", "note")
CONTACT_DETAILS = ("customer.mobile", "customer.email", "contact.mobile", "contact.email")

ROLES = {
    "admin": {"zh-CN": "系统管理员", "en": "Administrator"},
    "executive": {"zh-CN": "高管(只读全部)", "en": "Executive (read all)"},
    "sales_manager": {"zh-CN": "销售经理", "en": "Sales manager"},
    "sales_rep": {"zh-CN": "销售代表", "en": "Sales rep"},
    "service_manager": {"zh-CN": "客服主管", "en": "Service manager"},
    "service_agent": {"zh-CN": "客服专员", "en": "Service agent"},
    "marketer": {"zh-CN": "市场专员", "en": "Marketer"},
}


def _module(role: str, entities: tuple[str, ...], actions: tuple[str, ...]) -> list[list[str]]:
    return [[role, entity, action] for entity in entities for action in actions]


def _fields(role: str, entities: tuple[str, ...], actions: tuple[str, ...]) -> list[list[str]]:
    return [[role, f"{entity}.*", action] for entity in entities for action in actions]


def _masked(role: str, objects: tuple[str, ...]) -> list[list[str]]:
    return [row for obj in objects for row in ([role, obj, "read", "deny"], [role, obj, "mask"])]


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    """Daily purge of audit, history and access-log rows past the retention period."""

    def purge(ctx: Any) -> dict[str, int]:
        from guanxi.auth.retention import purge_logs

        return purge_logs(ctx.platform.db, ctx.platform.settings.audit_retention_days)

    return [{"name": "purge_logs", "every": "daily", "at": "03:30", "run": purge}]


@hookimpl
def register_actions() -> dict[str, Any]:
    grants = [
        ["admin", "*", "*"],
        ["executive", "*", "view"],
        ["executive", "*", "export"],
        ["executive", "*", "read"],
        *_module("sales_rep", CRM, ("view", "create", "edit")),
        # Reps may ask to delete their own customers; the "approval" rule below sends that
        # to a manager (PERM-06). Their follow-ups, tasks and notes they delete themselves.
        *_module("sales_rep", ("customer", "followup", "task", "note"), ("delete",)),
        *_fields("sales_rep", CRM, ("read", "write")),
        *_module("sales_manager", CRM, ("delete", "export", "assign", "approve_delete")),
        *_module("service_agent", ("customer", "contact"), ("view",)),
        *_module("service_agent", ("followup", "task", "note"), ("view", "create", "edit")),
        *_fields("service_agent", CRM, ("read",)),
        *_fields("service_agent", ("followup", "task", "note"), ("write",)),
        *_masked("service_agent", CONTACT_DETAILS),
        *_module("service_manager", ("customer", "contact"), ("view", "edit", "export")),
        *_module(
            "service_manager", ("followup", "task", "note"), ("view", "create", "edit", "delete")
        ),  # fmt: skip
        *_fields("service_manager", CRM, ("read", "write")),
        *_module("marketer", ("customer", "contact"), ("view",)),
        *_fields("marketer", ("customer", "contact"), ("read",)),
        *_masked("marketer", CONTACT_DETAILS),
    ]
    scopes = [
        ["admin", "*", "*", "all"],
        ["executive", "*", "view", "all"],
        ["sales_rep", "customer", "*", "own"],
        *[["sales_rep", entity, "*", "own"] for entity in CHILDREN],
        *[
            ["sales_rep", entity, action, "via:customer"]
            for entity in CHILDREN
            for action in ("view", "edit")
        ],  # fmt: skip
        *[["sales_manager", entity, "*", "department_tree"] for entity in CRM],
        *[["service_agent", entity, "view", "all"] for entity in CRM],
        *[["service_agent", entity, "edit", "own"] for entity in ("followup", "task", "note")],
        *[["service_manager", entity, "*", "all"] for entity in CRM],
        ["marketer", "customer", "view", "all"],
        ["marketer", "contact", "view", "all"],
    ]
    return {
        "roles": ROLES,
        "grants": grants,
        "scopes": scopes,
        # service_manager does not include service_agent: its deny on contact details would
        # win over the manager's own read (deny always wins) and mask them for managers too.
        "inherits": [["sales_manager", "sales_rep"]],
        "rules": [["d", "customer", "approval"], ["l", "customer", "on"], ["l", "contact", "on"]],
    }
