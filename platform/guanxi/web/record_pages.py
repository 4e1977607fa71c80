"""Record screens for every entity (UI-04, UI-05): the detail page in four zones, lock, delete
and history, plus what every screen of one record shares (opening the entity for the actor,
layout sections, info items). The forms live in record_forms.py, the single-field inline edit
in inline_edit.py; both build on this module, never the other way round.

Screens only decide what to show; every write goes through platform.records, which validates,
checks permissions and answers 403/404/409/422/423 as GuanxiErrors the screen renders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth.fields import FieldMask, Level
from guanxi.authorization import Access
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.records import GONE
from guanxi.web import neighbours, related
from guanxi.web.display import Presenter, entity_title
from guanxi.web.display import readable_fields as readable
from guanxi.web.screen import Screen, screen
from guanxi.web_auth import safe_next

# The header and the URL carry the first four; the bin marks are empty on any live record.
NOT_SHOWN = ("id", "version", "locked", "number", "deleted_at", "deleted_by")
WIDE_WIDGETS = ("textarea", "tags", "multiselect")


@dataclass
class Opened:
    """One entity as the actor meets it on this request."""

    entity: EntityDef
    access: Access
    mask: FieldMask


def open_entity(s: Screen, action: str | None = None) -> Opened:
    entity = s.platform.registry.snapshot().entity(s.path_params["entity"])  # 404 if unknown
    access = s.platform.records.access(s.actor)
    if action:
        access.check_module(entity, action)
    return Opened(entity, access, access.mask(entity))


def path_record_id(s: Screen) -> int:
    return int(s.path_params["record_id"])


def next_target(s: Screen, default: str) -> str:
    given = (s.form.get("next") if s.form is not None else None) or s.params.get("next")
    return safe_next(given, default)


# -- layout sections --------------------------------------------------------------------------


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


def info_item(s: Screen, opened: Opened, presenter: Presenter, field: FieldDef,
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
    "merged": "The records were merged into this one.",
}


@screen
def detail(s: Screen) -> Response:
    opened = open_entity(s)
    entity, access = opened.entity, opened.access
    platform = s.platform
    record = platform.records.get(s.actor, entity.name, path_record_id(s))
    record_id = record["id"]
    url = f"/r/{entity.name}/{record_id}"
    fields = [f for f in readable(entity, opened.mask) if f.key not in NOT_SHOWN]
    presenter = Presenter(platform, s.actor, entity, s.locale, opened.mask).load([record], fields)
    can_edit = access.allows(entity.name, "edit")
    items = [info_item(s, opened, presenter, f, record, can_edit) for f in fields]
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


# -- lock, delete, history --------------------------------------------------------------------


def _set_lock(s: Screen, locked: bool) -> Response:
    opened = open_entity(s)
    record_id = path_record_id(s)
    change = s.platform.records.lock if locked else s.platform.records.unlock
    change(s.actor, opened.entity.name, record_id, reason=(s.form or {}).get("reason") or None)
    return s.redirect(next_target(s, f"/r/{opened.entity.name}/{record_id}"))


@screen
def lock(s: Screen) -> Response:
    return _set_lock(s, True)


@screen
def unlock(s: Screen) -> Response:
    return _set_lock(s, False)


@screen
def delete(s: Screen) -> Response:
    opened = open_entity(s)
    entity = opened.entity
    record_id = path_record_id(s)
    outcome = s.platform.records.delete(
        s.actor, entity.name, record_id, reason=(s.form or {}).get("reason") or None
    )
    if outcome not in GONE:  # handed to an approval plugin: still there
        return s.redirect(f"/r/{entity.name}/{record_id}?notice=delete_requested")
    target = next_target(s, f"/r/{entity.name}")
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
    opened = open_entity(s)
    entity = opened.entity
    entries = s.platform.records.history(s.actor, entity.name, path_record_id(s))
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
    """The detail page and its actions; routes.py mounts record_forms' routes (with
    /r/{entity}/new) before these and inline_edit's after them."""
    one = "/r/{entity:str}/{record_id:int}"
    return [
        Route(one, detail),
        Route(f"{one}/lock", lock, methods=["POST"]),
        Route(f"{one}/unlock", unlock, methods=["POST"]),
        Route(f"{one}/delete", delete, methods=["POST"]),
        Route(f"{one}/history", history),
        *related.routes(),
    ]
