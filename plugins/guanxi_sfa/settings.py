"""The plugin's settings (plugins.toml or /admin/plugins), checked by SETTINGS_SCHEMA. Rules
with structure (assignment rules) have their own admin screen and table instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NAME = "guanxi_sfa"
POINTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
SOURCE_POINTS = {
    "referral": 30, "partner": 25, "exhibition": 25, "website": 20, "wechat": 15,
    "advertising": 10, "cold_call": 5, "other": 5,
}  # fmt: skip
STALE_DAYS = {"lead": 7, "following": 7, "opportunity": 14, "proposal": 10, "negotiation": 14}
SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "first_touch_hours": {
            "type": "integer", "minimum": 1, "maximum": 720, "default": 24,
            "title": "Hours an assigned lead may wait for its first follow-up",
        },
        "fallback_owner": {
            "type": "string", "default": "",
            "title": "User (login name) who gets new leads no assignment rule matches; empty: the lead pool",
        },
        "source_points": {
            **POINTS, "default": SOURCE_POINTS,
            "title": "Lead score points per source (0-30), e.g. referral = 30",
        },
        "stale_days": {
            **POINTS, "default": STALE_DAYS,
            "title": "Days an opportunity may stay in a stage before its owner and manager are told",
        },
    },
    "additionalProperties": False,
}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    first_touch_hours: int = 24
    fallback_owner: str = ""
    source_points: dict[str, int] = field(default_factory=lambda: dict(SOURCE_POINTS))
    stale_days: dict[str, int] = field(default_factory=lambda: dict(STALE_DAYS))

    @classmethod
    def of(cls, platform: Any) -> Settings:
        values = platform.plugin_settings(NAME)
        return cls(
            first_touch_hours=int(values.get("first_touch_hours", 24)),
            fallback_owner=str(values.get("fallback_owner") or ""),
            source_points=dict(values.get("source_points") or SOURCE_POINTS),
            stale_days=dict(values.get("stale_days") or STALE_DAYS),
        )
