"""Create, copy and edit forms for every entity (UI-05, DATA-02..04), kept apart from the
detail page because a form has its own life: prefilled values, re-shown input after a refused
save, the reason asked for a change (DATA-06) and the conflict panel when someone saved first.

The form helpers here (reference titles, tag options, typed values, the submitted version) are
also what inline_edit.py builds its single-field form with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import ConflictError, FieldError, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.web.display import REFERENCE_WIDGETS, Presenter, entity_title, input_value
from guanxi.web.forms import FormField, build_form, form_fields, general_errors, submitted
from guanxi.web.record_pages import Opened, next_target, open_entity, path_record_id, sections
from guanxi.web.screen import Screen, screen
from guanxi.web_auth import safe_next

# -- form helpers (shared with inline_edit) ----------------------------------------------------


def reference_titles(
    s: Screen, opened: Opened, fields: Iterable[FieldDef], values: Mapping[str, Any]
) -> dict[str, str | None]:
    """Reference titles for the picker inputs: one read per referenced module."""
    refs = [f for f in fields if s.platform.types.for_field(f).widget in REFERENCE_WIDGETS]
    if not refs:
        return {}
    numbers: dict[str, Any] = {}
    for field in refs:
        try:
            numbers[field.key] = int(values.get(field.key))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    presenter = Presenter(s.platform, s.actor, opened.entity, s.locale, opened.mask)
    presenter.load([numbers], refs)
    return {f.key: presenter.cell(f, numbers).text if f.key in numbers else None for f in refs}


def tag_options(s: Screen, opened: Opened, fields: Iterable[FieldDef]) -> list[tuple[str, str]]:
    if not any(s.platform.types.for_field(f).widget == "tags" for f in fields):
        return []
    presenter = Presenter(s.platform, s.actor, opened.entity, s.locale, opened.mask)
    return [(code, label) for code, (label, _color) in presenter.tag_labels().items()]


def needs_reason(entity: EntityDef, fields: Iterable[FieldDef]) -> bool:
    """Show a reason input when a change to one of these fields may require one (DATA-06)."""
    if entity.reason_required:
        return True
    for field in fields:
        if field.reason_required:
            return True
        pipeline = entity.pipelines.get(field.key)
        if pipeline and (
            pipeline.reason_required or any(x.reason_required for x in pipeline.stages)
        ):
            return True
    return False


# -- forms: create, copy, edit ----------------------------------------------------------------


def _render_form(
    s: Screen,
    opened: Opened,
    *,
    mode: str,
    fields: list[FieldDef],
    values: Mapping[str, Any],
    errors: list[FieldError] = (),  # type: ignore[assignment]
    raw: bool = False,
    action: str,
    back: str,
    next_url: str | None,
    record: Mapping[str, Any] | None = None,
    conflict: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    entity = opened.entity
    if raw and s.form is not None:
        titles: dict[str, str | None] = {f.key: s.form.get(f"_q_{f.key}") for f in fields}  # type: ignore[misc]
    else:
        titles = reference_titles(s, opened, fields, values)
    built = build_form(
        s.platform, entity, fields, values, errors, s.locale, raw=raw, titles=titles,
        tag_options=tag_options(s, opened, fields),
    )  # fmt: skip
    heading = {
        "create": s.t("New {entity}", entity=entity.title(s.locale)),
        "copy": s.t("Copy of {title}", title=entity_title(entity, record or {})),
        "edit": s.t("Edit {title}", title=entity_title(entity, record or {})),
    }[mode]
    context = {
        "entity": entity,
        "entity_label": entity.title(s.locale),
        "mode": mode,
        "heading": heading,
        "sections": sections(entity, built, s.locale, s.t),
        "general": general_errors(errors, [f.key for f in fields], s.locale),
        "action": action,
        "back": back,
        "next_url": next_url,
        "record": record,
        "conflict": conflict,
        # a reason is asked for changes, not for new records (unless a rule said otherwise)
        "reason": (mode == "edit" and needs_reason(entity, fields))
        or any(e.code == "reason_required" for e in errors),
        "reason_value": (s.form.get("reason") if s.form is not None else "") or "",
        "modal": s.is_htmx and mode == "create",
        # DATA-07: the records a duplicate rule matched; warnings alone may be confirmed
        "duplicates": [d for e in errors for d in e.details if e.code.startswith("duplicate")],
        "confirmable": bool(errors) and all(e.warning for e in errors),
    }
    if context["modal"]:
        return s.render("record/form_modal.html", status=status, **context)
    return s.render("record/form.html", status=status, **context)


def _prefill(s: Screen, entity: EntityDef, fields: list[FieldDef]) -> dict[str, Any]:
    """Values for a new record: the field's default, then whatever the query string gives."""
    values: dict[str, Any] = {}
    for field in fields:
        field_type = s.platform.types.for_field(field)
        if field.default is not None:
            with contextlib.suppress(ValueError):
                values[field.key] = input_value(
                    s.platform, field, field_type.parse(field.default, field)
                )
        if field.key in s.params:
            if field_type.widget in ("multiselect", "tags"):
                values[field.key] = [v for v in s.params.getlist(field.key) if v]
            elif field_type.widget == "checkbox":
                values[field.key] = s.params[field.key] in ("on", "true", "1")
            else:
                values[field.key] = s.params[field.key]
    return values


@screen
def new_record(s: Screen) -> Response:
    opened = open_entity(s, "create")
    entity = opened.entity
    fields = form_fields(entity, opened.mask, creating=True)
    next_url = next_target(s, "")
    back = safe_next(next_url, f"/r/{entity.name}")
    if s.form is None:
        return _render_form(
            s, opened, mode="create", fields=fields, values=_prefill(s, entity, fields), raw=True,
            action=f"/r/{entity.name}/new", back=back, next_url=next_url,
        )  # fmt: skip
    data = submitted(s.form, entity, s.platform.types)
    data = {k: v for k, v in data.items() if v is not None and v != []}  # empty: defaults apply
    try:
        created = s.platform.records.create(
            s.actor, entity.name, data, reason=s.form.get("reason") or None,
            confirm_duplicates=s.form.get("_confirm_duplicates") == "1",
        )  # fmt: skip
    except ValidationFailed as error:
        return _render_form(
            s, opened, mode="create", fields=fields, values=typed_values(s, entity), errors=error.errors,
            raw=True, action=f"/r/{entity.name}/new", back=back, next_url=next_url, status=422,
        )  # fmt: skip
    return s.redirect(next_url or f"/r/{entity.name}/{created['id']}")


def typed_values(s: Screen, entity: EntityDef) -> dict[str, Any]:
    """The submitted form as the controls re-show it (lists for checkbox groups)."""
    assert s.form is not None
    values: dict[str, Any] = {}
    for key in {k for k in s.form.getlist("_fields") if isinstance(k, str)}:
        field = entity.get_field(key)
        widget = s.platform.types.for_field(field).widget if field else ""
        if widget in ("multiselect", "tags"):
            values[key] = [v for v in s.form.getlist(key) if isinstance(v, str) and v]
        elif widget == "checkbox":
            values[key] = s.form.get(key) in ("on", "true", "1")
        else:
            values[key] = s.form.get(key) or ""
    return values


@screen
def copy_record(s: Screen) -> Response:
    """DATA-04: the create form prefilled from a record; unique and numbered values stay empty."""
    opened = open_entity(s, "create")
    entity = opened.entity
    source = s.platform.records.get(s.actor, entity.name, path_record_id(s))
    fields = form_fields(entity, opened.mask, creating=True)
    values = {f.key: source.get(f.key) for f in fields if not f.unique and f.type != "autonumber"}
    return _render_form(
        s, opened, mode="copy", fields=fields, values=values, record=source,
        action=f"/r/{entity.name}/new", back=f"/r/{entity.name}/{source['id']}", next_url="",
    )  # fmt: skip


def submitted_version(s: Screen) -> int:
    assert s.form is not None
    try:
        return int(str(s.form.get("version")))
    except ValueError:
        raise ValidationFailed(
            [FieldError("version", "invalid", _("The form lost its version; reload the page"))]
        ) from None


@screen
def edit_record(s: Screen) -> Response:
    opened = open_entity(s, "edit")
    entity = opened.entity
    record_id = path_record_id(s)
    detail = f"/r/{entity.name}/{record_id}"
    next_url = next_target(s, detail)
    fields = form_fields(entity, opened.mask, creating=False)
    common = {"mode": "edit", "fields": fields, "action": f"{detail}/edit", "back": next_url,
              "next_url": next_url}  # fmt: skip
    if s.form is None:
        record = s.platform.records.get(s.actor, entity.name, record_id, action="edit")
        return _render_form(s, opened, values=record, record=record, **common)
    data = submitted(s.form, entity, s.platform.types)
    try:
        s.platform.records.update(
            s.actor, entity.name, record_id, data, version=submitted_version(s),
            reason=s.form.get("reason") or None,
            confirm_duplicates=s.form.get("_confirm_duplicates") == "1",
        )  # fmt: skip
    except ValidationFailed as error:
        record = {
            **s.platform.records.get(s.actor, entity.name, record_id),
            "version": submitted_version(s),
        }
        return _render_form(
            s, opened, values=typed_values(s, entity), errors=error.errors, raw=True, record=record,
            status=422, **common,
        )  # fmt: skip
    except ConflictError as error:
        current = error.current or s.platform.records.get(s.actor, entity.name, record_id)
        return _render_form(
            s, opened, values=typed_values(s, entity), raw=True, record=current, status=409,
            conflict=_differences(s, opened, fields, current), **common,
        )  # fmt: skip
    return s.redirect(next_url)


def _differences(
    s: Screen, opened: Opened, fields: list[FieldDef], current: Mapping[str, Any]
) -> list[dict[str, str]]:
    """Fields where my submitted value differs from the one saved meanwhile (theirs)."""
    assert s.form is not None
    mine = build_form(
        s.platform, opened.entity, fields, typed_values(s, opened.entity), [], s.locale, raw=True,
        titles={f.key: s.form.get(f"_q_{f.key}") for f in fields},  # type: ignore[misc]
        tag_options=tag_options(s, opened, fields),
    )  # fmt: skip
    presenter = Presenter(s.platform, s.actor, opened.entity, s.locale, opened.mask)
    presenter.load([current], fields)
    rows = []
    for ff in mine:
        theirs = input_value(s.platform, ff.field, current.get(ff.key))
        if _same(ff, theirs):
            continue
        rows.append(
            {"label": ff.label, "theirs": presenter.cell(ff.field, current).text,
             "mine": _typed_text(ff, s)}
        )  # fmt: skip
    return rows


def _same(ff: FormField, stored: Any) -> bool:
    typed = ff.value
    if isinstance(stored, list) or ff.widget in ("multiselect", "tags"):
        typed_list = typed if isinstance(typed, list) else ([typed] if typed else [])
        return sorted(map(str, typed_list)) == sorted(map(str, stored or []))
    if ff.widget == "checkbox":
        return bool(typed) == bool(stored)
    return (
        str(typed if typed is not None else "").strip()
        == str(stored if stored is not None else "").strip()
    )


def _typed_text(ff: FormField, s: Screen) -> str:
    options = dict(ff.options)
    if ff.widget == "checkbox":
        return s.t("Yes") if ff.value else s.t("No")
    if isinstance(ff.value, list):
        return "、".join(options.get(v, v) for v in ff.value)
    if ff.widget in ("select", "stage"):
        return options.get(ff.value, ff.value)
    if ff.widget in REFERENCE_WIDGETS:
        return ff.reference_title or str(ff.value)
    return str(ff.value)


def routes() -> list[BaseRoute]:
    """/r/{entity}/new is mounted before the detail page's /r/{entity}/{record_id:int}."""
    one = "/r/{entity:str}/{record_id:int}"
    return [
        Route("/r/{entity:str}/new", new_record, methods=["GET", "POST"]),
        Route(f"{one}/edit", edit_record, methods=["GET", "POST"]),
        Route(f"{one}/copy", copy_record),
    ]
