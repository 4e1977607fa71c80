"""Admin screens (UI-09): shape modules, fields, layouts, stages, tags, numbering, users and
permissions without code. Every change goes through MetadataAdmin / Permissions / identity,
which check that the actor is an admin and bump the version every worker watches."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.web.admin import jobs_admin, metadata, org
from guanxi.web.screen import Screen, screen


@screen
def index(s: Screen) -> Response:
    s.platform.authorizer.check_admin(s.actor)
    entities = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    return s.render("admin/index.html", entities=entities)


def routes() -> list[BaseRoute]:
    return [Route("/admin", index), *metadata.routes(), *org.routes(), *jobs_admin.routes()]
