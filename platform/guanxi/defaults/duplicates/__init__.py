"""Duplicate rules (DATA-07, DATA-08): admin-defined matching on normalized, indexed keys,
checked on every create and update, for web forms and imports through `find_duplicate`,
and a scan job reporting candidate groups. See docs/duplicates.md."""

from __future__ import annotations

from typing import Any

from guanxi.actor import Actor
from guanxi.defaults.duplicates import checks, jobs
from guanxi.defaults.duplicates.rules import RuleBook
from guanxi.events import RecordEvent
from guanxi.hookspecs import hookimpl
from guanxi.meta.entity import EntityDef


def book(platform: Any) -> RuleBook:
    found = getattr(platform, "duplicates", None)
    if found is None:
        found = platform.duplicates = RuleBook(platform)
    return found


@hookimpl
def startup(platform: Any) -> None:
    book(platform)


@hookimpl
def validate_record(
    platform: Any, entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None,
    actor: Any,
) -> list[Any]:  # fmt: skip
    return checks.duplicate_errors(platform, book(platform), entity, record, old, actor)


@hookimpl
def record_stored(platform: Any, connection: Any, entity: EntityDef, event: RecordEvent) -> None:
    rules = book(platform)
    if event.op in ("delete", "purge"):  # a binned record matches nothing
        rules.drop_keys(connection, entity.name, event.record_id)
    elif event.op in ("create", "update", "restore") and event.record is not None:
        rules.store_keys(
            connection, entity.name, event.record_id, event.record, new=event.op != "update"
        )
    if event.confirmed:  # the user saw a possible duplicate and saved anyway: keep the choice
        from guanxi.auth import audit

        audit.write(
            connection, event.actor, "duplicate_confirmed", f"{entity.name}:{event.record_id}",
            {"op": event.op, "matches": [d for e in event.confirmed for d in e.details]},
        )  # fmt: skip


@hookimpl
def find_duplicate(platform: Any, entity: EntityDef, record: dict[str, Any]) -> int | None:
    return checks.find_existing(platform, book(platform), entity, record)


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    return jobs.JOBS


@hookimpl
def register_routes() -> list[Any]:
    from guanxi.defaults.duplicates import (  # the web layer, with the app
        admin_screens,
        merge_screens,
        share,
    )

    return [*share.routes(), *admin_screens.routes(), *merge_screens.routes()]


@hookimpl
def record_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]]:
    from guanxi.defaults.duplicates import merge_screens

    return merge_screens.record_actions(platform, book(platform), actor, entity, record)


@hookimpl
def menu_items(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    from guanxi.defaults.duplicates import report

    return report.menu_entries(platform, actor)
