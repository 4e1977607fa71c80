"""Import screens and the import job (DATA-09).

A core plugin: the /import screens, the `imports.run` job that works through a file in
time slices (queueing its own continuation) and the daily clean-up of stored uploads come
through the same hooks as any other plugin's. See docs/import.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import NotFound
from guanxi.hookspecs import hookimpl
from guanxi.imports import process, service
from guanxi.jobs import JobContext
from guanxi.store.system_tables import import_issue, import_run

SLICE_SECONDS = 120.0  # one job run works this long, then queues the rest as a new task
LEASE_SECONDS = 900  # > one slice plus its last chunk: a live run never loses its lease
KEEP_FILE_DAYS = 7  # a finished dry run's or a failed import's upload (resume, run for real)
KEEP_DRAFT_DAYS = 1  # an upload whose mapping was never confirmed
KEEP_ISSUES_DAYS = 30  # the rows of error workbooks (sealed, but personal data all the same)


def run_import_job(ctx: JobContext) -> dict[str, Any]:
    """One slice of an import; a crashed or timed-out slice is retried by the runner and goes
    on from the import's next_row (its chunks commit with their progress)."""
    import_id = int(ctx.payload["import_id"])
    try:
        run = process.run_import(ctx.platform, import_id, seconds=SLICE_SECONDS)
    except NotFound:
        return {"status": "missing"}  # the import row is gone: nothing to retry
    except Exception as error:
        if ctx.is_last_attempt:
            process.fail(ctx.platform, import_id, str(error) or type(error).__name__)
        raise
    if run.status == "running":
        with ctx.platform.db.unit_of_work() as connection:
            service.enqueue(ctx.platform, import_id, connection, key=None)
    return {"status": run.status, "next_row": run.next_row}


def clean_up(ctx: JobContext) -> dict[str, int]:
    """Daily: delete uploads nobody can use any more, abandoned drafts, and old issue rows."""
    platform = ctx.platform
    now = clock.now_utc()
    with platform.db.read() as connection:
        stale = connection.execute(
            sa.select(import_run.c.id).where(
                import_run.c.storage_key.is_not(None),
                sa.or_(
                    sa.and_(
                        import_run.c.status.in_(service.FINISHED),
                        import_run.c.finished_at < now - timedelta(days=KEEP_FILE_DAYS),
                    ),
                    sa.and_(
                        import_run.c.status == "draft",
                        import_run.c.created_at < now - timedelta(days=KEEP_DRAFT_DAYS),
                    ),
                ),
            )
        ).scalars()
        stale_ids = list(stale)
    for import_id in stale_ids:
        service.delete_file(platform, import_id)
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(import_run)
            .where(import_run.c.id.in_(stale_ids), import_run.c.status == "draft")
            .values(status="cancelled", finished_at=now, updated_at=now)
        )
        old = sa.select(import_run.c.id).where(
            import_run.c.status.in_(service.FINISHED),
            import_run.c.finished_at < now - timedelta(days=KEEP_ISSUES_DAYS),
        )
        issues = connection.execute(
            sa.delete(import_issue).where(import_issue.c.import_id.in_(old))
        ).rowcount
    return {"files": len(stale_ids), "issues": int(issues or 0)}


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    return [
        {
            "name": service.JOB,
            "run": run_import_job,
            "retries": 5,
            "backoff": 10,
            "timeout": LEASE_SECONDS,
        },
        {"name": "imports.cleanup", "every": "daily", "at": "04:30", "run": clean_up},
    ]


@hookimpl
def register_routes() -> list[Any]:
    from guanxi.defaults.imports import screens  # the web layer, loaded with the app

    return screens.routes()


@hookimpl
def menu_items(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    """ "Imports" for anyone who may create records of some module."""
    access = platform.records.access(actor)
    if not any(access.allows(e.name, "create") for e in platform.registry.entities()):
        return []
    return [{"href": "/import", "label": {"zh-CN": "数据导入", "en": "Imports"}, "position": 85}]
