"""The authorization seam records.py and reads.py call: one Access per actor and auth version.

guanxi.auth.authorizer.CasbinAuthorizer is the implementation; this module holds the
contract so the pipeline does not depend on Casbin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.actor import Actor
from guanxi.auth.fields import FieldMask
from guanxi.meta.entity import EntityDef
from guanxi.meta.registry import Snapshot


class Access(Protocol):
    """What one actor may do at one policy version (cached: cheap to ask repeatedly)."""

    actor: Actor

    @property
    def is_admin(self) -> bool:
        """Whether the actor may change metadata and permissions (admin screens)."""

    def allows(self, entity: str, action: str) -> bool:
        """May the actor perform the module action (view, create, edit, delete, ...)?"""

    def check_module(self, entity: EntityDef, action: str) -> None:
        """Raise PermissionDenied unless allows(entity, action)."""

    def mask(self, entity: EntityDef) -> FieldMask:
        """Field levels for this entity version: hidden / masked / read / write."""

    def scope_clause(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        action: str,
        table: sa.Table | None = None,
    ) -> sa.ColumnElement[bool] | None:
        """SQL limiting rows to the actor's scope for `action`; None when unrestricted."""

    def scope_branches(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        action: str,
        split: bool = False,
    ) -> list[sa.ColumnElement[bool]] | None:
        """The same scope as OR-ed branches (None when unrestricted), for list queries that
        run one index-ordered branch each; `split`: one branch per department or member."""

    def record_in_scope(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        record: Mapping[str, Any],
        action: str,
    ) -> bool | None:
        """Whether the record's values are in scope, when that can be told without SQL."""

    def delete_rule(self, entity: str) -> str:
        """ "allowed", "approval" or "admin_only" (PERM-06)."""

    def logs_access(self, entity: str) -> bool:
        """Whether views of this entity's records go to the access log (PERM-08)."""


class Authorizer(Protocol):
    def access(self, connection: Connection, actor: Actor, auth_version: int) -> Access:
        """The actor's Access at `auth_version` (read with the metadata version per call)."""

    def check_admin(self, actor: Actor) -> None:
        """Raise PermissionDenied unless the actor may change metadata and permissions."""
