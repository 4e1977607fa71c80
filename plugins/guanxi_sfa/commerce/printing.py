"""Print templates (DATA-18): administrators keep one or more Jinja templates per module in
`sfa_print_template`; a record prints through one of them as HTML or PDF. Templates are admin
input, so they run in Jinja's sandbox with autoescape, on plain data only (texts the viewer
may see, read through the record service as the viewer): no platform object reaches them."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from guanxi import clock
from guanxi.api import (
    Actor,
    FieldError,
    GuanxiError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    _,
)
from guanxi.web.display import Presenter, readable_fields
from guanxi_sfa.commerce import pricing
from guanxi_sfa.tables import metadata

print_template = sa.Table(
    "sfa_print_template",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("module", sa.String(40), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("updated_by", sa.Integer, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("module", "name", name="uq_sfa_print_template_name"),
)

DEFAULTS = Path(__file__).parent.parent / "templates" / "guanxi_sfa" / "commerce"
DEFAULT_NAME = "标准模板"
SEEDED = ("quote", "contract")
# child records printed as a table under their parent: parent -> (child module, reference field)
LINE_MODULES = {"quote": ("quote_line", "quote"), "contract": ("contract_line", "contract")}
MAX_BODY = 100_000
PLUGIN = "guanxi_sfa"


class PdfUnavailable(GuanxiError):
    status = 503
    code = "pdf_unavailable"


class _Sandbox(SandboxedEnvironment):
    """Refuses an unsafe attribute at once (the stock sandbox renders it as empty), so a
    template reaching for internals is refused when saved rather than printing blanks."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} is not allowed")


@functools.cache
def environment() -> SandboxedEnvironment:
    env = _Sandbox(autoescape=True)
    env.filters["upper_rmb"] = pricing.rmb_upper
    return env


def default_body(module: str) -> str:
    return (DEFAULTS / f"default_print_{module}.html").read_text(encoding="utf-8")


# -- storage ----------------------------------------------------------------------------------------


def seed(platform: Any) -> None:
    """A default template for quotes and contracts, once (an admin's edits stay)."""
    with platform.db.unit_of_work() as connection:
        if not sa.inspect(connection).has_table(print_template.name):
            return
        present = set(connection.execute(sa.select(print_template.c.module).distinct()).scalars())
        for module in SEEDED:
            if module not in present:
                connection.execute(
                    sa.insert(print_template).values(
                        module=module,
                        name=DEFAULT_NAME,
                        body=default_body(module),
                        updated_by=None,
                        updated_at=clock.now_utc(),
                    )
                )


def templates(platform: Any, module: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(print_template).order_by(print_template.c.module, print_template.c.id)
    if module is not None:
        query = query.where(print_template.c.module == module)
    with platform.db.read() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def template_for(platform: Any, module: str, template_id: int | None = None) -> dict[str, Any]:
    found = templates(platform, module)
    chosen = next((t for t in found if t["id"] == template_id), None) if template_id else None
    chosen = chosen or (found[0] if found else None)
    if chosen is None:
        raise NotFound(_("There is no print template for this module"))
    return chosen


def check_body(body: str) -> list[FieldError]:
    """Syntax first, then a trial print on sample data: a template that fails on it (an unsafe
    attribute, a filter that does not exist) is refused before it is saved."""
    env = environment()
    try:
        compiled = env.from_string(body)
    except TemplateSyntaxError as error:
        return [
            FieldError(
                "body",
                "syntax",
                _(
                    "Template error on line {line}: {message}",
                    line=error.lineno or 0,
                    message=error.message or "",
                ),
            )
        ]
    try:
        compiled.render(sample_context())
    except SecurityError as error:
        return [
            FieldError(
                "body",
                "unsafe",
                _("The template uses something not allowed: {message}", message=str(error)),
            )
        ]
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as error:
        return [
            FieldError(
                "body",
                "render",
                _("The template fails on sample data: {message}", message=str(error)),
            )
        ]
    return []


def save(
    platform: Any,
    actor: Actor,
    module: str,
    name: str,
    body: str,
    template_id: int | None = None,
) -> int:
    """Create or change a template (administrators); nothing is saved when any field is
    wrong, and every error names its field."""
    if not platform.records.access(actor).is_admin:
        raise PermissionDenied(_("Only administrators edit print templates"))
    errors: list[FieldError] = []
    name, body = (name or "").strip(), body or ""
    if module not in platform.registry.snapshot().entities:
        errors.append(
            FieldError("module", "unknown", _("Unknown module '{module}'", module=module))
        )
    if not name or len(name) > 100:
        errors.append(
            FieldError("name", "required", _("Give the template a name (up to 100 characters)"))
        )
    if not body.strip() or len(body) > MAX_BODY:
        errors.append(FieldError("body", "required", _("The template body is empty or too long")))
    else:
        errors += check_body(body)
    if errors:
        raise ValidationFailed(errors)
    values = {
        "module": module,
        "name": name,
        "body": body,
        "updated_by": actor.user_id,
        "updated_at": clock.now_utc(),
    }
    try:
        with platform.db.unit_of_work() as connection:
            if template_id is None:
                result = connection.execute(sa.insert(print_template).values(values))
                return int(result.inserted_primary_key[0])
            updated = connection.execute(
                sa.update(print_template).where(print_template.c.id == template_id).values(values)
            )
            if updated.rowcount != 1:
                raise NotFound(_("No such print template"))
            return template_id
    except sa.exc.IntegrityError:
        raise ValidationFailed(
            [FieldError("name", "taken", _("This module already has a template with that name"))]
        ) from None


def delete(platform: Any, actor: Actor, template_id: int) -> None:
    if not platform.records.access(actor).is_admin:
        raise PermissionDenied(_("Only administrators edit print templates"))
    with platform.db.unit_of_work() as connection:
        connection.execute(sa.delete(print_template).where(print_template.c.id == template_id))


# -- rendering ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _shown(
    platform: Any, actor: Actor, module: str, rows: list[Mapping[str, Any]], locale: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """Display texts and raw values of the fields the actor may read, and their labels."""
    entity = platform.registry.get(module)
    mask = platform.records.access(actor).mask(entity)
    fields = readable_fields(entity, mask)
    presenter = Presenter(platform, actor, entity, locale, mask).load(rows, fields)
    texts = [{f.key: presenter.text(f, r) for f in fields} for r in rows]
    raws = [{f.key: _plain(r.get(f.key)) for f in fields if f.key in r} for r in rows]
    labels = {f.key: _label(f.label, locale) for f in fields}
    return texts, raws, labels


def _label(label: Any, locale: str) -> str:
    from guanxi.i18n import pick_label

    return pick_label(label, locale)


def context(
    platform: Any, actor: Actor, module: str, record_id: int, locale: str
) -> dict[str, Any]:
    """What a template sees, read as the actor: a record they may not see is NotFound, and
    a field hidden from them is simply absent."""
    record = dict(platform.records.get(actor, module, record_id))
    texts, raws, labels = _shown(platform, actor, module, [record], locale)
    entity = platform.registry.get(module)
    found: dict[str, Any] = {
        "module": module,
        "title": _label(entity.label, locale),
        "record": texts[0],
        "values": raws[0],
        "labels": labels,
        "lines": [],
        "line_values": [],
        "line_labels": {},
        "company": company(platform),
        "today": clock.today_local().isoformat(),
        "lang": locale,
        "final": not record.get("needs_approval") or record.get("approval") == "approved",
    }
    child = LINE_MODULES.get(module)
    snapshot = platform.registry.snapshot()
    if child and child[0] in snapshot.entities:
        access = platform.records.access(actor)
        if access.allows(child[0], "view"):
            rows = platform.records.query(
                actor,
                child[0],
                {"field": child[1], "op": "eq", "value": record_id},
                sort=["id"],
                limit=500,
            ).rows
            lines, line_values, line_labels = _shown(platform, actor, child[0], rows, locale)
            found.update(lines=lines, line_values=line_values, line_labels=line_labels)
    amount = next((raws[0][k] for k in ("total", "amount") if raws[0].get(k) is not None), None)
    try:  # a total masked for the viewer ("****") has no amount in words either
        found["amount_upper"] = pricing.rmb_upper(amount) if amount is not None else ""
    except (ArithmeticError, ValueError, TypeError):
        found["amount_upper"] = ""
    return found


def company(platform: Any) -> dict[str, str]:
    values = platform.plugin_settings(PLUGIN)
    return {
        key: str(values.get(f"print_company_{key}") or "")
        for key in ("name", "address", "phone", "bank")
    }


def sample_context() -> dict[str, Any]:
    line = {
        "description": "示例产品",
        "quantity": "1",
        "unit_price": "¥100.00",
        "discount": "0%",
        "tax_rate": "13%",
        "net_amount": "¥100.00",
        "tax_amount": "¥13.00",
        "amount": "¥113.00",
        "product": "示例产品",
    }
    record = {
        "number": "Q2026000001",
        "customer": "示例客户",
        "total": "¥113.00",
        "subtotal": "¥100.00",
        "discount_amount": "¥0.00",
        "tax_amount": "¥13.00",
        "net_amount": "¥100.00",
        "amount": "¥113.00",
        "name": "示例",
    }
    return {
        "module": "quote",
        "title": "报价单",
        "record": record,
        "values": dict(record),
        "labels": {k: k for k in record},
        "lines": [line],
        "line_values": [dict(line)],
        "line_labels": {k: k for k in line},
        "company": {"name": "示例公司", "address": "", "phone": "", "bank": ""},
        "today": "2026-01-01",
        "lang": "zh-CN",
        "final": True,
        "amount_upper": "壹佰壹拾叁元整",
    }


PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>
@page {{ size: A4; margin: 16mm 14mm; }}
body {{ font-family: "Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei",
  "Source Han Sans SC", "Microsoft YaHei", sans-serif; font-size: 10.5pt; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #999; padding: 4px 6px; }}
th {{ background: #f0f0f0; }}
.num {{ text-align: right; white-space: nowrap; }}
.draft {{ border: 2px solid #c0392b; color: #c0392b; padding: 4px 8px; }}
@media screen {{ body {{ max-width: 210mm; margin: 1em auto; }} }}
</style></head><body>
{body}
</body></html>"""


def render_html(
    platform: Any,
    actor: Actor,
    module: str,
    record_id: int,
    locale: str,
    template_id: int | None = None,
) -> str:
    found = context(platform, actor, module, record_id, locale)
    chosen = template_for(platform, module, template_id)
    try:
        body = environment().from_string(chosen["body"]).render(found)
    except SecurityError as error:
        raise ValidationFailed(
            [
                FieldError(
                    "body",
                    "unsafe",
                    _("The template uses something not allowed: {message}", message=str(error)),
                )
            ]
        ) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as error:
        raise ValidationFailed(
            [
                FieldError(
                    "body", "render", _("The print template failed: {message}", message=str(error))
                )
            ]
        ) from None
    from markupsafe import escape

    return PAGE.format(lang=escape(locale), title=escape(found["title"]), body=body)


def render_pdf(html: str) -> bytes:
    """PDF through WeasyPrint, imported only here: without it (or its pango libraries) the
    caller gets a clear 503, never a 500."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError):
        raise PdfUnavailable(
            _(
                "PDF output is not available on this server (WeasyPrint is not installed); "
                "print the HTML page instead"
            )
        ) from None
    return bytes(HTML(string=html, url_fetcher=_no_fetch).write_pdf())


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    """Templates are admin input: the server fetches nothing they name (no SSRF); images
    come inline as data: URLs, which WeasyPrint decodes without calling this."""
    raise ValueError(f"external resources are not loaded: {url[:80]}")
