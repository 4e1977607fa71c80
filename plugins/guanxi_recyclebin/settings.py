"""The plugin's settings (plugins.toml or /admin/plugins), checked by SETTINGS_SCHEMA."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NAME = "guanxi_recyclebin"
MODULE_DAYS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}}
SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "retention_days": {
            "type": "integer", "minimum": 1, "maximum": 3650, "default": 90,
            "title": "Days a deleted record is kept before it is purged",
        },
        "retention_by_module": {
            **MODULE_DAYS, "default": {},
            "title": "Days kept per module, e.g. {\"followup\": 30}",
        },
        "self_restore_days": {
            "type": "integer", "minimum": 0, "maximum": 3650, "default": 30,
            "title": "Days in which whoever deleted a record may restore it",
        },
        "approval_modules": {
            "type": "array", "items": {"type": "string"}, "uniqueItems": True, "default": [],
            "title": "Modules whose deletions need a manager's approval",
        },
    },
    "additionalProperties": False,
}  # fmt: skip


@dataclass(frozen=True)
class Settings:
    retention_days: int = 90
    retention_by_module: dict[str, int] = field(default_factory=dict)
    self_restore_days: int = 30
    approval_modules: tuple[str, ...] = ()

    @classmethod
    def of(cls, platform: Any) -> Settings:
        values = platform.plugin_settings(NAME)
        return cls(
            retention_days=int(values.get("retention_days", 90)),
            retention_by_module=dict(values.get("retention_by_module") or {}),
            self_restore_days=int(values.get("self_restore_days", 30)),
            approval_modules=tuple(values.get("approval_modules") or ()),
        )

    def retention(self, entity: str) -> int:
        return int(self.retention_by_module.get(entity, self.retention_days))
