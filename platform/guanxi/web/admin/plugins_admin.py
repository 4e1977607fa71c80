"""Plugins (UI-09): what is installed, and a settings form generated from each plugin's
`settings_schema`. An admin's choices are rows in gx_plugin_setting, read on every call of
`effective_settings`, so a settings change reaches every worker at once; switching a plugin
on or off changes which hooks are registered and takes effect at the next start."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import NotFound
from guanxi.i18n import _
from guanxi.plugin_overrides import (
    effective_settings,
    overrides,
    save_plugin,
    schema_of,
    settings_errors,
)
from guanxi.web.admin.org_common import admin_screen
from guanxi.web.screen import Screen

INPUT_TYPES = ("string", "integer", "number", "boolean")
LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")
MAPPING_LINE = re.compile(r"^\s*([^=:：\s]+)\s*[=:：]\s*(-?\d+)\s*$")


def _kind(spec: Any) -> str | None:
    """How a property is typed in: its JSON type, "list" (an array of strings, one line
    separated by commas) or "mapping" (an object of whole numbers, one "name = n" per line)."""
    if not isinstance(spec, dict):
        return None
    if spec.get("type") in INPUT_TYPES:
        return str(spec["type"])
    if spec.get("type") == "array" and (spec.get("items") or {}).get("type") == "string":
        return "list"
    extra = spec.get("additionalProperties")
    if spec.get("type") == "object" and isinstance(extra, dict) and extra.get("type") == "integer":
        return "mapping"
    return None


def _shown(kind: str, value: Any) -> Any:
    if value is None:
        return ""
    if kind == "list":
        return ", ".join(str(v) for v in value)
    if kind == "mapping":
        return "\n".join(f"{k} = {v}" for k, v in dict(value).items())
    return value


def form_inputs(schema: dict[str, Any] | None, values: dict[str, Any]) -> list[dict[str, Any]]:
    """One input per schema property the form can render (string/integer/number/boolean,
    enums as selects, lists of names, name -> number mappings); other properties keep their
    stored value untouched."""
    if not schema:
        return []
    required = set(schema.get("required", []))
    inputs = []
    for key, spec in schema.get("properties", {}).items():
        kind = _kind(spec)
        if kind is None:
            continue
        value = values.get(key, spec.get("default"))
        inputs.append({
            "key": key,
            "type": kind,
            "title": spec.get("title") or key,
            "description": spec.get("description"),
            "enum": spec.get("enum"),
            "required": key in required,
            "value": _shown(kind, value),
        })  # fmt: skip
    return inputs


def _parse(
    s: Screen, schema: dict[str, Any], current: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    assert s.form is not None
    settings = dict(current)
    errors: dict[str, str] = {}
    for item in form_inputs(schema, current):
        key, kind = item["key"], item["type"]
        name = f"setting.{key}"
        if kind == "boolean":
            settings[key] = s.form.get(name) == "on"
            continue
        raw = str(s.form.get(name) or "").strip()
        if raw == "":
            settings.pop(key, None)  # the default applies (or "required" is reported)
            continue
        if kind == "list":
            settings[key] = list(dict.fromkeys(p for p in LIST_SEPARATORS.split(raw) if p))
        elif kind == "mapping":
            lines = [line for line in raw.splitlines() if line.strip()]
            matches = [MAPPING_LINE.match(line) for line in lines]
            if all(matches):
                settings[key] = {m.group(1): int(m.group(2)) for m in matches if m}
            else:
                errors[key] = s.t("One per line: name = whole number")
        elif kind == "integer":
            try:
                settings[key] = int(raw)
            except ValueError:
                errors[key] = s.t("A whole number, please")
        elif kind == "number":
            try:
                settings[key] = float(raw)
            except ValueError:
                errors[key] = s.t("A number, please")
        else:
            settings[key] = raw
    return settings, errors


def _rows(s: Screen) -> list[dict[str, Any]]:
    s.platform.registry.snapshot()  # apply on/off choices made in other workers first
    switchable = s.platform.plugin_switch.objects
    rows = []
    for name, info in sorted(s.platform.plugins.plugins.items()):
        schema = schema_of(s.platform, name)
        rows.append({
            "info": info,
            "wanted": info.enabled,
            "switchable": name in switchable,
            "schema": schema,
            "core": info.source == "core",
            "inputs": form_inputs(schema, effective_settings(s.platform, name)),
        })  # fmt: skip
    return rows


@admin_screen
def plugin_list(s: Screen) -> Response:
    notice = s.t("Saved") if s.params.get("saved") else None
    return s.render("admin/org/plugins.html", plugins=_rows(s), errors={}, failed=None,
                    notice=notice, tab="plugins")  # fmt: skip


@admin_screen
def plugin_save(s: Screen) -> Response:
    name = str(s.path_params["name"])
    if name not in s.platform.plugins.plugins:
        raise NotFound(_("No such plugin"))
    assert s.form is not None
    info = s.platform.plugins.plugins[name]
    switchable = name in s.platform.plugin_switch.objects
    enabled = s.form.get("enabled") == "on" if switchable else info.enabled
    schema = schema_of(s.platform, name)
    settings: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    if schema is not None and s.form.get("settings_shown"):
        settings, errors = _parse(s, schema, effective_settings(s.platform, name))
        if not errors:
            for problem in settings_errors(schema, settings):
                key = problem.field or "_form"
                text = problem.message.render(s.locale)
                errors[key] = f"{errors[key]}；{text}" if key in errors else text
    elif schema is not None:
        stored = overrides(s.platform, name).get(name) or {}
        settings = stored.get("settings")
    if errors:
        rows = _rows(s)
        for row in rows:  # show what was typed, with the messages next to it
            if row["info"].name == name:
                typed = {k[len("setting."):]: v for k, v in s.form.items()
                         if k.startswith("setting.")}  # fmt: skip
                for item in row["inputs"]:
                    if item["type"] == "boolean":
                        item["value"] = s.form.get(f"setting.{item['key']}") == "on"
                    else:
                        item["value"] = typed.get(item["key"], "")
        return s.render("admin/org/plugins.html", status=422, plugins=rows, errors=errors,
                        failed=name, notice=None, tab="plugins")  # fmt: skip
    save_plugin(s.platform, s.actor, name, enabled, settings)
    return s.redirect(f"/admin/plugins?saved=1#plugin-{name}")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/plugins", plugin_list),
        Route("/admin/plugins/{name}", plugin_save, methods=["POST"]),
    ]
