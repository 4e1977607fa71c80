"""Core reports (DATA-11): the completeness report's screen and its navigation entry.

A plugin rather than core routes so that a deployment can switch the report off in
plugins.toml like any other module."""

from __future__ import annotations

from typing import Any

from guanxi.actor import Actor
from guanxi.hookspecs import hookimpl


@hookimpl
def register_routes() -> list[Any]:
    from guanxi.web import completeness  # the web layer, loaded with the app

    return completeness.routes()


@hookimpl
def menu_items(platform: Any, actor: Actor) -> list[dict[str, Any]]:
    from guanxi.web import completeness

    return completeness.menu_entries(platform, actor)
