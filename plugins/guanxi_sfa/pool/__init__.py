"""Public customer pool (公海, SFA-10): customers nobody follows up return to a pool by a
nightly set-based job, with an advance warning; reps claim from the pools within limits and
give customers back with a reason; every move is in the customer's pool history. Settings in
pool/config.py; the customer fields (pool, pooled_at, claimed_at, last_followup_at,
last_deal_at) come with the plugin's customer extension (schemas.py)."""

from __future__ import annotations

from typing import Any

from guanxi.api import Actor, EntityDef, RecordEvent
from guanxi_sfa.pool import claiming, recycling
from guanxi_sfa.pool.config import SETTINGS
from guanxi_sfa.pool.tables import TABLES


def settings() -> dict[str, Any]:
    return SETTINGS


def tables() -> list[Any]:
    return TABLES


def permissions() -> dict[str, Any]:
    """Reps and managers claim from the pools and give customers back; managers also see the
    pools of customers they cannot claim (the assign right)."""
    roles = ("sales_rep", "sales_manager")
    return {
        "actions": {"customer": [claiming.CLAIM, claiming.RELEASE]},
        "grants": [[role, "customer", action] for role in roles
                   for action in (claiming.CLAIM, claiming.RELEASE)],
    }  # fmt: skip


def prepare(
    platform: Any, entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None,
    actor: Actor, op: str,
) -> None:  # fmt: skip
    if entity.name == "customer" and op == "update":
        claiming.prepare(record, old)


def stored(platform: Any, connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    if entity.name == "customer" and event.op == "update":
        claiming.stored(connection, event)


def jobs() -> list[dict[str, Any]]:
    return [{"name": recycling.JOB, "every": "daily", "at": "02:00", "run": recycling.run_job}]


def routes() -> list[Any]:
    from guanxi_sfa.pool import screens

    return screens.routes()


def menu(platform: Any, actor: Actor, access: Any) -> list[dict[str, Any]]:
    from guanxi_sfa.pool import screens

    if not screens.may_see_pools(platform, actor):
        return []
    return [{"href": "/sfa/pool", "position": 21,
             "label": {"zh-CN": "客户公海", "en": "Public pool"}}]  # fmt: skip


def record_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]]:
    if entity.name != "customer":
        return []
    from guanxi_sfa.pool import screens

    return screens.customer_actions(platform, actor, record)
