"""The authorization seam records.py calls; the Casbin layer provides the real implementation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from guanxi.actor import Actor
from guanxi.errors import PermissionDenied
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef


class Authorizer(Protocol):
    def check_module(self, actor: Actor, entity: EntityDef, action: str) -> None:
        """Raise PermissionDenied unless the actor may perform `action` on the module."""

    def scope_filters(self, actor: Actor, entity: EntityDef, action: str) -> list[dict[str, Any]]:
        """Filter trees limiting which records the actor may `action` ([] = no limit)."""

    def check_record(
        self,
        actor: Actor,
        entity: EntityDef,
        record: Mapping[str, Any],
        action: str,
        changed: set[str],
    ) -> None:
        """Raise PermissionDenied if the new values or changed fields are not the actor's to write."""

    def check_admin(self, actor: Actor) -> None:
        """Raise PermissionDenied unless the actor may change metadata."""


class OpenAuthorizer:
    """Everything allowed, metadata changes for admins only: the seam before Casbin fills it."""

    def check_module(self, actor: Actor, entity: EntityDef, action: str) -> None:
        return None

    def scope_filters(self, actor: Actor, entity: EntityDef, action: str) -> list[dict[str, Any]]:
        return []

    def check_record(
        self,
        actor: Actor,
        entity: EntityDef,
        record: Mapping[str, Any],
        action: str,
        changed: set[str],
    ) -> None:
        return None

    def check_admin(self, actor: Actor) -> None:
        if not (actor.is_system or "admin" in actor.roles):
            raise PermissionDenied(_("Only administrators may change fields and modules"))
