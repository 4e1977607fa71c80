"""Users (PERM-01, PERM-09): list, create with roles and a first password, edit profile,
attributes and roles, reset a password, lift a lockout. Every change goes through
guanxi.auth.identity, platform.permissions or platform.login, which audit it."""

from __future__ import annotations

import secrets
import string
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import clock
from guanxi.auth import identity
from guanxi.auth.passwords import check_policy
from guanxi.errors import GuanxiError, NotFound
from guanxi.i18n import LOCALES, _
from guanxi.web.admin.org_common import (
    admin_screen,
    field_messages,
    is_locked,
    optional_id,
    path_id,
    text,
)
from guanxi.web.screen import Screen

ATTRIBUTE_ROWS = 2  # blank key/value rows offered under the existing attributes
ALPHABET = string.ascii_letters + string.digits


def generated_password() -> str:
    """A one-time password shown once: 16 random characters plus a fixed mix of classes."""
    return "".join(secrets.choice(ALPHABET) for _ in range(16)) + "-Gx7"


def _org(s: Screen) -> dict[str, Any]:
    """Departments, positions and roles the user forms offer (three reads)."""
    from guanxi.web.admin.org_units import department_options, positions

    return {
        "departments": department_options(s.platform.db),
        "positions": positions(s.platform.db),
        "roles": s.platform.permissions.roles(),
    }


@admin_screen
def user_list(s: Screen) -> Response:
    db = s.platform.db
    users = identity.list_users(db)
    departments = {d["id"]: d["name"] for d in identity.list_departments(db)}
    roles: dict[str, list[str]] = {}
    for _g, subject, role_code in s.platform.permissions.policies("g"):
        roles.setdefault(subject, []).append(role_code)
    now = clock.now_utc()
    rows = [
        {
            **u,
            "department": departments.get(u["department_id"], ""),
            "roles": sorted(roles.get(identity.user_subject(u["id"]), [])),
            "locked": is_locked(u, now),
        }
        for u in users
    ]
    return s.render("admin/org/users.html", users=rows, tab="users")


@admin_screen
def user_new(s: Screen) -> Response:
    if s.request.method == "GET":
        return s.render("admin/org/user_new.html", values={}, errors={}, tab="users", **_org(s))
    values = {
        key: text(s, key)
        for key in ("username", "display_name", "email", "department_id", "position_id")
    }
    chosen_roles = [str(r) for r in s.form.getlist("roles")] if s.form is not None else []
    values["roles"] = chosen_roles
    password = str(s.form.get("password") or "") if s.form is not None else ""
    errors: dict[str, str] = {}
    if not values["display_name"]:
        errors["display_name"] = s.t("A display name is required")
    known_roles = {r["code"] for r in s.platform.permissions.roles()}
    unknown = [r for r in chosen_roles if r not in known_roles]
    if unknown:
        errors["roles"] = s.t("Unknown role '{code}'", code=unknown[0])
    generated = None
    if not password:
        password = generated = generated_password()
    try:
        department_id = optional_id(s, "department_id")
        position_id = optional_id(s, "position_id")
        check_policy(password, values["username"])
    except GuanxiError as error:
        errors.update(field_messages(s, error))
    if errors:
        return s.render("admin/org/user_new.html", status=422, values=values, errors=errors,
                        tab="users", **_org(s))  # fmt: skip
    try:
        user_id = identity.create_user(
            s.platform.db,
            values["username"],
            values["display_name"],
            email=values["email"] or None,
            department_id=department_id,
            position_id=position_id,
            actor=s.actor,
        )
    except GuanxiError as error:
        messages = field_messages(s, error)
        if isinstance(error, NotFound):  # a department or position removed meanwhile
            messages = {"department_id": next(iter(messages.values()))}
        return s.render("admin/org/user_new.html", status=error.status, values=values,
                        errors=messages, tab="users", **_org(s))  # fmt: skip
    for code in chosen_roles:
        s.platform.permissions.assign_role(s.actor, user_id, code)
    s.platform.login.set_password(s.actor, user_id, password)
    if generated:
        # Shown once, in this answer only: it is stored nowhere but as a hash.
        return s.render("admin/org/user_password_shown.html", user_id=user_id,
                        username=values["username"], password=generated, tab="users",
                        headers={"Cache-Control": "no-store"})  # fmt: skip
    return s.redirect(f"/admin/users/{user_id}?saved=1")


def _user_row(s: Screen, user_id: int) -> dict[str, Any]:
    found = next((u for u in identity.list_users(s.platform.db) if u["id"] == user_id), None)
    if found is None:
        raise NotFound(_("No such user"))
    return found


def _edit_page(
    s: Screen,
    row: dict[str, Any],
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    password_errors: dict[str, str] | None = None,
) -> Response:
    current_roles = s.platform.permissions.user_roles(row["id"])
    attributes = [
        (str(k), "" if v is None else str(v)) for k, v in (row["attributes"] or {}).items()
    ]
    if values is None:
        values = {**row, "roles": current_roles, "attribute_rows": attributes}
    values["attribute_rows"] = list(values["attribute_rows"]) + [("", "")] * ATTRIBUTE_ROWS
    return s.render(
        "admin/org/user_edit.html",
        status=status,
        user=row,
        values=values,
        errors=errors or {},
        password_errors=password_errors or {},
        notice=notice,
        locked=is_locked(row, clock.now_utc()),
        locales=LOCALES,
        tab="users",
        **_org(s),
    )


def _differs(old: Any, new: Any) -> bool:
    if isinstance(new, bool):
        return bool(old) != new
    if isinstance(new, dict):
        return dict(old or {}) != new
    return (old or None) != (new or None)


def _notice(s: Screen) -> str | None:
    return {
        "1": s.t("Saved"),
        "password": s.t("The password was reset; the user's sessions ended"),
        "unlocked": s.t("The account is unlocked"),
    }.get(s.params.get("saved", ""))


@admin_screen
def user_edit(s: Screen) -> Response:
    row = _user_row(s, path_id(s))
    if s.request.method == "GET":
        return _edit_page(s, row, notice=_notice(s))
    assert s.form is not None
    keys = s.form.getlist("attr_key")
    vals = s.form.getlist("attr_value")
    pairs = [(str(k).strip(), str(v).strip()) for k, v in zip(keys, vals, strict=False)]
    values: dict[str, Any] = {
        "display_name": text(s, "display_name"),
        "email": text(s, "email"),
        "department_id": text(s, "department_id"),
        "position_id": text(s, "position_id"),
        "locale": text(s, "locale"),
        "active": s.form.get("active") == "on",
        "roles": [str(r) for r in s.form.getlist("roles")],
        "attribute_rows": [(k, v) for k, v in pairs if k or v],
    }
    errors: dict[str, str] = {}
    if not values["display_name"]:
        errors["display_name"] = s.t("A display name is required")
    if values["locale"] not in LOCALES:
        errors["locale"] = s.t("Unknown language '{locale}'", locale=values["locale"])
    old_attributes = dict(row["attributes"] or {})
    attributes: dict[str, Any] = {}
    for key, value in values["attribute_rows"]:
        if not key:
            errors["attributes"] = s.t("Every attribute needs a name")
        elif not key.isidentifier():
            errors["attributes"] = s.t("Attribute '{key}' must be a short name such as region",
                                       key=key)  # fmt: skip
        else:  # an unchanged value keeps its stored type (a number stays a number)
            old = old_attributes.get(key)
            attributes[key] = old if old is not None and str(old) == value else value
    known_roles = {r["code"] for r in s.platform.permissions.roles()}
    if any(r not in known_roles for r in values["roles"]):
        errors["roles"] = s.t(
            "Unknown role '{code}'", code=next(r for r in values["roles"] if r not in known_roles)
        )
    try:
        department_id = optional_id(s, "department_id")
        position_id = optional_id(s, "position_id")
    except GuanxiError as error:
        errors.update(field_messages(s, error))
    if errors:
        return _edit_page(s, row, status=422, values=values, errors=errors)
    wanted = {
        "display_name": values["display_name"],
        "email": values["email"] or None,
        "department_id": department_id,
        "position_id": position_id,
        "locale": values["locale"],
        "active": values["active"],
        "attributes": attributes,
    }
    changes = {key: value for key, value in wanted.items() if _differs(row[key], value)}
    try:
        if changes:
            identity.update_user(s.platform.db, row["id"], actor=s.actor, **changes)
    except GuanxiError as error:
        messages = field_messages(s, error)
        if isinstance(error, NotFound):
            messages = {"department_id": next(iter(messages.values()))}
        return _edit_page(s, row, status=error.status, values=values, errors=messages)
    current = set(s.platform.permissions.user_roles(row["id"]))
    for code in sorted(set(values["roles"]) - current):
        s.platform.permissions.assign_role(s.actor, row["id"], code)
    for code in sorted(current - set(values["roles"])):
        s.platform.permissions.revoke_role(s.actor, row["id"], code)
    return s.redirect(f"/admin/users/{row['id']}?saved=1")


@admin_screen
def user_password(s: Screen) -> Response:
    row = _user_row(s, path_id(s))
    password = str(s.form.get("password") or "") if s.form is not None else ""
    generated = None
    if not password:
        password = generated = generated_password()
    try:
        s.platform.login.set_password(s.actor, row["id"], password)
    except GuanxiError as error:
        messages = field_messages(s, error)
        return _edit_page(s, row, status=error.status,
                          password_errors={"password": "；".join(messages.values())})  # fmt: skip
    if generated:
        return s.render("admin/org/user_password_shown.html", user_id=row["id"],
                        username=row["username"], password=generated, tab="users",
                        headers={"Cache-Control": "no-store"})  # fmt: skip
    return s.redirect(f"/admin/users/{row['id']}?saved=password")


@admin_screen
def user_unlock(s: Screen) -> Response:
    user_id = path_id(s)
    s.platform.login.unlock(s.actor, user_id)
    return s.redirect(f"/admin/users/{user_id}?saved=unlocked")


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/users", user_list),
        Route("/admin/users/new", user_new, methods=["GET", "POST"]),
        Route("/admin/users/{id:int}", user_edit, methods=["GET", "POST"]),
        Route("/admin/users/{id:int}/password", user_password, methods=["POST"]),
        Route("/admin/users/{id:int}/unlock", user_unlock, methods=["POST"]),
    ]
