"""Single-field inline edit on the detail page (DATA-02): the field's small form, the save
that changes that one field only, and the display fragment swapped back in. It is its own
module so the detail page stays about showing a record; it reuses record_forms' helpers to
build the one-field form exactly like the full one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth.fields import Level
from guanxi.errors import ConflictError, FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import FieldDef
from guanxi.web.display import Presenter
from guanxi.web.forms import build_form, general_errors, submitted
from guanxi.web.record_forms import (
    needs_reason,
    reference_titles,
    submitted_version,
    tag_options,
    typed_values,
)
from guanxi.web.record_pages import WIDE_WIDGETS, Opened, info_item, open_entity, path_record_id
from guanxi.web.screen import Screen, screen


def _inline_field(s: Screen, opened: Opened) -> FieldDef:
    """The field named in the URL, if this actor may write it (a hidden one does not exist)."""
    key = s.path_params["key"]
    field = opened.entity.get_field(key)
    level = opened.mask.level(key) if field else Level.HIDDEN
    if field is None or level == Level.HIDDEN:
        raise NotFound(_("Unknown field '{key}'", key=key), field=key)
    if level < Level.WRITE or field not in opened.entity.input_fields:
        raise PermissionDenied(
            _("You cannot change {field}", field=field.title(s.locale)), field=key
        )
    return field


def _field_form(
    s: Screen, opened: Opened, field: FieldDef, record_id: int, value: Any, version: int, *,
    raw: bool, errors: list[FieldError] = (), conflict: str | None = None,  # type: ignore[assignment]
    status: int = 200,
) -> Response:  # fmt: skip
    if raw and s.form is not None:
        titles: dict[str, str | None] = {field.key: s.form.get(f"_q_{field.key}")}  # type: ignore[dict-item]
    else:
        titles = reference_titles(s, opened, [field], {field.key: value})
    (ff,) = build_form(
        s.platform, opened.entity, [field], {field.key: value}, errors, s.locale, raw=raw,
        titles=titles, tag_options=tag_options(s, opened, [field]),
    )  # fmt: skip
    return s.render(
        "record/field_form.html",
        status=status,
        ff=ff,
        url=f"/r/{opened.entity.name}/{record_id}",
        version=version,
        general=general_errors(errors, [field.key], s.locale),
        reason=needs_reason(opened.entity, [field]),
        conflict=conflict,
        wide=s.platform.types.for_field(field).widget in WIDE_WIDGETS,
    )


@screen
def field_edit(s: Screen) -> Response:
    opened = open_entity(s, "edit")
    field = _inline_field(s, opened)
    record = s.platform.records.get(s.actor, opened.entity.name, path_record_id(s), action="edit")
    return _field_form(
        s, opened, field, record["id"], record.get(field.key), record["version"], raw=False
    )


@screen
def field_display(s: Screen) -> Response:
    """The display fragment again ("Cancel" on an inline form)."""
    opened = open_entity(s)
    record = s.platform.records.get(
        s.actor, opened.entity.name, path_record_id(s), log_view=False
    )  # part of the detail page, whose view is logged once
    key = s.path_params["key"]
    field = opened.entity.get_field(key)
    if field is None or opened.mask.level(key) == Level.HIDDEN:
        raise NotFound(_("Unknown field '{key}'", key=key), field=key)
    return _display(s, opened, field, record)


def _display(s: Screen, opened: Opened, field: FieldDef, record: Mapping[str, Any]) -> Response:
    presenter = Presenter(s.platform, s.actor, opened.entity, s.locale, opened.mask)
    presenter.load([record], [field])
    can_edit = opened.access.allows(opened.entity.name, "edit")
    item = info_item(s, opened, presenter, field, record, can_edit)
    return s.render(
        "record/field_display.html", item=item, url=f"/r/{opened.entity.name}/{record['id']}"
    )


@screen
def field_save(s: Screen) -> Response:
    assert s.form is not None
    opened = open_entity(s, "edit")
    entity = opened.entity
    field = _inline_field(s, opened)
    record_id = path_record_id(s)
    value = submitted(s.form, entity, s.platform.types).get(field.key)
    typed = typed_values(s, entity).get(field.key, "")
    version = submitted_version(s)
    try:
        saved = s.platform.records.update_field(
            s.actor, entity.name, record_id, field.key, value, version=version,
            reason=s.form.get("reason") or None,
        )  # fmt: skip
    except ValidationFailed as error:
        return _field_form(s, opened, field, record_id, typed, version, raw=True,
                           errors=error.errors, status=422)  # fmt: skip
    except ConflictError as error:
        current = error.current or s.platform.records.get(s.actor, entity.name, record_id)
        presenter = Presenter(s.platform, s.actor, entity, s.locale, opened.mask)
        theirs = presenter.load([current], [field]).cell(field, current).text
        return _field_form(s, opened, field, record_id, typed, current["version"], raw=True,
                           conflict=theirs, status=409)  # fmt: skip
    return _display(s, opened, field, saved)


def routes() -> list[BaseRoute]:
    one = "/r/{entity:str}/{record_id:int}"
    return [
        Route(f"{one}/field/{{key:str}}/edit", field_edit),
        Route(f"{one}/field/{{key:str}}", field_display, methods=["GET"]),
        Route(f"{one}/field/{{key:str}}", field_save, methods=["POST"]),
    ]
