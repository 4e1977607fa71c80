"""Who is acting: the identity every service call carries, loaded by guanxi.auth.identity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})


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
