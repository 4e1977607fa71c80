"""The modules SFA brings (lead, opportunity: ordinary JSON Schema files beside this module, so
admins change their fields, stages and permissions like any other) and the fields it adds to
the core's follow-ups, tasks and customers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).parent / "schemas"
MODULES = ("lead", "opportunity")


def documents() -> list[dict[str, Any]]:
    return [
        json.loads((DIRECTORY / f"{name}.json").read_text(encoding="utf-8")) for name in MODULES
    ]


def _label(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


def _reference(target: str, zh: str, en: str, section: str, **extra: Any) -> dict[str, Any]:
    spec = {"type": "reference", "reference": target, "on_delete": "set_null"}
    return {"x-guanxi": {**spec, "label": _label(zh, en), "section": section, **extra}}


def _stamp(zh: str, en: str, section: str, **extra: Any) -> dict[str, Any]:
    """A date-time the plugin keeps (people read it, only the system writes it)."""
    spec = {"type": "datetime", "label": _label(zh, en), "section": section, "readonly": True}
    return {"x-guanxi": {**spec, **extra}}


SALES = {"code": "sales", "label": _label("销售", "Sales")}

EXTENSIONS: list[dict[str, Any]] = [
    {
        # A follow-up belongs to a customer or, before conversion, to a lead; the plugin's
        # validate_record asks for one of the two (the core schema required the customer).
        "entity": "followup",
        "properties": {
            "lead": _reference("lead", "线索", "Lead", "basic", index=True),
            "opportunity": _reference("opportunity", "商机", "Opportunity", "basic", index=True),
        },
        "optional": ["customer"],
        "indexes": [["lead", "created_at"], ["opportunity", "created_at"]],
    },
    {
        "entity": "task",
        "properties": {
            "lead": _reference("lead", "线索", "Lead", "basic", index=True),
            "opportunity": _reference("opportunity", "商机", "Opportunity", "basic", index=True),
        },
    },
    {
        "entity": "customer",
        "properties": {
            "pool": {
                "maxLength": 50,
                "x-guanxi": {
                    "type": "text",
                    "label": _label("所在公海", "Public pool"),
                    "section": "sales",
                    "readonly": True,
                    "index": True,
                },
            },  # fmt: skip
            "pooled_at": _stamp("进入公海时间", "In pool since", "sales"),
            "claimed_at": _stamp("领取时间", "Claimed at", "sales"),
            "last_followup_at": _stamp("最近跟进", "Last follow-up", "sales", index=True),
            "last_deal_at": _stamp("最近成交", "Last deal", "sales", index=True),
        },
        "sections": [SALES],
        "related": [{"entity": "opportunity", "field": "customer"}],
        "indexes": [["owner_id", "last_followup_at"]],
    },
]
