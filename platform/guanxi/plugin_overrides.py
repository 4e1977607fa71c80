"""Admin choices for plugins (UI-09): rows in gx_plugin_setting overriding plugins.toml.

Read on every `Guanxi.plugin_settings(name)` call, so a settings change reaches every worker
at once; switching a plugin on or off changes which hooks are registered and takes effect at
the next start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jsonschema import Draft202012Validator

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit
from guanxi.errors import FieldError, NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.store.system_tables import plugin_setting


def overrides(platform: Any, name: str | None = None) -> dict[str, dict[str, Any]]:
    """Stored admin choices per plugin name (one read)."""
    query = sa.select(plugin_setting)
    if name is not None:
        query = query.where(plugin_setting.c.name == name)
    with platform.db.read() as connection:
        return {row["name"]: dict(row) for row in connection.execute(query).mappings()}


def schema_of(platform: Any, name: str) -> dict[str, Any] | None:
    if name not in platform.plugins.plugins or not platform.pm.has_plugin(name):
        return None
    schema = getattr(platform.pm.get_plugin(name), "settings_schema", None)
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


def with_stored_choices(
    db: Any, config: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """plugins.toml's configuration with the admin's stored choices laid over it, read once at
    start-up: an enabled/disabled switch takes effect when the process (re)starts. A database
    without the table yet (first start) has no choices, and a SQLite file that does not exist
    yet is not created by asking (`guanxi check` must not touch the database)."""
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
    for row in rows:
        entry = merged.setdefault(row["name"], {})
        if row["enabled"] is not None:
            entry["enabled"] = bool(row["enabled"])
        if row["settings"] is not None:
            entry["settings"] = dict(row["settings"])
    return merged
