"""The insight screens: rep activity (/sfa/activity, whoever may view opportunities, figures
for the reps in their scope) and customer grading (/sfa/grading, managers: the rules in
force, customers per level, and "recompute now", which queues the grading job)."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import clock
from guanxi.api import FieldError, NotFound, ValidationFailed, _
from guanxi.web.screen import Screen, screen
from guanxi_sfa.insight import activity as activity_service
from guanxi_sfa.insight import grading
from guanxi_sfa.insight.rules import GradingSettings

PERIODS = ("day", "week", "month")


def routes() -> list[BaseRoute]:
    return [
        Route("/sfa/activity", screen(activity_page)),
        Route("/sfa/grading", screen(grading_page)),
        Route("/sfa/grading/recompute", screen(recompute_action), methods=["POST"]),
    ]


def may_grade(access: Any) -> bool:
    """Managers (who may assign customers) and administrators."""
    return bool(access.is_admin or access.allows("customer", "assign"))


# -- rep activity --------------------------------------------------------------------------------


def period_bounds(period: str, today: date) -> tuple[date, date]:
    """Today, this week (Monday on) or this month, as inclusive local days."""
    if period == "day":
        return today, today
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return monday, monday + timedelta(days=6)
    return today.replace(day=1), today.replace(day=monthrange(today.year, today.month)[1])


def _day(s: Screen, key: str) -> date | None:
    raw = str(s.params.get(key) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            [FieldError(key, "invalid", _("Give a date such as 2026-01-31"))]
        ) from None


def activity_page(s: Screen) -> Response:
    if not s.platform.records.access(s.actor).allows("opportunity", "view"):
        raise NotFound(_("No such page"))
    period = s.params.get("period") or "month"
    period = period if period in PERIODS else "month"
    today = clock.to_local(clock.now_utc()).date()
    start, end = period_bounds(period, today)
    chosen_start, chosen_end = _day(s, "start"), _day(s, "end")
    custom = chosen_start is not None or chosen_end is not None
    if custom:
        start, end = chosen_start or chosen_end or start, chosen_end or chosen_start or end
        if (end - start).days > 366:
            raise ValidationFailed([FieldError("end", "too_long",
                                               _("Choose at most one year"))])  # fmt: skip
    found = activity_service.activity(s.platform, s.actor, start, end)
    return s.render(
        "guanxi_sfa/insight/activity.html", report=found, period=None if custom else period,
        periods=PERIODS, methods=[(code, s.label(label)) for code, label in found.methods],
    )  # fmt: skip


# -- grading -------------------------------------------------------------------------------------


def grading_page(s: Screen) -> Response:
    access = s.platform.records.access(s.actor)
    if not may_grade(access):
        raise NotFound(_("No such page"))
    entity = s.platform.registry.get("customer")
    field = entity.get_field("level")
    levels = [(o.code, s.label(o.label)) for o in (field.options if field else ())]
    by_level = {
        row["level"]: row
        for row in s.platform.records.aggregate(
            s.actor, "customer", None, group_by=["level"],
            measures=[("count", None), ("sum", "won_total")],
        )
    }  # fmt: skip
    rows = [
        (code, name, int(by_level.get(code, {}).get("count") or 0),
         Decimal(by_level.get(code, {}).get("sum_won_total") or 0))
        for code, name in [*levels, (None, s.t("not graded"))]
    ]  # fmt: skip
    money_field = entity.field("won_total")
    kind = s.platform.types.for_field(money_field)
    return s.render(
        "guanxi_sfa/insight/grading.html", rows=rows, settings=GradingSettings.of(s.platform),
        level_names=dict(levels),
        money=lambda value: kind.format(Decimal(value or 0), money_field, s.locale),
        notice=s.t("Grades will be recomputed in a moment") if s.params.get("queued") else None,
    )  # fmt: skip


def recompute_action(s: Screen) -> Response:
    if not may_grade(s.platform.records.access(s.actor)):
        raise NotFound(_("No such page"))
    s.platform.jobs.enqueue(grading.JOB, {"by": s.actor.user_id})
    return s.redirect("/sfa/grading?queued=1")
