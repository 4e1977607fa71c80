"""The SFA screens: the lead pool with claim, convert, abandon, the score explained, lead
assignment rules (administrators), the weekly funnel review and the loss analysis. Every
figure is read through `platform.records` as the viewer, so scopes and field masks apply;
every action goes through the plugin's service functions, which check the rights."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import clock
from guanxi.api import (
    Actor,
    EntityDef,
    FieldError,
    GuanxiError,
    NotFound,
    ValidationFailed,
    _,
)
from guanxi.auth import identity
from guanxi.web.screen import Screen, screen, url_with
from guanxi_sfa import assignment, converting, leads, records_util, scoring
from guanxi_sfa.settings import Settings

POOL_PAGE = 50
POOL_FIELDS = ("number", "name", "company", "source", "industry", "region", "product_line",
               "score", "created_at")  # fmt: skip  # no contact details before a claim
PERIODS = (7, 30, 90, 365)


def routes() -> list[BaseRoute]:
    return [
        Route("/sfa/leads/pool", screen(pool_page)),
        Route("/sfa/leads/{lead_id:int}/claim", screen(claim_action), methods=["POST"]),
        Route("/sfa/leads/{lead_id:int}/convert", screen(convert_page), methods=["GET", "POST"]),
        Route("/sfa/leads/{lead_id:int}/abandon", screen(abandon_page), methods=["GET", "POST"]),
        Route("/sfa/leads/{lead_id:int}/score", screen(score_page)),
        Route("/sfa/admin/assignment", screen(rules_page), methods=["GET", "POST"]),
        Route("/sfa/funnel", screen(funnel_page)),
        Route("/sfa/loss", screen(loss_page)),
    ]


def lead_actions(platform: Any, actor: Actor, record: dict[str, Any]) -> list[dict[str, Any]]:
    access = platform.records.access(actor)
    lead_id = record.get("id")
    found = [{"label": {"zh-CN": "评分说明", "en": "Score explained"},
              "href": f"/sfa/leads/{lead_id}/score"}]  # fmt: skip
    if record.get("status") in ("converted", "abandoned"):
        return found
    if record.get("owner_id") is None and access.allows("lead", "claim"):
        found.append({"label": {"zh-CN": "领取", "en": "Claim"}, "method": "post",
                      "href": f"/sfa/leads/{lead_id}/claim"})  # fmt: skip
    if access.allows("lead", "convert"):
        found.append({"label": {"zh-CN": "转化为客户", "en": "Convert"},
                      "href": f"/sfa/leads/{lead_id}/convert"})  # fmt: skip
    if access.allows("lead", "edit"):
        found.append({"label": {"zh-CN": "放弃线索", "en": "Abandon"},
                      "href": f"/sfa/leads/{lead_id}/abandon"})  # fmt: skip
    return found


# -- lead pool -----------------------------------------------------------------------------------


def pool_page(s: Screen) -> Response:
    """Leads nobody owns. Everyone who may view leads sees the pool (read as the system, with
    only the fields that say what the lead is: contact details come with the claim)."""
    access = s.platform.records.access(s.actor)
    if not access.allows("lead", "view"):
        raise NotFound(_("No such page"))
    entity = s.platform.registry.get("lead")
    filters: list[dict[str, Any]] = [
        {"field": "owner_id", "op": "is_empty"},
        {"field": "status", "op": "in", "value": list(assignment.OPEN_STATUSES)},
    ]
    for key in ("source", "industry", "region", "product_line"):
        value = s.params.get(key)
        if value:
            filters.append({"field": key, "op": "eq", "value": value})
    page = s.platform.records.query(
        records_util.SYSTEM, "lead", filters, sort=["-score", "-id"], limit=POOL_PAGE,
        after=s.params.get("after") or None,
    )  # fmt: skip
    mask = access.mask(entity)
    fields = [f for f in (entity.get_field(k) for k in POOL_FIELDS) if f and f.key in mask.levels]
    from guanxi.web.display import Presenter

    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask).load(page.rows, fields)
    rows = [(r, [presenter.cell(f, r) for f in fields]) for r in page.rows]
    choices = {
        key: entity.get_field(key).options
        for key in ("source", "industry", "region", "product_line")
        if entity.get_field(key) is not None
    }
    return s.render(
        "guanxi_sfa/pool.html", fields=fields, rows=rows, choices=choices, params=s.params,
        may_claim=access.allows("lead", "claim"),
        next_url=url_with(s.request, after=page.next_cursor) if page.next_cursor else None,
        notice=s.t("Lead claimed") if s.params.get("claimed") else None,
    )  # fmt: skip


def claim_action(s: Screen) -> Response:
    lead_id = int(s.path_params["lead_id"])
    leads.claim(s.platform, s.actor, lead_id)
    return s.redirect(f"/r/lead/{lead_id}")


# -- convert -------------------------------------------------------------------------------------


def convert_page(s: Screen) -> Response:
    lead_id = int(s.path_params["lead_id"])
    lead = dict(s.platform.records.get(s.actor, "lead", lead_id, action="edit", log_view=False))
    duplicates = _visible_customers(s, converting.duplicates_of(s.platform, lead))
    form = _convert_form(lead, duplicates)
    errors: list[FieldError] = []
    if s.form is not None:
        form = _read_convert_form(s, form)
        try:
            done = converting.convert(s.platform, s.actor, lead_id, _plan(form))
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            return s.redirect(f"/r/customer/{done['customer']}?converted={lead_id}")
    return s.render(
        "guanxi_sfa/convert.html", status=422 if errors else 200, lead=lead, form=form,
        duplicates=duplicates, errors=errors,
        stages=_stage_options(s), by_field={e.field: e for e in errors},
    )  # fmt: skip


def _visible_customers(s: Screen, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    page = s.platform.records.query(
        s.actor, "customer", {"field": "id", "op": "in", "value": ids}, limit=len(ids)
    )
    return page.rows


def _stage_options(s: Screen) -> list[tuple[str, str]]:
    pipeline = s.platform.registry.get("opportunity").pipelines.get("stage")
    if pipeline is None:
        return []
    return [
        (code, s.label(pipeline.by_code[code].label))
        for code in converting.OPPORTUNITY_STAGES
        if code in pipeline.by_code
    ]


def _convert_form(lead: dict[str, Any], duplicates: list[dict[str, Any]]) -> dict[str, Any]:
    customer = converting.proposal(lead)
    deal = converting.opportunity_proposal(lead)
    return {
        "target": str(duplicates[0]["id"]) if duplicates else "new",
        "customer_name": customer.get("name", ""),
        "contact": True,
        "opportunity": True,
        "deal_name": deal.get("name", ""),
        "deal_amount": str(deal.get("amount") or ""),
        "deal_close": (clock.today_local() + timedelta(days=30)).isoformat(),
        "deal_stage": deal.get("stage", "following"),
        "budget_amount": str(deal.get("budget_amount") or ""),
        "budget_confirmed": bool(deal.get("budget_confirmed")),
        "purchase_intent": "",
        "reason": "",
        "_deal": deal,
    }


def _read_convert_form(s: Screen, form: dict[str, Any]) -> dict[str, Any]:
    assert s.form is not None
    read = dict(form)
    for key in ("target", "customer_name", "deal_name", "deal_amount", "deal_close",
                "deal_stage", "budget_amount", "purchase_intent", "reason"):  # fmt: skip
        read[key] = str(s.form.get(key) or "").strip()
    for key in ("contact", "opportunity", "budget_confirmed"):
        read[key] = s.form.get(key) == "on"
    return read


def _plan(form: dict[str, Any]) -> converting.Plan:
    target = form["target"]
    opportunity = None
    if form["opportunity"]:
        opportunity = {
            **{k: v for k, v in form["_deal"].items() if k in ("product_line", "source",
                                                             "requirements")},
            "name": form["deal_name"], "amount": form["deal_amount"] or None,
            "expected_close": form["deal_close"] or None, "stage": form["deal_stage"],
            "budget_amount": form["budget_amount"] or None,
            "budget_confirmed": form["budget_confirmed"],
            "purchase_intent": form["purchase_intent"] or None,
        }  # fmt: skip
    customer = {"name": form["customer_name"]} if form["customer_name"] else {}
    return converting.Plan(
        customer_id=int(target) if target.isdecimal() else None,
        customer=customer,
        contact=form["contact"],
        opportunity=opportunity,
        reason=form["reason"] or None,
    )


# -- abandon and score ---------------------------------------------------------------------------


def abandon_page(s: Screen) -> Response:
    lead_id = int(s.path_params["lead_id"])
    lead = dict(s.platform.records.get(s.actor, "lead", lead_id, action="edit", log_view=False))
    entity = s.platform.registry.get("lead")
    field = entity.get_field("abandon_reason")
    reasons = [(o.code, s.label(o.label)) for o in field.options] if field else []
    errors: list[FieldError] = []
    chosen = {"why": "", "note": "", "to_pool": True}
    if s.form is not None:
        chosen = {"why": str(s.form.get("why") or ""), "note": str(s.form.get("note") or ""),
                  "to_pool": s.form.get("outcome") != "close"}  # fmt: skip
        try:
            leads.abandon(s.platform, s.actor, lead_id, chosen["why"], chosen["note"],
                          to_pool=bool(chosen["to_pool"]))  # fmt: skip
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            return s.redirect("/sfa/leads/pool" if chosen["to_pool"] else f"/r/lead/{lead_id}")
    return s.render(
        "guanxi_sfa/abandon.html", status=422 if errors else 200, lead=lead, reasons=reasons,
        chosen=chosen, errors=errors,
    )  # fmt: skip


def score_page(s: Screen) -> Response:
    lead_id = int(s.path_params["lead_id"])
    lead = dict(s.platform.records.get(s.actor, "lead", lead_id, log_view=False))
    entity = s.platform.registry.get("lead")
    lines = []
    for line in scoring.breakdown(lead, Settings.of(s.platform).source_points):
        field = entity.get_field(line.field)
        option = next((o for o in (field.options if field else ()) if o.code == line.value), None)
        shown = s.label(option.label) if option else s.t("not filled in")
        lines.append((line.what.render(s.locale), shown, line.points, line.most))
    return s.render(
        "guanxi_sfa/score.html", lead=lead, lines=lines, total=sum(p for _w, _v, p, _m in lines)
    )


# -- assignment rules ----------------------------------------------------------------------------


def rules_page(s: Screen) -> Response:
    if not s.platform.records.access(s.actor).is_admin:
        raise NotFound(_("No such page"))
    errors: list[FieldError] = []
    values: dict[str, Any] = {"method": "round_robin", "active": True}
    editing = s.params.get("edit")
    if s.form is not None:
        action = str(s.form.get("action") or "save")
        rule_id = str(s.form.get("rule_id") or "")
        if action in ("up", "down") and rule_id.isdecimal():
            assignment.move(s.platform, s.actor, int(rule_id), -1 if action == "up" else 1)
            return s.redirect("/sfa/admin/assignment")
        if action == "delete" and rule_id.isdecimal():
            assignment.delete(s.platform, s.actor, int(rule_id))
            return s.redirect("/sfa/admin/assignment")
        values = {
            "name": s.form.get("name"), "method": s.form.get("method"),
            "active": s.form.get("active") == "on",
            "user_ids": s.form.getlist("user_ids"),
            **{column: s.form.getlist(column) for column, _f in assignment.CONDITIONS},
        }  # fmt: skip
        try:
            assignment.save(
                s.platform, s.actor, values, int(rule_id) if rule_id.isdecimal() else None
            )
        except ValidationFailed as error:
            errors = error.field_errors
            editing = rule_id or None
        else:
            return s.redirect("/sfa/admin/assignment?saved=1")
    with s.platform.db.read() as connection:
        rules = assignment.rules(connection)
    if editing and str(editing).isdecimal() and s.form is None:
        found = next((r for r in rules if r.id == int(editing)), None)
        if found is not None:
            values = {"name": found.name, "method": found.method, "active": found.active,
                      "user_ids": list(found.user_ids), **found.conditions}  # fmt: skip
    entity = s.platform.registry.get("lead")
    options = {
        column: [(o.code, s.label(o.label)) for o in entity.get_field(key).options]
        for column, key in assignment.CONDITIONS
        if entity.get_field(key) is not None
    }
    users = _users(s)
    return s.render(
        "guanxi_sfa/rules.html", status=422 if errors else 200, rules=rules, values=values,
        errors={e.field: e for e in errors}, options=options, users=users,
        user_names=dict(users), editing=editing,
        settings=Settings.of(s.platform),
        notice=s.t("Rule saved") if s.params.get("saved") else None,
    )  # fmt: skip


def _users(s: Screen) -> list[tuple[int, str]]:
    """Active users, by login name (the rule form's choices, the funnel's owner names)."""
    found = sorted(identity.list_users(s.platform.db), key=lambda u: u["username"])
    return [(int(u["id"]), str(u["display_name"] or u["username"])) for u in found if u["active"]]


# -- funnel review and loss analysis ---------------------------------------------------------------


def _period(s: Screen, default: int) -> int:
    raw = s.params.get("days", "")
    return int(raw) if raw.isdecimal() and int(raw) in PERIODS else default


def _since(days: int) -> str:
    return records_util.iso(
        clock.local_midnight_utc(clock.today_local() - timedelta(days=days - 1))
    )


def _opportunity_report(s: Screen, default_days: int) -> tuple[EntityDef, Any, int, str]:
    """What the funnel and loss pages start from: the view right, the module, its pipeline,
    the chosen period and its first moment."""
    if not s.platform.records.access(s.actor).allows("opportunity", "view"):
        raise NotFound(_("No such page"))
    entity = s.platform.registry.get("opportunity")
    days = _period(s, default_days)
    return entity, entity.pipelines.get("stage"), days, _since(days)


def _sum(rows: list[dict[str, Any]], key: str) -> Decimal:
    return sum((Decimal(r.get(key) or 0) for r in rows), Decimal(0))


def funnel_page(s: Screen) -> Response:
    """The weekly review (SFA-09, seed 000 §3.2): per open stage the deals, their amount and
    weighted amount, how many entered the stage in the period and how many are stale; what
    was won and lost in the period; per owner the open pipeline."""
    records = s.platform.records
    entity, pipeline, days, since = _opportunity_report(s, 7)
    stages = list(pipeline.stages) if pipeline is not None else []
    settings = Settings.of(s.platform)
    now = clock.now_utc()
    by_stage = {
        r["stage"]: r
        for r in records.aggregate(
            s.actor,
            "opportunity",
            None,
            group_by=["stage"],
            measures=[("count", None), ("sum", "amount")],
        )  # fmt: skip
    }
    entered = {
        r["stage"]: int(r["count"])
        for r in records.aggregate(
            s.actor,
            "opportunity",
            {"field": "stage_changed_at", "op": "gte", "value": since},
            group_by=["stage"],
        )  # fmt: skip
    }
    rows = []
    for stage in stages:
        found = by_stage.get(stage.code, {})
        amount = Decimal(found.get("sum_amount") or 0)
        stale = None
        if stage.category == "open" and stage.code in settings.stale_days:
            cutoff = now - timedelta(days=int(settings.stale_days[stage.code]))
            stale = records.count(
                s.actor, "opportunity",
                [{"field": "stage", "op": "eq", "value": stage.code},
                 {"field": "stage_changed_at", "op": "lt", "value": records_util.iso(cutoff)}],
            ).value  # fmt: skip
        rows.append({
            "code": stage.code, "label": s.label(stage.label), "category": stage.category,
            "count": int(found.get("count") or 0), "amount": amount,
            "weighted": amount * Decimal(stage.probability or 0) / 100,
            "entered": entered.get(stage.code, 0), "stale": stale,
            "stale_days": settings.stale_days.get(stage.code),
        })  # fmt: skip
    open_rows = [r for r in rows if r["category"] == "open"]
    owners = records.aggregate(
        s.actor, "opportunity",
        {"field": "stage", "op": "in", "value": [r["code"] for r in open_rows] or ["-"]},
        group_by=["owner_id"], measures=[("count", None), ("sum", "amount")],
    )  # fmt: skip
    names = dict(_users(s))
    return s.render(
        "guanxi_sfa/funnel.html", rows=rows, days=days, periods=PERIODS,
        open_count=sum(r["count"] for r in open_rows),
        open_amount=sum((r["amount"] for r in open_rows), Decimal(0)),
        weighted=sum((r["weighted"] for r in open_rows), Decimal(0)),
        owners=[(names.get(o.get("owner_id"), "—"), int(o["count"]),
                 Decimal(o.get("sum_amount") or 0)) for o in owners],
        money=_money(s, entity),
    )  # fmt: skip


def _money(s: Screen, entity: EntityDef) -> Any:
    """Amounts as the opportunity's amount field formats them (CNY, the viewer's locale)."""
    field = entity.field("amount")
    kind = s.platform.types.for_field(field)
    return lambda value: kind.format(Decimal(value or 0), field, s.locale)


def loss_page(s: Screen) -> Response:
    """Loss analysis (SFA-08): deals closed in the period, lost ones by reason and by
    competitor, and the win rate."""
    records = s.platform.records
    entity, pipeline, days, since = _opportunity_report(s, 90)
    won_codes = [st.code for st in pipeline.stages if st.category == "won"] if pipeline else []
    lost_codes = [st.code for st in pipeline.stages if st.category == "lost"] if pipeline else []
    closed = {"field": "closed_at", "op": "gte", "value": since}

    def grouped(codes: list[str], key: str | None) -> list[dict[str, Any]]:
        return records.aggregate(
            s.actor, "opportunity",
            [closed, {"field": "stage", "op": "in", "value": codes or ["-"]}],
            group_by=[key] if key else [], measures=[("count", None), ("sum", "amount")],
        )  # fmt: skip

    won = grouped(won_codes, None)
    lost = grouped(lost_codes, None)
    won_count = int(won[0]["count"]) if won else 0
    lost_count = int(lost[0]["count"]) if lost else 0
    field = entity.get_field("loss_reason")
    reason_labels = {o.code: s.label(o.label) for o in (field.options if field else ())}
    by_reason = sorted(grouped(lost_codes, "loss_reason"), key=lambda r: -int(r["count"]))
    by_competitor = sorted(grouped(lost_codes, "competitor"), key=lambda r: -int(r["count"]))
    return s.render(
        "guanxi_sfa/loss.html", days=days, periods=PERIODS, won=won_count, lost=lost_count,
        won_amount=_sum(won, "sum_amount"), lost_amount=_sum(lost, "sum_amount"),
        win_rate=round(100 * won_count / (won_count + lost_count)) if won_count + lost_count else None,
        by_reason=[(reason_labels.get(r["loss_reason"], s.t("not filled in")), int(r["count"]),
                    Decimal(r.get("sum_amount") or 0)) for r in by_reason],
        by_competitor=[(r["competitor"] or s.t("not filled in"), int(r["count"]),
                        Decimal(r.get("sum_amount") or 0)) for r in by_competitor],
        money=_money(s, entity),
    )  # fmt: skip


__all__ = ["GuanxiError", "routes"]
