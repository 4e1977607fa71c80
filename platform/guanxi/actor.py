"""Who is acting: the identity every service call carries, loaded by guanxi.auth.identity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})
READ_ACTIONS = frozenset({"view", "export"})


@dataclass(frozen=True)
class TokenScope:
    """An API token's narrowing of its user's permissions (API-01): only `modules` (None: all
    the user may use) and, when `read_only`, only reading. It can only take away, never add."""

    token_id: int
    modules: frozenset[str] | None = None
    read_only: bool = False

    @property
    def narrowed(self) -> bool:
        return self.modules is not None or self.read_only

    def allows_module(self, entity: str) -> bool:
        return self.modules is None or entity in self.modules

    def allows(self, entity: str, action: str) -> bool:
        return self.allows_module(entity) and (not self.read_only or action in READ_ACTIONS)


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str = "system"
    roles: frozenset[str] = field(default_factory=frozenset)
    department_id: int | None = None
    locale: str = "zh-CN"
    is_system: bool = False
    team_ids: frozenset[int] = field(default_factory=frozenset)
    position_id: int | None = None
    # Values condition scopes read as $user.<name> (e.g. region); never secrets.
    attributes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, compare=False, hash=False)
    ip: str | None = None  # where the request came from, for the audit log
    display_name: str = field(default="", compare=False)  # how screens greet the person
    token_scope: TokenScope | None = None  # set when the request came with an API token

    @property
    def name(self) -> str:
        """The person's name as people read it (the username when none is set)."""
        return self.display_name or self.username

    @classmethod
    def system(cls) -> Actor:
        """The platform itself (init, demo loading, jobs): passes every permission check."""
        return cls(user_id=None, username="system", roles=frozenset({"admin"}), is_system=True)

    def from_ip(self, ip: str | None) -> Actor:
        return replace(self, ip=ip)
