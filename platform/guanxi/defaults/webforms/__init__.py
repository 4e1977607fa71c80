"""Inbound web forms (API-04): public forms that create records through the record pipeline.

A core plugin: its routes (the public /f/{key} page, the JSON endpoint /api/forms/{key} and
the /admin/forms screens) and its own duplicate rule (a form's match fields) come through the
same hooks as any other plugin's. See docs/web-forms.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.defaults.webforms import dedupe
from guanxi.hookspecs import hookimpl
from guanxi.meta.entity import EntityDef
from guanxi.store.system_tables import web_form_submission

KEEP_SUBMISSION_LOG_DAYS = 90  # the log holds IP addresses: personal data, kept no longer


def purge_submission_log(ctx: Any) -> dict[str, int]:
    """Daily: forget submission-log rows (outcome, IP, record id) older than 90 days."""
    before = clock.now_utc() - timedelta(days=KEEP_SUBMISSION_LOG_DAYS)
    with ctx.platform.db.unit_of_work() as connection:
        deleted = connection.execute(
            sa.delete(web_form_submission).where(web_form_submission.c.at < before)
        ).rowcount
    return {"deleted": int(deleted or 0)}


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    return [
        {"name": "webforms.purge", "every": "daily", "at": "04:15", "run": purge_submission_log}
    ]


@hookimpl
def register_routes() -> list[Any]:
    from guanxi.defaults.webforms import admin, public  # the web layer, loaded with the app

    return [*public.routes(), *admin.routes()]


@hookimpl
def find_duplicate(
    platform: Any, entity: EntityDef, record: dict[str, Any], source: str
) -> int | None:
    return dedupe.find_by_match_fields(platform, entity, record, source)
