"""An import as stored: one gx_import row (file, mapping, policy, status, progress, counts)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.errors import NotFound
from guanxi.i18n import _, pick_label
from guanxi.imports.files import TableFile
from guanxi.imports.storage import stored_path
from guanxi.store.system_tables import import_run

FINISHED = ("done", "failed", "cancelled")
ACTIVE = ("queued", "running")
STALLED_AFTER = timedelta(minutes=20)  # > the job's lease (15 minutes) without progress


@dataclass(frozen=True)
class ImportRun:
    """One gx_import row."""

    id: int
    entity: str
    user_id: int
    filename: str
    storage_key: str | None
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    header: list[str]
    mapping: list[str | None] | None
    policy: str
    dry_run: bool
    status: str
    total_rows: int | None
    next_row: int
    created: int
    updated: int
    skipped: int
    failed: int
    cancel_requested: bool
    error: str | None
    source_id: int | None
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ImportRun:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["header"] = list(values["header"] or [])
        values["mapping"] = list(values["mapping"]) if values["mapping"] is not None else None
        values["dry_run"] = bool(values["dry_run"])
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)

    @property
    def processed(self) -> int:
        """File rows read so far (the header is row 1)."""
        return max(self.next_row - 2, 0)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(100 * self.processed / self.total_rows))

    def error_text(self, locale: str) -> str:
        """The stop reason in the reader's language (stored as {"zh-CN", "en"} when the
        platform gave it; a crash's own text otherwise)."""
        if not self.error:
            return ""
        try:
            texts = json.loads(self.error)
        except ValueError:
            return self.error
        return pick_label(texts, locale) if isinstance(texts, dict) else self.error

    @property
    def stalled(self) -> bool:
        """Queued or running, yet untouched for longer than a job's lease: its worker is gone
        (a lease that ran out on the last attempt leaves no task to go on with)."""
        return self.status in ACTIVE and clock.now_utc() - self.updated_at > STALLED_AFTER

    @property
    def resumable(self) -> bool:
        """Stopped part-way with its file still there: it can continue from next_row."""
        return (self.status == "failed" or self.stalled) and self.storage_key is not None

    def table(self, platform: Any) -> TableFile:
        if self.storage_key is None:
            raise NotFound(_("The uploaded file of this import has been deleted"))
        return TableFile(
            stored_path(platform, self.storage_key),
            self.format,
            self.encoding,
            self.delimiter,
            self.sheet,
        )


def load(connection: Connection, import_id: int) -> ImportRun | None:
    row = connection.execute(sa.select(import_run).where(import_run.c.id == import_id)).first()
    return ImportRun.from_row(row._mapping) if row is not None else None
