"""Users and departments: the minimum records need (owner, department tree).

Passwords, roles, sessions and tokens arrive with the permissions layer and extend these tables.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import MetadataError, NotFound
from guanxi.i18n import _
from guanxi.store.db import Database
from guanxi.store.system_tables import department, user


def create_department(db: Database, name: str, parent_id: int | None = None) -> int:
    with db.unit_of_work() as connection:
        if (
            parent_id is not None
            and connection.execute(
                sa.select(department.c.id).where(department.c.id == parent_id)
            ).first()
            is None
        ):
            raise NotFound(_("No such department"))
        return int(
            connection.execute(
                sa.insert(department)
                .values(name=name, parent_id=parent_id, created_at=clock.now_utc())
                .returning(department.c.id)
            ).scalar_one()
        )


def create_user(
    db: Database,
    username: str,
    display_name: str,
    *,
    department_id: int | None = None,
    email: str | None = None,
) -> int:
    with db.unit_of_work() as connection:
        if connection.execute(sa.select(user.c.id).where(user.c.username == username)).first():
            raise MetadataError(
                _("User name '{name}' is taken", name=username), field="username", code="exists"
            )
        return int(
            connection.execute(
                sa.insert(user)
                .values(
                    username=username,
                    display_name=display_name,
                    email=email,
                    department_id=department_id,
                    created_at=clock.now_utc(),
                )
                .returning(user.c.id)
            ).scalar_one()
        )


def actor_for(
    db: Database, username: str, *, roles: frozenset[str] = frozenset(), locale: str = "zh-CN"
) -> Actor:
    with db.read() as connection:
        row = connection.execute(sa.select(user).where(user.c.username == username)).first()
    if row is None:
        raise NotFound(_("No such user"))
    return Actor(row.id, row.username, roles, row.department_id, locale)


def list_users(db: Database) -> list[dict[str, Any]]:
    with db.read() as connection:
        return [dict(r._mapping) for r in connection.execute(sa.select(user).order_by(user.c.id))]
