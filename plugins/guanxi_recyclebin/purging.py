"""The daily purge (BIN-03): deletions older than their module's retention go for good.

Each deletion is purged in its own transaction through `records.purge`, which leaves a trace
(number, title, who, when) without the content; one that cannot be purged is logged and
left for the next run. Records binned without the plugin's bookkeeping follow their own
module's retention."""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import Actor, GuanxiError
from guanxi_recyclebin import binning
from guanxi_recyclebin.settings import Settings
from guanxi_recyclebin.tables import deletion

log = logging.getLogger(__name__)
PAGE = 500


def run(ctx: Any) -> dict[str, int]:
    platform = ctx.platform
    settings = Settings.of(platform)
    system = Actor.system()
    purged = failed = 0
    now = clock.now_utc()
    for entity in platform.registry.entities():
        cutoff = now - timedelta(days=settings.retention(entity.name))
        with platform.db.read() as connection:
            roots = (
                connection.execute(
                    sa.select(deletion.c.record_id)
                    .where(deletion.c.entity == entity.name, deletion.c.deleted_at < cutoff)
                    .order_by(deletion.c.deleted_at)
                )
                .scalars()
                .all()
            )
        roots = list(roots) + _unbooked(platform, system, entity.name, cutoff)
        for record_id in roots:
            try:
                purged += binning.purge(platform, system, entity.name, int(record_id))
            except GuanxiError as error:  # gone meanwhile, or still referenced: next run
                failed += 1
                log.warning("purge of %s %s refused: %s", entity.name, record_id, error)
    return {"purged": purged, "failed": failed}


def _unbooked(platform: Any, system: Actor, entity: str, cutoff: Any) -> list[int]:
    """Binned records older than the cutoff that no deletion of the bin holds."""
    page = platform.records.query(
        system, entity, {"field": "deleted_at", "op": "lt", "value": cutoff.replace(tzinfo=UTC).isoformat()},
        sort=["deleted_at", "id"], limit=PAGE, action="binned",
    )  # fmt: skip
    ids = [int(row["id"]) for row in page.rows]
    booked = binning.deletions_by_record(platform, entity, ids)
    return [i for i in ids if i not in booked]
