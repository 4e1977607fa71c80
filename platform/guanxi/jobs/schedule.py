"""When periodic jobs are due: named intervals anchored to local business time, so "daily at
03:00" means 03:00 in Shanghai, and a due time is the same instant in every worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from guanxi import clock
from guanxi.jobs.spec import JobSpec

NAMED_INTERVALS = {"minute": 60, "hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
# A Monday at local midnight: weekly jobs fall on Mondays, daily ones at `at` every day.
_ANCHOR = datetime(2024, 1, 1)
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 30.0
DEFAULT_TIMEOUT = 300
MAX_BACKOFF = 6 * 3600


class JobSpecError(ValueError):
    """A register_jobs entry is unusable; the message names the job and the key."""


def spec_from_dict(entry: Mapping[str, Any], plugin: str) -> JobSpec:
    name = entry.get("name")
    if not isinstance(name, str) or not name or len(name) > 100:
        raise JobSpecError(f"plugin {plugin!r}: every job needs a name of 1-100 characters")
    run = entry.get("run")
    if not callable(run):
        raise JobSpecError(f"job {name!r}: 'run' must be a function taking a JobContext")
    every = entry.get("every")
    seconds: int | None = None
    if every is not None:
        seconds = NAMED_INTERVALS.get(every) if isinstance(every, str) else every
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
            raise JobSpecError(
                f"job {name!r}: 'every' must be one of {', '.join(NAMED_INTERVALS)} or seconds"
            )
    at = _time_of_day(name, entry.get("at"))
    if at is not None and (seconds is None or seconds % 86400):
        raise JobSpecError(f"job {name!r}: 'at' needs a daily or weekly 'every'")
    return JobSpec(
        name=name,
        run=run,
        every_seconds=seconds,
        at=at,
        retries=_number(name, entry, "retries", DEFAULT_RETRIES, int),
        backoff=_number(name, entry, "backoff", DEFAULT_BACKOFF, float),
        timeout=_number(name, entry, "timeout", DEFAULT_TIMEOUT, int),
        plugin=plugin,
    )


def _time_of_day(name: str, raw: Any) -> time | None:
    if raw is None:
        return None
    try:
        return time.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        pass
    raise JobSpecError(f"job {name!r}: 'at' must be a local time such as \"03:00\"")


def _number(name: str, entry: Mapping[str, Any], key: str, default: Any, kind: Callable) -> Any:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise JobSpecError(f"job {name!r}: {key!r} must be a number >= 0")
    return kind(value)


def current_due(spec: JobSpec, now: datetime) -> datetime:
    """The latest due time at or before `now` (both UTC, naive)."""
    assert spec.every_seconds is not None
    local_now = clock.to_local(now).replace(tzinfo=None)
    anchor = _ANCHOR
    if spec.at is not None:
        anchor = anchor.replace(hour=spec.at.hour, minute=spec.at.minute, second=spec.at.second)
    periods = (local_now - anchor) // timedelta(seconds=spec.every_seconds)
    return clock.to_utc(anchor + periods * timedelta(seconds=spec.every_seconds))


def next_due(spec: JobSpec, now: datetime) -> datetime:
    assert spec.every_seconds is not None
    return current_due(spec, now) + timedelta(seconds=spec.every_seconds)


def retry_delay(spec: JobSpec, attempt: int) -> float:
    """Exponential backoff: backoff, 2x, 4x ... after attempts 1, 2, 3 (capped at 6 hours)."""
    return float(min(spec.backoff * (2 ** max(attempt - 1, 0)), MAX_BACKOFF))


def periodic_key(spec: JobSpec, due: datetime) -> str:
    return f"{spec.name}@{due.isoformat(timespec='seconds')}"
