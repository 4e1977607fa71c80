"""The completeness report (DATA-11) at /reports/completeness: per owner, how many records of a
module miss each chosen field, as counts and % complete. The figures come from one grouped
query (records.completeness) within the viewer's scope, on fields they may read in full;
each missing count links to the list of exactly those records (owner + field is empty)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import clock
from guanxi.actor import Actor
from guanxi.authorization import Access
from guanxi.errors import QueryError
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.web.chrome import CORE_ORDER
from guanxi.web.display import Presenter
from guanxi.web.list_state import ListState
from guanxi.web.screen import Screen, screen

PATH = "/reports/completeness"
OWNER = "owner_id"
DEFAULT_FIELDS = 6
MENU_ITEM = {
    "href": PATH,
    "label": {"zh-CN": "资料完整度", "en": "Data completeness"},
    "position": 60,
}


@dataclass
class Figure:
    """One field of one row: how many miss it, the share complete, the list of those records."""

    missing: int
    complete: float
    href: str


@dataclass
class ReportRow:
    label: str
    count: int
    href: str
    figures: list[Figure] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return sum(figure.missing for figure in self.figures)


@dataclass
class Report:
    entity: EntityDef
    fields: list[FieldDef]
    rows: list[ReportRow]
    total: ReportRow
    by_owner: bool


def menu_entries(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    """The navigation entry (for a menu_items hook): shown to anyone who may view a module."""
    access = platform.records.access(actor)
    if any(access.allows(entity.name, "view") for entity in platform.registry.entities()):
        return [dict(MENU_ITEM)]
    return []


def viewable_entities(platform: Any, access: Access, locale: str) -> list[EntityDef]:
    rank = {name: position for position, name in enumerate(CORE_ORDER)}
    entities = [e for e in platform.registry.entities() if access.allows(e.name, "view")]
    return sorted(entities, key=lambda e: (rank.get(e.name, len(rank)), e.title(locale)))


def choosable_fields(platform: Any, entity: EntityDef, access: Access) -> list[FieldDef]:
    """Business fields the viewer reads in full and that can be empty: a masked or hidden
    field is never offered (its emptiness would say something about its value)."""
    readable = access.mask(entity).readable
    return [
        f
        for f in entity.visible_fields
        if not f.system
        and f.key in readable
        and "is_empty" in platform.types.for_field(f).operators
    ]


def default_fields(fields: list[FieldDef]) -> list[FieldDef]:
    """Indexed optional fields (how people are reached and found: mobile, email, industry),
    else the first optional ones; required fields are never empty and say nothing."""
    optional = [f for f in fields if not f.required]
    return ([f for f in optional if f.index] or optional or fields)[:DEFAULT_FIELDS]


def build_report(
    platform: Any, actor: Actor, entity: EntityDef, keys: list[str], locale: str
) -> Report:
    """The report's rows (most missing first) and their total. The service checks the keys:
    an unknown, hidden or masked field is a QueryError that names it."""
    access = platform.records.access(actor)
    mask = access.mask(entity)
    owner = entity.get_field(OWNER)
    by_owner = owner is not None and OWNER in mask.readable
    found = platform.records.completeness(
        actor, entity.name, keys, group_by=OWNER if by_owner else None
    )
    fields = [entity.field(key) for key in dict.fromkeys(keys)]
    presenter = Presenter(platform, actor, entity, locale, mask)
    if by_owner and owner is not None:
        presenter.load([{OWNER: row["group"]} for row in found], [owner])
    path = f"/r/{entity.name}"
    rows = []
    for item in found:
        owner_id = item["group"]
        if not by_owner:
            label, where = _("All records").render(locale), None
        elif owner_id is None:
            label, where = _("Unassigned").render(locale), {"field": OWNER, "op": "is_empty"}
        else:
            title = presenter.title_of("user", owner_id)
            label, where = title or f"#{owner_id}", {"field": OWNER, "op": "eq", "value": owner_id}
        rows.append(_row(path, label, item["count"], item["missing"], fields, where))
    rows.sort(key=lambda row: (-row.missing, -row.count, row.label))
    totals = {f.key: sum(item["missing"][f.key] for item in found) for f in fields}
    count = sum(item["count"] for item in found)
    total = _row(path, _("Total").render(locale), count, totals, fields, None)
    return Report(entity, fields, rows, total, by_owner)


def _row(
    path: str,
    label: str,
    count: int,
    missing: dict[str, int],
    fields: list[FieldDef],
    where: dict[str, Any] | None,
) -> ReportRow:
    row = ReportRow(label, count, ListState(filter=where).url(path))
    for item in fields:
        empty = {"field": item.key, "op": "is_empty"}
        tree = {"and": [where, empty]} if where else empty
        gap = missing.get(item.key, 0)
        complete = 100.0 * (count - gap) / count if count else 100.0
        if 0 < gap < count:  # never round one gap up to 100.0% (or one filled record to 0.0%)
            complete = min(max(complete, 0.1), 99.9)
        row.figures.append(Figure(gap, complete, ListState(filter=tree).url(path)))
    return row


# -- the screen ----------------------------------------------------------------------------------


@dataclass
class Choice:
    """What the request asks for: a module the viewer may view and field keys of it."""

    entities: list[EntityDef]
    entity: EntityDef | None
    offered: list[FieldDef]
    keys: list[str]


def _choice(s: Screen) -> Choice:
    platform = s.platform
    access = platform.records.access(s.actor)
    entities = viewable_entities(platform, access, s.locale)
    name = str(s.params.get("entity") or "")
    if not name:
        entity = entities[0] if entities else None
    else:
        entity = platform.registry.snapshot().entity(name)  # NotFound for an unknown module
        access.check_module(entity, "view")
    if entity is None:
        return Choice(entities, None, [], [])
    offered = choosable_fields(platform, entity, access)
    keys = list(dict.fromkeys(str(k) for k in s.params.getlist("fields") if k))
    # Fields ticked for another module (the module select changed) do not carry over.
    if not keys or s.params.get("for") not in (None, "", entity.name):
        keys = [f.key for f in default_fields(offered)]
    return Choice(entities, entity, offered, keys)


@screen
def completeness_page(s: Screen) -> Response:
    choice = _choice(s)
    report, error, status = None, None, 200
    if choice.entity is not None and choice.keys:
        try:
            report = build_report(s.platform, s.actor, choice.entity, choice.keys, s.locale)
        except QueryError as problem:
            status = 400
            error = "；".join(e.message.render(s.locale) for e in problem.errors)
    return s.render(
        "reports/completeness.html",
        status=status,
        choice=choice,
        report=report,
        error=error,
        csv_url=_csv_url(choice) if report is not None else None,
    )


@screen
def completeness_csv(s: Screen) -> Response:
    """The report as a CSV file (what the page shows, without the links)."""
    choice = _choice(s)
    if choice.entity is None:
        return s.redirect(PATH)
    report = build_report(s.platform, s.actor, choice.entity, choice.keys, s.locale)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = [s.t("Owner") if report.by_owner else "", s.t("Records")]
    for item in report.fields:
        label = item.title(s.locale)
        header += [s.t("{field}: missing", field=label), s.t("{field}: % complete", field=label)]
    writer.writerow(header)
    for row in [*report.rows, report.total]:
        cells: list[Any] = [row.label, row.count]
        for figure in row.figures:
            cells += [figure.missing, f"{figure.complete:.1f}"]
        writer.writerow(cells)
    name = f"completeness-{choice.entity.name}-{clock.today_local():%Y%m%d}.csv"
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _csv_url(choice: Choice) -> str:
    assert choice.entity is not None
    pairs = [("entity", choice.entity.name), *(("fields", key) for key in choice.keys)]
    return f"{PATH}.csv?" + urlencode(pairs, quote_via=quote)


def routes() -> list[BaseRoute]:
    return [
        Route(PATH, completeness_page),
        Route(f"{PATH}.csv", completeness_csv),
    ]
