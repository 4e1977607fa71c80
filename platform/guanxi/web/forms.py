"""Record forms (UI-05): which fields a form shows, and the submitted form turned into the
input the record service parses (it stays the one place that validates)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from guanxi.auth.fields import FieldMask, Level
from guanxi.errors import FieldError
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.web.display import input_value, options_of

FIELDS_MARKER = "_fields"  # the field keys the form rendered: a missing checkbox means False
LIST_WIDGETS = ("multiselect", "tags")


def form_fields(entity: EntityDef, mask: FieldMask, *, creating: bool) -> list[FieldDef]:
    """Fields the actor may write, in layout order; owner/department only when editing (new
    records belong to their creator unless the actor reassigns them later)."""
    keys = [f for f in entity.input_fields if mask.level(f.key) == Level.WRITE]
    if creating:
        keys = [f for f in keys if f.key not in ("owner_id", "department_id")]
    return keys


def submitted(form: FormData, entity: EntityDef, types: Any) -> dict[str, Any]:
    """Form data -> record input; only fields the form declared it rendered are taken."""
    keys = [k for k in form.getlist(FIELDS_MARKER) if isinstance(k, str)]
    data: dict[str, Any] = {}
    for key in keys:
        field_def = entity.get_field(key)
        if field_def is None:
            data[key] = form.get(key)  # the service answers "unknown field"
            continue
        widget = types.for_field(field_def).widget
        if widget == "checkbox":
            data[key] = form.get(key) in ("on", "true", "1")
        elif widget in LIST_WIDGETS:
            data[key] = [v for v in form.getlist(key) if isinstance(v, str) and v]
        else:
            value = form.get(key)
            data[key] = None if value is None or value == "" else value
    return data


@dataclass
class FormField:
    """What the widget macros need for one control."""

    field: FieldDef
    label: str
    widget: str
    value: Any
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    help: str = ""
    reference_title: str | None = None
    constraints: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.field.key


def build_form(
    platform: Any,
    entity: EntityDef,
    fields: Iterable[FieldDef],
    values: Mapping[str, Any],
    errors: Iterable[FieldError],
    locale: str,
    *,
    raw: bool = False,
    titles: Mapping[str, str | None] | None = None,
    tag_options: list[tuple[str, str]] | None = None,
) -> list[FormField]:
    """One FormField per field. `raw`: values are what the user typed (re-shown after an
    error) rather than stored values."""
    by_field: dict[str | None, list[str]] = {}
    for error in errors:
        by_field.setdefault(error.field, []).append(error.message.render(locale))
    built = []
    for field_def in fields:
        field_type = platform.types.for_field(field_def)
        value = values.get(field_def.key)
        if not raw:
            value = input_value(platform, field_def, value)
        elif value is None:
            value = ""
        options = options_of(field_def, locale)
        if field_type.widget == "tags":
            options = list(tag_options or [])
        built.append(
            FormField(
                field=field_def,
                label=field_def.title(locale),
                widget=field_type.widget,
                value=value,
                required=field_def.required,
                options=options,
                errors=by_field.get(field_def.key, []),
                help=_pick(field_def.help, locale),
                reference_title=(titles or {}).get(field_def.key),
                constraints=field_def.constraints,
            )
        )
    return built


def general_errors(errors: Iterable[FieldError], shown: Iterable[str], locale: str) -> list[str]:
    """Messages not attached to a field on the form (shown above it)."""
    keys = set(shown)
    return [e.message.render(locale) for e in errors if e.field not in keys]


def _pick(label: Mapping[str, str] | None, locale: str) -> str:
    from guanxi.i18n import pick_label

    return pick_label(label, locale) if label else ""
