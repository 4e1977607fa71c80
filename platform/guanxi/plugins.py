"""The plugin manager: core defaults, entry-point plugins, plugins.toml (enable + settings)."""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass, field
from typing import Any

import pluggy
from jsonschema import Draft202012Validator

from guanxi import hookspecs
from guanxi.errors import PluginError

ENTRY_POINT_GROUP = "guanxi"
DEFAULT_PLUGINS = (
    "guanxi.defaults.field_types",
    "guanxi.defaults.binned",
    "guanxi.defaults.history",
    "guanxi.defaults.stages",
    "guanxi.defaults.permissions",
    "guanxi.defaults.followups",
    "guanxi.defaults.webhooks",
    "guanxi.defaults.webforms",
    "guanxi.defaults.duplicates",
    "guanxi.defaults.imports",
    "guanxi.defaults.backups",
    "guanxi.defaults.reports",
)


@dataclass
class PluginInfo:
    name: str
    source: str  # "core" | "entry point <dist>" | "instance"
    enabled: bool
    hooks: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


@dataclass
class PluginSet:
    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo]

    @property
    def problems(self) -> list[PluginError]:
        return [PluginError(p.name, p.problem) for p in self.plugins.values() if p.problem]

    def settings(self, name: str) -> dict[str, Any]:
        return self.plugins[name].settings if name in self.plugins else {}


def load_plugins(
    config: dict[str, dict[str, Any]],
    *,
    extra: list[tuple[str, Any]] = (),  # type: ignore[assignment]
    entry_points: bool = True,
) -> PluginSet:
    """Register defaults, then enabled entry-point plugins, then `extra` (tests, embedding).

    Problems (import errors, bad settings, unknown names in plugins.toml) are collected per
    plugin, so `guanxi check` can report all of them; start-up refuses to run with any.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins: dict[str, PluginInfo] = {}
    for module_name in DEFAULT_PLUGINS:
        _register(manager, plugins, module_name, importlib.import_module(module_name), "core", {})
    discovered = set()
    if entry_points:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name in discovered:
                continue
            discovered.add(entry_point.name)
            entry = config.get(entry_point.name, {})
            distribution = entry_point.dist.name if entry_point.dist else "?"
            source = f"entry point ({distribution})"
            if entry.get("enabled", True) is False:
                manager.set_blocked(entry_point.name)
                plugins[entry_point.name] = PluginInfo(entry_point.name, source, enabled=False)
                continue
            try:
                plugin = entry_point.load()
            except Exception as error:  # any import-time failure is reported by plugin name
                plugins[entry_point.name] = PluginInfo(
                    entry_point.name,
                    source,
                    True,
                    problem=f"failed to load: {type(error).__name__}: {error}",
                )
                continue
            _register(manager, plugins, entry_point.name, plugin, source, entry.get("settings", {}))
    for name, plugin in extra:
        entry = config.get(name, {})
        if entry.get("enabled", True) is False:
            plugins[name] = PluginInfo(name, "instance", enabled=False)
            continue
        _register(manager, plugins, name, plugin, "instance", entry.get("settings", {}))
    for name in config:
        if name not in plugins:
            plugins[name] = PluginInfo(
                name, "plugins.toml", False, problem="configured in plugins.toml but not installed"
            )
    for name, hook_name in _unknown_hooks(manager):
        info = plugins.setdefault(name, PluginInfo(name, "?", True))
        info.problem = info.problem or f"implements '{hook_name}', which is not a Guanxi hook"
    return PluginSet(manager, plugins)


def _unknown_hooks(manager: pluggy.PluginManager) -> list[tuple[str, str]]:
    """(plugin, hook) for every implementation of an undefined hook; pluggy's check_pending()
    raises on the first only, and we want to report them all."""
    found = []
    for hook_name, caller in vars(manager.hook).items():
        if hook_name.startswith("_") or caller.has_spec():
            continue
        for implementation in caller.get_hookimpls():
            if not implementation.optionalhook:
                found.append((str(manager.get_name(implementation.plugin)), hook_name))
    return found


def _register(
    manager: pluggy.PluginManager,
    plugins: dict[str, PluginInfo],
    name: str,
    plugin: Any,
    source: str,
    settings: dict[str, Any],
) -> None:
    info = PluginInfo(name, source, enabled=True)
    plugins[name] = info
    try:
        manager.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as error:
        info.problem = f"cannot be registered: {error}"
        return
    info.hooks = sorted(caller.name for caller in manager.get_hookcallers(plugin) or [])
    info.settings, info.problem = _checked_settings(plugin, settings)


def _checked_settings(plugin: Any, settings: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Validate settings against the plugin's `settings_schema` (a JSON Schema), filling defaults."""
    schema = getattr(plugin, "settings_schema", None)
    if schema is None:
        return dict(settings), None
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(settings), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        details = "; ".join(
            f"settings/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
        )
        return dict(settings), f"invalid settings: {details}"
    defaults = {k: v["default"] for k, v in schema.get("properties", {}).items() if "default" in v}
    return {**defaults, **settings}, None
