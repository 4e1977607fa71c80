"""Time in one place: UTC (naive) in the database, the business time zone for people."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo(os.environ.get("GUANXI_TIMEZONE", "Asia/Shanghai"))


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def today_local() -> date:
    return datetime.now(LOCAL_TZ).date()


def local_midnight_utc(day: date) -> datetime:
    """The UTC instant (naive) at which a local calendar day starts."""
    return (
        datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(UTC).replace(tzinfo=None)
    )


def to_utc(moment: datetime) -> datetime:
    """Aware -> naive UTC; naive input is read as local business time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC).replace(tzinfo=None)


def to_local(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(LOCAL_TZ)


def format_moment(moment: datetime | None, locale: str) -> str:
    """A stored UTC moment in business time: 2024年3月5日 14:30 (zh-CN) / 2024-03-05 14:30."""
    if moment is None:
        return ""
    local = to_local(moment)
    if locale == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return local.strftime("%Y-%m-%d %H:%M")
