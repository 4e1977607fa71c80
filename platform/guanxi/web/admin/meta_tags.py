"""The Tags tab (CORE-07: tag groups and their tags) and the Numbering tab (CORE-09: the
record-number format with a preview of the next number)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import clock
from guanxi.errors import MetadataError, NotFound
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.store import numbering
from guanxi.store.system_tables import sequence
from guanxi.web.admin.meta_common import (
    Errors,
    admin_entity,
    color_of,
    error_map,
    general,
    label_of,
    render_tab,
    text,
)
from guanxi.web.screen import Screen, screen

TAG_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
GROUP_FIELDS = ("code", "label", "kind")
TAG_FIELDS = ("code", "label", "color", "group")

# -- tags -----------------------------------------------------------------------------------


def tag_groups(s: Screen, entity: EntityDef) -> list[dict[str, Any]]:
    """Groups with their tags (an empty group shows too)."""
    groups = s.platform.admin.tag_groups(entity.name)
    by_code = {group["code"]: {**group, "tags": []} for group in groups}
    for found in s.platform.admin.tags(entity.name):
        if found["group"] in by_code:
            by_code[found["group"]]["tags"].append(found)
    return list(by_code.values())


@screen
def tags_tab(s: Screen) -> Response:
    entity = admin_entity(s)
    return _tags_page(s, entity, {}, {})


@screen
def add_group(s: Screen) -> Response:
    entity = admin_entity(s)
    assert s.form is not None
    values = _values(s)
    values["kind"] = text(s.form, "kind") or "attribute"
    values["exclusive"] = s.form.get("exclusive") == "on"
    errors = _check(s, values)
    if not errors:
        try:
            s.platform.admin.add_tag_group(
                s.actor,
                entity.name,
                values["code"],
                label_of(s.form, "label"),
                kind=values["kind"],
                exclusive=values["exclusive"],
            )
        except MetadataError as error:
            errors = error_map(error, s.locale)
    if errors:
        return _tags_page(s, entity, {"group": values}, {"group": errors}, status=422)
    return s.redirect(f"/admin/modules/{entity.name}/tags#group-{values['code']}")


@screen
def add_tag(s: Screen) -> Response:
    entity = admin_entity(s)
    assert s.form is not None
    group = str(s.path_params["group"])
    if group not in {g["code"] for g in tag_groups(s, entity)}:
        raise NotFound(_("Unknown tag group '{code}'", code=group))
    values = _values(s)
    values["color"] = text(s.form, "color")
    return _save_tag(
        s, entity, group, values,
        lambda label, color: s.platform.admin.add_tag(
            s.actor, entity.name, group, values["code"], label, color=color
        ),
    )  # fmt: skip


@screen
def change_tag(s: Screen) -> Response:
    """Relabel or recolour one tag (CORE-07); records keep it."""
    entity = admin_entity(s)
    assert s.form is not None
    code = str(s.path_params["code"])
    values = _values(s)
    values["code"] = code
    values["color"] = text(s.form, "color")
    return _save_tag(
        s, entity, _group_of_tag(s, entity, code), values,
        lambda label, color: s.platform.admin.change_tag(
            s.actor, entity.name, code, label, color=color
        ),
    )  # fmt: skip


def _save_tag(
    s: Screen,
    entity: EntityDef,
    group: str,
    values: dict[str, Any],
    save: Callable[[dict[str, str], str | None], Any],
) -> Response:
    """Check the form, save through MetadataAdmin, and go back to the group (or show the
    errors next to the group's form, 422)."""
    assert s.form is not None
    errors = _check(s, values)
    color = color_of(values["color"], s, errors, "color")
    if not errors:
        try:
            save(label_of(s.form, "label"), color)
        except MetadataError as error:
            errors = error_map(error, s.locale)
    if errors:
        return _tags_page(s, entity, {group: values}, {group: errors}, status=422)
    return s.redirect(f"/admin/modules/{entity.name}/tags#group-{group}")


@screen
def remove_tag(s: Screen) -> Response:
    """Delete a tag; it comes off every record that had it (the page asks first)."""
    entity = admin_entity(s)
    code = str(s.path_params["code"])
    group = _group_of_tag(s, entity, code)
    s.platform.admin.remove_tag(s.actor, entity.name, code)
    return s.redirect(f"/admin/modules/{entity.name}/tags#group-{group}")


def _group_of_tag(s: Screen, entity: EntityDef, code: str) -> str:
    """The group a tag belongs to (where the page returns to); 404 for an unknown tag."""
    for found in s.platform.admin.tags(entity.name):
        if found["code"] == code:
            return str(found["group"])
    raise NotFound(_("Unknown tag '{code}'", code=code))


def _values(s: Screen) -> dict[str, Any]:
    assert s.form is not None
    return {
        "code": text(s.form, "code"),
        "label_zh": text(s.form, "label_zh"),
        "label_en": text(s.form, "label_en"),
    }


def _check(s: Screen, values: dict[str, Any]) -> Errors:
    errors: Errors = {}
    if not TAG_CODE.match(values["code"]):
        errors["code"] = [s.t("A code is 1-64 letters, digits, _ or -")]
    if not values["label_zh"]:
        errors["label"] = [s.t("Enter the Chinese label")]
    return errors


def _tags_page(
    s: Screen,
    entity: EntityDef,
    values: dict[str, dict[str, Any]],
    errors: dict[str, Errors],
    *,
    status: int = 200,
) -> Response:
    general_errors = {
        where: general(found, GROUP_FIELDS if where == "group" else TAG_FIELDS)
        for where, found in errors.items()
    }
    return render_tab(
        s,
        entity,
        "tags",
        "admin/meta/tags.html",
        status=status,
        groups=tag_groups(s, entity),
        has_tags_field=any(f.type == "tags" and not f.hidden for f in entity.fields),
        values=values,
        errors=errors,
        general_errors=general_errors,
    )


# -- numbering ------------------------------------------------------------------------------


def current_format(entity: EntityDef) -> str:
    number_field = entity.get_field("number")
    return (number_field.number_format if number_field else None) or entity.number_format


def preview(s: Screen, entity: EntityDef, number_format: str) -> dict[str, Any]:
    """The number the next record would get with this format (the counter is only read)."""
    problems = numbering.check_format(number_format)
    if problems:
        return {"problems": problems, "number": None}
    now = clock.to_local(clock.now_utc())
    name = numbering.sequence_name(entity.name, "number", number_format, now)
    with s.platform.db.read() as connection:
        value = connection.execute(
            sa.select(sequence.c.value).where(sequence.c.name == name)
        ).scalar()
    number = number_format.format(
        seq=int(value or 0) + 1,
        yyyy=f"{now:%Y}",
        yy=f"{now:%y}",
        mm=f"{now:%m}",
        dd=f"{now:%d}",
    )
    return {"problems": [], "number": number}


@screen
def numbering_tab(s: Screen) -> Response:
    """GET: the format with a live preview; POST: save it (CORE-05) through MetadataAdmin."""
    entity = admin_entity(s)
    error, status = None, 200
    if s.form is not None:
        proposed = str(s.form.get("format") or "").strip()
        try:
            s.platform.admin.set_number_format(s.actor, entity.name, proposed)
        except MetadataError as refused:
            error, status = refused.message.render(s.locale), 400
        else:
            return s.redirect(f"/admin/modules/{entity.name}/numbering?saved=1")
    else:
        proposed = s.params.get("format", "").strip() or current_format(entity)
    result = preview(s, entity, proposed)
    if s.is_htmx and s.form is None:
        return s.render("admin/meta/_number_preview.html", result=result, proposed=proposed)
    return render_tab(
        s,
        entity,
        "numbering",
        "admin/meta/numbering.html",
        status=status,
        current=current_format(entity),
        proposed=proposed,
        result=result,
        error=error,
        saved=s.params.get("saved") == "1",
        placeholders=sorted(numbering.ALLOWED_PLACEHOLDERS),
    )


def routes() -> list[BaseRoute]:
    base = "/admin/modules/{entity}"
    return [
        Route(base + "/tags", tags_tab),
        Route(base + "/tags/groups", add_group, methods=["POST"]),
        Route(base + "/tags/groups/{group}/tags", add_tag, methods=["POST"]),
        Route(base + "/tags/items/{code}", change_tag, methods=["POST"]),
        Route(base + "/tags/items/{code}/remove", remove_tag, methods=["POST"]),
        Route(base + "/numbering", numbering_tab, methods=["GET", "POST"]),
    ]
