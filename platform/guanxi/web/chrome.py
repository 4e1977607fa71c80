"""What surrounds every full page: the module navigation the actor may open (UI-01), plugin
menu entries, the unread-notification badge and the language switch. Two reads per page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guanxi.notifications import unread_count

if TYPE_CHECKING:
    from guanxi.web.screen import Screen

# Core modules first, in the order staff use them; plugin and admin modules follow by label.
CORE_ORDER = ("customer", "contact", "followup", "task", "note")


def chrome(screen: Screen) -> dict[str, Any]:
    platform = screen.platform
    actor = screen.actor
    access = platform.records.access(actor)
    entities = platform.registry.entities()
    rank = {name: position for position, name in enumerate(CORE_ORDER)}
    modules = [
        {
            "name": entity.name,
            "label": entity.title(screen.locale),
            "href": f"/r/{entity.name}",
        }
        for entity in sorted(
            entities, key=lambda e: (rank.get(e.name, len(rank)), e.title(screen.locale))
        )
        if access.allows(entity.name, "view")
    ]
    extra = []
    with platform.records.known_access(access):
        contributed = platform.pm.hook.menu_items(platform=platform, actor=actor)
    for items in contributed:
        for item in items or []:
            extra.append(
                {
                    "href": item["href"],
                    "label": screen.label(item.get("label")),
                    "position": item.get("position", 50),
                }
            )
    extra.sort(key=lambda item: (item["position"], item["label"]))
    current = screen.request.url.path
    return {
        "modules": modules,
        "extra": extra,
        "is_admin": access.is_admin,
        "unread": unread_count(platform.db, actor),
        "current_module": current.split("/")[2] if current.startswith("/r/") else None,
    }
