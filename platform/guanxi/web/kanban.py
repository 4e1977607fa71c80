"""The kanban board (UI-06): one column per stage of a pipeline field, drag a card to move it.

A move is an ordinary update through the record service with the card's version, so the
pipeline's transition rules, required fields and reasons (defaults/stages.py), optimistic
concurrency, locks and edit scopes all apply; the board only shows what the service said.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from guanxi.auth.fields import Level
from guanxi.errors import GuanxiError, QueryError, ValidationFailed
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef, Pipeline, Stage
from guanxi.store.query import CountResult
from guanxi.web.display import Cell, Presenter, entity_title
from guanxi.web.screen import Screen, screen

PER_COLUMN = 20
COUNT_CAP = 999
DEFAULT_COLOURS = {"open": "#2f6bff", "won": "#2ea121", "lost": "#8f959e"}


@dataclass
class Card:
    id: int
    version: int
    title: str
    owner: Cell | None
    fields: list[tuple[str, Cell]]
    locked: bool


@dataclass
class Column:
    stage: Stage
    label: str
    colour: str
    count: CountResult
    total: str = ""
    cards: list[Card] = field(default_factory=list)
    more_href: str | None = None


def stage_field(entity: EntityDef, requested: str | None) -> Pipeline:
    """The pipeline to lay out: the requested stage field, or the entity's first one."""
    if not entity.pipelines:
        raise QueryError(
            _("{entity} has no stage field to show as a board", entity=entity.label),
            code="no_stage",
        )
    key = requested or next(iter(entity.pipelines))
    if key not in entity.pipelines:
        raise QueryError(
            _("'{key}' is not a stage field", key=key), field="field", code="bad_field"
        )
    return entity.pipelines[key]


def base_filter(s: Screen) -> Any:
    """The list's `filter` parameter (the query language as JSON), if any."""
    raw = s.params.get("filter")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise QueryError(_("The filter is not valid JSON"), field="filter") from None


def _and(*conditions: Any) -> Any:
    present = [c for c in conditions if c]
    return present[0] if len(present) == 1 else {"and": present}


def money_field(entity: EntityDef, mask: Any, types: Any) -> FieldDef | None:
    """The first money field the actor may read in full: its sum heads each column."""
    return next(
        (f for f in entity.visible_fields
         if types.for_field(f).widget == "money" and mask.level(f.key) >= Level.READ),
        None,
    )  # fmt: skip


def card_fields(entity: EntityDef, mask: Any, types: Any, pipeline: Pipeline) -> list[FieldDef]:
    """A couple of key fields per card: the money field and the first reference."""
    chosen: list[FieldDef] = []
    money = money_field(entity, mask, types)
    if money is not None:
        chosen.append(money)
    reference = next(
        (f for f in entity.visible_fields
         if types.for_field(f).widget == "reference" and mask.level(f.key) >= Level.READ),
        None,
    )  # fmt: skip
    if reference is not None:
        chosen.append(reference)
    return chosen


def column_figures(
    s: Screen, entity: EntityDef, pipeline: Pipeline, stage: str, filters: Any, q: str | None
) -> tuple[CountResult, str]:
    """(capped count, formatted sum) of one column, within the actor's scope."""
    condition = _and(filters, {"field": pipeline.field, "op": "eq", "value": stage})
    count = s.platform.records.count(s.actor, entity.name, condition, search=q, cap=COUNT_CAP)
    mask = s.platform.records.access(s.actor).mask(entity)
    money = money_field(entity, mask, s.platform.types)
    total = ""
    if money is not None and not q:  # aggregates take filters only: no sum for a search
        rows = s.platform.records.aggregate(
            s.actor, entity.name, condition, measures=[("sum", money.key)]
        )
        value = rows[0].get(f"sum_{money.key}") if rows else None
        total = s.platform.types.for_field(money).format(value or 0, money, s.locale)
    return count, total


@screen
def board(s: Screen) -> Response:
    entity = s.platform.registry.snapshot().entity(s.path_params["entity"])
    access = s.platform.records.access(s.actor)
    access.check_module(entity, "view")
    pipeline = stage_field(entity, s.params.get("field") or None)
    filters = base_filter(s)
    q = str(s.params.get("q") or "").strip()[:100] or None
    mask = access.mask(entity)
    if mask.level(pipeline.field) < Level.READ:
        raise QueryError(_("'{key}' is not a stage field", key=pipeline.field), field="field")
    fields = card_fields(entity, mask, s.platform.types, pipeline)
    owner_field = entity.get_field("owner_id")
    shown = [*fields, *([owner_field] if owner_field else [])]
    columns, rows_by_stage = [], {}
    for stage in pipeline.stages:
        condition = _and(filters, {"field": pipeline.field, "op": "eq", "value": stage.code})
        page = s.platform.records.query(
            s.actor, entity.name, condition, search=q, sort=["-updated_at"], limit=PER_COLUMN
        )
        rows_by_stage[stage.code] = page.rows
        count, total = column_figures(s, entity, pipeline, stage.code, filters, q)
        more = None
        if page.next_cursor is not None:
            more = f"/r/{entity.name}?" + urlencode(
                {"filter": json.dumps(condition, ensure_ascii=False), **({"q": q} if q else {})}
            )
        columns.append(
            Column(stage, s.label(stage.label),
                   stage.color or DEFAULT_COLOURS.get(stage.category, "#2f6bff"), count, total,
                   more_href=more)
        )  # fmt: skip
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask)
    presenter.load([r for rows in rows_by_stage.values() for r in rows], shown)
    for column in columns:
        column.cards = [
            Card(row["id"], row["version"], entity_title(entity, row),
                 presenter.cell(owner_field, row) if owner_field else None,
                 [(f.title(s.locale), presenter.cell(f, row)) for f in fields
                  if presenter.cell(f, row).text], bool(row.get("locked")))
            for row in rows_by_stage[column.stage.code]
        ]  # fmt: skip
    return s.render(
        "kanban/board.html",
        entity=entity,
        pipeline=pipeline,
        stage_fields=[(key, entity.field(key).title(s.locale)) for key in entity.pipelines],
        columns=columns,
        can_move=access.allows(entity.name, "edit") and mask.level(pipeline.field) == Level.WRITE,
        q=q or "",
        filter_json=s.params.get("filter") or "",
    )


def _wants_json(s: Screen) -> bool:
    return "application/json" in s.request.headers.get("accept", "")


@screen
def move(s: Screen) -> Response:
    """Move a card: field, to, version (and reason). JSON for the board's script; a redirect
    back to the board for the plain form (the keyboard and no-script fallback)."""
    entity = s.platform.registry.snapshot().entity(s.path_params["entity"])
    assert s.form is not None
    pipeline = stage_field(entity, str(s.form.get("field") or "") or None)
    target = str(s.form.get("to") or "")
    source = str(s.form.get("from") or "")
    reason = str(s.form.get("reason") or "").strip() or None
    try:
        version = int(str(s.form.get("version") or ""))
    except ValueError:
        return _refused(s, ValidationFailed([_version_error()]))
    if target not in pipeline.by_code:
        return _refused(s, QueryError(_("Choose a stage to move to"), field="to"))
    try:
        record = s.platform.records.update(
            s.actor, entity.name, s.path_params["record_id"], {pipeline.field: target},
            version=version, reason=reason,
        )  # fmt: skip
    except GuanxiError as error:
        return _refused(s, error, pipeline, target)
    if not _wants_json(s):
        return s.redirect(f"/r/{entity.name}/board?" + urlencode({"field": pipeline.field}))
    figures = {}
    for stage in {source, target} & set(pipeline.by_code):
        count, total = column_figures(s, entity, pipeline, stage, None, None)
        figures[stage] = {"count": count.value, "exact": count.exact, "total": total}
    return JSONResponse(
        {"id": record["id"], "version": record["version"], "stage": target, "columns": figures,
         "message": s.t("Moved to {stage}", stage=s.label(pipeline.by_code[target].label))}
    )  # fmt: skip


def _version_error() -> Any:
    from guanxi.errors import FieldError

    return FieldError("version", "required", _("The card's version is missing; reload the board"))


def _refused(
    s: Screen, error: GuanxiError, pipeline: Pipeline | None = None, target: str = ""
) -> Response:
    """The service's answer, as the board's script reads it (or the usual page/toast)."""
    if not _wants_json(s):
        return s.error_page(error)
    codes = {e.code for e in error.errors}
    needs_reason = codes == {"reason_required"}  # a reason alone would let it through
    stage_label = ""
    if pipeline is not None and target in pipeline.by_code:
        stage_label = s.label(pipeline.by_code[target].label)
    return JSONResponse(
        {"error": "；".join(e.message.render(s.locale) for e in error.errors),
         "codes": sorted(codes), "reason_required": needs_reason, "stage": stage_label},
        status_code=error.status,
    )  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/r/{entity:str}/board", board),
        Route("/r/{entity:str}/{record_id:int}/move", move, methods=["POST"]),
    ]
