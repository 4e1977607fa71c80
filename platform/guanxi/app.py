"""create_app(): the Starlette application (screens arrive with the web layer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.errors import PermissionDenied
from guanxi.i18n import _
from guanxi.templating import TEMPLATES
from guanxi.web_auth import AuthMiddleware, auth_routes, request_locale
from guanxi.web_tokens import token_routes

HOME_TEXTS = {"module": _("Module"), "records": _("Records"), "logout": _("Sign out")}


async def health(request: Request) -> JSONResponse:
    platform: Guanxi = request.app.state.platform
    version = await run_in_threadpool(lambda: platform.registry.snapshot().version)
    return JSONResponse({"status": "ok", "metadata_version": version})


async def home(request: Request) -> Response:
    platform: Guanxi = request.app.state.platform
    actor: Actor | None = request.state.actor
    if actor is None:
        return RedirectResponse("/login?next=/", status_code=303)
    locale = request_locale(request, actor)

    def modules() -> list[dict[str, Any]]:
        listed = []
        for entity in platform.registry.entities():
            try:
                count = platform.records.count(actor, entity.name)
            except PermissionDenied:
                continue  # a module the actor may not view is not listed at all
            listed.append({"label": entity.title(locale), "name": entity.name, "count": count})
        return listed

    html = TEMPLATES.get_template("home.html").render(
        lang=locale,
        modules=await run_in_threadpool(modules),
        username=actor.username,
        csrf_token=request.state.csrf_token,
        text={key: message.render(locale) for key, message in HOME_TEXTS.items()},
    )
    return HTMLResponse(html)


def create_app(platform: Guanxi | None = None) -> Starlette:
    platform = platform or Guanxi.create()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        platform.start(sync=False)
        yield
        platform.close()

    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/healthz", health),
        *auth_routes(),
        *token_routes(),
    ]
    for plugin_routes in platform.pm.hook.register_routes():
        routes.extend(plugin_routes or [])
    app = Starlette(
        routes=routes,
        middleware=[Middleware(AuthMiddleware, platform=platform)],
        lifespan=lifespan,
    )
    app.state.platform = platform
    return app
