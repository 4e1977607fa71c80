"""Every screen route, in one list the application mounts."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from guanxi.templating import THEME_DIR
from guanxi.web import (
    account,
    admin,
    attachments,
    bulk,
    export,
    home,
    inline_edit,
    kanban,
    listing,
    notifications_page,
    pickers,
    record_forms,
    record_pages,
    timeline,
    views_routes,
)


def web_routes() -> list[BaseRoute]:
    return [
        Mount("/static", app=StaticFiles(directory=THEME_DIR / "static"), name="static"),
        *home.routes(),
        *account.routes(),
        *pickers.routes(),
        *notifications_page.routes(),
        *listing.routes(),
        *export.routes(),
        *bulk.routes(),
        *views_routes.routes(),
        *kanban.routes(),
        *timeline.routes(),
        *attachments.routes(),
        *record_forms.routes(),  # /r/{entity}/new before the detail page's /r/{entity}/{id}
        *record_pages.routes(),
        *inline_edit.routes(),
        *admin.routes(),
    ]
