"""A sales rep's managers for a module (core's department-tree rule), for alerts."""

from __future__ import annotations

from typing import Any

from guanxi.auth.managers import managers_of


def of_owner(platform: Any, owner_id: int | None, entity: str) -> list[int]:
    """Who may reassign the owner's records of `entity`: the nearest such people up the tree."""
    with platform.db.read() as connection:
        return managers_of(platform, connection, owner_id, entity, "assign")
