"""Lead assignment (SFA-03): ordered rules by source, industry, region and product line, each
giving leads to its users in turn (round robin) or to whoever has the fewest open leads (least
load); the first rule that matches decides, then the fallback owner, else the lead pool.

Who is routed: a new lead entered by someone who may assign leads (a manager, a marketer, a
web form's owner account, an import by an administrator) starts in the pool and the
`sfa.assign_lead` job, queued in the same transaction, hands it on. A sales rep's own lead
(no assign right) stays theirs. The job runs the rules in its own transaction, moving the
round-robin cursor with the choice, then sets the owner through the record service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import FieldError, PermissionDenied, ValidationFailed, _
from guanxi.store.system_tables import user
from guanxi_sfa import records_util
from guanxi_sfa.settings import Settings
from guanxi_sfa.tables import assign_rule

JOB = "sfa.assign_lead"
METHODS = ("round_robin", "least_load")
CONDITIONS = (
    ("sources", "source"),
    ("industries", "industry"),
    ("regions", "region"),
    ("product_lines", "product_line"),
)
OPEN_STATUSES = ("new", "contacting", "need_confirmed", "not_now")


@dataclass(frozen=True)
class Rule:
    id: int
    position: int
    name: str
    active: bool
    conditions: Mapping[str, tuple[str, ...]]  # column -> accepted codes (empty: any)
    method: str
    user_ids: tuple[int, ...]
    last_user_id: int | None

    def matches(self, lead: Mapping[str, Any]) -> bool:
        return self.active and all(
            not codes or lead.get(field) in codes
            for (column, field) in CONDITIONS
            for codes in [self.conditions.get(column, ())]
        )


def _rule(row: Any) -> Rule:
    return Rule(
        id=int(row.id),
        position=int(row.position),
        name=str(row.name),
        active=bool(row.active),
        conditions={column: tuple(getattr(row, column) or ()) for column, _f in CONDITIONS},
        method=str(row.method),
        user_ids=tuple(int(u) for u in row.user_ids or ()),
        last_user_id=row.last_user_id,
    )


def rules(connection: Any) -> list[Rule]:
    rows = connection.execute(
        sa.select(assign_rule).order_by(assign_rule.c.position, assign_rule.c.id)
    )
    return [_rule(row) for row in rows]


def routes_new_leads(platform: Any, actor: Any) -> bool:
    return bool(actor.is_system or platform.records.access(actor).allows("lead", "assign"))


def _active(connection: Any, user_ids: Sequence[int]) -> list[int]:
    if not user_ids:
        return []
    found = set(
        connection.execute(
            sa.select(user.c.id).where(user.c.id.in_(list(user_ids)), user.c.active.is_(True))
        ).scalars()
    )
    return [u for u in user_ids if u in found]


def _open_leads(platform: Any, user_ids: Sequence[int]) -> dict[int, int]:
    rows = platform.records.aggregate(
        records_util.SYSTEM,
        "lead",
        [
            {"field": "owner_id", "op": "in", "value": list(user_ids)},
            {"field": "status", "op": "in", "value": list(OPEN_STATUSES)},
        ],
        group_by=["owner_id"],
    )
    return {int(r["owner_id"]): int(r["count"]) for r in rows if r.get("owner_id") is not None}


def choose(platform: Any, connection: Any, lead: Mapping[str, Any]) -> tuple[int | None, str]:
    """(owner, why) for a lead: the first matching rule with an active user, moving its
    round-robin cursor in `connection`; then the fallback owner; (None, "pool") otherwise."""
    for rule in rules(connection):
        if not rule.matches(lead):
            continue
        candidates = _active(connection, rule.user_ids)
        if not candidates:
            continue
        if rule.method == "least_load":
            load = _open_leads(platform, candidates)
            chosen = min(candidates, key=lambda u: (load.get(u, 0), candidates.index(u)))
        else:
            after = (
                candidates.index(rule.last_user_id) + 1 if rule.last_user_id in candidates else 0
            )
            chosen = candidates[after % len(candidates)]
        connection.execute(
            sa.update(assign_rule).where(assign_rule.c.id == rule.id).values(last_user_id=chosen)
        )
        return chosen, rule.name
    fallback = Settings.of(platform).fallback_owner
    if fallback:
        found = connection.execute(
            sa.select(user.c.id).where(user.c.username == fallback, user.c.active.is_(True))
        ).scalar()
        if found is not None:
            return int(found), "fallback"
    return None, "pool"


def run_job(ctx: Any) -> dict[str, Any]:
    """Assign one new lead (queued by its creation)."""
    platform = ctx.platform
    lead = records_util.system_get(platform, "lead", ctx.payload.get("lead_id"))
    if lead is None or lead.get("owner_id") is not None:
        return {"assigned": 0}  # gone, or someone took it meanwhile
    with platform.db.unit_of_work() as connection:
        owner, why = choose(platform, connection, lead)
    if owner is None:
        return {"assigned": 0, "pool": 1}
    done = records_util.system_update(
        platform, "lead", lead["id"], {"owner_id": owner},
        reason=_("Assigned by rule: {rule}", rule=why).render("zh-CN"),
    )  # fmt: skip
    return {"assigned": int(done is not None)}


# -- the rules, kept by administrators ----------------------------------------------------------


def _check(values: Mapping[str, Any], platform: Any) -> dict[str, Any]:
    errors: list[FieldError] = []
    name = str(values.get("name") or "").strip()
    if not name:
        errors.append(FieldError("name", "required", _("Give the rule a name")))
    method = str(values.get("method") or "round_robin")
    if method not in METHODS:
        errors.append(FieldError("method", "invalid", _("Choose round robin or least load")))
    lead = platform.registry.snapshot().entity("lead")
    cleaned: dict[str, Any] = {}
    for column, field_key in CONDITIONS:
        codes = [str(c) for c in values.get(column) or [] if str(c)]
        field = lead.get_field(field_key)
        known = {o.code for o in field.options} if field is not None else set()
        unknown = [c for c in codes if c not in known]
        if unknown:
            errors.append(
                FieldError(
                    column, "invalid", _("Unknown options: {codes}", codes=", ".join(unknown))
                )
            )
        cleaned[column] = codes
    user_ids = [int(u) for u in values.get("user_ids") or [] if str(u).isdecimal()]
    if not user_ids:
        errors.append(FieldError("user_ids", "required", _("Choose at least one user")))
    if errors:
        raise ValidationFailed(errors)
    return {"name": name[:100], "method": method, "user_ids": user_ids,
            "active": bool(values.get("active", True)), **cleaned}  # fmt: skip


def save(platform: Any, actor: Any, values: Mapping[str, Any], rule_id: int | None = None) -> int:
    if not platform.records.access(actor).is_admin:
        raise PermissionDenied(_("Only administrators may change assignment rules"))
    row = {**_check(values, platform), "updated_at": clock.now_utc()}
    with platform.db.unit_of_work() as connection:
        if rule_id is None:
            last = connection.execute(sa.select(sa.func.max(assign_rule.c.position))).scalar()
            row["position"] = int(last or 0) + 1
            return int(
                connection.execute(sa.insert(assign_rule).values(row)).inserted_primary_key[0]
            )
        connection.execute(sa.update(assign_rule).where(assign_rule.c.id == rule_id).values(row))
    return rule_id


def delete(platform: Any, actor: Any, rule_id: int) -> None:
    if not platform.records.access(actor).is_admin:
        raise PermissionDenied(_("Only administrators may change assignment rules"))
    with platform.db.unit_of_work() as connection:
        connection.execute(sa.delete(assign_rule).where(assign_rule.c.id == rule_id))


def move(platform: Any, actor: Any, rule_id: int, step: int) -> None:
    """Swap a rule with its neighbour (rules are evaluated top to bottom)."""
    if not platform.records.access(actor).is_admin:
        raise PermissionDenied(_("Only administrators may change assignment rules"))
    with platform.db.unit_of_work() as connection:
        ordered = rules(connection)
        ids = [r.id for r in ordered]
        if rule_id not in ids:
            return
        here = ids.index(rule_id)
        there = here + step
        if not 0 <= there < len(ids):
            return
        ids[here], ids[there] = ids[there], ids[here]
        for position, moved in enumerate(ids, start=1):
            connection.execute(
                sa.update(assign_rule).where(assign_rule.c.id == moved).values(position=position)
            )
