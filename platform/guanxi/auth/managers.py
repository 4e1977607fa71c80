"""Who is someone's manager for a module: the people plugins tell (an overdue first touch, a
stale opportunity) or ask (a deletion to approve). The org chart has no "manager" field, so
the answer comes from the department tree and the permission matrix: the nearest department,
starting with the person's own and walking up, holding an active user (not the person) who
has `action` on the module; all of them. Without one, the administrators."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.auth import identity
from guanxi.store.system_tables import department, user


def managers_of(
    platform: Any, connection: Connection, user_id: int | None, entity: str, action: str
) -> list[int]:
    department_id = (
        connection.execute(sa.select(user.c.department_id).where(user.c.id == user_id)).scalar()
        if user_id is not None
        else None
    )
    seen: set[int] = set()
    while department_id is not None and department_id not in seen:
        seen.add(department_id)
        members = connection.execute(
            sa.select(user.c.id).where(
                user.c.department_id == department_id,
                user.c.active.is_(True),
                user.c.id != user_id,
            )
        ).scalars()
        found = [int(m) for m in members if _allows(platform, connection, int(m), entity, action)]
        if found:
            return sorted(found)
        department_id = connection.execute(
            sa.select(department.c.parent_id).where(department.c.id == department_id)
        ).scalar()
    return administrators(platform, connection, exclude=user_id)


def administrators(
    platform: Any, connection: Connection, *, exclude: int | None = None
) -> list[int]:
    """Active users with the admin right (role inheritance and Casbin decide, not a name)."""
    everyone = connection.execute(
        sa.select(user.c.id).where(user.c.active.is_(True), user.c.id != exclude)
    ).scalars()
    found = []
    for user_id in everyone:
        actor = identity.load_actor(connection, int(user_id))
        if actor is not None and platform.records.access(actor).is_admin:
            found.append(int(user_id))
    return sorted(found)


def _allows(platform: Any, connection: Connection, user_id: int, entity: str, action: str) -> bool:
    actor = identity.load_actor(connection, user_id)
    return actor is not None and platform.records.access(actor).allows(entity, action)
