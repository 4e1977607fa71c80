"""Log retention (PERM-07): audit, history and access-log rows older than the configured
period are purged by a daily job; the period can never be set below six months."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from guanxi import clock
from guanxi.errors import MetadataError
from guanxi.i18n import _
from guanxi.store.db import Database
from guanxi.store.system_tables import access_log, audit, history

MINIMUM_DAYS = 183  # six months, as the source documents require
DEFAULT_DAYS = 365
PURGE_BATCH = 5_000


def check_retention(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or days < MINIMUM_DAYS:
        raise MetadataError(
            _("Logs are kept at least {days} days (six months)", days=MINIMUM_DAYS),
            field="audit_retention_days",
            code="too_short",
        )
    return days


def purge_logs(db: Database, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete rows older than the retention period, in batches so no long lock is held."""
    cutoff = (now or clock.now_utc()) - timedelta(days=check_retention(retention_days))
    removed: dict[str, int] = {}
    for table, column in ((history, history.c.at), (audit, audit.c.at),
                          (access_log, access_log.c.at)):  # fmt: skip
        total = 0
        while True:
            with db.unit_of_work() as connection:
                ids = (
                    sa.select(table.c.id).where(column < cutoff).order_by(table.c.id)
                    .limit(PURGE_BATCH).scalar_subquery()
                )  # fmt: skip
                count = connection.execute(sa.delete(table).where(table.c.id.in_(ids))).rowcount
            total += count
            if count < PURGE_BATCH:
                break
        removed[table.name] = total
    return removed
