"""The routes that save, rename and delete saved list views (UI-02). The rules and storage
live in saved_views.py, which listing.py reads to apply a view; these routes need listing's
ListContext to capture the current state, so they cannot sit in saved_views.py without an
import cycle."""

from __future__ import annotations

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import NotFound
from guanxi.i18n import _
from guanxi.web import saved_views
from guanxi.web.listing import ListContext
from guanxi.web.screen import Screen, screen


@screen
def save_view(s: Screen) -> Response:
    assert s.form is not None
    ctx = ListContext(s, QueryParams(str(s.form.get("back") or "")))
    saved = saved_views.save_view(
        s.platform, s.actor, ctx.entity.name, str(s.form.get("name") or ""),
        ctx.state.saved_state(), shared=s.form.get("shared") in ("on", "1", "true"),
    )  # fmt: skip
    return s.redirect(f"{ctx.path}?view={saved.id}")


@screen
def change_view(s: Screen) -> Response:
    assert s.form is not None
    entity = s.platform.registry.snapshot().entity(s.path_params["entity"]).name
    view_id = int(s.path_params["view_id"])
    change = s.path_params["change"]
    if change not in ("rename", "delete"):
        raise NotFound(_("Unknown action '{name}'", name=change))
    if change == "delete":
        saved_views.delete_view(s.platform, s.actor, entity, view_id)
        return s.redirect(f"/r/{entity}")
    saved_views.rename_view(s.platform, s.actor, entity, view_id, str(s.form.get("name") or ""))
    return s.redirect(f"/r/{entity}?view={view_id}")


def routes() -> list[BaseRoute]:
    return [
        Route("/r/{entity:str}/views", save_view, methods=["POST"]),
        Route("/r/{entity:str}/views/{view_id:int}/{change:str}", change_view, methods=["POST"]),
    ]
