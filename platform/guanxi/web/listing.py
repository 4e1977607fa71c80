"""The generated list view of every module (UI-02) at /r/{entity}: the page, the filter
builder fragments, the apply redirect and the CSV export. Bulk actions (bulk.py) and saved-view
routes (views_routes.py) re-render or redirect to this page through ListContext/render_list.

The whole view state lives in the URL (list_state.py). A page costs a fixed number of reads
whatever its size: the page (keyset cursor, never a deep offset), a capped count, one read
per referenced module for the titles, the saved views and the tag labels."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.crypto.columns import field_operators, field_sortable
from guanxi.errors import PermissionDenied, QueryError
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.web import saved_views
from guanxi.web.display import Presenter, entity_title, options_of, readable_fields
from guanxi.web.export import csv_response
from guanxi.web.forms import FormField, form_fields
from guanxi.web.list_state import (
    MAX_SORT_LEVELS,
    PAGE_SIZES,
    Builder,
    Condition,
    ListState,
    builder_from_tree,
    new_key,
    op_label,
    operators_for,
    parse_filter,
    sort_items,
    toggled_sort,
    tree_from_form,
    value_kind,
)
from guanxi.web.screen import Screen, screen

NOT_COLUMNS = ("id", "version")
DEFAULT_EXTRA_COLUMNS = 5


class ListContext:
    """What every list route needs: the module, the actor's access and mask, the state."""

    def __init__(self, s: Screen, params: QueryParams | None = None) -> None:
        self.s = s
        platform = s.platform
        self.entity: EntityDef = platform.registry.snapshot().entity(s.path_params["entity"])
        self.access = platform.records.access(s.actor)
        if not self.access.allows(self.entity.name, "view"):
            raise PermissionDenied(_("You may not view this module"))
        self.mask = self.access.mask(self.entity)
        self.types = platform.types
        params = s.params if params is None else params
        view_id = int_or_none(params.get("view"))
        self.view = (
            saved_views.get_view(platform, s.actor, self.entity.name, view_id)
            if view_id is not None
            else None
        )
        self.state = ListState.from_params(params, self.view.state if self.view else None)
        self.path = f"/r/{self.entity.name}"
        self.column_choices = [
            f for f in readable_fields(self.entity, self.mask) if f.key not in NOT_COLUMNS
        ]
        self.filterable = [f for f in self.column_choices if f.key in self.mask.readable]
        chosen = {f.key: f for f in self.column_choices}
        self.columns = [chosen[k] for k in self.state.cols if k in chosen] or self._defaults()

    def widget(self, field: FieldDef) -> str:
        return self.types.for_field(field).widget

    def _defaults(self) -> list[FieldDef]:
        """Title first, a few business fields, then owner and creation time."""
        title = self.entity.get_field(self.entity.title_field)
        picked = [f for f in self.column_choices if f is title]
        business = [
            f
            for f in self.column_choices
            if not f.system and f is not title and self.widget(f) not in ("textarea",)
        ]
        picked += business[:DEFAULT_EXTRA_COLUMNS]
        picked += [f for f in self.column_choices if f.key in ("owner_id", "created_at")]
        return picked or self.column_choices[:6]

    def field_keys(self, widgets: tuple[str, ...]) -> list[str]:
        return [f.key for f in self.filterable if self.widget(f) in widgets]

    def tag_field(self) -> FieldDef | None:
        return next((f for f in self.entity.visible_fields if self.widget(f) == "tags"), None)


# -- the list page -----------------------------------------------------------------------------


@screen
def list_page(s: Screen) -> Response:
    return render_list(s, ListContext(s))


def render_list(
    s: Screen,
    ctx: ListContext,
    *,
    notice: str | None = None,
    status: int = 200,
    fragment: bool = False,
) -> Response:
    """The page, or only its body for an htmx swap of #list-body (a history restore after
    the back button wants the whole page)."""
    platform, entity, state = s.platform, ctx.entity, ctx.state
    error = None
    rows: list[dict[str, Any]] = []
    next_cursor, count = None, None
    try:
        page = platform.records.query(
            s.actor, entity.name, state.filter, sort=state.sort or None, limit=state.n,
            after=state.after, search=state.q or None,
        )  # fmt: skip
        count = platform.records.count(s.actor, entity.name, state.filter, search=state.q or None)
        rows, next_cursor = page.rows, page.next_cursor
    except QueryError as problem:
        error = "；".join(e.message.render(s.locale) for e in problem.errors)
        status = 400
    presenter = Presenter(platform, s.actor, entity, s.locale, ctx.mask)
    presenter.load(rows, ctx.columns)
    builder = builder_from_tree(state.filter, ctx.field_keys(("date", "datetime")))
    if not builder.conditions and not builder.groups and builder.representable:
        builder.conditions.append(Condition(new_key()))
    context = {
        "entity": entity,
        "entity_label": entity.title(s.locale),
        "ctx": ctx,
        "state": state,
        "view": ctx.view,
        "views": saved_views.list_views(platform, s.actor, entity.name),
        "rows": _rows(ctx, presenter, rows),
        "column_heads": _headers(ctx),
        "count": count,
        "next_url": ctx.state.url(ctx.path, after=next_cursor) if next_cursor else None,
        "first_url": ctx.state.url(ctx.path, after=None) if state.after else None,
        "error": error,
        "notice": notice,
        "builder": _builder_view(s, ctx, builder, presenter),
        "filter_json": "" if builder.representable else _json(state.filter),
        "sort_levels": _sort_levels(ctx),
        "page_sizes": PAGE_SIZES,
        "state_pairs": state.pairs(),
        "bulk": _bulk_view(s, ctx, presenter),
        "export_url": f"{ctx.path}/export?{state.query_string()}",
        "may_share": ctx.access.is_admin or ctx.access.allows(entity.name, "assign"),
        "may_create": ctx.access.allows(entity.name, "create"),
        "board_field": next(iter(entity.pipelines), None),
    }
    partial = (
        s.is_htmx
        and (fragment or s.request.headers.get("hx-target") == "list-body")
        and not s.request.headers.get("hx-history-restore-request")
    )
    return s.render("list/_body.html" if partial else "list/page.html", status=status, **context)


def _json(tree: Any) -> str:
    from guanxi.web.list_state import filter_text

    return filter_text(tree)


def _rows(ctx: ListContext, presenter: Presenter, rows: list[dict[str, Any]]) -> list[Any]:
    # The detail page's previous/next re-runs this list: hand it the full state, not a view id.
    list_query = quote(ctx.state.query_string(view=False), safe="")
    title_key = ctx.entity.title_field
    shown = []
    for row in rows:
        href = f"{ctx.path}/{row['id']}" + (f"?list={list_query}" if list_query else "")
        cells = [(field, presenter.cell(field, row)) for field in ctx.columns]
        shown.append(
            {
                "id": row["id"],
                "href": href,
                "title": entity_title(ctx.entity, row),
                "cells": cells,
                "title_key": title_key if any(f.key == title_key for f in ctx.columns) else None,
            }
        )
    return shown


def _headers(ctx: ListContext) -> list[dict[str, Any]]:
    levels = {
        key: (position, desc) for position, (key, desc) in enumerate(sort_items(ctx.state.sort))
    }
    headers = []
    for field in ctx.columns:
        sortable = field.key in ctx.mask.readable and field_sortable(field, ctx.types)
        position, descending = levels.get(field.key, (None, False))
        headers.append(
            {
                "field": field,
                "label": field.title(ctx.s.locale),
                "url": ctx.state.url(ctx.path, sort=toggled_sort(ctx.state.sort, field.key),
                                     after=None) if sortable else None,
                "level": None if position is None else position + 1,
                "descending": descending,
                "numeric": ctx.widget(field) in ("number", "money", "percent", "rating"),
            }
        )  # fmt: skip
    return headers


def _sort_levels(ctx: ListContext) -> dict[str, Any]:
    items = sort_items(ctx.state.sort)[:MAX_SORT_LEVELS]
    items += [("", False)] * (MAX_SORT_LEVELS - len(items))
    fields = [
        (f.key, f.title(ctx.s.locale)) for f in ctx.filterable if field_sortable(f, ctx.types)
    ]
    return {"levels": items, "fields": fields}


# -- the filter builder ------------------------------------------------------------------------


def _builder_view(
    s: Screen, ctx: ListContext, builder: Builder, presenter: Presenter
) -> dict[str, Any]:
    conditions = builder.conditions + [c for g in builder.groups for c in g.conditions]
    by_key = {f.key: f for f in ctx.filterable}
    refs = [by_key[c.field] for c in conditions if c.field in by_key]
    presenter.load([{c.field: int_or_none(c.value)} for c in conditions if c.field in by_key], refs)
    return {
        "join": builder.join,
        "representable": builder.representable,
        "rows": [_row_view(s, ctx, c, "", presenter) for c in builder.conditions],
        "groups": [
            {
                "key": g.key,
                "join": g.join,
                "rows": [_row_view(s, ctx, c, g.key, presenter) for c in g.conditions],
            }
            for g in builder.groups
        ],  # fmt: skip
    }


def _row_view(
    s: Screen, ctx: ListContext, condition: Condition, group: str, presenter: Presenter | None
) -> dict[str, Any]:
    """One builder row: the field list, the operators of the chosen field's type and the
    value input those call for."""
    fields = [(f.key, f.title(s.locale)) for f in ctx.filterable]
    field = next((f for f in ctx.filterable if f.key == condition.field), None)
    view: dict[str, Any] = {
        "key": condition.key, "group": group, "field": condition.field, "fields": fields,
        "op": condition.op, "ops": [], "kind": "none", "value": condition.value,
        "value2": condition.value2, "options": [], "picker": None,
    }  # fmt: skip
    if field is None:
        return view
    widget = ctx.widget(field)
    ops = operators_for(widget, field_operators(field, ctx.types))
    op = condition.op if condition.op in ops else ops[0]
    kind = value_kind(widget, op)
    values = condition.value if isinstance(condition.value, list) else [condition.value]
    view.update(
        op=op, ops=[(o, s.label(op_label(o, widget))) for o in ops], kind=kind,
        values=[str(v) for v in values if v not in (None, "")],
    )  # fmt: skip
    if widget == "tags":
        labels = presenter or Presenter(s.platform, s.actor, ctx.entity, s.locale, ctx.mask)
        view["options"] = [(code, text) for code, (text, _c) in labels.tag_labels().items()]
    elif widget == "checkbox":
        view["options"] = [("true", s.t("Yes")), ("false", s.t("No"))]
    else:
        view["options"] = options_of(field, s.locale)
    if kind == "picker":
        value = int_or_none(values[0] if values else None)
        target = field.reference if widget == "reference" else widget
        title = presenter.title_of(target or "", value) if presenter and value else None
        view["picker"] = FormField(
            field=replace(field, key=f"f.{condition.key}.value"), label=field.title(s.locale),
            widget=widget, value="" if value is None else value, required=False,
            reference_title=title or ("" if value is None else f"#{value}"),
        )  # fmt: skip
    if isinstance(view["value"], list):
        view["value"] = ", ".join(view["values"])
    return view


@screen
def filter_row(s: Screen) -> Response:
    """A builder row re-drawn after its field or operator changed (or a new, empty one)."""
    ctx = ListContext(s, QueryParams(""))
    key = str(s.params.get("row") or "") or new_key()
    if not key.isalnum() or len(key) > 20:
        key = new_key()
    values = [v for v in s.params.getlist(f"f.{key}.value") if v]
    condition = Condition(
        key, str(s.params.get(f"f.{key}.field") or ""), str(s.params.get(f"f.{key}.op") or ""),
        values if len(values) > 1 else (values[0] if values else ""),
        str(s.params.get(f"f.{key}.value2") or ""),
    )  # fmt: skip
    group = str(s.params.get(f"f.{key}.group") or s.params.get("group") or "")
    row = _row_view(s, ctx, condition, group if group.isalnum() else "", None)
    return s.render("list/_filter_row.html", row=row, ctx=ctx)


@screen
def filter_group(s: Screen) -> Response:
    ctx = ListContext(s, QueryParams(""))
    key = new_key()
    row = _row_view(s, ctx, Condition(new_key()), key, None)
    return s.render("list/_filter_group.html", group={"key": key, "join": "or", "rows": [row]},
                    ctx=ctx)  # fmt: skip


@screen
def apply(s: Screen) -> Response:
    """The filter builder, sort editor and column chooser submit here (GET); the answer is a
    redirect to the list URL holding the new state, so the back button and links work."""
    ctx = ListContext(s)
    state = ctx.state
    edit = s.params.get("edit")
    if edit == "filter":
        raw = s.params.get("filter_json")
        tree = (
            parse_filter(raw)
            if raw is not None
            else tree_from_form(s.params, ctx.field_keys(("datetime",)))
        )
        state = replace(state, filter=tree)
    elif edit == "sort":
        sort = []
        for level in range(MAX_SORT_LEVELS):
            key = str(s.params.get(f"sort.{level}.field") or "")
            if key:
                sort.append(("-" if s.params.get(f"sort.{level}.dir") == "desc" else "") + key)
        state = replace(state, sort=list(dict.fromkeys(sort)))
    elif edit == "cols":
        state = replace(state, cols=[str(k) for k in s.params.getlist("col")])
    return s.redirect(state.url(ctx.path, after=None))


# -- export and the bulk toolbar (UI-03) -------------------------------------------------------


@screen
def export(s: Screen) -> Response:
    ctx = ListContext(s)
    filters = ctx.state.filter
    ids = ids_of(str(s.params.get("ids") or "").split(","))
    if ids:
        only = {"field": "id", "op": "in", "value": ids}
        filters = {"and": [filters, only]} if filters else only
    return csv_response(
        s.platform,
        s.actor,
        ctx.entity,
        s.locale,
        ctx.columns,
        filters,
        ctx.state.sort,
        search=ctx.state.q or None,
    )


def _bulk_view(s: Screen, ctx: ListContext, presenter: Presenter) -> dict[str, Any]:
    """What the page's bulk toolbar offers; bulk.py runs the chosen action."""
    name = ctx.entity.name
    allows = ctx.access.allows
    writable = form_fields(ctx.entity, ctx.mask, creating=False)
    tag_field = ctx.tag_field()
    owner = ctx.entity.get_field("owner_id")
    return {
        "edit": allows(name, "edit"),
        "assign": allows(name, "assign") and owner is not None,
        "owner": FormField(field=owner, label=owner.title(s.locale), widget="user", value="",
                           required=True) if owner is not None else None,
        "tags": [(code, text) for code, (text, _c) in presenter.tag_labels().items()]
        if tag_field is not None and tag_field.key in ctx.mask.writable else [],
        "fields": [(f.key, f.title(s.locale)) for f in writable
                   if f.key not in ("owner_id",) and ctx.widget(f) != "tags"],
        "delete": allows(name, "delete"),
        "export": allows(name, "export"),
        "merge": allows(name, "edit") and _deletes_directly(ctx, name),
    }  # fmt: skip


def _deletes_directly(ctx: ListContext, name: str) -> bool:
    """Deleting without an approval step: what merging the selected records needs (DATA-08)."""
    rule = ctx.access.delete_rule(name)
    return ctx.access.allows(name, "delete") and (
        rule == "allowed"
        or (rule == "approval" and ctx.access.allows(name, "approve_delete"))
        or (rule == "admin_only" and ctx.access.is_admin)
    )


def ids_of(values: Any) -> list[int]:
    """Distinct positive record ids, in the order given; anything else is dropped."""
    ids = [int_or_none(v) for v in values]
    return list(dict.fromkeys(i for i in ids if i is not None and i > 0))


def int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def routes() -> list[BaseRoute]:
    return [
        Route("/r/{entity:str}", list_page),
        Route("/r/{entity:str}/apply", apply),
        Route("/r/{entity:str}/filter-row", filter_row),
        Route("/r/{entity:str}/filter-group", filter_group),
        Route("/r/{entity:str}/export", export),
    ]
