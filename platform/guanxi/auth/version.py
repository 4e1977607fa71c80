"""The version of everything permissions depend on: policies, roles, users, departments, teams.

It lives beside the metadata version (gx_meta_version row 2) so one primary-key read per call
tells a worker whether its cached masks and scopes are still current (PERM-02: a policy edit
is seen by every worker without a restart)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.store.system_tables import meta_version

META, AUTH = 1, 2
_BOTH = sa.select(meta_version.c.id, meta_version.c.version).where(
    meta_version.c.id.in_((META, AUTH))
)


def versions(connection: Connection) -> tuple[int, int]:
    """(metadata version, auth version) in one read."""
    found = {row.id: int(row.version) for row in connection.execute(_BOTH)}
    return found.get(META, 0), found.get(AUTH, 0)


def bump(connection: Connection) -> int:
    """Call in the transaction of every change permissions depend on."""
    updated = connection.execute(
        sa.update(meta_version)
        .where(meta_version.c.id == AUTH)
        .values(version=meta_version.c.version + 1, updated_at=clock.now_utc())
        .returning(meta_version.c.version)
    ).scalar()
    if updated is None:
        connection.execute(
            sa.insert(meta_version).values(id=AUTH, version=1, updated_at=clock.now_utc())
        )
        return 1
    return int(updated)
