"""Recycle bin (BIN-01..04, PERM-06): deletion keeps the record, a bin screen restores it with
its related records, a daily job purges what outlived its module's retention.

Written against the hook contract and `guanxi.api` only. The core stores the marks
(`records.soft_delete`/`restore`/`purge`) and hides binned records from every read; this
plugin decides when to bin, who may take records out, and when they go for good.
See docs/recycle-bin.md.
"""

from __future__ import annotations

from typing import Any

from guanxi.api import Actor, EntityDef, RecordEvent, hookimpl
from guanxi_recyclebin import approval, binning, translations
from guanxi_recyclebin.settings import SETTINGS_SCHEMA, Settings
from guanxi_recyclebin.tables import TABLES

settings_schema = SETTINGS_SCHEMA
translations.load()

MENU_ITEM = {"href": "/bin", "label": {"zh-CN": "回收站", "en": "Recycle bin"}, "position": 90}


@hookimpl
def register_tables() -> list[Any]:
    return TABLES


@hookimpl
def delete_record(
    platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor, reason: str | None
) -> str:
    """Modules listed in the settings' approval_modules ask a manager first (BIN-04), even
    where the permission matrix's delete rule is "allowed"; everything else goes to the bin."""
    if entity.name in Settings.of(platform).approval_modules and not platform.records.access(
        actor
    ).allows(entity.name, "approve_delete"):
        return approval.file(platform, entity, record, actor, reason)
    binning.bin_record(platform, entity, record, actor, reason)
    return "binned"


@hookimpl
def request_delete_approval(
    platform: Any, entity: EntityDef, record: dict[str, Any], actor: Actor, reason: str | None
) -> str:
    """The matrix's delete rule is "approval" and the actor may not approve (PERM-06)."""
    return approval.file(platform, entity, record, actor, reason)


@hookimpl
def record_stored(connection: Any, event: RecordEvent) -> None:
    binning.note_stored(connection, event)


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    from guanxi_recyclebin import purging

    return [{"name": "recyclebin.purge", "every": "daily", "at": "03:30", "run": purging.run}]


@hookimpl
def register_routes() -> list[Any]:
    from guanxi_recyclebin import screens  # the web layer, with the app

    return screens.routes()


@hookimpl
def menu_items(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    access = platform.records.access(actor)
    viewable = any(access.allows(e.name, "view") for e in platform.registry.entities())
    return [MENU_ITEM] if viewable else []
