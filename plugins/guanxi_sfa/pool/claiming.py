"""Taking customers from the public pools and giving them back (SFA-10): a claim within the
limits (claims per day, customers owned, the previous owner's reclaim delay), "move to pool"
with a reason, and any assignment of a pooled customer (a manager setting an owner) leaving
the pool. Each write is the customer's update plus its pool-history row, in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import (
    Actor,
    ConflictError,
    FieldError,
    NotFound,
    PermissionDenied,
    RecordEvent,
    ValidationFailed,
    _,
)
from guanxi.store.system_tables import user
from guanxi_sfa import records_util
from guanxi_sfa.pool.config import PoolSettings
from guanxi_sfa.pool.tables import ASSIGNED, CLAIMED, RECYCLED, RELEASED, pool_history

CLAIM, RELEASE = "claim", "release"


def claim(platform: Any, actor: Actor, customer_id: int) -> dict[str, Any]:
    """Make a pooled customer the actor's (the `claim` right on customers)."""
    if not platform.records.access(actor).allows("customer", CLAIM):
        raise PermissionDenied(_("You may not claim customers from the public pool"))
    customer = records_util.system_get(platform, "customer", customer_id)
    if customer is None or not customer.get("pool"):  # an owned customer is not for claiming
        raise NotFound(_("This customer is not in a public pool"))
    settings = PoolSettings.of(platform)
    now = clock.now_utc()
    pool = settings.get(customer["pool"])
    label = pool.label("zh-CN") if pool else customer["pool"]
    try:
        with platform.records.batch() as connection:
            # counted in the claim's own transaction, the claimer's row locked: parallel
            # claims by one person queue, so the last allowed claim passes only once
            _check_limits(platform, connection, settings, actor, customer_id, now)
            updated = platform.records.update(
                records_util.SYSTEM, "customer", customer_id,
                {"owner_id": actor.user_id, "pool": None, "claimed_at": records_util.iso(now)},
                version=customer["version"],
                reason=_("Claimed from {pool} by {user}", pool=label, user=actor.name)
                .render("zh-CN"),
            )  # fmt: skip
            _log(
                connection, customer_id, customer["pool"], CLAIMED, actor.user_id, actor, None, now
            )
    except ConflictError:
        raise ValidationFailed(
            [FieldError("owner_id", "taken", _("Someone else has taken this customer"))]
        ) from None
    return dict(updated)


def _check_limits(
    platform: Any, connection: Any, settings: PoolSettings, actor: Actor, customer_id: int,
    now: datetime,
) -> None:  # fmt: skip
    connection.execute(sa.select(user.c.id).where(user.c.id == actor.user_id).with_for_update())
    if settings.reclaim_days:
        released = connection.execute(
            sa.select(sa.func.max(pool_history.c.at)).where(
                pool_history.c.customer_id == customer_id,
                pool_history.c.owner_id == actor.user_id,
                pool_history.c.action.in_((RECYCLED, RELEASED)),
            )
        ).scalar()
        if released is not None and released > now - timedelta(days=settings.reclaim_days):
            again = clock.to_local(released + timedelta(days=settings.reclaim_days))
            raise ValidationFailed([FieldError("owner_id", "reclaim_wait", _(
                "You gave this customer up recently; you may claim it again from {day}",
                day=again.strftime("%Y-%m-%d")))])  # fmt: skip
    if settings.claims_per_day:
        today = clock.local_midnight_utc(clock.to_local(now).date())
        claimed = connection.execute(
            sa.select(sa.func.count()).where(
                pool_history.c.actor_id == actor.user_id,
                pool_history.c.action == CLAIMED,
                pool_history.c.at >= today,
            )
        ).scalar_one()
        if claimed >= settings.claims_per_day:
            raise ValidationFailed([FieldError("owner_id", "claims_per_day", _(
                "You have claimed {count} customers today, the most allowed per day",
                count=claimed))])  # fmt: skip
    if settings.max_owned:
        customers = platform.registry.snapshot().tables["customer"]
        owned = connection.execute(
            sa.select(sa.func.count()).where(
                customers.c.owner_id == actor.user_id, customers.c.deleted_at.is_(None)
            )
        ).scalar_one()
        if owned >= settings.max_owned:
            raise ValidationFailed([FieldError("owner_id", "max_owned", _(
                "You own {count} customers, the most allowed; give some back before claiming",
                count=owned))])  # fmt: skip


def release(
    platform: Any, actor: Actor, customer_id: int, pool_code: str | None, reason: str
) -> dict[str, Any]:
    """Move a customer the actor may edit to a pool ("move to pool"), with a reason."""
    if not platform.records.access(actor).allows("customer", RELEASE):
        raise PermissionDenied(_("You may not move customers to the public pool"))
    customer = dict(
        platform.records.get(actor, "customer", customer_id, action="edit", log_view=False)
    )
    full = records_util.system_get(platform, "customer", customer_id) or customer
    settings = PoolSettings.of(platform)
    pool = settings.get(pool_code) if pool_code else settings.for_region(full.get("region"))
    errors = []
    if pool is None:
        errors.append(FieldError("pool", "unknown", _("Choose a public pool")))
    if not reason.strip():
        errors.append(FieldError("reason", "required", _("Say why the customer goes back")))
    if full.get("pool"):
        errors.append(FieldError("pool", "pooled", _("This customer is in a public pool already")))
    if errors:
        raise ValidationFailed(errors)
    assert pool is not None
    now = clock.now_utc()
    with platform.records.batch() as connection:
        updated = platform.records.update(
            records_util.SYSTEM, "customer", customer_id,
            {"owner_id": None, "pool": pool.code, "pooled_at": records_util.iso(now)},
            version=full["version"],
            reason=_("Moved to {pool} by {user}: {reason}", pool=pool.label("zh-CN"),
                     user=actor.name, reason=reason.strip()).render("zh-CN"),
        )  # fmt: skip
        _log(connection, customer_id, pool.code, RELEASED, full.get("owner_id"), actor,
             reason.strip(), now)  # fmt: skip
    return dict(updated)


def prepare(record: dict[str, Any], old: dict[str, Any] | None) -> None:
    """An owner given to a pooled customer by any path (a manager's assignment, an import)
    takes it out of the pool."""
    if old is None or not old.get("pool") or record.get("owner_id") is None:
        return
    if old.get("owner_id") is None:
        record["pool"] = None
        record["claimed_at"] = clock.now_utc()


def stored(connection: Any, event: RecordEvent) -> None:
    """Log an assignment out of a pool made by someone other than a claim (which logs its own
    row with the claimer as actor)."""
    old, new = event.old or {}, event.record or {}
    if event.actor.is_system or not old.get("pool") or new.get("pool"):
        return
    _log(connection, event.record_id, old["pool"], ASSIGNED, new.get("owner_id"), event.actor,
         event.reason, event.at)  # fmt: skip


def _log(
    connection: Any, customer_id: int, pool: str, action: str, owner_id: int | None,
    actor: Actor, reason: str | None, at: datetime,
) -> None:  # fmt: skip
    connection.execute(
        sa.insert(pool_history).values(
            customer_id=customer_id, pool=pool, action=action, owner_id=owner_id,
            actor_id=actor.user_id, reason=reason, at=at,
        )
    )  # fmt: skip


def history(platform: Any, actor: Actor, customer_id: int) -> list[dict[str, Any]]:
    """The customer's pool story, for someone who may see the customer or its pool."""
    customer = records_util.system_get(platform, "customer", customer_id)
    if customer is None:
        raise NotFound(_("This customer no longer exists"))
    access = platform.records.access(actor)
    if not customer.get("pool"):
        platform.records.get(actor, "customer", customer_id, log_view=False)  # NotFound if not
    elif not (access.allows("customer", CLAIM) or access.allows("customer", "assign")):
        raise NotFound(_("This customer no longer exists"))  # the pools are not theirs to see
    with platform.db.read() as connection:
        return [
            dict(row)
            for row in connection.execute(
                sa.select(pool_history)
                .where(pool_history.c.customer_id == customer_id)
                .order_by(pool_history.c.id.desc())
            ).mappings()
        ]
