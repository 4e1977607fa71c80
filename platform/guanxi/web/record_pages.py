"""Record screens for every entity (UI-04, UI-05, DATA-02..04): the detail page in four zones,
create/edit/copy forms, single-field inline edit, lock, delete and history.

Screens only decide what to show; every write goes through platform.records, which validates,
checks permissions and answers 403/404/409/422/423 as GuanxiErrors the screen renders."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth.fields import FieldMask, Level
from guanxi.authorization import Access
from guanxi.errors import ConflictError, FieldError, NotFound, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.web import neighbours, related
from guanxi.web.display import REFERENCE_WIDGETS, Presenter, entity_title, input_value
from guanxi.web.display import readable_fields as readable
from guanxi.web.forms import FormField, build_form, form_fields, general_errors, submitted
from guanxi.web.screen import Screen, screen
from guanxi.web_auth import safe_next

NOT_SHOWN = ("id", "version", "locked", "number")  # the header and the URL carry these
WIDE_WIDGETS = ("textarea", "tags", "multiselect")


@dataclass
class Opened:
    """One entity as the actor meets it on this request."""

    entity: EntityDef
    access: Access
    mask: FieldMask


def _open(s: Screen, action: str | None = None) -> Opened:
    entity = s.platform.registry.snapshot().entity(s.path_params["entity"])  # 404 if unknown
    access = s.platform.records.access(s.actor)
    if action:
        access.check_module(entity, action)
    return Opened(entity, access, access.mask(entity))


def _record_id(s: Screen) -> int:
    return int(s.path_params["record_id"])


def _next(s: Screen, default: str) -> str:
    given = (s.form.get("next") if s.form is not None else None) or s.params.get("next")
    return safe_next(given, default)


# -- sections and reference titles ------------------------------------------------------------


def sections(entity: EntityDef, items: Iterable[Any], locale: str, t: Any) -> list[dict]:
    """Items (anything with `.field`) grouped in the layout's sections, in layout order;
    fields without a known section go to a general section, system fields to their own."""
    layout = (entity.layouts.get("detail") or {}).get("sections") or []
    from guanxi.i18n import pick_label

    groups: dict[str, dict[str, Any]] = {
        str(s["code"]): {"code": s["code"], "label": pick_label(s.get("label"), locale) or s["code"],
                         "items": []}
        for s in layout if isinstance(s, Mapping) and s.get("code")
    }  # fmt: skip
    general = {"code": "general", "label": t("General"), "items": []}
    system = {"code": "system", "label": t("Record information"), "items": []}
    for item in items:
        field = item.field
        if field.system:
            system["items"].append(item)
        else:
            groups.get(field.section or "", general)["items"].append(item)
    ordered = [general, *groups.values()] if not groups else [*groups.values(), general]
    return [g for g in [*ordered, system] if g["items"]]


def _titles(
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


def _tag_options(s: Screen, opened: Opened, fields: Iterable[FieldDef]) -> list[tuple[str, str]]:
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
        titles = _titles(s, opened, fields, values)
    built = build_form(
        s.platform, entity, fields, values, errors, s.locale, raw=raw, titles=titles,
        tag_options=_tag_options(s, opened, fields),
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
    opened = _open(s, "create")
    entity = opened.entity
    fields = form_fields(entity, opened.mask, creating=True)
    next_url = _next(s, "")
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
            s.actor, entity.name, data, reason=s.form.get("reason") or None
        )
    except ValidationFailed as error:
        return _render_form(
            s, opened, mode="create", fields=fields, values=_typed(s, entity), errors=error.errors,
            raw=True, action=f"/r/{entity.name}/new", back=back, next_url=next_url, status=422,
        )  # fmt: skip
    return s.redirect(next_url or f"/r/{entity.name}/{created['id']}")


def _typed(s: Screen, entity: EntityDef) -> dict[str, Any]:
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
    opened = _open(s, "create")
    entity = opened.entity
    source = s.platform.records.get(s.actor, entity.name, _record_id(s))
    fields = form_fields(entity, opened.mask, creating=True)
    values = {f.key: source.get(f.key) for f in fields if not f.unique and f.type != "autonumber"}
    return _render_form(
        s, opened, mode="copy", fields=fields, values=values, record=source,
        action=f"/r/{entity.name}/new", back=f"/r/{entity.name}/{source['id']}", next_url="",
    )  # fmt: skip


def _version(s: Screen) -> int:
    assert s.form is not None
    try:
        return int(str(s.form.get("version")))
    except ValueError:
        raise ValidationFailed(
            [FieldError("version", "invalid", _("The form lost its version; reload the page"))]
        ) from None


@screen
def edit_record(s: Screen) -> Response:
    opened = _open(s, "edit")
    entity = opened.entity
    record_id = _record_id(s)
    detail = f"/r/{entity.name}/{record_id}"
    next_url = _next(s, detail)
    fields = form_fields(entity, opened.mask, creating=False)
    common = {"mode": "edit", "fields": fields, "action": f"{detail}/edit", "back": next_url,
              "next_url": next_url}  # fmt: skip
    if s.form is None:
        record = s.platform.records.get(s.actor, entity.name, record_id, action="edit")
        return _render_form(s, opened, values=record, record=record, **common)
    data = submitted(s.form, entity, s.platform.types)
    try:
        s.platform.records.update(
            s.actor, entity.name, record_id, data, version=_version(s),
            reason=s.form.get("reason") or None,
        )  # fmt: skip
    except ValidationFailed as error:
        record = {**s.platform.records.get(s.actor, entity.name, record_id), "version": _version(s)}
        return _render_form(
            s, opened, values=_typed(s, entity), errors=error.errors, raw=True, record=record,
            status=422, **common,
        )  # fmt: skip
    except ConflictError as error:
        current = error.current or s.platform.records.get(s.actor, entity.name, record_id)
        return _render_form(
            s, opened, values=_typed(s, entity), raw=True, record=current, status=409,
            conflict=_differences(s, opened, fields, current), **common,
        )  # fmt: skip
    return s.redirect(next_url)


def _differences(
    s: Screen, opened: Opened, fields: list[FieldDef], current: Mapping[str, Any]
) -> list[dict[str, str]]:
    """Fields where my submitted value differs from the one saved meanwhile (theirs)."""
    assert s.form is not None
    mine = build_form(
        s.platform, opened.entity, fields, _typed(s, opened.entity), [], s.locale, raw=True,
        titles={f.key: s.form.get(f"_q_{f.key}") for f in fields},  # type: ignore[misc]
        tag_options=_tag_options(s, opened, fields),
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


# -- the detail page --------------------------------------------------------------------------


@dataclass
class InfoItem:
    """One field in the info zone: its displayed value and whether it can be edited in place."""

    field: FieldDef
    label: str
    cell: Any
    editable: bool
    wide: bool

    @property
    def key(self) -> str:
        return self.field.key


def _info_item(s: Screen, opened: Opened, presenter: Presenter, field: FieldDef,
               record: Mapping[str, Any], can_edit: bool) -> InfoItem:  # fmt: skip
    widget = s.platform.types.for_field(field).widget
    return InfoItem(
        field=field,
        label=field.title(s.locale),
        cell=presenter.cell(field, record),
        editable=can_edit
        and not record.get("locked")
        and opened.mask.level(field.key) == Level.WRITE
        and field in opened.entity.input_fields,
        wide=widget in WIDE_WIDGETS,
    )


def _module_actions(s: Screen, entity: EntityDef, record: dict[str, Any]) -> list[dict]:
    actions = []
    for contributed in s.platform.pm.hook.record_actions(
        platform=s.platform, actor=s.actor, entity=entity, record=record
    ):
        for action in contributed or []:
            actions.append(
                {
                    "label": s.label(action.get("label")),
                    "href": str(action.get("href") or "#"),
                    "post": str(action.get("method", "get")).lower() == "post",
                    "confirm": s.label(action["confirm"]) if action.get("confirm") else "",
                }
            )
    return actions


NOTICES = {
    "delete_requested": "Your request to delete this record was sent for approval.",
}


@screen
def detail(s: Screen) -> Response:
    opened = _open(s)
    entity, access = opened.entity, opened.access
    platform = s.platform
    record = platform.records.get(s.actor, entity.name, _record_id(s))
    record_id = record["id"]
    url = f"/r/{entity.name}/{record_id}"
    fields = [f for f in readable(entity, opened.mask) if f.key not in NOT_SHOWN]
    presenter = Presenter(platform, s.actor, entity, s.locale, opened.mask).load([record], fields)
    can_edit = access.allows(entity.name, "edit")
    items = [_info_item(s, opened, presenter, f, record, can_edit) for f in fields]
    state = neighbours.list_state(s.params.get("list"))
    found = (
        neighbours.find(platform.records, s.actor, entity.name, record, state) if state else None
    )
    suffix = f"?{state.link_param}" if state and state.link_param else ""
    snapshot = platform.registry.snapshot()
    relations = related.visible_relations(snapshot, entity, access)
    creatable = related.creatable_relations(
        related.relations(snapshot, entity), access
    )  # may create a child even without viewing the list
    notice = NOTICES.get(str(s.params.get("notice") or ""))
    return s.render(
        "record/detail.html",
        entity=entity,
        entity_label=entity.title(s.locale),
        record=record,
        title=entity_title(entity, record),
        url=url,
        sections=sections(entity, items, s.locale, s.t),
        locked=bool(record.get("locked")),
        can_edit=can_edit,
        can_create=access.allows(entity.name, "create"),
        can_delete=access.allows(entity.name, "delete"),
        module_actions=_module_actions(s, entity, record),
        list_url=f"/r/{entity.name}" + (f"?{state.query_string}" if state else ""),
        previous_url=f"/r/{entity.name}/{found.previous}{suffix}"
        if found and found.previous
        else None,
        next_url=f"/r/{entity.name}/{found.next}{suffix}" if found and found.next else None,
        relations=relations,
        relation_actions=[
            {
                "label": s.t("New {entity}", entity=r.child.title(s.locale)),
                "href": r.new_href(record_id, url),
            }
            for r in creatable
        ],  # fmt: skip
        notice=s.t(notice) if notice else None,
    )


# -- single-field inline edit (DATA-02) -------------------------------------------------------


def _inline_field(s: Screen, opened: Opened) -> FieldDef:
    """The field named in the URL, if this actor may write it (a hidden one does not exist)."""
    key = s.path_params["key"]
    field = opened.entity.get_field(key)
    level = opened.mask.level(key) if field else Level.HIDDEN
    if field is None or level == Level.HIDDEN:
        raise NotFound(_("Unknown field '{key}'", key=key), field=key)
    if level < Level.WRITE or field not in opened.entity.input_fields:
        from guanxi.errors import PermissionDenied

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
        titles = _titles(s, opened, [field], {field.key: value})
    (ff,) = build_form(
        s.platform, opened.entity, [field], {field.key: value}, errors, s.locale, raw=raw,
        titles=titles, tag_options=_tag_options(s, opened, [field]),
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
    opened = _open(s, "edit")
    field = _inline_field(s, opened)
    record = s.platform.records.get(s.actor, opened.entity.name, _record_id(s), action="edit")
    return _field_form(
        s, opened, field, record["id"], record.get(field.key), record["version"], raw=False
    )


@screen
def field_display(s: Screen) -> Response:
    """The display fragment again ("Cancel" on an inline form)."""
    opened = _open(s)
    record = s.platform.records.get(s.actor, opened.entity.name, _record_id(s))
    key = s.path_params["key"]
    field = opened.entity.get_field(key)
    if field is None or opened.mask.level(key) == Level.HIDDEN:
        raise NotFound(_("Unknown field '{key}'", key=key), field=key)
    return _display(s, opened, field, record)


def _display(s: Screen, opened: Opened, field: FieldDef, record: Mapping[str, Any]) -> Response:
    presenter = Presenter(s.platform, s.actor, opened.entity, s.locale, opened.mask)
    presenter.load([record], [field])
    can_edit = opened.access.allows(opened.entity.name, "edit")
    item = _info_item(s, opened, presenter, field, record, can_edit)
    return s.render(
        "record/field_display.html", item=item, url=f"/r/{opened.entity.name}/{record['id']}"
    )


@screen
def field_save(s: Screen) -> Response:
    assert s.form is not None
    opened = _open(s, "edit")
    entity = opened.entity
    field = _inline_field(s, opened)
    record_id = _record_id(s)
    value = submitted(s.form, entity, s.platform.types).get(field.key)
    typed = _typed(s, entity).get(field.key, "")
    version = _version(s)
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


# -- lock, delete, history --------------------------------------------------------------------


def _set_lock(s: Screen, locked: bool) -> Response:
    opened = _open(s)
    record_id = _record_id(s)
    change = s.platform.records.lock if locked else s.platform.records.unlock
    change(s.actor, opened.entity.name, record_id, reason=(s.form or {}).get("reason") or None)
    return s.redirect(_next(s, f"/r/{opened.entity.name}/{record_id}"))


@screen
def lock(s: Screen) -> Response:
    return _set_lock(s, True)


@screen
def unlock(s: Screen) -> Response:
    return _set_lock(s, False)


@screen
def delete(s: Screen) -> Response:
    opened = _open(s)
    entity = opened.entity
    record_id = _record_id(s)
    outcome = s.platform.records.delete(
        s.actor, entity.name, record_id, reason=(s.form or {}).get("reason") or None
    )
    if outcome != "deleted":  # handed to an approval or recycle-bin plugin
        return s.redirect(f"/r/{entity.name}/{record_id}?notice=delete_requested")
    target = _next(s, f"/r/{entity.name}")
    if target.split("?")[0] == f"/r/{entity.name}/{record_id}":
        target = f"/r/{entity.name}"  # the record is gone: do not go back to it
    return s.redirect(target)


def _parsed(s: Screen, field: FieldDef, value: Any) -> Any:
    """A history value (stored as JSON) back in the field's own type, for formatting."""
    if value is None or isinstance(value, str) and "*" in value:
        return value
    try:
        return s.platform.types.for_field(field).parse(value, field)
    except (ValueError, TypeError):
        return value


@screen
def history(s: Screen) -> Response:
    """DATA-05: who changed what and when, old -> new as people read the values, newest first."""
    opened = _open(s)
    entity = opened.entity
    entries = s.platform.records.history(s.actor, entity.name, _record_id(s))
    presenter = Presenter(s.platform, s.actor, entity, s.locale, opened.mask)
    shown: list[tuple[dict[str, Any], list[tuple[FieldDef, Any, Any]]]] = []
    values: list[dict[str, Any]] = []
    for entry in entries:
        changes = []
        listed = {} if entry["op"] in ("create", "copy") else entry.get("changes") or {}
        for key, pair in listed.items():
            field = entity.get_field(key)
            if field is None or key in ("version", "updated_at", "updated_by"):
                continue
            old, new = ({key: _parsed(s, field, v)} for v in pair)
            values.extend((old, new))
            changes.append((field, old, new))
        shown.append((entry, changes))
    presenter.load(values, {f.key: f for _e, c in shown for f, _o, _n in c}.values())
    items = [
        {
            "op": entry["op"],
            "who": entry.get("actor_name") or "",
            "at": entry["at"],
            "reason": entry.get("reason") or "",
            "changes": [
                {
                    "label": field.title(s.locale),
                    "old": presenter.cell(field, old),
                    "new": presenter.cell(field, new),
                    "reason": (entry.get("field_reasons") or {}).get(field.key) or "",
                }
                for field, old, new in changes
            ],  # fmt: skip
        }
        for entry, changes in reversed(shown)
    ]
    return s.render("record/_history.html", items=items)


def routes() -> list[BaseRoute]:
    one = "/r/{entity:str}/{record_id:int}"
    return [
        Route("/r/{entity:str}/new", new_record, methods=["GET", "POST"]),
        Route(one, detail),
        Route(f"{one}/edit", edit_record, methods=["GET", "POST"]),
        Route(f"{one}/copy", copy_record),
        Route(f"{one}/field/{{key:str}}/edit", field_edit),
        Route(f"{one}/field/{{key:str}}", field_display, methods=["GET"]),
        Route(f"{one}/field/{{key:str}}", field_save, methods=["POST"]),
        Route(f"{one}/lock", lock, methods=["POST"]),
        Route(f"{one}/unlock", unlock, methods=["POST"]),
        Route(f"{one}/delete", delete, methods=["POST"]),
        Route(f"{one}/history", history),
        *related.routes(),
    ]
