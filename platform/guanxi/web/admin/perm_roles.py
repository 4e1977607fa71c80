"""Roles (PERM-02): list, create, delete, and the "why can't X see Y?" box (PERM-10), all
through platform.permissions."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth.vocabulary import FIELD_ACTIONS
from guanxi.errors import GuanxiError
from guanxi.web.admin.org_common import admin_screen, field_messages, text
from guanxi.web.screen import Screen


def _members(s: Screen) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Users per role and the roles each role includes, from one read of the g rows."""
    users: dict[str, int] = {}
    includes: dict[str, list[str]] = {}
    for _g, subject, code in s.platform.permissions.policies("g"):
        if subject.startswith("user:"):
            users[code] = users.get(code, 0) + 1
        else:
            includes.setdefault(subject, []).append(code)
    return users, includes


def _roles_page(
    s: Screen, *, status: int = 200, errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    users, includes = _members(s)
    notice = {"created": s.t("Role created"), "deleted": s.t("Role deleted")}.get(
        s.params.get("saved", "")
    )
    return s.render(
        "admin/org/roles.html",
        status=status,
        roles=s.platform.permissions.roles(),
        users=users,
        includes=includes,
        errors=errors or {},
        values=values or {},
        notice=notice,
        explain=explain_context(s),
        tab="roles",
    )


@admin_screen
def roles(s: Screen) -> Response:
    if s.request.method == "GET":
        return _roles_page(s)
    values = {key: text(s, key) for key in ("code", "label_zh", "label_en")}
    label = {"zh-CN": values["label_zh"]}
    if values["label_en"]:
        label["en"] = values["label_en"]
    try:
        s.platform.permissions.create_role(s.actor, values["code"], label)
    except GuanxiError as error:
        messages = field_messages(s, error, {"label": "label_zh"})
        return _roles_page(s, status=error.status, errors=messages, values=values)
    return s.redirect(f"/admin/roles/{values['code']}?saved=created")


@admin_screen
def role_delete(s: Screen) -> Response:
    s.platform.permissions.delete_role(s.actor, str(s.path_params["code"]))
    return s.redirect("/admin/roles?saved=deleted")


def explain_context(s: Screen) -> dict[str, Any]:
    """The explain box's inputs and, when asked, the answer (or what was wrong with the ask)."""
    entities = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    actions = list(dict.fromkeys(
        [a for e in entities for a in s.platform.permissions.module_actions(e.name)]
        + list(FIELD_ACTIONS)
    ))  # fmt: skip
    asked = {key: s.params.get(key, "").strip() for key in ("user", "action", "target", "record")}
    result: dict[str, Any] = {"asked": asked, "actions": actions, "entities": entities,
                              "text": None, "errors": {}}  # fmt: skip
    if not (asked["user"] and asked["action"] and asked["target"]):
        return result
    names = {e.name for e in entities}
    if asked["target"].partition(".")[0] not in names:
        result["errors"]["target"] = s.t("Unknown module '{name}'", name=asked["target"])
    if asked["action"] not in actions:
        result["errors"]["action"] = s.t("Unknown action '{action}'", action=asked["action"])
    record_id = None
    if asked["record"]:
        try:
            record_id = int(asked["record"])
        except ValueError:
            result["errors"]["record"] = s.t("A record id is a number")
    if result["errors"]:
        return result
    try:
        user: Any = int(asked["user"]) if asked["user"].isdigit() else asked["user"]
        explanation = s.platform.permissions.explain(
            user, asked["action"], asked["target"], record_id
        )
    except GuanxiError as error:
        result["errors"]["user"] = "；".join(field_messages(s, error).values())
        return result
    result["text"] = explanation.text(s.locale)
    result["allowed"] = explanation.allowed
    return result


@admin_screen
def explain_box(s: Screen) -> Response:
    """GET: the explain box alone for htmx, or the roles page around it."""
    if s.is_htmx:
        context = explain_context(s)
        status = 422 if context["errors"] else 200
        return s.render("admin/org/_explain.html", status=status, explain=context)
    return _roles_page(s)


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/roles", roles, methods=["GET", "POST"]),
        Route("/admin/roles/{code}/delete", role_delete, methods=["POST"]),
        Route("/admin/explain", explain_box),
    ]
