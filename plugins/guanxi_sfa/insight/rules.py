"""Grading settings (SFA-11) and the pure rules applied to a customer's purchase history: each
RFM score from four ascending bounds (five bands), the sum, and the SABC level from the
administrator's ordered rules. Separate from the job so the rules read (and test) alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

NAME = "guanxi_sfa"
RECENCY_DAYS = [30, 90, 180, 365]
FREQUENCY_COUNTS = [2, 3, 5, 8]
MONETARY_AMOUNTS = [50_000, 200_000, 500_000, 1_000_000]
GRADE_RULES = [
    {"level": "S", "min_score": 13, "min_won_total": 1_000_000},
    {"level": "A", "min_score": 10, "min_won_total": 200_000},
    {"level": "B", "min_score": 7},
]
FALLBACK = "C"


def _bounds(kind: str, default: list[Any], title: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": kind, "minimum": 0}, "minItems": 4,
            "maxItems": 4, "default": default, "title": title}  # fmt: skip


SETTINGS: dict[str, Any] = {
    "rfm_recency_days": _bounds(
        "integer", RECENCY_DAYS,
        "RFM recency: days since the last deal or payment for scores 5, 4, 3, 2 (beyond: 1)",
    ),
    "rfm_frequency_counts": _bounds(
        "integer", FREQUENCY_COUNTS,
        "RFM frequency: won deals needed for scores 2, 3, 4, 5 (fewer: 1)",
    ),
    "rfm_monetary_amounts": _bounds(
        "number", MONETARY_AMOUNTS,
        "RFM monetary: CNY won (or received) needed for scores 2, 3, 4, 5 (less: 1)",
    ),
    "grade_rules": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "level": {"type": "string", "minLength": 1},
                "min_score": {"type": "integer", "minimum": 3, "maximum": 15},
                "min_won_total": {"type": "number", "minimum": 0},
            },
            "required": ["level"],
            "additionalProperties": False,
        },
        "default": GRADE_RULES,
        "title": "Customer level rules, first match wins: level, min_score (RFM sum 3-15), "
                 "min_won_total (CNY)",
    },
    "grade_fallback": {
        "type": "string", "default": FALLBACK,
        "title": "Level of a customer with deals that no rule matches (empty: leave the level)",
    },
}  # fmt: skip


@dataclass(frozen=True)
class GradeRule:
    level: str
    min_score: int | None
    min_won_total: Decimal | None


@dataclass(frozen=True)
class GradingSettings:
    recency_days: tuple[int, ...]
    frequency_counts: tuple[int, ...]
    monetary_amounts: tuple[Decimal, ...]
    rules: tuple[GradeRule, ...]
    fallback: str

    @classmethod
    def of(cls, platform: Any) -> GradingSettings:
        values = platform.plugin_settings(NAME)
        rules = tuple(
            GradeRule(
                str(rule["level"]),
                int(rule["min_score"]) if rule.get("min_score") is not None else None,
                Decimal(str(rule["min_won_total"]))
                if rule.get("min_won_total") is not None
                else None,
            )
            for rule in values.get("grade_rules") or GRADE_RULES
        )
        return cls(
            recency_days=tuple(
                sorted(int(v) for v in values.get("rfm_recency_days") or RECENCY_DAYS)
            ),
            frequency_counts=tuple(
                sorted(int(v) for v in values.get("rfm_frequency_counts") or FREQUENCY_COUNTS)
            ),
            monetary_amounts=tuple(
                sorted(
                    Decimal(str(v)) for v in values.get("rfm_monetary_amounts") or MONETARY_AMOUNTS
                )
            ),
            rules=rules,
            fallback=str(values.get("grade_fallback", FALLBACK) or ""),
        )


@dataclass(frozen=True)
class History:
    """What the aggregation found for one customer."""

    last_purchase: date | None  # local date of the last won deal or received payment
    won_count: int
    won_total: Decimal
    received_total: Decimal


@dataclass(frozen=True)
class Grade:
    recency: int
    frequency: int
    monetary: int
    won_total: Decimal
    level: str | None  # None: leave the level as it is

    @property
    def score(self) -> int:
        return self.recency + self.frequency + self.monetary


def recency_score(days: int | None, bounds: tuple[int, ...]) -> int:
    """5 within the first bound, 4 within the second ... 1 beyond the last (or never)."""
    if days is None:
        return 1
    for index, bound in enumerate(bounds):
        if days <= bound:
            return 5 - index
    return 1


def rising_score(value: Decimal | int, bounds: tuple[Any, ...]) -> int:
    """1 below the first bound, 2 from it ... 5 from the last."""
    return 1 + sum(1 for bound in bounds if value >= bound)


def grade(history: History, today: date, settings: GradingSettings) -> Grade:
    days = (today - history.last_purchase).days if history.last_purchase else None
    recency = recency_score(days, settings.recency_days)
    frequency = rising_score(history.won_count, settings.frequency_counts)
    # Money received beyond the recorded deals (repeat orders booked only as payments) counts.
    monetary = rising_score(
        max(history.won_total, history.received_total), settings.monetary_amounts
    )
    found = Grade(recency, frequency, monetary, history.won_total, None)
    for rule in settings.rules:
        if rule.min_score is not None and found.score < rule.min_score:
            continue
        if rule.min_won_total is not None and history.won_total < rule.min_won_total:
            continue
        return Grade(recency, frequency, monetary, history.won_total, rule.level)
    return Grade(recency, frequency, monetary, history.won_total, settings.fallback or None)
