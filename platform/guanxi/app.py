"""create_app(): the Starlette application: sign-in, the JSON token API and the screens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from guanxi.core import Guanxi
from guanxi.jobs.worker import JobWorker
from guanxi.ops import ops_routes
from guanxi.ops.requests import RequestMiddleware
from guanxi.rest import api_routes
from guanxi.templating import add_plugin_templates
from guanxi.web.routes import web_routes
from guanxi.web_auth import AuthMiddleware, auth_routes
from guanxi.web_tokens import token_routes


class PluginGate:
    """A plugin's screens answer 404 while an admin has switched the plugin off (UI-09)."""

    def __init__(self, app: ASGIApp, platform: Guanxi, plugin: str) -> None:
        self.app = app
        self.platform = platform
        self.plugin = plugin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await run_in_threadpool(self.platform.registry.snapshot)  # follow the switch
            if not self.platform.plugin_switch.active(self.plugin):
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(platform: Guanxi | None = None) -> Starlette:
    platform = platform or Guanxi.create()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        platform.start(sync=False)
        jobs = JobWorker(platform, label="web") if platform.settings.jobs_in_web else None
        if jobs is not None:
            jobs.start_thread()
        yield
        if jobs is not None:
            await run_in_threadpool(jobs.stop)
        platform.close()

    routes: list[BaseRoute] = [
        *auth_routes(),
        *token_routes(),
        *api_routes(),
        *ops_routes(),
        *web_routes(),
    ]
    for implementation in platform.pm.hook.register_routes.get_hookimpls():
        name = platform.pm.get_name(implementation.plugin)
        for route in implementation.function() or []:
            route.app = PluginGate(route.app, platform, name)  # type: ignore[attr-defined]
            routes.append(route)
    for _name, plugin in platform.pm.list_name_plugin():
        module_file = getattr(plugin, "__file__", None)  # a plugin module's own templates/
        if plugin is not None and module_file:
            add_plugin_templates(Path(module_file).parent / "templates")
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestMiddleware),  # outermost: the request id covers every line
            Middleware(AuthMiddleware, platform=platform),
        ],
        lifespan=lifespan,
    )
    app.state.platform = platform
    return app
