"""Typed settings read from the environment and plugins.toml, resolved once per process."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default_path(env: str, name: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env])
    return PROJECT_ROOT / name


@dataclass(frozen=True)
class Settings:
    database_url: str
    schema_dir: Path
    plugins_toml: Path
    database_schema: str | None = None  # PostgreSQL schema (search_path) to keep Guanxi's tables in
    default_locale: str = "zh-CN"
    plugin_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    column_budget: int = 300

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        plugins_toml = overrides.pop("plugins_toml", None) or _default_path(
            "GUANXI_PLUGINS_TOML", "plugins.toml"
        )
        values: dict[str, Any] = {
            "database_url": os.environ.get("GUANXI_DATABASE_URL", "sqlite:///var/guanxi.db"),
            "database_schema": os.environ.get("GUANXI_DATABASE_SCHEMA") or None,
            "schema_dir": _default_path("GUANXI_SCHEMA_DIR", "schemas"),
            "plugins_toml": Path(plugins_toml),
            "plugin_config": read_plugins_toml(Path(plugins_toml)),
        }
        values.update(overrides)
        return cls(**values)


def read_plugins_toml(path: Path) -> dict[str, dict[str, Any]]:
    """Return {plugin name: {"enabled": bool, "settings": {...}}}; a missing file enables all."""
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        document = tomllib.load(handle)
    plugins = document.get("plugins", {})
    if not isinstance(plugins, dict):
        raise ValueError(f"{path}: [plugins] must be a table")
    return {name: dict(entry) for name, entry in plugins.items()}
