"""Writes the plugin makes as the system (derived values, moves decided elsewhere): through the
record service like every write, retried once when someone saved the record meanwhile, and
skipped for a locked record (a lock freezes values the system would only summarise)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from guanxi.api import Actor, ConflictError, GuanxiError, LockedError, NotFound

log = logging.getLogger(__name__)
SYSTEM = Actor.system()


def system_get(platform: Any, entity: str, record_id: Any) -> dict[str, Any] | None:
    if not isinstance(record_id, int):
        return None
    try:
        return dict(platform.records.get(SYSTEM, entity, record_id, log_view=False))
    except NotFound:
        return None


def system_update(
    platform: Any, entity: str, record_id: int, changes: Mapping[str, Any], *, reason: str | None
) -> dict[str, Any] | None:
    """Apply `changes` as the system; None when the record is gone or locked."""
    for _attempt in range(2):
        current = system_get(platform, entity, record_id)
        if current is None:
            return None
        if all(current.get(k) == v for k, v in changes.items()):
            return current
        try:
            return dict(
                platform.records.update(
                    SYSTEM, entity, record_id, dict(changes), version=current["version"],
                    reason=reason,
                )
            )  # fmt: skip
        except ConflictError:
            continue
        except LockedError:
            return None
        except GuanxiError:
            log.exception("could not update %s %s", entity, record_id)
            return None
    return None


def iso(moment: Any) -> Any:
    """A stored (naive UTC) date-time as the service's input takes it: aware ISO text (naive
    input would be read as business time)."""
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
    return moment
