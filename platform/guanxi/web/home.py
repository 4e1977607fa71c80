"""The home dashboard (UI-08): my open tasks, today's follow-ups and figures for my role.

Every figure is counted through the record service, so a rep sees their own numbers and a
manager their department's, from the same code (scopes do the difference)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import clock
from guanxi.errors import PermissionDenied
from guanxi.web.display import Presenter, entity_title
from guanxi.web.screen import Screen, screen

OPEN_TASK = {"field": "status", "op": "in", "value": ["todo", "doing"]}
FIGURE_MODULES = ("customer", "contact", "followup", "task")


@screen
def dashboard(s: Screen) -> Response:
    platform = s.platform
    access = platform.records.access(s.actor)
    snapshot = platform.registry.snapshot()
    figures: list[dict[str, Any]] = []
    for name in FIGURE_MODULES:
        if name in snapshot.entities and access.allows(name, "view"):
            entity = snapshot.entity(name)
            count = platform.records.count(s.actor, name)
            figures.append(
                {"label": entity.title(s.locale), "value": count.value, "exact": count.exact,
                 "href": f"/r/{name}"}
            )  # fmt: skip
    if "customer" in snapshot.entities and access.allows("customer", "view"):
        new_this_month = platform.records.count(
            s.actor, "customer", {"field": "created_at", "op": "this_month"}
        )
        figures.append(
            {"label": s.t("New customers this month"), "value": new_this_month.value,
             "exact": new_this_month.exact, "href": "/r/customer?" + _filter_query("this_month")}
        )  # fmt: skip
    tasks = _my_tasks(s)
    followups = _todays_followups(s)
    panels = []
    for contributed in platform.pm.hook.dashboard_panels(platform=platform, actor=s.actor):
        panels.extend(contributed or [])
    panels.sort(key=lambda panel: panel.get("position", 50))
    return s.render("home.html", figures=figures, tasks=tasks, followups=followups, panels=panels)


def _filter_query(op: str) -> str:
    return urlencode({"filter": json.dumps({"field": "created_at", "op": op})})


def _my_tasks(s: Screen) -> dict[str, Any] | None:
    """My open tasks, soonest due first."""
    mine = {"field": "owner_id", "op": "eq", "value": s.actor.user_id}
    return _due_list(s, "task", [OPEN_TASK, mine], "due_at", extra="customer")


def _todays_followups(s: Screen) -> dict[str, Any] | None:
    """Customers whose next follow-up is due today or overdue, in the actor's scope."""
    tomorrow = (clock.today_local() + timedelta(days=1)).isoformat()  # read as local midnight
    due = {"field": "next_followup_at", "op": "lt", "value": tomorrow}
    return _due_list(s, "customer", due, "next_followup_at")


def _due_list(
    s: Screen, entity_name: str, filters: Any, when_key: str, *, extra: str | None = None
) -> dict[str, Any] | None:
    """Ten records by a due moment (overdue ones marked), read through the record service;
    None when the actor may not view the module (the panel is left out)."""
    try:
        entity = s.platform.registry.snapshot().entity(entity_name)
        page = s.platform.records.query(s.actor, entity_name, filters, sort=[when_key], limit=10)
    except PermissionDenied:
        return None
    mask = s.platform.records.access(s.actor).mask(entity)
    when, other = entity.get_field(when_key), entity.get_field(extra) if extra else None
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask)
    presenter.load(page.rows, [f for f in (when, other) if f is not None])
    now = clock.now_utc()
    return {
        "rows": [
            {
                "id": row["id"],
                "title": entity_title(entity, row),
                "when": presenter.cell(when, row) if when else None,
                "extra": presenter.cell(other, row) if other else None,
                "overdue": bool(row.get(when_key) and row[when_key] < now),
            }
            for row in page.rows
        ],
        "more": page.next_cursor is not None,
    }


def routes() -> list[BaseRoute]:
    return [Route("/", dashboard)]
