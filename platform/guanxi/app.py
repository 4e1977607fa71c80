"""create_app(): the Starlette application (screens arrive with the web layer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from guanxi.actor import Actor
from guanxi.core import Guanxi

TEMPLATES = Environment(
    loader=FileSystemLoader(
        [
            Path(__file__).resolve().parents[2] / "themes" / "default",
            Path(__file__).parent / "templates",
        ]
    ),
    autoescape=select_autoescape(default=True),
)


async def health(request: Request) -> JSONResponse:
    platform: Guanxi = request.app.state.platform
    version = await run_in_threadpool(lambda: platform.registry.snapshot().version)
    return JSONResponse({"status": "ok", "metadata_version": version})


async def home(request: Request) -> HTMLResponse:
    platform: Guanxi = request.app.state.platform

    def modules() -> list[dict[str, Any]]:
        actor = Actor.system()
        return [
            {
                "label": entity.title("zh-CN"),
                "name": entity.name,
                "count": platform.records.count(actor, entity.name),
            }
            for entity in platform.registry.entities()
        ]

    html = TEMPLATES.get_template("home.html").render(modules=await run_in_threadpool(modules))
    return HTMLResponse(html)


def create_app(platform: Guanxi | None = None) -> Starlette:
    platform = platform or Guanxi.create()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        platform.start(sync=False)
        yield
        platform.close()

    routes: list[BaseRoute] = [Route("/", home), Route("/healthz", health)]
    for plugin_routes in platform.pm.hook.register_routes():
        routes.extend(plugin_routes or [])
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.platform = platform
    return app
