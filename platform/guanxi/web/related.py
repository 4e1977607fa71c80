"""The related-data zone of a detail page (UI-04): which modules list records pointing at this
one, and the lazily loaded panel of each (first rows, "view all", inline add/edit/delete).
Every row comes through the read path, so the child module's scopes and masks apply."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth.fields import Level
from guanxi.authorization import Access
from guanxi.errors import NotFound
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.web.display import Presenter, entity_title, readable_fields
from guanxi.web.screen import Screen, screen

PANEL_ROWS = 10
PANEL_COLUMNS = 3
SKIPPED_WIDGETS = ("tags", "multiselect")


@dataclass(frozen=True)
class Relation:
    """Records of `child` whose reference `field` points at the parent."""

    child: EntityDef
    field: str

    def label(self, locale: str) -> str:
        return self.child.title(locale)

    def filter(self, record_id: int) -> dict[str, Any]:
        return {"field": self.field, "op": "eq", "value": record_id}

    def list_href(self, record_id: int) -> str:
        return f"/r/{self.child.name}?" + urlencode({"filter": json.dumps(self.filter(record_id))})

    def new_href(self, record_id: int, back: str) -> str:
        return f"/r/{self.child.name}/new?" + urlencode({self.field: record_id, "next": back})


def relations(snapshot: Any, entity: EntityDef) -> list[Relation]:
    """The layout's related lists, else every reference to this entity from another module."""
    wanted = (entity.layouts.get("detail") or {}).get("related")
    if wanted is None:
        wanted = [
            {"entity": other.name, "field": field.key}
            for other in snapshot.entities.values()
            for field in other.visible_fields
            if field.reference == entity.name and other.name != entity.name
        ]
    found = []
    for item in wanted:
        relation = _relation(snapshot, entity, item.get("entity"), item.get("field"))
        if relation is not None:
            found.append(relation)
    return found


def _relation(snapshot: Any, entity: EntityDef, child: Any, field: Any) -> Relation | None:
    other = snapshot.entities.get(child) if isinstance(child, str) else None
    if other is None or not isinstance(field, str):
        return None
    definition = other.get_field(field)
    if definition is None or definition.hidden or definition.reference != entity.name:
        return None
    return Relation(other, field)


def visible_relations(snapshot: Any, entity: EntityDef, access: Access) -> list[Relation]:
    """Relations whose module the actor may view and whose reference field they may read."""
    return [
        r
        for r in relations(snapshot, entity)
        if access.allows(r.child.name, "view") and access.mask(r.child).level(r.field) >= Level.READ
    ]


def creatable_relations(relations_: list[Relation], access: Access) -> list[Relation]:
    """ "New contact for this customer": only where the actor may create and set the link."""
    return [
        r
        for r in relations_
        if access.allows(r.child.name, "create")
        and access.mask(r.child).level(r.field) == Level.WRITE
    ]


@screen
def related_panel(s: Screen) -> Response:
    entity_name = s.path_params["entity"]
    record_id = int(s.path_params["record_id"])
    platform = s.platform
    snapshot = platform.registry.snapshot()
    entity = snapshot.entity(entity_name)
    # NotFound outside the scope; the detail page holding this panel logged the view already
    platform.records.get(s.actor, entity.name, record_id, log_view=False)
    relation = _relation(snapshot, entity, s.path_params["child"], s.path_params["field"])
    if relation is None:
        raise NotFound(_("No such related list"))
    child = relation.child
    page = platform.records.query(
        s.actor, child.name, relation.filter(record_id), limit=PANEL_ROWS
    )  # PermissionDenied (403) when the actor may not view the child module
    access = platform.records.access(s.actor)
    mask = access.mask(child)
    columns = sorted(
        (
            f
            for f in readable_fields(child, mask)
            if f.key not in (relation.field, child.title_field)
            and not f.system
            and platform.types.for_field(f).widget not in SKIPPED_WIDGETS
        ),
        key=lambda f: not f.search,  # what people search by (a note's text) comes first
    )[:PANEL_COLUMNS]
    presenter = Presenter(platform, s.actor, child, s.locale, mask).load(page.rows, columns)
    back = f"/r/{entity.name}/{record_id}"
    rows = [
        {
            "id": row["id"],
            "title": entity_title(child, row),
            "href": f"/r/{child.name}/{row['id']}",
            "cells": [presenter.cell(f, row) for f in columns],
            "locked": bool(row.get("locked")),
        }
        for row in page.rows
    ]
    return s.render(
        "record/_related.html",
        relation=relation,
        child=child,
        columns=[f.title(s.locale) for f in columns],
        title_label=_title_label(child, s),
        rows=rows,
        more=page.next_cursor is not None,
        list_href=relation.list_href(record_id),
        new_href=relation.new_href(record_id, back)
        if relation in creatable_relations([relation], access)
        else None,
        can_edit=access.allows(child.name, "edit"),
        can_delete=access.allows(child.name, "delete"),
        back=back,
    )


def _title_label(child: EntityDef, s: Screen) -> str:
    field = child.get_field(child.title_field)
    return field.title(s.locale) if field else s.t("Name")


def routes() -> list[BaseRoute]:
    return [
        Route(
            "/r/{entity:str}/{record_id:int}/related/{child:str}/{field:str}",
            related_panel,
        )
    ]
