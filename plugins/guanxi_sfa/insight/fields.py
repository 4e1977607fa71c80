"""The grading fields the plugin adds to customers (SFA-11): the RFM scores, the won total and
when the grade last changed are derived (read-only, written by the nightly job); the level
lock is a person's choice that keeps a manual grade."""

from __future__ import annotations

from typing import Any

SECTION = {"code": "grading", "label": {"zh-CN": "客户分级", "en": "Grading"}}


def _label(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


def _derived(kind: str, zh: str, en: str, **schema: Any) -> dict[str, Any]:
    spec = {"type": kind, "label": _label(zh, en), "section": "grading", "readonly": True,
            "index": True}  # fmt: skip
    return {**schema, "x-guanxi": spec}


def _score(zh: str, en: str) -> dict[str, Any]:
    return _derived("integer", zh, en, minimum=1, maximum=5)


EXTENSIONS: list[dict[str, Any]] = [
    {
        "entity": "customer",
        "properties": {
            "rfm_recency": _score("最近成交得分 R", "Recency score (R)"),
            "rfm_frequency": _score("成交频次得分 F", "Frequency score (F)"),
            "rfm_monetary": _score("成交金额得分 M", "Monetary score (M)"),
            "rfm_score": _derived("integer", "RFM 总分", "RFM score", minimum=3, maximum=15),
            "won_total": _derived("money", "累计成交金额", "Won total"),
            "graded_at": _derived("datetime", "分级更新时间", "Graded at"),
            "level_locked": {
                "default": False,
                "x-guanxi": {
                    "type": "boolean",
                    "label": _label("锁定客户等级", "Keep this grade"),
                    "section": "grading",
                    "index": True,
                },
            },
        },
        "sections": [SECTION],
        "indexes": [["level", "rfm_score"]],
    }
]
