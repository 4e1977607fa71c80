"""Departments as a tree (create, move; a move under its own subtree is refused) and teams
with their members (PERM-01), through guanxi.auth.identity."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth import identity
from guanxi.errors import GuanxiError, NotFound
from guanxi.i18n import _
from guanxi.store.db import Database
from guanxi.store.system_tables import position, team, team_member
from guanxi.web.admin.org_common import admin_screen, field_messages, optional_id, path_id, text
from guanxi.web.screen import Screen


def department_tree(db: Database) -> list[dict[str, Any]]:
    """Departments in tree order, each with its depth (for indenting) and its path."""
    rows = identity.list_departments(db)
    children: dict[int | None, list[dict[str, Any]]] = {}
    known = {row["id"] for row in rows}
    for row in rows:
        parent = row["parent_id"] if row["parent_id"] in known else None
        children.setdefault(parent, []).append(row)
    ordered: list[dict[str, Any]] = []
    seen: set[int] = set()

    def walk(parent: int | None, depth: int, path: str) -> None:
        for row in sorted(children.get(parent, []), key=lambda r: r["name"]):
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            full = f"{path} / {row['name']}" if path else row["name"]
            ordered.append({**row, "depth": depth, "path": full})
            walk(row["id"], depth + 1, full)

    walk(None, 0, "")
    return ordered


def department_options(db: Database) -> list[tuple[int, str]]:
    return [(row["id"], row["path"]) for row in department_tree(db)]


def positions(db: Database) -> list[tuple[int, str]]:
    with db.read() as connection:
        rows = connection.execute(sa.select(position.c.id, position.c.name).order_by(
            position.c.name)).all()  # fmt: skip
    return [(row.id, row.name) for row in rows]


def _departments_page(
    s: Screen, *, status: int = 200, errors: dict[str, str] | None = None,
    failed_move: int | None = None, values: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    tree = department_tree(s.platform.db)
    counts: dict[int, int] = {}
    for row in identity.list_users(s.platform.db):
        if row["department_id"] is not None:
            counts[row["department_id"]] = counts.get(row["department_id"], 0) + 1
    notice = {"created": s.t("Department created"), "moved": s.t("Department moved")}.get(
        s.params.get("saved", "")
    )
    return s.render("admin/org/departments.html", status=status, tree=tree, counts=counts,
                    errors=errors or {}, failed_move=failed_move, values=values or {},
                    notice=notice, tab="departments")  # fmt: skip


@admin_screen
def departments(s: Screen) -> Response:
    if s.request.method == "GET":
        return _departments_page(s)
    values = {"name": text(s, "name"), "parent_id": text(s, "parent_id")}
    try:
        identity.create_department(
            s.platform.db, values["name"], optional_id(s, "parent_id"), actor=s.actor
        )
    except GuanxiError as error:
        messages = field_messages(s, error)
        if isinstance(error, NotFound):
            messages = {"parent_id": next(iter(messages.values()))}
        return _departments_page(s, status=error.status, errors=messages, values=values)
    return s.redirect("/admin/departments?saved=created")


@admin_screen
def department_move(s: Screen) -> Response:
    department_id = path_id(s)
    try:
        identity.move_department(
            s.platform.db, department_id, optional_id(s, "parent_id"), actor=s.actor
        )
    except GuanxiError as error:
        messages = field_messages(s, error)
        message = "；".join(messages.values())
        return _departments_page(s, status=error.status, errors={"move": message},
                                 failed_move=department_id)  # fmt: skip
    return s.redirect("/admin/departments?saved=moved")


def teams_with_members(db: Database) -> list[dict[str, Any]]:
    with db.read() as connection:
        teams = [
            dict(r) for r in connection.execute(sa.select(team).order_by(team.c.name)).mappings()
        ]
        links = connection.execute(sa.select(team_member.c.team_id, team_member.c.user_id)).all()
    members: dict[int, list[int]] = {}
    for link in links:
        members.setdefault(link.team_id, []).append(link.user_id)
    for row in teams:
        row["member_ids"] = members.get(row["id"], [])
    return teams


def _teams_page(
    s: Screen, *, status: int = 200, errors: dict[str, str] | None = None,
    failed_team: int | None = None, values: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    users = identity.list_users(s.platform.db)
    names = {u["id"]: u for u in users}
    notice = {"created": s.t("Team created"), "members": s.t("Members changed")}.get(
        s.params.get("saved", "")
    )
    return s.render("admin/org/teams.html", status=status, teams=teams_with_members(s.platform.db),
                    users=users, names=names, errors=errors or {}, failed_team=failed_team,
                    values=values or {}, notice=notice, tab="teams")  # fmt: skip


@admin_screen
def teams(s: Screen) -> Response:
    if s.request.method == "GET":
        return _teams_page(s)
    name = text(s, "name")
    if not name:
        return _teams_page(s, status=422, errors={"name": s.t("A team needs a name")})
    try:
        identity.create_team(s.platform.db, name, actor=s.actor)
    except GuanxiError as error:
        return _teams_page(s, status=error.status, errors=field_messages(s, error),
                           values={"name": name})  # fmt: skip
    return s.redirect("/admin/teams?saved=created")


@admin_screen
def team_add_member(s: Screen) -> Response:
    team_id = path_id(s)
    try:
        user_id = optional_id(s, "user_id")
        if user_id is None:
            return _teams_page(s, status=422, errors={"user_id": s.t("Choose a user")},
                               failed_team=team_id)  # fmt: skip
        identity.add_team_member(s.platform.db, team_id, user_id, actor=s.actor)
    except GuanxiError as error:
        message = "；".join(field_messages(s, error).values())
        return _teams_page(s, status=error.status, errors={"user_id": message},
                           failed_team=team_id)  # fmt: skip
    return s.redirect("/admin/teams?saved=members")


@admin_screen
def team_remove_member(s: Screen) -> Response:
    team_id, user_id = path_id(s), path_id(s, "user_id")
    if not any(t["id"] == team_id for t in teams_with_members(s.platform.db)):
        raise NotFound(_("No such team"))
    identity.remove_team_member(s.platform.db, team_id, user_id, actor=s.actor)
    return s.redirect("/admin/teams?saved=members")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/departments", departments, methods=["GET", "POST"]),
        Route("/admin/departments/{id:int}/move", department_move, methods=["POST"]),
        Route("/admin/teams", teams, methods=["GET", "POST"]),
        Route("/admin/teams/{id:int}/members", team_add_member, methods=["POST"]),
        Route(
            "/admin/teams/{id:int}/members/{user_id:int}/remove",
            team_remove_member,
            methods=["POST"],
        ),  # fmt: skip
    ]
