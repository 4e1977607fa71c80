"""The Layout tab (CORE-08: detail sections, related lists) and the Stages tab (CORE-06: each
stage field's pipeline). Both editors replace a whole definition, so each carries a fingerprint
of what it showed and refuses (409) to save over a change someone made meanwhile."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.errors import MetadataError, NotFound
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, Pipeline
from guanxi.web.admin.meta_common import (
    Errors,
    admin_entity,
    as_list,
    color_of,
    error_map,
    fingerprint,
    render_tab,
    rows,
    text,
    user_fields,
)
from guanxi.web.screen import Screen, screen

CATEGORIES = ("open", "won", "lost")

# -- layout ---------------------------------------------------------------------------------


def related_candidates(s: Screen, entity: EntityDef) -> list[dict[str, Any]]:
    """Every (module, reference field) pointing at this module: what a detail page can list."""
    found = []
    for other in sorted(s.platform.registry.entities(), key=lambda e: e.name):
        for field in other.fields:
            if field.type == "reference" and field.reference == entity.name and not field.hidden:
                found.append(
                    {
                        "code": f"{other.name}:{field.key}",
                        "entity": other.name,
                        "field": field.key,
                        "label": f"{other.title(s.locale)} · {field.title(s.locale)}",
                    }
                )
    return found


def stored_layout(s: Screen, entity: EntityDef) -> dict[str, Any]:
    detail = entity.layouts.get("detail", {})
    sections = [
        {
            "code": str(sec.get("code", "")),
            "zh": _label_part(sec.get("label"), "zh-CN"),
            "en": _label_part(sec.get("label"), "en"),
            "order": str((n + 1) * 10),
        }
        for n, sec in enumerate(detail.get("sections", []))
    ]
    shown = [f"{r.get('entity')}:{r.get('field', '')}" for r in detail.get("related", [])]
    related = []
    for candidate in related_candidates(s, entity):
        position = shown.index(candidate["code"]) if candidate["code"] in shown else None
        related.append(
            {
                **candidate,
                "show": position is not None,
                "order": str((position + 1) * 10) if position is not None else "",
            }
        )
    related.sort(key=lambda r: (not r["show"], int(r["order"] or 0)))
    return {"sections": sections, "related": related}


def _label_part(label: Any, locale: str) -> str:
    if isinstance(label, dict):
        return str(label.get(locale, ""))
    return str(label or "") if locale == "zh-CN" else ""


@screen
def layout_tab(s: Screen) -> Response:
    entity = admin_entity(s)
    current = entity.layouts.get("detail", {})
    if s.request.method == "GET":
        return _layout_page(s, entity, stored_layout(s, entity), {})
    assert s.form is not None
    if text(s.form, "seen") != fingerprint(current):
        errors = {
            "general": [s.t("Someone else changed this layout meanwhile; here is the current one.")]
        }
        return _layout_page(s, entity, stored_layout(s, entity), errors, status=409)
    errors: Errors = {}
    sections = []
    for n, row in enumerate(rows(s.form, "sec")):
        order = _order(s, row.get("order"), errors, "sections")
        sections.append((order, n, row))
    by_code = {sec.get("code"): sec for sec in current.get("sections", [])}
    candidates = {c["code"]: c for c in related_candidates(s, entity)}
    related = []
    for n, row in enumerate(rows(s.form, "rel")):
        if row.get("show") != "on" or row["code"] not in candidates:
            continue
        related.append((_order(s, row.get("order"), errors, "related"), n, row))
    values = {
        "sections": [row for _o, _n, row in sections],
        "related": [
            {
                **c,
                "show": any(r["code"] == code for _o, _n, r in related),
                "order": next(
                    (r.get("order", "") for _o, _n, r in related if r["code"] == code), ""
                ),
            }
            for code, c in candidates.items()
        ],
    }
    for _o, _n, row in sections:
        if not row.get("zh"):
            errors.setdefault("sections", []).append(
                s.t("Section '{code}' needs a Chinese label", code=row["code"])
            )
    if errors:
        return _layout_page(s, entity, values, errors, status=422)
    definition = {
        **current,
        "sections": [
            {
                **by_code.get(row["code"], {}),
                "code": row["code"],
                "label": {"zh-CN": row["zh"], **({"en": row["en"]} if row.get("en") else {})},
            }
            for _o, _n, row in sorted(sections, key=lambda item: item[:2])
        ],
        "related": [
            {"entity": candidates[row["code"]]["entity"], "field": candidates[row["code"]]["field"]}
            for _o, _n, row in sorted(related, key=lambda item: item[:2])
        ],
    }
    try:
        s.platform.admin.set_layout(s.actor, entity.name, "detail", definition)
    except MetadataError as error:
        return _layout_page(s, entity, values, error_map(error, s.locale), status=error.status)
    return s.redirect(f"/admin/modules/{entity.name}/layout?saved=1")


def _order(s: Screen, raw: Any, errors: Errors, where: str) -> int:
    try:
        return int(raw or 0)
    except (TypeError, ValueError):
        errors.setdefault(where, []).append(s.t("The order must be a whole number"))
        return 0


def _layout_page(
    s: Screen, entity: EntityDef, values: dict[str, Any], errors: Errors, *, status: int = 200
) -> Response:
    return render_tab(
        s,
        entity,
        "layout",
        "admin/meta/layout.html",
        status=status,
        values=values,
        errors=errors,
        seen=fingerprint(entity.layouts.get("detail", {})),
        saved=s.params.get("saved") == "1",
    )


# -- stages ---------------------------------------------------------------------------------


def stored_stages(pipeline: Pipeline | None) -> list[dict[str, Any]]:
    if pipeline is None:
        return []
    return [
        {
            "code": st.code,
            "zh": st.label.get("zh-CN", ""),
            "en": st.label.get("en", ""),
            "probability": str(st.probability),
            "category": st.category,
            "color": st.color or "",
            "required": list(st.required_fields),
            "reason": st.reason_required,
            "next": list(st.transitions or []),
            "stale_days": "" if st.stale_days is None else str(st.stale_days),
        }
        for st in pipeline.stages
    ]


def pipeline_fingerprint(pipeline: Pipeline | None) -> str:
    return fingerprint(repr(pipeline) if pipeline else None)


@screen
def stages_tab(s: Screen) -> Response:
    entity = admin_entity(s)
    return _stages_page(s, entity, None, None, {})


@screen
def save_pipeline(s: Screen) -> Response:
    entity = admin_entity(s)
    key = str(s.path_params["field"])
    field = entity.get_field(key)
    if field is None or field.type != "stage":
        raise NotFound(_("'{key}' is not a stage field", key=key))
    assert s.form is not None
    pipeline = entity.pipelines.get(key)
    if text(s.form, "seen") != pipeline_fingerprint(pipeline):
        errors = {
            "general": [
                s.t("Someone else changed these stages meanwhile; here are the current ones.")
            ]
        }
        return _stages_page(s, entity, key, None, errors, status=409)
    errors: Errors = {}
    values = []
    stages = []
    for row in rows(s.form, "st"):
        stage_values = {
            "code": row["code"],
            "zh": row.get("zh", ""),
            "en": row.get("en", ""),
            "probability": row.get("probability", "") or "0",
            "category": row.get("category") or "open",
            "color": row.get("color", ""),
            "required": as_list(row.get("required")),
            "reason": row.get("reason") == "on",
            "next": as_list(row.get("next")),
            "stale_days": row.get("stale_days", ""),
        }
        values.append(stage_values)
        stage: dict[str, Any] = {
            "code": stage_values["code"],
            "label": {
                "zh-CN": stage_values["zh"],
                **({"en": stage_values["en"]} if stage_values["en"] else {}),
            },
            "category": stage_values["category"]
            if stage_values["category"] in CATEGORIES
            else "open",
            "required_fields": stage_values["required"],
            "reason_required": stage_values["reason"],
            "transitions": stage_values["next"] or None,
        }
        if not stage_values["zh"]:
            errors.setdefault("stages", []).append(
                s.t("Stage '{code}' needs a Chinese label", code=stage_values["code"])
            )
        try:
            stage["probability"] = int(stage_values["probability"])
            if not 0 <= stage["probability"] <= 100:
                raise ValueError
        except ValueError:
            errors.setdefault("stages", []).append(
                s.t(
                    "Stage '{code}': the probability is a whole number from 0 to 100",
                    code=stage_values["code"],
                )
            )
        if stage_values["stale_days"]:
            try:
                stage["stale_days"] = int(stage_values["stale_days"])
            except ValueError:
                errors.setdefault("stages", []).append(s.t("Days must be a whole number"))
        color = color_of(stage_values["color"], s, errors, "stages")
        if color:
            stage["color"] = color
        stages.append(stage)
    if not stages:
        errors.setdefault("stages", []).append(s.t("A pipeline needs at least one stage"))
    if errors:
        return _stages_page(s, entity, key, values, errors, status=422)
    try:
        s.platform.admin.set_pipeline(
            s.actor, entity.name, key, stages, reason_required=s.form.get("reason_required") == "on"
        )
    except MetadataError as error:
        return _stages_page(s, entity, key, values, error_map(error, s.locale), status=error.status)
    return s.redirect(f"/admin/modules/{entity.name}/stages?saved={key}#pipeline-{key}")


def _stages_page(
    s: Screen,
    entity: EntityDef,
    failed: str | None,
    values: list[dict[str, Any]] | None,
    errors: Errors,
    *,
    status: int = 200,
) -> Response:
    pipelines = []
    for field in user_fields(entity):
        if field.type != "stage":
            continue
        pipeline = entity.pipelines.get(field.key)
        own = failed == field.key and values is not None
        pipelines.append(
            {
                "field": field,
                "stages": values if own else stored_stages(pipeline),
                "reason_required": bool(pipeline and pipeline.reason_required),
                "seen": pipeline_fingerprint(pipeline),
                "errors": [m for ms in errors.values() for m in ms] if failed == field.key else [],
            }
        )
    return render_tab(
        s,
        entity,
        "stages",
        "admin/meta/stages.html",
        status=status,
        pipelines=pipelines,
        fields=[f for f in user_fields(entity) if not f.hidden],
        categories=[("open", s.t("Open")), ("won", s.t("Won")), ("lost", s.t("Lost"))],
        saved=s.params.get("saved"),
    )


def routes() -> list[BaseRoute]:
    base = "/admin/modules/{entity}"
    return [
        Route(base + "/layout", layout_tab, methods=["GET", "POST"]),
        Route(base + "/stages", stages_tab),
        Route(base + "/stages/{field}", save_pipeline, methods=["POST"]),
    ]
