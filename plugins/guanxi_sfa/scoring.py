"""Lead score (SFA-02): 0-100 from source reliability (0-30, per source in the settings), need
clarity (0-20) and BANT — budget (0-15), authority (0-15), timeline (0-20). Computed on every
save; `breakdown` gives the detail page its explanation, line by line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guanxi.api import Message, _

MAX_SOURCE = 30
NEED = {"clear": 20, "vague": 8, "none": 0}
BUDGET = {"confirmed": 15, "planned": 8, "none": 0}
AUTHORITY = {"decision_maker": 15, "influencer": 8, "user": 3}
TIMELINE = {"month": 20, "quarter": 12, "half_year": 6, "later": 2}
PARTS: tuple[tuple[str, Mapping[str, int], int], ...] = (
    ("need_clarity", NEED, 20),
    ("budget", BUDGET, 15),
    ("authority", AUTHORITY, 15),
    ("timeline", TIMELINE, 20),
)


@dataclass(frozen=True)
class Line:
    field: str
    what: Message
    value: Any
    points: int
    most: int


def breakdown(lead: Mapping[str, Any], source_points: Mapping[str, int]) -> list[Line]:
    source = lead.get("source")
    lines = [
        Line(
            "source",
            _("Source reliability"),
            source,
            min(int(source_points.get(str(source), 0)), MAX_SOURCE) if source else 0,
            MAX_SOURCE,
        )
    ]
    labels = {
        "need_clarity": _("Need clarity"),
        "budget": _("Budget"),
        "authority": _("Authority"),
        "timeline": _("Timeline"),
    }
    for key, points, most in PARTS:
        value = lead.get(key)
        lines.append(Line(key, labels[key], value, points.get(str(value), 0), most))
    return lines


def score(lead: Mapping[str, Any], source_points: Mapping[str, int]) -> int:
    return sum(line.points for line in breakdown(lead, source_points))
