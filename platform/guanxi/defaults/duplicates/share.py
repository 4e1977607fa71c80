""" "First entered owns" (DATA-07): the user refused because a colleague owns the record asks
that colleague to share it; the owner gets a notification linking the record."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import notifications
from guanxi.actor import Actor
from guanxi.errors import NotFound
from guanxi.i18n import Message
from guanxi.web.screen import Screen, screen

KIND = "share_request"


def request_share(platform: Any, actor: Actor, entity_name: str, record_id: int) -> int:
    """Notify the owner of `entity_name` #`record_id`; returns the owner's user id."""
    found = platform.records.get(Actor.system(), entity_name, record_id, log_view=False)
    owner_id = found.get("owner_id")
    if not owner_id or actor.user_id is None:
        raise NotFound(Message("This record has no owner to ask"))
    entity = platform.registry.snapshot().entity(entity_name)
    with platform.db.unit_of_work() as connection:
        notifications.notify(
            connection, int(owner_id), KIND,
            Message("{user} asks you to share {entity} {number}",
                    user=actor.display_name or actor.username, entity=entity.label,
                    number=found.get("number") or f"#{record_id}").all_locales(),
            link=f"/r/{entity_name}/{record_id}", source=(entity_name, record_id),
        )  # fmt: skip
    return int(owner_id)


@screen
def share_request(s: Screen) -> Response:
    assert s.form is not None
    entity_name, _sep, raw_id = str(s.form.get("_share") or "").partition(":")
    if not raw_id.isdigit():
        raise NotFound(Message("No such record"))
    request_share(s.platform, s.actor, entity_name, int(raw_id))
    return s.render("duplicates/share_sent.html")


def routes() -> list[BaseRoute]:
    return [Route("/duplicates/share-request", share_request, methods=["POST"])]
