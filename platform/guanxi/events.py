"""Record events: built during a write, handed to record_stored in the transaction and to
record_changed after commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from guanxi.actor import Actor


@dataclass(frozen=True)
class RecordEvent:
    entity: str
    op: str  # create | update | delete | lock | unlock, or a records.mark() note (merge)
    record_id: int
    actor: Actor
    at: datetime
    record: dict[str, Any] | None  # stored values after the write (None after delete)
    old: dict[str, Any] | None  # stored values before the write (None on create)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    reason: str | None = None
    field_reasons: dict[str, str] = field(default_factory=dict)
    # Warnings (a possible duplicate) the user saw and confirmed; audited with the write.
    confirmed: tuple[Any, ...] = ()
