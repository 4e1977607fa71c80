"""The public pool screens: the pools (read as the system, showing what a customer is but
no contact details before a claim), a rep's customers about to return, "move to pool" with a
reason and the pool history of a customer. Every action calls pool.claiming, which checks
the rights and limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guanxi import clock
from guanxi.api import Actor, FieldError, NotFound, ValidationFailed, _
from guanxi.auth import identity
from guanxi.web.display import Presenter
from guanxi.web.screen import Screen, screen, url_with
from guanxi_sfa import records_util
from guanxi_sfa.pool import claiming, recycling
from guanxi_sfa.pool.config import PoolSettings

PAGE = 50
POOL_FIELDS = ("number", "name", "company", "industry", "region", "level", "pooled_at",
               "last_followup_at")  # fmt: skip  # no mobile, e-mail or address before a claim
FILTERS = ("industry", "region", "level")


def routes() -> list[BaseRoute]:
    return [
        Route("/sfa/pool", screen(pool_page)),
        Route("/sfa/pool/expiring", screen(expiring_page)),
        Route("/sfa/pool/customers/{customer_id:int}/claim", screen(claim_action),
              methods=["POST"]),
        Route("/sfa/pool/customers/{customer_id:int}/release", screen(release_page),
              methods=["GET", "POST"]),
        Route("/sfa/pool/customers/{customer_id:int}/history", screen(history_page)),
    ]  # fmt: skip


def may_see_pools(platform: Any, actor: Actor) -> bool:
    access = platform.records.access(actor)
    return access.allows("customer", claiming.CLAIM) or access.allows("customer", "assign")


def customer_actions(platform: Any, actor: Actor, record: dict[str, Any]) -> list[dict[str, Any]]:
    access = platform.records.access(actor)
    customer_id = record.get("id")
    found = [{"label": {"zh-CN": "公海记录", "en": "Pool history"},
              "href": f"/sfa/pool/customers/{customer_id}/history"}]  # fmt: skip
    if record.get("pool") and record.get("owner_id") is None:
        if access.allows("customer", claiming.CLAIM):
            found.append({"label": {"zh-CN": "领取", "en": "Claim"}, "method": "post",
                          "href": f"/sfa/pool/customers/{customer_id}/claim"})  # fmt: skip
    elif access.allows("customer", claiming.RELEASE) and access.allows("customer", "edit"):
        found.append({"label": {"zh-CN": "退回公海", "en": "Move to pool"},
                      "href": f"/sfa/pool/customers/{customer_id}/release"})  # fmt: skip
    return found


def pool_page(s: Screen) -> Response:
    if not may_see_pools(s.platform, s.actor):
        raise NotFound(_("No such page"))
    settings = PoolSettings.of(s.platform)
    chosen = settings.get(s.params.get("pool")) or (settings.pools[0] if settings.pools else None)
    entity = s.platform.registry.get("customer")
    mask = s.platform.records.access(s.actor).mask(entity)
    filters: list[dict[str, Any]] = [
        {"field": "owner_id", "op": "is_empty"},
        {"field": "pool", "op": "eq", "value": chosen.code if chosen else "-"},
    ]
    # Read as the system (pooled customers are in nobody's scope), so the viewer's field
    # levels are applied here: filters and search only on fields they may read, values masked.
    for key in FILTERS:
        if s.params.get(key) and key in mask.readable:
            filters.append({"field": key, "op": "eq", "value": s.params[key]})
    words = (s.params.get("q") or "").strip()[:100]
    searchable = [k for k in ("company", "name") if k in mask.readable]
    if words and searchable:
        filters.append({"or": [{"field": k, "op": "contains", "value": words} for k in searchable]})
    page = s.platform.records.query(
        records_util.SYSTEM, "customer", filters, sort=["-pooled_at", "-id"], limit=PAGE,
        after=s.params.get("after") or None,
    )  # fmt: skip
    fields = [f for f in (entity.get_field(k) for k in POOL_FIELDS) if f and f.key in mask.levels]
    shown = mask.apply_rows([dict(r) for r in page.rows])
    presenter = Presenter(s.platform, s.actor, entity, s.locale, mask).load(shown, fields)
    rows = [(r, [presenter.cell(f, r) for f in fields]) for r in shown]
    choices = {key: entity.get_field(key).options for key in FILTERS
               if entity.get_field(key) and key in mask.readable}  # fmt: skip
    return s.render(
        "guanxi_sfa/pool/pools.html", pools=settings.pools, chosen=chosen, fields=fields,
        rows=rows, choices=choices, params=s.params, settings=settings,
        may_claim=s.platform.records.access(s.actor).allows("customer", claiming.CLAIM),
        next_url=url_with(s.request, after=page.next_cursor) if page.next_cursor else None,
        notice=s.t("Customer claimed") if s.params.get("claimed") else None,
    )  # fmt: skip


def expiring_page(s: Screen) -> Response:
    """The viewer's own customers that return to a pool within the warning days (at least a
    week ahead), soonest first, so a rep sees what to follow up."""
    settings = PoolSettings.of(s.platform)
    mask = s.platform.records.access(s.actor).mask(s.platform.registry.get("customer"))
    now = clock.now_utc()
    ahead = now + timedelta(days=max(settings.warn_days, 7))
    due: list[tuple[Any, dict[str, Any], Any]] = []
    for pool in settings.pools:
        filters = recycling.due_filter(settings, pool, ahead)
        if filters is None:
            continue
        filters = [*filters, {"field": "owner_id", "op": "eq", "value": s.actor.user_id}]
        page = s.platform.records.query(
            records_util.SYSTEM, "customer", filters, sort=["id"], limit=200
        )
        due += [(recycling.due_at(pool, row), mask.apply(dict(row)), pool) for row in page.rows]
    due.sort(key=lambda item: item[0] or now)
    rows = [(clock.format_moment(moment, s.locale), row, pool.label(s.locale))
            for moment, row, pool in due]  # fmt: skip
    return s.render("guanxi_sfa/pool/expiring.html", rows=rows)


def claim_action(s: Screen) -> Response:
    customer_id = int(s.path_params["customer_id"])
    claiming.claim(s.platform, s.actor, customer_id)
    return s.redirect(f"/r/customer/{customer_id}")


def release_page(s: Screen) -> Response:
    customer_id = int(s.path_params["customer_id"])
    customer = dict(
        s.platform.records.get(s.actor, "customer", customer_id, action="edit", log_view=False)
    )
    settings = PoolSettings.of(s.platform)
    default = settings.for_region(customer.get("region"))
    chosen = {"pool": default.code if default else "", "reason": ""}
    errors: list[FieldError] = []
    if s.form is not None:
        chosen = {"pool": str(s.form.get("pool") or ""),
                  "reason": str(s.form.get("reason") or "")[:500]}  # fmt: skip
        try:
            claiming.release(s.platform, s.actor, customer_id, chosen["pool"] or None,
                             chosen["reason"])  # fmt: skip
        except ValidationFailed as error:
            errors = error.field_errors
        else:
            return s.redirect(f"/sfa/pool?pool={chosen['pool']}")
    return s.render(
        "guanxi_sfa/pool/release.html", status=422 if errors else 200, customer=customer,
        pools=settings.pools, chosen=chosen, errors=errors,
    )  # fmt: skip


def history_page(s: Screen) -> Response:
    customer_id = int(s.path_params["customer_id"])
    entries = claiming.history(s.platform, s.actor, customer_id)
    entity = s.platform.registry.get("customer")
    customer = (
        s.platform.records.access(s.actor)
        .mask(entity)
        .apply(records_util.system_get(s.platform, "customer", customer_id) or {})
    )
    settings = PoolSettings.of(s.platform)
    names = {u["id"]: u["display_name"] for u in identity.list_users(s.platform.db)}
    actions = {
        "recycled": s.t("Returned automatically"), "released": s.t("Moved to the pool"),
        "claimed": s.t("Claimed"), "assigned": s.t("Assigned"),
    }  # fmt: skip
    rows = [
        {
            "at": clock.format_moment(e["at"], s.locale),
            "pool": (settings.get(e["pool"]).label(s.locale) if settings.get(e["pool"])
                     else e["pool"]),
            "action": actions.get(e["action"], e["action"]),
            "owner": names.get(e["owner_id"], ""),
            "actor": names.get(e["actor_id"], s.t("System")) if e["actor_id"] else s.t("System"),
            "reason": e["reason"] or "",
        }
        for e in entries
    ]  # fmt: skip
    title = customer.get("company") or customer.get("name") or ""
    return s.render("guanxi_sfa/pool/history.html", rows=rows, title=title,
                    customer_id=customer_id)  # fmt: skip
