"""The commerce screens: the quote line editor (htmx: add, change quantity or discount,
delete; the totals refresh with the lines), the print-template admin screen and the print
route (HTML, or PDF with ?format=pdf). Reads and writes go through `platform.records` as the
viewer and the services in `quotes` / `printing`, which check the rights again."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi.api import FieldError, NotFound, ValidationFailed, _
from guanxi.web.display import Presenter, readable_fields
from guanxi.web.screen import Screen, screen
from guanxi_sfa.commerce import printing, quotes

LINE_FIELDS = (
    "product",
    "description",
    "quantity",
    "unit_price",
    "discount",
    "tax_rate",
    "net_amount",
    "tax_amount",
    "amount",
)
# a print page is admin-written HTML: no script runs and nothing is fetched from elsewhere
PRINT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
TOTAL_FIELDS = ("subtotal", "discount_amount", "net_amount", "tax_amount", "total")


def routes() -> list[BaseRoute]:
    return [
        Route("/sfa/quotes/{quote_id:int}/lines", screen(lines_page), methods=["GET", "POST"]),
        Route(
            "/sfa/quotes/{quote_id:int}/lines/{line_id:int}", screen(line_change), methods=["POST"]
        ),
        Route(
            "/sfa/quotes/{quote_id:int}/lines/{line_id:int}/delete",
            screen(line_delete),
            methods=["POST"],
        ),
        Route("/sfa/admin/print-templates", screen(templates_page), methods=["GET", "POST"]),
        Route("/sfa/print/{module:str}/{record_id:int}", screen(print_page)),
    ]


# -- quote lines ------------------------------------------------------------------------------


def _form_value(s: Screen, key: str) -> str | None:
    assert s.form is not None
    value = str(s.form.get(key) or "").strip()
    return value or None


def lines_page(s: Screen) -> Response:
    quote_id = int(s.path_params["quote_id"])
    errors: list[FieldError] = []
    entered: dict[str, Any] = {}
    if s.form is not None:
        entered = {
            k: _form_value(s, k)
            for k in ("product", "description", "quantity", "unit_price", "discount")
        }
        data = {k: v for k, v in entered.items() if v is not None}
        try:
            quotes.add_line(s.platform, s.actor, quote_id, data)
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            entered = {}
            if not s.is_htmx:
                return s.redirect(f"/sfa/quotes/{quote_id}/lines")
    return _lines_response(s, quote_id, errors, entered)


def line_change(s: Screen) -> Response:
    quote_id, line_id = int(s.path_params["quote_id"]), int(s.path_params["line_id"])
    assert s.form is not None
    changes = {k: _form_value(s, k) for k in ("quantity", "discount", "unit_price") if k in s.form}
    version = str(s.form.get("version") or "")
    errors: list[FieldError] = []
    try:
        line = s.platform.records.get(s.actor, "quote_line", line_id, log_view=False)
        if line["quote"] != quote_id:
            raise NotFound(_("No such page"))
        quotes.change_line(
            s.platform,
            s.actor,
            line_id,
            changes,
            int(version) if version.isdecimal() else line["version"],
        )
    except ValidationFailed as error:
        errors = [
            FieldError(f"line-{line_id}.{e.field}", e.code, e.message) for e in error.field_errors
        ]
    if not s.is_htmx and not errors:
        return s.redirect(f"/sfa/quotes/{quote_id}/lines")
    return _lines_response(s, quote_id, errors, {})


def line_delete(s: Screen) -> Response:
    quote_id, line_id = int(s.path_params["quote_id"]), int(s.path_params["line_id"])
    line = s.platform.records.get(s.actor, "quote_line", line_id, log_view=False)
    if line["quote"] != quote_id:
        raise NotFound(_("No such page"))
    errors: list[FieldError] = []
    try:
        quotes.remove_line(s.platform, s.actor, line_id)
    except ValidationFailed as error:
        errors = error.field_errors
    if not s.is_htmx and not errors:
        return s.redirect(f"/sfa/quotes/{quote_id}/lines")
    return _lines_response(s, quote_id, errors, {})


def _lines_response(
    s: Screen, quote_id: int, errors: list[FieldError], entered: dict[str, Any]
) -> Response:
    """The whole editor, or for htmx only its lines-and-totals block."""
    quote = dict(s.platform.records.get(s.actor, "quote", quote_id, log_view=False))
    rows = quotes.lines_of(s.platform, s.actor, quote_id)
    line_entity = s.platform.registry.get("quote_line")
    quote_entity = s.platform.registry.get("quote")
    access = s.platform.records.access(s.actor)
    line_mask, quote_mask = access.mask(line_entity), access.mask(quote_entity)
    shown = [f for f in readable_fields(line_entity, line_mask) if f.key in LINE_FIELDS]
    shown.sort(key=lambda f: LINE_FIELDS.index(f.key))
    presenter = Presenter(s.platform, s.actor, line_entity, s.locale, line_mask).load(rows, shown)
    totals_fields = [f for f in readable_fields(quote_entity, quote_mask) if f.key in TOTAL_FIELDS]
    totals_fields.sort(key=lambda f: TOTAL_FIELDS.index(f.key))
    quote_presenter = Presenter(s.platform, s.actor, quote_entity, s.locale, quote_mask)
    products = (
        s.platform.records.query(
            s.actor,
            "product",
            {"field": "active", "op": "eq", "value": True},
            sort=["name"],
            limit=500,
        ).rows
        if access.allows("product", "view")
        else []
    )
    context = {
        "quote": quote,
        "fields": shown,
        "errors": errors,
        "entered": entered,
        "by_field": {e.field: e for e in errors},
        "rows": [(r, {f.key: presenter.text(f, r) for f in shown}) for r in rows],
        "totals": [(f, quote_presenter.text(f, quote)) for f in totals_fields],
        "approval": quote_presenter.text(quote_entity.field("approval"), quote)
        if "approval" in quote_mask.levels
        else "",
        "needs_approval": bool(quote.get("needs_approval")),
        "editable": quote.get("status") in quotes.EDITABLE_STATUSES,
        "products": products,
    }
    status = 422 if errors else 200
    if s.is_htmx:
        return s.render("guanxi_sfa/commerce/_lines.html", status=status, **context)
    return s.render("guanxi_sfa/commerce/lines.html", status=status, **context)


# -- print templates -------------------------------------------------------------------------


def templates_page(s: Screen) -> Response:
    if not s.platform.records.access(s.actor).is_admin:
        raise NotFound(_("No such page"))
    errors: list[FieldError] = []
    editing_id = s.params.get("edit")
    values: dict[str, Any] = {"module": s.params.get("module") or "quote", "name": "", "body": ""}
    if s.form is not None:
        template_id = str(s.form.get("template_id") or "")
        if s.form.get("action") == "delete" and template_id.isdecimal():
            printing.delete(s.platform, s.actor, int(template_id))
            return s.redirect("/sfa/admin/print-templates")
        values = {k: str(s.form.get(k) or "") for k in ("module", "name", "body")}
        try:
            saved = printing.save(
                s.platform,
                s.actor,
                values["module"],
                values["name"],
                values["body"],
                int(template_id) if template_id.isdecimal() else None,
            )
        except ValidationFailed as error:
            errors = error.field_errors
            editing_id = template_id or None
        else:
            return s.redirect(f"/sfa/admin/print-templates?edit={saved}&saved=1")
    found = printing.templates(s.platform)
    if editing_id and str(editing_id).isdecimal() and s.form is None:
        chosen = next((t for t in found if t["id"] == int(editing_id)), None)
        if chosen is not None:
            values = {k: chosen[k] for k in ("module", "name", "body")}
    if not values.get("body") and s.form is None and values["module"] in printing.SEEDED:
        values["body"] = printing.default_body(values["module"])
    modules = [(e.name, e.title(s.locale)) for e in s.platform.registry.entities()]
    return s.render(
        "guanxi_sfa/commerce/print_templates.html",
        status=422 if errors else 200,
        templates=found,
        values=values,
        editing=editing_id,
        modules=sorted(modules),
        errors=errors,
        by_field={e.field: e for e in errors},
        notice=s.t("Template saved") if s.params.get("saved") else None,
    )


# -- printing ---------------------------------------------------------------------------------


def print_page(s: Screen) -> Response:
    module, record_id = str(s.path_params["module"]), int(s.path_params["record_id"])
    if module not in s.platform.registry.snapshot().entities:
        raise NotFound(_("No such page"))
    chosen = s.params.get("template", "")
    html = printing.render_html(
        s.platform,
        s.actor,
        module,
        record_id,
        s.locale,
        int(chosen) if chosen.isdecimal() else None,
    )
    if s.params.get("format") == "pdf":
        pdf = printing.render_pdf(html)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{module}-{record_id}.pdf"',
                "Cache-Control": "no-store",
            },
        )
    return Response(
        html,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": PRINT_CSP},
    )
