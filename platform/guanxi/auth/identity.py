"""The organisation (PERM-01): departments as a tree, positions, teams, users and the Actor a
user acts as. Every change bumps the auth version (scopes depend on the org chart) and writes
an audit row in the same transaction.

Roles are Casbin subjects: a user's roles are `g, user:<id>, <role>` rows managed by
guanxi.auth.policies; load_actor reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import audit, version
from guanxi.errors import MetadataError, NotFound, PermissionDenied
from guanxi.i18n import LOCALES, _
from guanxi.store.db import Database
from guanxi.store.system_tables import department, policy, position, team, team_member, user

USERNAME_MAX = 64


def _admin(db: Database, actor: Actor | None) -> Actor:
    """The acting admin (the system when None): org changes are for administrators only."""
    if actor is None or actor.is_system:
        return actor or Actor.system()
    from guanxi.auth.grants import PolicySnapshot
    from guanxi.auth.vocabulary import ADMIN_ROLE

    with db.read() as connection:
        roles = PolicySnapshot.load(connection, 0).closure(actor.roles)
    if ADMIN_ROLE not in roles:
        raise PermissionDenied(_("Only administrators may change users and departments"))
    return actor


def user_subject(user_id: int) -> str:
    return f"user:{user_id}"


def _exists(connection: Connection, table: sa.Table, row_id: int | None) -> bool:
    if row_id is None:
        return True
    return connection.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is not None


def create_department(
    db: Database, name: str, parent_id: int | None = None, *, actor: Actor | None = None
) -> int:
    actor = _admin(db, actor)
    if not isinstance(name, str) or not name.strip():
        raise MetadataError(_("A department needs a name"), field="name", code="required")
    with db.unit_of_work() as connection:
        if not _exists(connection, department, parent_id):
            raise NotFound(_("No such department"))
        department_id = int(
            connection.execute(
                sa.insert(department)
                .values(name=name.strip(), parent_id=parent_id, created_at=clock.now_utc())
                .returning(department.c.id)
            ).scalar_one()
        )
        audit.write(
            connection,
            actor,
            "department",
            f"department:{department_id}",
            {"name": [None, name], "parent_id": [None, parent_id]},
        )
        version.bump(connection)
        return department_id


def move_department(
    db: Database, department_id: int, parent_id: int | None, *, actor: Actor | None = None
) -> None:
    """Re-parent a department; a move under its own subtree would make a cycle and is refused."""
    actor = _admin(db, actor)
    with db.unit_of_work() as connection:
        if not _exists(connection, department, department_id) or not _exists(
            connection, department, parent_id
        ):
            raise NotFound(_("No such department"))
        if parent_id is not None and parent_id in subtree(connection, department_id):
            raise MetadataError(
                _("A department cannot move under itself"), field="parent_id", code="cycle"
            )
        old = connection.execute(
            sa.select(department.c.parent_id).where(department.c.id == department_id)
        ).scalar()
        connection.execute(
            sa.update(department)
            .where(department.c.id == department_id)
            .values(parent_id=parent_id)
        )
        audit.write(
            connection,
            actor,
            "department",
            f"department:{department_id}",
            {"parent_id": [old, parent_id]},
        )
        version.bump(connection)


def subtree(connection: Connection, department_id: int) -> set[int]:
    """The department and every department below it."""
    children: dict[int | None, list[int]] = {}
    for row in connection.execute(sa.select(department.c.id, department.c.parent_id)):
        children.setdefault(row.parent_id, []).append(row.id)
    found, todo = set(), [department_id]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def list_departments(db: Database) -> list[dict[str, Any]]:
    with db.read() as connection:
        return [
            dict(r._mapping)
            for r in connection.execute(sa.select(department).order_by(department.c.id))
        ]


def create_position(db: Database, name: str, *, actor: Actor | None = None) -> int:
    actor = _admin(db, actor)
    with db.unit_of_work() as connection:
        if connection.execute(sa.select(position.c.id).where(position.c.name == name)).first():
            raise MetadataError(
                _("Position '{name}' exists", name=name), field="name", code="exists"
            )
        position_id = int(
            connection.execute(
                sa.insert(position)
                .values(name=name, created_at=clock.now_utc())
                .returning(position.c.id)
            ).scalar_one()
        )
        audit.write(
            connection, actor, "position", f"position:{position_id}", {"name": [None, name]}
        )
        return position_id


def create_team(
    db: Database, name: str, members: Iterable[int] = (), *, actor: Actor | None = None
) -> int:
    actor = _admin(db, actor)
    with db.unit_of_work() as connection:
        if connection.execute(sa.select(team.c.id).where(team.c.name == name)).first():
            raise MetadataError(_("Team '{name}' exists", name=name), field="name", code="exists")
        team_id = int(
            connection.execute(
                sa.insert(team).values(name=name, created_at=clock.now_utc()).returning(team.c.id)
            ).scalar_one()
        )
        audit.write(connection, actor, "team", f"team:{team_id}", {"name": [None, name]})
        for user_id in members:
            _add_member(connection, actor, team_id, user_id)
        version.bump(connection)
        return team_id


def add_team_member(
    db: Database, team_id: int, user_id: int, *, actor: Actor | None = None
) -> None:
    actor = _admin(db, actor)
    with db.unit_of_work() as connection:
        _add_member(connection, actor, team_id, user_id)
        version.bump(connection)


def remove_team_member(
    db: Database, team_id: int, user_id: int, *, actor: Actor | None = None
) -> None:
    actor = _admin(db, actor)
    with db.unit_of_work() as connection:
        connection.execute(
            sa.delete(team_member).where(
                team_member.c.team_id == team_id, team_member.c.user_id == user_id
            )
        )
        audit.write(
            connection,
            actor,
            "team",
            f"team:{team_id}",
            {"member": [user_id, None]},
        )
        version.bump(connection)


def _add_member(connection: Connection, actor: Actor, team_id: int, user_id: int) -> None:
    if not _exists(connection, team, team_id):
        raise NotFound(_("No such team"))
    if not _exists(connection, user, user_id):
        raise NotFound(_("No such user"))
    present = connection.execute(
        sa.select(team_member.c.user_id).where(
            team_member.c.team_id == team_id, team_member.c.user_id == user_id
        )
    ).first()
    if present is None:
        connection.execute(sa.insert(team_member).values(team_id=team_id, user_id=user_id))
        audit.write(connection, actor, "team", f"team:{team_id}", {"member": [None, user_id]})


def create_user(
    db: Database,
    username: str,
    display_name: str,
    *,
    department_id: int | None = None,
    email: str | None = None,
    position_id: int | None = None,
    locale: str = "zh-CN",
    attributes: Mapping[str, Any] | None = None,
    password_hash: str | None = None,
    actor: Actor | None = None,
) -> int:
    """A user without roles (so without access) until guanxi.auth.policies assigns some."""
    actor = _admin(db, actor)
    if not isinstance(username, str) or not username.strip() or len(username) > USERNAME_MAX:
        raise MetadataError(
            _("A user name is 1 to 64 characters"), field="username", code="bad_username"
        )
    if attributes is not None and not isinstance(attributes, Mapping):
        raise MetadataError(
            _("User attributes must be an object"), field="attributes", code="bad_attributes"
        )
    with db.unit_of_work() as connection:
        if connection.execute(sa.select(user.c.id).where(user.c.username == username)).first():
            raise MetadataError(
                _("User name '{name}' is taken", name=username), field="username", code="exists"
            )
        if not _exists(connection, department, department_id):
            raise NotFound(_("No such department"))
        if not _exists(connection, position, position_id):
            raise NotFound(_("No such position"))
        now = clock.now_utc()
        user_id = int(
            connection.execute(
                sa.insert(user)
                .values(
                    username=username,
                    display_name=display_name,
                    email=email,
                    department_id=department_id,
                    position_id=position_id,
                    locale=locale,
                    attributes=dict(attributes or {}),
                    password_hash=password_hash,
                    password_changed_at=now if password_hash else None,
                    created_at=now,
                )
                .returning(user.c.id)
            ).scalar_one()
        )
        audit.write(
            connection,
            actor,
            "user",
            f"user:{user_id}",
            {"username": [None, username], "department_id": [None, department_id]},
        )
        version.bump(connection)
        return user_id


def update_user(db: Database, user_id: int, *, actor: Actor | None = None, **values: Any) -> None:
    """Change department, position, attributes, display name, email, locale or active."""
    actor = _admin(db, actor)
    allowed = {
        "department_id",
        "position_id",
        "attributes",
        "display_name",
        "email",
        "locale",
        "active",
    }
    unknown = set(values) - allowed
    if unknown:
        key = sorted(unknown)[0]
        raise MetadataError(
            _("Unknown field '{field}'", field=key), field=key, code="unknown_field"
        )
    with db.unit_of_work() as connection:
        old = connection.execute(sa.select(user).where(user.c.id == user_id)).first()
        if old is None:
            raise NotFound(_("No such user"))
        if not _exists(connection, department, values.get("department_id")):
            raise NotFound(_("No such department"))
        if not _exists(connection, position, values.get("position_id")):
            raise NotFound(_("No such position"))
        connection.execute(sa.update(user).where(user.c.id == user_id).values(**values))
        audit.write(
            connection,
            actor,
            "user",
            f"user:{user_id}",
            {k: [old._mapping[k], v] for k, v in values.items()},
        )
        version.bump(connection)


def user_id_for(db: Database, username: str) -> int:
    with db.read() as connection:
        found = connection.execute(sa.select(user.c.id).where(user.c.username == username)).scalar()
    if found is None:
        raise NotFound(_("No such user"))
    return int(found)


def load_actor(connection: Connection, user_id: int, *, ip: str | None = None) -> Actor | None:
    """The Actor for an active user: roles from the policy table, teams, department, attributes."""
    row = connection.execute(sa.select(user).where(user.c.id == user_id)).first()
    if row is None or not row.active:
        return None
    roles = frozenset(
        connection.execute(
            sa.select(policy.c.v1).where(policy.c.ptype == "g", policy.c.v0 == user_subject(row.id))
        ).scalars()
    )
    teams = frozenset(
        connection.execute(
            sa.select(team_member.c.team_id).where(team_member.c.user_id == row.id)
        ).scalars()
    )
    return Actor(
        user_id=row.id,
        username=row.username,
        roles=roles,
        department_id=row.department_id,
        locale=row.locale or "zh-CN",
        team_ids=teams,
        position_id=row.position_id,
        attributes=dict(row.attributes or {}),
        ip=ip,
        display_name=row.display_name or "",
    )


def actor_for(db: Database, username: str, *, ip: str | None = None) -> Actor:
    """The Actor of a user by name (CLI, tests, jobs acting for a user)."""
    with db.read() as connection:
        user_id = connection.execute(
            sa.select(user.c.id).where(user.c.username == username)
        ).scalar()
        found = load_actor(connection, int(user_id), ip=ip) if user_id is not None else None
    if found is None:
        raise NotFound(_("No such user"))
    return found


def list_users(db: Database) -> list[dict[str, Any]]:
    """Users without their password hashes (which never leave the identity layer)."""
    columns = [c for c in user.c if c.key != "password_hash"]
    with db.read() as connection:
        return [
            dict(r._mapping) for r in connection.execute(sa.select(*columns).order_by(user.c.id))
        ]


def set_own_locale(db: Database, actor: Actor, locale: str) -> None:
    """A user picks their own language (UI-11); no admin needed, nothing else changes."""
    if locale not in LOCALES:
        raise MetadataError(_("Unknown language '{locale}'", locale=locale), field="locale")
    if actor.user_id is None:
        return
    with db.unit_of_work() as connection:
        connection.execute(sa.update(user).where(user.c.id == actor.user_id).values(locale=locale))
