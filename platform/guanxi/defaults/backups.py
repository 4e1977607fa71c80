"""The daily backup job (DATA-13): every day at 02:30 business time one worker writes an
archive into GUANXI_BACKUP_DIR, then deletes Guanxi archives older than
GUANXI_BACKUP_KEEP_DAYS. GUANXI_BACKUP_DAILY=0 turns it off (the job then only notes that it
skipped). Old archives go only after a new one was written: a failing backup never thins out
the ones that work. See docs/backup.md.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from guanxi.hookspecs import hookimpl

log = logging.getLogger("guanxi.backup")

JOB_NAME = "backup.daily"


def run_daily_backup(platform: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """One scheduled run: back up, then apply retention; a JSON-able summary for the run log."""
    from guanxi.backup import create_backup, prune_backups

    settings = platform.settings
    if not settings.backup_daily:
        return {"skipped": "daily backups are off (GUANXI_BACKUP_DAILY=0)"}
    result = create_backup(platform, now=now)
    removed = prune_backups(
        settings.backup_dir, settings.backup_keep_days, now=now, keep={result.path.name}
    )
    log.info(
        "backup written: %s (%d bytes, %d rows, %d files); %d old archive(s) removed",
        result.path,
        result.size,
        result.rows,
        result.files,
        len(removed),
    )
    return {
        "archive": result.path.name,
        "size": result.size,
        "tables": result.tables,
        "rows": result.rows,
        "files": result.files,
        "removed": removed,
    }


def daily_backup(ctx: Any) -> dict[str, Any]:
    return run_daily_backup(ctx.platform)


@hookimpl
def register_jobs() -> list[dict[str, Any]]:
    # A large database may take a while: the lease must outlast the dump, or a second
    # worker would start another backup of the same due time.
    return [
        {
            "name": JOB_NAME,
            "every": "daily",
            "at": "02:30",
            "run": daily_backup,
            "retries": 2,
            "backoff": 600,
            "timeout": 6 * 3600,
        }
    ]
