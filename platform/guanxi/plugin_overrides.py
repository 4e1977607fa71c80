"""Admin choices for plugins (UI-09): rows in gx_plugin_setting overriding plugins.toml.

Settings are read on every `Guanxi.plugin_settings(name)` call; switching a plugin on or off
bumps the metadata version, and every worker applies it on its next request (PluginSwitch).
Both are live for every user at once."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.errors import FieldError, NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.registry import bump_version
from guanxi.plugins import ENTRY_POINT_GROUP
from guanxi.store.system_tables import plugin_setting


def overrides(platform: Any, name: str | None = None) -> dict[str, dict[str, Any]]:
    """Stored admin choices per plugin name (one read)."""
    query = sa.select(plugin_setting)
    if name is not None:
        query = query.where(plugin_setting.c.name == name)
    with platform.db.read() as connection:
        return {row["name"]: dict(row) for row in connection.execute(query).mappings()}


def schema_of(platform: Any, name: str) -> dict[str, Any] | None:
    if name not in platform.plugins.plugins:
        return None
    switch = getattr(platform, "plugin_switch", None)  # a switched-off plugin keeps its form
    plugin = platform.pm.get_plugin(name) or (switch.objects.get(name) if switch else None)
    schema = getattr(plugin, "settings_schema", None)
    return schema if isinstance(schema, dict) else None


def effective_settings(platform: Any, name: str) -> dict[str, Any]:
    """plugins.toml's settings (with schema defaults) overlaid by what an admin stored; this
    is what `Guanxi.plugin_settings(name)` should return so plugins see changes live."""
    base = dict(platform.plugins.settings(name))
    stored = overrides(platform, name).get(name)
    if stored and stored.get("settings") is not None:
        schema = schema_of(platform, name) or {}
        defaults = {k: v["default"] for k, v in schema.get("properties", {}).items()
                    if isinstance(v, dict) and "default" in v}  # fmt: skip
        return {**defaults, **stored["settings"]}
    return base


def settings_errors(schema: dict[str, Any], settings: dict[str, Any]) -> list[FieldError]:
    """Every schema violation, named by the top-level property it concerns."""
    found = []
    for error in Draft202012Validator(schema).iter_errors(settings):
        path = list(error.absolute_path)
        key = str(path[0]) if path else None
        if error.validator == "required" and not path:
            missing = [p for p in error.validator_value if p not in settings]
            key = missing[0] if missing else None
        found.append(FieldError(key, str(error.validator), _schema_message(error)))
    return found


def _schema_message(error: Any) -> Any:
    """A schema violation in words a person can act on (jsonschema's own are for developers)."""
    limit = error.validator_value
    return {
        "maxLength": lambda: _("At most {count} characters", count=limit),
        "minLength": lambda: _("At least {count} characters", count=limit),
        "maximum": lambda: _("At most {limit}", limit=limit),
        "minimum": lambda: _("At least {limit}", limit=limit),
        "enum": lambda: _("Choose one of: {options}", options=", ".join(map(str, limit))),
        "type": lambda: _("Wrong kind of value (expected {kind})", kind=limit),
        "required": lambda: _("Required"),
        "pattern": lambda: _("Does not match the expected form"),
    }.get(str(error.validator), lambda: _("Not valid: {detail}", detail=error.message))()


def save_plugin(
    platform: Any, actor: Actor, name: str, enabled: bool, settings: dict[str, Any] | None
) -> None:
    """Store an admin's choice for a plugin, audited in the same transaction."""
    platform.authorizer.check_admin(actor)
    if name not in platform.plugins.plugins:
        raise NotFound(_("No such plugin"))
    if not enabled and platform.plugins.plugins[name].source == "core":
        raise ValidationFailed(
            [FieldError("enabled", "core", _("Core plugins cannot be switched off"))]
        )
    schema = schema_of(platform, name)
    if settings is not None and schema is not None:
        problems = settings_errors(schema, settings)
        if problems:
            raise ValidationFailed(problems)
    old = overrides(platform, name).get(name) or {}
    values = {"enabled": enabled, "settings": settings, "updated_at": clock.now_utc(),
              "updated_by": actor.user_id}  # fmt: skip
    with platform.db.unit_of_work() as connection:
        if old:
            connection.execute(
                sa.update(plugin_setting).where(plugin_setting.c.name == name).values(**values)
            )
        else:
            connection.execute(sa.insert(plugin_setting).values(name=name, **values))
        changes: dict[str, Any] = {}
        if old.get("enabled", platform.plugins.plugins[name].enabled) != enabled:
            changes["enabled"] = [old.get("enabled"), enabled]
        for key in sorted(set(old.get("settings") or {}) | set(settings or {})):
            before, after = (old.get("settings") or {}).get(key), (settings or {}).get(key)
            if before != after:
                changes[key] = [before, after]
        audit.write(connection, actor, "plugin", f"plugin:{name}", changes)
        bump_version(connection)  # every worker re-applies on/off on its next request


def with_stored_choices(db: Any, config: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """plugins.toml's configuration with the admin's stored settings laid over it, read once at
    start-up (settings are validated when the plugin registers). The admin's on/off switch is
    not applied here: a switched-off plugin is still loaded, so the modules it adds exist in
    every worker, and PluginSwitch blocks its hooks (plugins.toml `enabled = false` is the hard
    off: never imported). A database without the table yet (first start) has no choices, and
    a SQLite file that does not exist yet is not created by asking (`guanxi check`)."""
    url = db.engine.url
    on_disk = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_disk and not Path(str(url.database)).exists():
        return config
    try:
        with db.read() as connection:
            rows = connection.execute(sa.select(plugin_setting)).mappings().all()
    except sa.exc.DBAPIError:
        return config
    merged = {name: dict(entry) for name, entry in config.items()}
    installed = {entry.name for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    for row in rows:
        # A stored choice for a plugin no longer installed is ignored (not a start-up error).
        if row["settings"] is not None and (row["name"] in merged or row["name"] in installed):
            merged.setdefault(row["name"], {})["settings"] = dict(row["settings"])
    return merged


class PluginSwitch:
    """Applies the admin's on/off choices in this process whenever the metadata version moves
    (save_plugin bumps it), so every worker follows on its next request. A switched-off plugin
    is blocked in pluggy: its hooks stop (record rules, menu entries, panels) and its screens
    answer 404; switched on again, the same plugin object is registered anew. Core plugins are
    never switched. Entities a plugin added stay readable (their tables never go away)."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.pm = platform.pm
        self.objects = {
            name: self.pm.get_plugin(name)
            for name, info in platform.plugins.plugins.items()
            if info.source != "core" and self.pm.has_plugin(name)
        }
        self.started_enabled = {
            name: info.enabled
            for name, info in platform.plugins.plugins.items()
            if info.source != "core"
        }
        self._table_seen = False

    def apply(self, connection: Any) -> None:
        if not self.started_enabled:
            return
        if not self._table_seen:  # a failed SELECT would abort a PostgreSQL transaction
            self._table_seen = sa.inspect(connection).has_table(plugin_setting.name)
            if not self._table_seen:
                return
        stored = {
            row.name: row.enabled
            for row in connection.execute(
                sa.select(plugin_setting.c.name, plugin_setting.c.enabled)
            )
        }
        for name, at_start in self.started_enabled.items():
            wanted = stored.get(name)
            wanted = at_start if wanted is None else bool(wanted)
            info = self.platform.plugins.plugins[name]
            if not wanted and self.pm.has_plugin(name):
                self.pm.set_blocked(name)
                info.enabled = False
            elif wanted and not self.pm.has_plugin(name) and name in self.objects:
                self.pm.unblock(name)
                self.pm.register(self.objects[name], name=name)
                info.enabled = True

    def active(self, name: str) -> bool:
        return self.pm.has_plugin(name)
