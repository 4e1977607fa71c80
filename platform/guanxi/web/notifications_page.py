"""The notification centre (UI-12): due reminders and messages, mark read one by one or all."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import notifications
from guanxi.web.screen import Screen, screen


@screen
def centre(s: Screen) -> Response:
    unread_only = s.params.get("unread") == "1"
    items = notifications.entries(s.platform.db, s.actor, unread_only=unread_only)
    return s.render("notifications.html", items=items, unread_only=unread_only)


@screen
def mark_read(s: Screen) -> Response:
    raw = s.path_params.get("notification_id")
    notifications.mark_read(s.platform.db, s.actor, int(raw) if raw is not None else None)
    assert s.form is not None
    link = str(s.form.get("next") or "")
    # Follow the notification's link only when it stays on this site.
    if link.startswith("/") and not link.startswith("//"):
        return s.redirect(link)
    return s.redirect("/notifications")


def routes() -> list[BaseRoute]:
    return [
        Route("/notifications", centre),
        Route("/notifications/read", mark_read, methods=["POST"]),
        Route("/notifications/{notification_id:int}/read", mark_read, methods=["POST"]),
    ]
