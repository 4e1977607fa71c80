"""Who is acting: the identity every service call carries (filled in by auth in later layers)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str = "system"
    roles: frozenset[str] = field(default_factory=frozenset)
    department_id: int | None = None
    locale: str = "zh-CN"
    is_system: bool = False

    @classmethod
    def system(cls) -> Actor:
        """The platform itself (init, demo loading, jobs): passes the authorization seam."""
        return cls(user_id=None, username="system", roles=frozenset({"admin"}), is_system=True)
