"""Reference pickers (UI-05): server-side search for a record, user or department to link.

Records are searched through the read path (the actor's scope and masks apply), so a picker
never offers a record the actor could not open."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.meta.field_types import like_escape
from guanxi.store.system_tables import department, user
from guanxi.web.display import entity_title
from guanxi.web.screen import Screen, screen

LIMIT = 10


def like_pattern(text: str) -> str:
    return f"%{like_escape(text)}%"


@screen
def pick(s: Screen) -> Response:
    target = s.path_params["target"]
    field = str(s.params.get("field") or "")
    text = str(s.params.get(f"_q_{field}") or s.params.get("q") or "").strip()[:100]
    if target in ("user", "department"):
        options = _org_options(s, target, text)
    else:
        entity = s.platform.registry.snapshot().entity(target)
        page = s.platform.records.query(s.actor, entity.name, search=text or None, limit=LIMIT)
        options = [
            {"id": row["id"], "label": entity_title(entity, row), "hint": row.get("number") or ""}
            for row in page.rows
        ]
    return s.render("_picker_results.html", options=options, text=text)


def _org_options(s: Screen, target: str, text: str) -> list[dict[str, Any]]:
    if target == "user":
        query = sa.select(user.c.id, user.c.display_name, user.c.username).where(user.c.active)
        if text:
            pattern = like_pattern(text)
            query = query.where(
                sa.or_(user.c.display_name.like(pattern, escape="\\"),
                       user.c.username.like(pattern, escape="\\"))
            )  # fmt: skip
        query = query.order_by(user.c.display_name).limit(LIMIT)
    else:
        query = sa.select(department.c.id, department.c.name, sa.literal("")).order_by(
            department.c.name
        )
        if text:
            query = query.where(department.c.name.like(like_pattern(text), escape="\\"))
        query = query.limit(LIMIT)
    with s.platform.db.read() as connection:
        return [
            {"id": row[0], "label": row[1], "hint": row[2]} for row in connection.execute(query)
        ]


def routes() -> list[BaseRoute]:
    return [Route("/pick/{target:str}", pick)]
