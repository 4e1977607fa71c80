"""Admin screens for the organisation, permissions, plugins and logs (UI-09, PERM-01..10):
each sub-module holds one screen family; this one mounts them."""

from __future__ import annotations

from starlette.routing import BaseRoute

from guanxi.web.admin import logs, org_units, org_users, perm_matrix, perm_roles, plugins_admin


def routes() -> list[BaseRoute]:
    return [
        *org_users.routes(),
        *org_units.routes(),
        *perm_roles.routes(),
        *perm_matrix.routes(),
        *plugins_admin.routes(),
        *logs.routes(),
    ]
