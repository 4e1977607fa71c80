"""Admin screens for metadata (UI-09): the module list and new custom modules here; the module
page's tabs (fields, layout, stages, tags, numbering) in the meta_* modules. Every change goes
through platform.admin (MetadataAdmin), which checks the admin again and bumps the version every
worker watches, so a change is live for all users at once."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import MetadataError
from guanxi.store.identifiers import check_field_key
from guanxi.store.numbering import check_format
from guanxi.web.admin import meta_fields, meta_layout, meta_tags
from guanxi.web.admin.meta_common import Errors, error_map, general, label_of, text
from guanxi.web.screen import Screen, screen

MODULE_FIELDS = ("name", "label", "title_key", "title_label", "number_format")


@screen
def modules(s: Screen) -> Response:
    s.platform.authorizer.check_admin(s.actor)
    if s.request.method == "GET":
        return _modules_page(s, {}, {})
    assert s.form is not None
    values = {key: text(s.form, key) for key in ("name", "title_key", "number_format")}
    values.update(
        {
            key: text(s.form, key)
            for key in ("label_zh", "label_en", "title_label_zh", "title_label_en")
        }
    )
    errors: Errors = {}
    if not values["name"]:
        errors["name"] = [s.t("Enter a module name")]
    if not values["label_zh"]:
        errors["label"] = [s.t("Enter the Chinese label")]
    title_key = values["title_key"] or "name"
    if values["number_format"]:
        for problem in check_format(values["number_format"]):
            errors.setdefault("number_format", []).append(problem)
    if errors:
        return _modules_page(s, values, errors, status=422)
    title_label = label_of(s.form, "title_label")
    if not title_label["zh-CN"]:
        title_label = {"zh-CN": "名称", "en": "Name"}
    try:
        check_field_key(title_key)
        entity = s.platform.admin.create_entity(
            s.actor,
            values["name"],
            label_of(s.form, "label"),
            [{"key": title_key, "type": "text", "label": title_label, "required": True}],
            title_field=title_key,
            number_format=values["number_format"] or None,
        )
    except MetadataError as error:
        found = error_map(error, s.locale, rename={"key": "title_key"})
        return _modules_page(s, values, found, status=error.status)
    return s.redirect(f"/admin/modules/{entity.name}")


def _modules_page(
    s: Screen, values: dict[str, Any], errors: Errors, *, status: int = 200
) -> Response:
    entities = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    return s.render(
        "admin/meta/modules.html",
        status=status,
        entities=entities,
        values=values,
        errors=errors,
        general_errors=general(errors, MODULE_FIELDS),
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/modules", modules, methods=["GET", "POST"]),
        *meta_fields.routes(),
        *meta_layout.routes(),
        *meta_tags.routes(),
    ]
