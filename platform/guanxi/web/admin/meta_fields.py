"""The Fields tab (CORE-03, CORE-10): add custom fields, relabel and re-option any field, hide or
show it (its column and data stay), and change the order. Writes go through platform.admin."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import MetadataError, NotFound
from guanxi.i18n import _
from guanxi.meta.entity import CUSTOM_PREFIX, EntityDef, FieldDef
from guanxi.web.admin.meta_common import (
    Errors,
    admin_entity,
    color_of,
    error_map,
    field_source,
    general,
    render_tab,
    rows,
    text,
    user_fields,
)
from guanxi.web.screen import Screen, screen

NOT_ADDABLE = frozenset({"autonumber", "stage"})  # numbers and pipelines come with a module
CHOICE_TYPES = ("select", "multiselect")
FORM_FIELDS = (
    "key",
    "type",
    "label",
    "required",
    "default",
    "section",
    "help",
    "options",
    "reference",
)


@screen
def fields_tab(s: Screen) -> Response:
    entity = admin_entity(s)
    types = s.platform.types
    listed = [
        {
            "field": f,
            "type_label": s.label(types.get(f.type).label) if f.type in types else f.type,
            "source": field_source(f),
        }
        for f in user_fields(entity)
    ]
    system = [f for f in entity.fields if f.system]
    return render_tab(
        s,
        entity,
        "fields",
        "admin/meta/fields.html",
        listed=listed,
        system=system,
        sections=section_labels(s, entity),
    )


@screen
def new_field(s: Screen) -> Response:
    """GET: the empty form (re-rendered by htmx when the type changes); POST: add the field."""
    entity = admin_entity(s)
    source = s.form if s.form is not None else s.params
    values = field_values(source)
    if s.request.method == "GET":
        return _field_form(s, entity, None, values, {})
    errors: Errors = {}
    if not values["key"]:
        errors["key"] = [s.t("Enter a key")]
    if not values["label_zh"]:
        errors["label"] = [s.t("Enter the Chinese label")]
    if values["type"] not in dict(addable_types(s)):
        errors["type"] = [s.t("Choose a field type")]
    spec = field_spec(s, values, errors, creating=True)
    if errors:
        return _field_form(s, entity, None, values, errors, status=422)
    try:
        added = s.platform.admin.add_field(
            s.actor, entity.name, values["key"], values["type"], spec.pop("label"), **spec
        )
    except MetadataError as error:
        found = error_map(error, s.locale, rename={CUSTOM_PREFIX + values["key"]: "general"})
        return _field_form(s, entity, None, values, found, status=error.status)
    return s.redirect(f"/admin/modules/{entity.name}#row-{added.key}")


@screen
def edit_field(s: Screen) -> Response:
    entity = admin_entity(s)
    field = _user_field(s, entity)
    if s.request.method == "GET":
        return _field_form(s, entity, field, stored_values(field), {})
    assert s.form is not None
    values = {**field_values(s.form), "key": field.key, "type": field.type}
    errors: Errors = {}
    if not values["label_zh"]:
        errors["label"] = [s.t("Enter the Chinese label")]
    changes = field_spec(s, values, errors, creating=False)
    if field.type == "stage":
        changes.pop("options", None)  # a stage field's options are its pipeline (Stages tab)
    if not values["help_zh"] and not values["help_en"] and field.help:
        errors["help"] = [s.t("A help text can be changed but not removed")]
    if errors:
        return _field_form(s, entity, field, values, errors, status=422)
    if field.section and "section" not in changes:
        changes["section"] = ""
    try:
        s.platform.admin.change_field(s.actor, entity.name, field.key, **changes)
    except MetadataError as error:
        found = error_map(error, s.locale, rename={field.key: "general"})
        return _field_form(s, entity, field, values, found, status=error.status)
    return s.redirect(f"/admin/modules/{entity.name}#row-{field.key}")


@screen
def hide_or_show(s: Screen) -> Response:
    entity = admin_entity(s)
    field = _user_field(s, entity)
    action = s.path_params["action"]
    if action not in ("hide", "show"):
        raise NotFound(_("Unknown action"))
    if action == "hide":
        s.platform.admin.hide_field(s.actor, entity.name, field.key)
    else:
        s.platform.admin.show_field(s.actor, entity.name, field.key)
    return s.redirect(f"/admin/modules/{entity.name}#row-{field.key}")


@screen
def move_field(s: Screen) -> Response:
    """One step up or down; the whole order is saved in one change (one version bump)."""
    entity = admin_entity(s)
    field = _user_field(s, entity)
    assert s.form is not None
    keys = [f.key for f in user_fields(entity)]
    at = keys.index(field.key)
    to = at - 1 if text(s.form, "direction") == "up" else at + 1
    if 0 <= to < len(keys):
        keys[at], keys[to] = keys[to], keys[at]
        s.platform.admin.reorder_fields(s.actor, entity.name, keys)
    return s.redirect(f"/admin/modules/{entity.name}#row-{field.key}")


def _user_field(s: Screen, entity: EntityDef) -> FieldDef:
    field = entity.get_field(str(s.path_params["key"]))
    if field is None or field.system:
        raise NotFound(_("Unknown field '{key}'", key=str(s.path_params["key"])))
    return field


# -- the form -------------------------------------------------------------------------------


def field_values(source: Any) -> dict[str, Any]:
    """What the form shows: the submitted (or query) values, options as rows."""

    def get(name: str) -> str:
        value = source.get(name)
        return value.strip() if isinstance(value, str) else ""

    options = rows(source, "opt") if hasattr(source, "getlist") else []
    return {
        "key": get("key").removeprefix(CUSTOM_PREFIX),
        "type": get("type") or "text",
        "label_zh": get("label_zh"),
        "label_en": get("label_en"),
        "required": get("required") in ("on", "1", "true"),
        "default": get("default"),
        "section": get("section"),
        "help_zh": get("help_zh"),
        "help_en": get("help_en"),
        "reference": get("reference"),
        "options": options,
    }


def stored_values(field: FieldDef) -> dict[str, Any]:
    help_text = field.help or {}
    return {
        "key": field.key,
        "type": field.type,
        "label_zh": field.label.get("zh-CN", ""),
        "label_en": field.label.get("en", ""),
        "required": field.required,
        "default": "" if field.default is None else str(field.default),
        "section": field.section or "",
        "help_zh": help_text.get("zh-CN", ""),
        "help_en": help_text.get("en", ""),
        "reference": field.reference or "",
        "options": [
            {
                "code": o.code,
                "zh": o.label.get("zh-CN", ""),
                "en": o.label.get("en", ""),
                "color": o.color or "",
            }
            for o in field.options
        ],
    }


def field_spec(
    s: Screen, values: dict[str, Any], errors: Errors, *, creating: bool
) -> dict[str, Any]:
    """The spec MetadataAdmin takes, from the form values; problems the form can see go to
    `errors`, the rest is the service's to judge."""
    spec: dict[str, Any] = {
        "label": {
            "zh-CN": values["label_zh"],
            **({"en": values["label_en"]} if values["label_en"] else {}),
        },
        "required": values["required"],
    }
    if values["default"]:
        spec["default"] = values["default"]
    elif not creating:
        spec["default"] = None
    if values["section"]:
        spec["section"] = values["section"]
    if values["help_zh"] or values["help_en"]:
        spec["help"] = {
            "zh-CN": values["help_zh"] or values["help_en"],
            **({"en": values["help_en"]} if values["help_en"] else {}),
        }
    if values["type"] in CHOICE_TYPES:
        options = []
        for position, row in enumerate(values["options"]):
            option: dict[str, Any] = {
                "code": row["code"],
                "label": {
                    "zh-CN": row.get("zh") or "",
                    **({"en": row["en"]} if row.get("en") else {}),
                },
            }
            color = color_of(row.get("color"), s, errors, "options")
            if color:
                option["color"] = color
            if not option["label"]["zh-CN"]:
                errors.setdefault("options", []).append(
                    s.t("Option {n} needs a Chinese label", n=position + 1)
                )
            options.append(option)
        if not options:
            errors.setdefault("options", []).append(s.t("Add at least one option"))
        spec["options"] = options
    if creating and values["type"] == "reference":
        if not values["reference"]:
            errors["reference"] = [s.t("Choose the module this field refers to")]
        spec["reference"] = values["reference"]
    return spec


def addable_types(s: Screen) -> list[tuple[str, str]]:
    types = s.platform.types
    offered = [(name, s.label(types.get(name).label) or name) for name in types.names()]
    return [(name, label) for name, label in offered if name not in NOT_ADDABLE]


def section_labels(s: Screen, entity: EntityDef) -> dict[str, str]:
    sections = entity.layouts.get("detail", {}).get("sections", [])
    return {str(sec.get("code")): s.label(sec.get("label") or sec.get("code")) for sec in sections}


def _field_form(
    s: Screen,
    entity: EntityDef,
    field: FieldDef | None,
    values: dict[str, Any],
    errors: Errors,
    *,
    status: int = 200,
) -> Response:
    sections = section_labels(s, entity)
    if values.get("section") and values["section"] not in sections:
        sections[values["section"]] = values["section"]
    targets = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    template = "admin/meta/field_form.html"
    if s.is_htmx and s.request.method == "GET":
        template = "admin/meta/_field_form_body.html"  # the type changed: only the form body
    return render_tab(
        s,
        entity,
        "fields",
        template,
        status=status,
        field=field,
        values=values,
        errors=errors,
        general_errors=general(errors, FORM_FIELDS),
        types=addable_types(s),
        type_names={n: s.label(s.platform.types.get(n).label) for n in s.platform.types.names()},
        sections=sections,
        targets=targets,
        choice_types=CHOICE_TYPES,
    )


def routes() -> list[BaseRoute]:
    base = "/admin/modules/{entity}"
    return [
        Route(base, fields_tab),
        Route(base + "/fields/new", new_field, methods=["GET"]),
        Route(base + "/fields", new_field, methods=["POST"]),
        Route(base + "/fields/{key}", edit_field, methods=["GET", "POST"]),
        Route(base + "/fields/{key}/move", move_field, methods=["POST"]),
        Route(base + "/fields/{key}/{action}", hide_or_show, methods=["POST"]),
    ]
