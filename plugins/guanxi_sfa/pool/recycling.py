"""The nightly return to the public pools (SFA-10): every owned customer of a pool's regions
with no follow-up for N days (or no deal for M days) goes back, set-based through the record
service (history rows by INSERT ... SELECT, pool history in the same transaction per chunk),
then each former owner gets one notification; owners of customers due within the warning
days are told once per customer and due date."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import _
from guanxi.notifications import notify
from guanxi_sfa import records_util
from guanxi_sfa.pool.config import Pool, PoolSettings
from guanxi_sfa.pool.tables import RECYCLED, pool_history, pool_state, pool_warning

JOB = "sfa.pool_recycle"
RECYCLED_KIND = "sfa.pool_recycled"
WARNING_KIND = "sfa.pool_warning"
PAGE = 500
HORIZON = "warning_horizon"


def _inactive_since(field: str, cutoff: datetime) -> dict[str, Any]:
    """Nothing in `field`, nor a claim, nor the record's creation after `cutoff` (a customer
    claimed or created yesterday is not stale even if it was never followed up)."""
    at = records_util.iso(cutoff)
    return {"and": [
        {"or": [{"field": field, "op": "is_empty"}, {"field": field, "op": "lt", "value": at}]},
        {"or": [{"field": "claimed_at", "op": "is_empty"},
                {"field": "claimed_at", "op": "lt", "value": at}]},
        {"field": "created_at", "op": "lt", "value": at},
    ]}  # fmt: skip


def due_filter(settings: PoolSettings, pool: Pool, moment: datetime) -> list[dict[str, Any]] | None:
    """Owned customers of `pool` that are due to return at `moment` (None: the pool returns
    nothing automatically)."""
    reasons = []
    if pool.followup_days:
        reasons.append(
            _inactive_since("last_followup_at", moment - timedelta(days=pool.followup_days))
        )
    if pool.deal_days:
        reasons.append(_inactive_since("last_deal_at", moment - timedelta(days=pool.deal_days)))
    if not reasons:
        return None
    conditions: list[dict[str, Any]] = [
        {"field": "owner_id", "op": "not_empty"},
        {"field": "pool", "op": "is_empty"},
        {"or": reasons},
    ]
    if settings.exempt_levels:
        conditions.append({"field": "level", "op": "not_in", "value": list(settings.exempt_levels)})
    regions = settings.region_filter(pool)
    if regions is not None:
        conditions.append(regions)
    return conditions


def run_job(ctx: Any) -> dict[str, int]:
    platform = ctx.platform
    settings = PoolSettings.of(platform)
    now = clock.now_utc()
    returned = 0
    for pool in settings.pools:
        returned += recycle(platform, settings, pool, now)
    warned = warn(platform, settings, now)
    return {"returned": returned, "warned": warned}


def recycle(platform: Any, settings: PoolSettings, pool: Pool, now: datetime) -> int:
    filters = due_filter(settings, pool, now)
    if filters is None:
        return 0
    lost: Counter[int] = Counter()
    reason = _reason(pool)

    def within(connection: Any, ids: Any) -> None:
        customer = platform.registry.snapshot().tables["customer"]
        picked = sa.select(
            customer.c.id, sa.literal(pool.code), sa.literal(RECYCLED), customer.c.owner_id,
            sa.literal(None, sa.BigInteger), sa.literal(reason, sa.Text),
            sa.literal(now, sa.DateTime),
        ).where(customer.c.id.in_(ids))  # fmt: skip
        connection.execute(
            sa.insert(pool_history).from_select(
                ["customer_id", "pool", "action", "owner_id", "actor_id", "reason", "at"], picked
            )
        )
        for owner_id, count in connection.execute(
            sa.select(customer.c.owner_id, sa.func.count())
            .where(customer.c.id.in_(ids))
            .group_by(customer.c.owner_id)
        ):
            lost[int(owner_id)] += int(count)
        connection.execute(sa.delete(pool_warning).where(pool_warning.c.customer_id.in_(ids)))

    result = platform.records.update_matching(
        records_util.SYSTEM, "customer", filters,
        {"owner_id": None, "pool": pool.code, "pooled_at": records_util.iso(now)},
        reason=reason, within=within,
    )  # fmt: skip
    if lost:
        with platform.db.unit_of_work() as connection:
            for owner_id, count in lost.items():
                notify(
                    connection, owner_id, RECYCLED_KIND,
                    _("{count} of your customers returned to {pool}", count=count,
                      pool=pool.label("zh-CN")).all_locales(),
                    body=reason, link=f"/sfa/pool?pool={pool.code}",
                )  # fmt: skip
    return result.updated


def _reason(pool: Pool) -> str:
    parts = []
    if pool.followup_days:
        parts.append(_("no follow-up for {days} days", days=pool.followup_days).render("zh-CN"))
    if pool.deal_days:
        parts.append(_("no deal for {days} days", days=pool.deal_days).render("zh-CN"))
    return _("Returned to {pool} automatically: {why}", pool=pool.label("zh-CN"),
             why="; ".join(parts)).render("zh-CN")  # fmt: skip


def warn(platform: Any, settings: PoolSettings, now: datetime) -> int:
    """Owners of customers that will return within `warn_days` hear of it once per customer
    (again only if the customer was followed up and became due again). Each run reads only
    the customers that became due since the last run's horizon (a day's worth)."""
    if not settings.warn_days:
        return 0
    ahead = now + timedelta(days=settings.warn_days)
    with platform.db.read() as connection:
        last = connection.execute(
            sa.select(pool_state.c.at).where(pool_state.c.key == HORIZON)
        ).scalar()
    since = last if last is not None and last < ahead else None
    due: dict[int, list[tuple[int, datetime]]] = {}
    for pool in settings.pools:
        filters = due_filter(settings, pool, ahead)
        if filters is None:
            continue
        before = due_filter(settings, pool, since) if since is not None else None
        if before is not None:
            filters = [*filters, {"not": {"and": before}}]
        for row in _all(platform, filters):
            moment = due_at(pool, row)
            if moment is not None:
                due.setdefault(int(row["owner_id"]), []).append((int(row["id"]), moment))
    warned = 0
    with platform.db.unit_of_work() as connection:
        connection.execute(sa.delete(pool_state).where(pool_state.c.key == HORIZON))
        connection.execute(sa.insert(pool_state).values(key=HORIZON, at=ahead))
        if due:
            warned = _warn_owners(connection, due, now)
    return warned


def _warn_owners(connection: Any, due: dict[int, list[tuple[int, datetime]]], now: datetime) -> int:
    """One notification per owner for the customers not yet warned of this due date."""
    ids = [cid for rows in due.values() for cid, _moment in rows]
    known: set[tuple[int, int, datetime]] = set()
    for start in range(0, len(ids), 5000):
        known |= {
            (int(r.customer_id), int(r.owner_id), r.due_at)
            for r in connection.execute(
                sa.select(pool_warning).where(pool_warning.c.customer_id.in_(ids[start : start + 5000]))
            )
        }  # fmt: skip
    warned = 0
    for owner_id, rows in due.items():
        fresh = [(cid, m) for cid, m in rows if (cid, owner_id, m) not in known]
        if not fresh:
            continue
        for start in range(0, len(fresh), 5000):
            part = fresh[start : start + 5000]
            connection.execute(
                sa.delete(pool_warning).where(pool_warning.c.customer_id.in_([c for c, _ in part]))
            )
            connection.execute(
                sa.insert(pool_warning),
                [{"customer_id": c, "owner_id": owner_id, "due_at": m, "warned_at": now}
                 for c, m in part],
            )  # fmt: skip
        notify(
            connection, owner_id, WARNING_KIND,
            _("{count} of your customers return to the public pool soon", count=len(fresh))
            .all_locales(),
            body=_("Follow them up before {when}", when=_local(min(m for _c, m in fresh)))
            .render("zh-CN"),
            link="/sfa/pool/expiring",
        )  # fmt: skip
        warned += len(fresh)
    return warned


def due_at(pool: Pool, row: dict[str, Any]) -> datetime | None:
    """When this customer returns unless someone acts: the earlier of its two clocks."""
    moments = []
    for field, days in (("last_followup_at", pool.followup_days), ("last_deal_at", pool.deal_days)):
        if days:
            since = max(
                (v for v in (row.get(field), row.get("claimed_at"), row.get("created_at")) if v),
                default=None,
            )
            if since is not None:
                moments.append(since + timedelta(days=days))
    return min(moments, default=None)


def _all(platform: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        page = platform.records.query(
            records_util.SYSTEM, "customer", filters, sort=["id"], limit=PAGE, after=after
        )
        rows.extend(page.rows)
        after = page.next_cursor
        if after is None:
            return rows


def _local(moment: datetime) -> str:
    return clock.to_local(moment).strftime("%Y-%m-%d")
