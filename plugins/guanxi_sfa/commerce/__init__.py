"""Products, price lists, quotes and print templates (SFA-12, SFA-15, DATA-18). The modules
are ordinary schemas (schemas/<module>.json); `quotes` derives line amounts and quote
totals, `printing` keeps the print templates and renders them, `screens` is the web layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from guanxi.api import Actor, EntityDef, FieldError, RecordEvent
from guanxi_sfa.commerce import printing, quotes

SCHEMAS = Path(__file__).parent.parent / "schemas"
MODULES = ("product", "price_list", "price_list_item", "quote", "quote_line")
CATALOGUE = ("product", "price_list", "price_list_item")
SELLING = ("quote", "quote_line")
READERS = (
    "sales_rep",
    "sales_manager",
    "marketer",
    "service_agent",
    "service_manager",
    "executive",
)
PRINTABLE = ("quote", "contract")


def documents() -> list[dict[str, Any]]:
    return [json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8")) for name in MODULES]


def tables() -> list[Any]:
    return [printing.print_template]


def permissions() -> dict[str, Any]:
    """Everyone in sales, marketing and service reads the catalogue; sales managers keep it
    (administrators may do everything anyway). Reps quote to their own customers, managers
    over their department tree; a line goes with its quote."""
    grants: list[list[str]] = []
    scopes: list[list[str]] = []
    for role in READERS:
        for module in CATALOGUE:
            grants += [[role, module, "view"], [role, f"{module}.*", "read"]]
            scopes.append([role, module, "view", "all"])
    for module in CATALOGUE:
        grants += [["sales_manager", module, a] for a in ("create", "edit", "delete", "export")]
        grants.append(["sales_manager", f"{module}.*", "write"])
        scopes += [["sales_manager", module, a, "all"] for a in ("edit", "delete")]
    for role, scope in (("sales_rep", "own"), ("sales_manager", "department_tree")):
        for module in SELLING:
            grants += [[role, module, a] for a in ("view", "create", "edit", "delete")]
            grants += [[role, f"{module}.*", "read"], [role, f"{module}.*", "write"]]
        scopes.append([role, "quote", "*", scope])
        scopes.append([role, "quote_line", "*", "via:quote"])
    grants += [
        ["sales_manager", "quote", "export"],
        ["executive", "quote", "view"],
        ["executive", "quote.*", "read"],
        ["executive", "quote_line", "view"],
        ["executive", "quote_line.*", "read"],
    ]
    scopes += [["executive", "quote", "view", "all"], ["executive", "quote_line", "view", "all"]]
    return {"grants": grants, "scopes": scopes}


def settings() -> dict[str, Any]:
    return {
        "quote_discount_threshold": {
            "type": "number",
            "minimum": 0,
            "maximum": 100,
            "default": 10,
            "title": "Quote discount (percent) above which a quote needs approval before it is sent",
        },
        "print_company_name": {
            "type": "string",
            "default": "",
            "maxLength": 200,
            "title": "Company name printed on quotes and contracts",
        },
        "print_company_address": {
            "type": "string",
            "default": "",
            "maxLength": 300,
            "title": "Company address printed on quotes and contracts",
        },
        "print_company_phone": {
            "type": "string",
            "default": "",
            "maxLength": 50,
            "title": "Company phone printed on quotes and contracts",
        },
        "print_company_bank": {
            "type": "string",
            "default": "",
            "maxLength": 300,
            "title": "Bank and account printed on quotes and contracts",
        },
    }


def seed(platform: Any) -> None:
    printing.seed(platform)


def prepare(
    platform: Any,
    entity: EntityDef,
    record: dict[str, Any],
    old: dict[str, Any] | None,
    actor: Actor,
    op: str,
) -> None:
    if op not in ("create", "update"):
        return
    if entity.name == "quote":
        quotes.prepare_quote(platform, record, old)
    elif entity.name == "quote_line":
        quotes.prepare_line(platform, record, old, actor)


def validate(
    entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None, op: str
) -> list[FieldError]:
    if op not in ("create", "update"):
        return []
    if entity.name == "quote":
        return quotes.validate_quote(record, old)
    if entity.name == "quote_line":
        return quotes.validate_line(record)
    if entity.name == "product":
        return _validate_product(record)
    return []


def _validate_product(record: dict[str, Any]) -> list[FieldError]:
    from guanxi.api import _

    code = record.get("code")
    if isinstance(code, str) and (not code.strip() or any(c.isspace() for c in code.strip())):
        return [FieldError("code", "format", _("A product code has no spaces"))]
    return []


def changed(platform: Any, event: RecordEvent) -> None:
    quotes.changed(platform, event)


def routes() -> list[Any]:
    from guanxi_sfa.commerce import screens

    return screens.routes()


def menu(platform: Any, actor: Actor, access: Any) -> list[dict[str, Any]]:
    """Products, price lists and quotes are modules (already in the navigation); the print
    templates are an administrator's screen."""
    if not access.is_admin:
        return []
    return [
        {
            "href": "/sfa/admin/print-templates",
            "position": 86,
            "label": {"zh-CN": "打印模板", "en": "Print templates"},
        }
    ]


def record_actions(
    platform: Any, actor: Actor, entity: EntityDef, record: dict[str, Any]
) -> list[dict[str, Any]]:
    found = []
    record_id = record.get("id")
    draft = entity.name == "quote" and record.get("status") in quotes.EDITABLE_STATUSES
    may_edit = draft and platform.records.access(actor).allows("quote_line", "create")
    if may_edit:
        found.append(
            {
                "label": {"zh-CN": "编辑报价明细", "en": "Edit lines"},
                "href": f"/sfa/quotes/{record_id}/lines",
            }
        )
    open_deal = entity.name == "opportunity" and record.get("stage") not in ("won", "lost")
    if open_deal and platform.records.access(actor).allows("quote", "create"):
        query = urlencode({"opportunity": record_id, "customer": record.get("customer") or ""})
        found.append({"label": {"zh-CN": "新建报价", "en": "New quote"},
                      "href": f"/r/quote/new?{query}"})  # fmt: skip
    if entity.name in PRINTABLE:
        found.append(
            {
                "label": {"zh-CN": "打印", "en": "Print"},
                "href": f"/sfa/print/{entity.name}/{record_id}",
            }
        )
        found.append(
            {
                "label": {"zh-CN": "下载PDF", "en": "PDF"},
                "href": f"/sfa/print/{entity.name}/{record_id}?format=pdf",
            }
        )
    return found
