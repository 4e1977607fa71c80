"""The plugin's areas beyond leads and deals, each a sub-package with its own job: the public
customer pool (`pool`), products, price lists, quotes and print templates (`commerce`),
contracts and approvals (`contracts`), payment plans, payments and targets (`receivables`),
grading and rep activity (`insight`).

The plugin's hooks (in `guanxi_sfa/__init__.py`) ask every part for its share by the name of
a plain function the part may define; a part defines only what it needs:

    documents() -> schemas            extensions() -> extend_schemas entries
    tables() -> Tables                permissions() -> register_actions dict
    settings() -> settings properties seed(platform)
    prepare(platform, entity, record, old, actor, op)
    validate(entity, record, old, op) -> [FieldError]
    stored(platform, connection, entity, event)     changed(platform, event)
    jobs() -> job specs               routes() -> Starlette routes
    menu(platform, actor, access) -> menu items
    record_actions(platform, actor, entity, record) -> actions
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

PARTS = ("pool", "commerce", "contracts", "receivables", "insight")


@cache
def modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(f"guanxi_sfa.{name}") for name in PARTS)


def call(function: str, *args: Any) -> None:
    for part in modules():
        implementation = getattr(part, function, None)
        if implementation is not None:
            implementation(*args)


def gather(function: str, *args: Any) -> list[Any]:
    """Every part's list for `function`, concatenated in part order."""
    found: list[Any] = []
    for part in modules():
        implementation = getattr(part, function, None)
        if implementation is not None:
            found.extend(implementation(*args) or [])
    return found


def merge_permissions(base: dict[str, Any]) -> dict[str, Any]:
    merged = {key: (dict(value) if isinstance(value, dict) else list(value))
              for key, value in base.items()}  # fmt: skip
    for part in modules():
        permissions = getattr(part, "permissions", None)
        for key, value in (permissions() if permissions else {}).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged.setdefault(key, []).extend(value)
    return merged


def settings_schema(base: dict[str, Any]) -> dict[str, Any]:
    properties = dict(base["properties"])
    for part in modules():
        settings = getattr(part, "settings", None)
        properties.update(settings() if settings else {})
    return {**base, "properties": properties}
