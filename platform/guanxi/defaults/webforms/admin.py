"""Admin screens of web forms (API-04, UI-09): the list, create and edit with a field
checklist, the embed snippets, the submission log, activate/deactivate and delete. The
service checks the admin right again and audits every change."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.auth import identity
from guanxi.defaults.webforms import service, snippets
from guanxi.defaults.webforms.service import LIST_WIDGETS, OWNED_KEYS, PUBLIC_WIDGETS, WebForm
from guanxi.errors import NotFound, ValidationFailed
from guanxi.i18n import LOCALES, _
from guanxi.meta.entity import EntityDef
from guanxi.web.admin.org_common import admin_screen, field_messages, path_id, text
from guanxi.web.display import options_of
from guanxi.web.screen import Screen, url_with

PAGE_SIZE = 50
OUTCOMES = ("created", "duplicate", "invalid", "spam", "limited")
PREFERRED_ENTITIES = ("lead", "customer")  # what a new form is for unless the admin picks


@admin_screen
def form_list(s: Screen) -> Response:
    rows = service.list_forms(s.platform, s.actor)
    notice = s.t("Deleted") if s.params.get("deleted") else None
    return s.render("admin/forms/list.html", rows=rows, titles=_titles(s), notice=notice)


@admin_screen
def form_new(s: Screen) -> Response:
    entity = _entity(s, s.params.get("entity") or _preferred(s))
    if s.request.method == "GET":
        required = [f.key for f in _candidates(entity) if f.required and f.default is None]
        values = {"name": "", "entity": entity.name, "fields": required, "defaults": {},
                  "match_fields": [], "thank_you": {}, "redirect_url": "",
                  "owner_id": s.actor.user_id, "active": True}  # fmt: skip
        return _edit_page(s, entity, None, values, {})
    values = _submitted(s, entity)
    try:
        form = service.create_form(s.platform, s.actor, values)
    except ValidationFailed as failed:
        return _edit_page(s, entity, None, values, field_messages(s, failed), status=422)
    return s.redirect(f"/admin/forms/{form.id}?saved=1")


@admin_screen
def form_edit(s: Screen) -> Response:
    form = service.get_form(s.platform, s.actor, path_id(s))
    entity = _entity(s, form.entity)
    if s.request.method == "GET":
        notice = s.t("Saved") if s.params.get("saved") else None
        return _edit_page(s, entity, form, form.settings(), {}, notice=notice)
    values = {**_submitted(s, entity), "active": form.active}
    try:
        service.update_form(s.platform, s.actor, form.id, values)
    except ValidationFailed as failed:
        return _edit_page(s, entity, form, values, field_messages(s, failed), status=422)
    return s.redirect(f"/admin/forms/{form.id}?saved=1")


@admin_screen
def form_active(s: Screen) -> Response:
    form_id = path_id(s)
    service.set_active(s.platform, s.actor, form_id, text(s, "active") == "on")
    return s.redirect(f"/admin/forms/{form_id}?saved=1")


@admin_screen
def form_delete(s: Screen) -> Response:
    service.delete_form(s.platform, s.actor, path_id(s))
    return s.redirect("/admin/forms?deleted=1")


@admin_screen
def form_submissions(s: Screen) -> Response:
    form = service.get_form(s.platform, s.actor, path_id(s))
    outcome = s.params.get("outcome", "")
    outcome = outcome if outcome in OUTCOMES else ""
    before = s.params.get("before", "")
    rows = service.submissions(s.platform, s.actor, form.id, outcome=outcome or None,
                               before=int(before) if before.isdigit() else None,
                               limit=PAGE_SIZE + 1)  # fmt: skip
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for row in rows:
        row["codes"] = [f"{e['field']}: {e['code']}" if e.get("field") else e.get("code")
                        for e in row["errors"] or []]  # fmt: skip
    next_url = url_with(s.params, before=rows[-1]["id"]) if more and rows else None
    return s.render("admin/forms/submissions.html", form=form, rows=rows, outcomes=OUTCOMES,
                    outcome=outcome, next_url=next_url, titles=_titles(s))  # fmt: skip


# -- helpers ------------------------------------------------------------------------------------


def _titles(s: Screen) -> dict[str, str]:
    return {e.name: e.title(s.locale) for e in s.platform.registry.entities()}


def _preferred(s: Screen) -> str:
    names = sorted(e.name for e in s.platform.registry.entities())
    return next((n for n in PREFERRED_ENTITIES if n in names), names[0] if names else "")


def _entity(s: Screen, name: str) -> EntityDef:
    entity = s.platform.registry.snapshot().entities.get(name)
    if entity is None:
        raise NotFound(_("Unknown module '{name}'", name=name))
    return entity


def _candidates(entity: EntityDef) -> list[Any]:
    return [f for f in entity.input_fields if f.key not in OWNED_KEYS]


def _submitted(s: Screen, entity: EntityDef) -> dict[str, Any]:
    """The edit form -> service input; chosen fields sorted by their order numbers."""
    assert s.form is not None
    position = {f.key: index for index, f in enumerate(_candidates(entity))}
    chosen = [str(k) for k in s.form.getlist("fields") if str(k) in position]

    def order(key: str) -> tuple[int, int]:
        raw = text(s, f"order.{key}")
        return (int(raw) if raw.isdigit() else 10_000, position[key])

    return {
        "name": text(s, "name"),
        "entity": entity.name,
        "fields": sorted(chosen, key=order),
        "defaults": {
            key: text(s, f"default.{key}") for key in position if text(s, f"default.{key}")
        },  # fmt: skip
        "match_fields": [str(k) for k in s.form.getlist("match_fields")],
        "thank_you": {locale: text(s, f"thank_you.{locale}") for locale in LOCALES},
        "redirect_url": text(s, "redirect_url"),
        "owner_id": text(s, "owner_id"),
        "active": text(s, "active") == "on" if "active_shown" in s.form else True,
    }


def _field_rows(
    s: Screen, entity: EntityDef, values: dict[str, Any], errors: dict[str, str]
) -> list[dict[str, Any]]:
    """The checklist: the form's fields in their order first, then the others."""
    chosen = list(values.get("fields") or [])
    candidates = _candidates(entity)
    ordered = sorted(candidates, key=lambda f: (chosen.index(f.key) if f.key in chosen
                                                else len(chosen)))  # fmt: skip
    defaults = values.get("defaults") or {}
    rows = []
    for field in ordered:
        field_type = s.platform.types.for_field(field)
        default = defaults.get(field.key, "")
        rows.append({
            "key": field.key,
            "label": field.title(s.locale),
            "type": s.label(field_type.label) if getattr(field_type, "label", None) else field.type,
            "public": field_type.widget in PUBLIC_WIDGETS,
            "on_form": field.key in chosen,
            "order": chosen.index(field.key) + 1 if field.key in chosen else "",
            "default": ", ".join(default) if isinstance(default, list) else default,
            "options": options_of(field, s.locale) if field_type.widget == "select" else None,
            "list": field_type.widget in LIST_WIDGETS,
            "match": field.key in (values.get("match_fields") or []),
            "matchable": "eq" in field_type.operators,
            "required": field.required and field.default is None,
            "error": errors.get(f"defaults.{field.key}"),
        })  # fmt: skip
    return rows


def _edit_page(
    s: Screen,
    entity: EntityDef,
    form: WebForm | None,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    owners = [(u["id"], u["display_name"] or u["username"])
              for u in identity.list_users(s.platform.db) if u["active"]]  # fmt: skip
    embed = None
    if form is not None:
        base = str(s.request.base_url)
        embed = {
            "url": snippets.form_url(base, form),
            "iframe": snippets.iframe(base, form),
            "html": snippets.html_form(s.platform, base, form, entity, s.locale),
            "curl": snippets.curl(s.platform, base, form, entity),
        }
    entities = sorted(s.platform.registry.entities(), key=lambda e: e.title(s.locale))
    return s.render("admin/forms/edit.html", status=status, form=form, entity=entity,
                    entities=entities, values=values, errors=errors, owners=owners,
                    rows=_field_rows(s, entity, values, errors), locales=LOCALES, embed=embed,
                    notice=notice)  # fmt: skip


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/forms", form_list),
        Route("/admin/forms/new", form_new, methods=["GET", "POST"]),
        Route("/admin/forms/{id:int}", form_edit, methods=["GET", "POST"]),
        Route("/admin/forms/{id:int}/active", form_active, methods=["POST"]),
        Route("/admin/forms/{id:int}/delete", form_delete, methods=["POST"]),
        Route("/admin/forms/{id:int}/submissions", form_submissions),
    ]
