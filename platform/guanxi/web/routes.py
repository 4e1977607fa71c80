"""Every screen route, in one list the application mounts."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from guanxi.templating import THEME_DIR
from guanxi.web import (
    account,
    admin,
    attachments,
    home,
    kanban,
    listing,
    notifications_page,
    pickers,
    record_pages,
    timeline,
)


def web_routes() -> list[BaseRoute]:
    return [
        Mount("/static", app=StaticFiles(directory=THEME_DIR / "static"), name="static"),
        *home.routes(),
        *account.routes(),
        *pickers.routes(),
        *notifications_page.routes(),
        *listing.routes(),
        *kanban.routes(),
        *timeline.routes(),
        *attachments.routes(),
        *record_pages.routes(),
        *admin.routes(),
    ]
