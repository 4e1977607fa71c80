"""Contracts from won opportunities and the approval flow quotes and contracts share (SFA-13,
the approval half of SFA-12). `approvals` is the shared service, `lifecycle` the contract's
rules, `service` the contract from a deal, `screens` the pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from guanxi.api import Actor, EntityDef, FieldError
from guanxi_sfa.contracts import approvals, lifecycle
from guanxi_sfa.contracts.tables import TABLES

SCHEMA = Path(__file__).parent.parent / "schemas" / "contract.json"
MODULE = "contract"


def documents() -> list[dict[str, Any]]:
    """The `contract` module: an ordinary schema file admins may change like any other."""
    return [json.loads(SCHEMA.read_text(encoding="utf-8"))]


def tables() -> list[Any]:
    return list(TABLES)


def permissions() -> dict[str, Any]:
    """Mirrors the opportunity grants: reps their own contracts, managers their department
    tree plus delete, export, assign and approving contracts and quotes."""
    rep = [["sales_rep", MODULE, action] for action in ("view", "create", "edit")]
    manager = [["sales_manager", MODULE, a] for a in ("delete", "export", "assign", "approve")]
    return {
        "actions": {module: [approvals.RIGHT] for module in approvals.MODULES},
        "grants": [
            *rep,
            ["sales_rep", f"{MODULE}.*", "read"],
            ["sales_rep", f"{MODULE}.*", "write"],
            *manager,
            ["sales_manager", "quote", approvals.RIGHT],
        ],
        "scopes": [
            ["sales_rep", MODULE, "*", "own"],
            ["sales_manager", MODULE, "*", "department_tree"],
        ],
    }


def prepare(
    platform: Any,
    entity: EntityDef,
    record: dict[str, Any],
    old: dict[str, Any] | None,
    actor: Actor,
    op: str,
) -> None:
    if entity.name == MODULE and op in ("create", "copy", "update"):
        lifecycle.prepare(platform, entity, record, old, op)


def validate(
    entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None, op: str
) -> list[FieldError]:
    if entity.name != MODULE or op not in ("create", "copy", "update"):
        return []
    return lifecycle.validate(record, old)


def routes() -> list[Any]:
    from guanxi_sfa.contracts import screens  # the web layer, with the app

    return screens.routes()


def menu(platform: Any, actor: Actor, access: Any) -> list[dict[str, Any]]:
    """The approvals page; the contract list itself is the core's module menu entry."""
    modules = [e.name for e in approvals.available(platform)]
    if not any(access.allows(m, approvals.RIGHT) or access.allows(m, "edit") for m in modules):
        return []
    return [{"href": "/sfa/approvals", "position": 40,
             "label": {"zh-CN": "审批", "en": "Approvals"}}]  # fmt: skip


def record_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]]:
    from guanxi_sfa.contracts import screens

    if entity.name == "opportunity":
        return screens.opportunity_actions(platform, actor, record)
    if entity.name in approvals.MODULES and entity.get_field(approvals.FIELD) is not None:
        return screens.approval_actions(platform, actor, entity, record)
    return []
