"""A sales rep's managers for a module (core's department-tree rule), for alerts."""

from __future__ import annotations

from typing import Any

from guanxi.auth.managers import managers_of


def of_owner(platform: Any, owner_id: int | None, entity: str) -> list[int]:
    """Who may reassign the owner's records of `entity`: the nearest such people up the tree."""
    with platform.db.read() as connection:
        return managers_of(platform, connection, owner_id, entity, "assign")


class ManagersOf:
    """`of_owner` remembered per owner for one job run: a run over many records asks the
    department tree once per owner, not once per record."""

    def __init__(self, platform: Any, entity: str) -> None:
        self.platform, self.entity = platform, entity
        self._known: dict[int | None, list[int]] = {}

    def __call__(self, owner_id: int | None) -> list[int]:
        if owner_id not in self._known:
            self._known[owner_id] = of_owner(self.platform, owner_id, self.entity)
        return self._known[owner_id]
