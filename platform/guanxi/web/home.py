"""The home dashboard (UI-08): my open tasks, today's follow-ups and figures for my role.

Every figure is counted through the record service, so a rep sees their own numbers and a
manager their department's, from the same code (scopes do the difference)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

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
    return s.render(
        "home.html", figures=figures, tasks=tasks, followups=followups, panels=panels
    )


def _filter_query(op: str) -> str:
    import json
    from urllib.parse import urlencode

    return urlencode({"filter": json.dumps({"field": "created_at", "op": op})})


def _my_tasks(s: Screen) -> dict[str, Any] | None:
    try:
        entity = s.platform.registry.snapshot().entity("task")
        page = s.platform.records.query(
            s.actor,
            "task",
            [OPEN_TASK, {"field": "owner_id", "op": "eq", "value": s.actor.user_id}],
            sort=["due_at"],
            limit=10,
        )
    except PermissionDenied:
        return None
    presenter = Presenter(
        s.platform, s.actor, entity, s.locale, s.platform.records.access(s.actor).mask(entity)
    )
    due_field = entity.get_field("due_at")
    customer_field = entity.get_field("customer")
    fields = [f for f in (due_field, customer_field) if f is not None]
    presenter.load(page.rows, fields)
    return {
        "rows": [
            {
                "id": row["id"],
                "title": entity_title(entity, row),
                "due": presenter.cell(due_field, row) if due_field else None,
                "customer": presenter.cell(customer_field, row) if customer_field else None,
                "overdue": bool(row.get("due_at") and row["due_at"] < _now()),
            }
            for row in page.rows
        ],
        "more": page.next_cursor is not None,
    }


def _todays_followups(s: Screen) -> dict[str, Any] | None:
    """Customers whose next follow-up is due today or overdue, in the actor's scope."""
    try:
        entity = s.platform.registry.snapshot().entity("customer")
        page = s.platform.records.query(
            s.actor,
            "customer",
            {"field": "next_followup_at", "op": "lt", "value": _tomorrow_start()},
            sort=["next_followup_at"],
            limit=10,
        )
    except PermissionDenied:
        return None
    presenter = Presenter(
        s.platform, s.actor, entity, s.locale, s.platform.records.access(s.actor).mask(entity)
    )
    when = entity.get_field("next_followup_at")
    return {
        "rows": [
            {
                "id": row["id"],
                "title": entity_title(entity, row),
                "when": presenter.cell(when, row) if when else None,
                "overdue": bool(row.get("next_followup_at") and row["next_followup_at"] < _now()),
            }
            for row in page.rows
        ],
        "more": page.next_cursor is not None,
    }


def _now() -> Any:
    from guanxi import clock

    return clock.now_utc()


def _tomorrow_start() -> str:
    from datetime import timedelta

    from guanxi import clock

    return (clock.today_local() + timedelta(days=1)).isoformat()  # read as local midnight


def routes() -> list[BaseRoute]:
    return [Route("/", dashboard)]
