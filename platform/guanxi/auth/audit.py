"""The audit trail of everything that is not a record write (PERM-07): permission and role
changes, users, logins. Rows are written in the caller's transaction, so a change and its
trace commit or roll back together."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.store.system_tables import audit

_INSERT = sa.insert(audit)


def write(
    connection: Connection,
    actor: Actor,
    kind: str,
    target: str,
    changes: dict[str, Any],
    reason: str | None = None,
) -> None:
    """kind: "permission", "role", "user", "department", "team", "login", "token", "session"."""
    connection.execute(
        _INSERT,
        {
            "at": clock.now_utc(),
            "actor_id": actor.user_id,
            "actor_name": actor.username,
            "ip": actor.ip,
            "kind": kind,
            "target": target[:200],
            "changes": changes,
            "reason": reason,
        },
    )
