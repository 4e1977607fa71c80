"""A contract from a won opportunity (SFA-13, seed 003 §2(2)2 "成交后生成合同"): the deal's
customer, contact, amount, name, signing date and owner prefilled, the deal linked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guanxi.api import Actor, FieldError, ValidationFailed, _

MODULE = "contract"
PREFILLED = ("name", "customer", "contact", "amount", "signed_on")


def is_won(platform: Any, opportunity: Mapping[str, Any]) -> bool:
    """Won means the stage's category (the pipeline says which stages count as won)."""
    entity = platform.registry.get("opportunity")
    pipeline = entity.pipelines.get("stage")
    stage = pipeline.by_code.get(opportunity.get("stage") or "") if pipeline is not None else None
    return stage is not None and stage.category == "won"


def proposal(platform: Any, actor: Actor, opportunity: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's values as the deal suggests them (what the form starts from)."""
    values = {key: opportunity.get(key) for key in PREFILLED if opportunity.get(key) is not None}
    values["opportunity"] = opportunity["id"]
    owner = opportunity.get("owner_id")
    access = platform.records.access(actor)
    if owner is not None and (owner == actor.user_id or access.allows(MODULE, "assign")):
        values["owner_id"] = owner
    quote = _accepted_quote(platform, actor, opportunity["id"])
    if quote is not None:
        values["quote"] = quote
    return values


def from_opportunity(
    platform: Any,
    actor: Actor,
    opportunity_id: int,
    values: Mapping[str, Any] | None = None,
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    """Create the contract as `actor` (their create right and scopes apply); refused unless
    the deal (which the actor must see) is won. `values` override the prefilled ones."""
    opportunity = platform.records.get(actor, "opportunity", opportunity_id, log_view=False)
    if not is_won(platform, opportunity):
        raise ValidationFailed([FieldError("opportunity", "not_won", _(
            "A contract is created from a won opportunity"))])  # fmt: skip
    data = {**proposal(platform, actor, opportunity), **dict(values or {})}
    data["opportunity"] = opportunity_id
    return dict(platform.records.create(actor, MODULE, data, reason=reason))


def _accepted_quote(platform: Any, actor: Actor, opportunity_id: int) -> int | None:
    """The deal's latest accepted quote, when the quote module is installed."""
    entity = platform.registry.snapshot().entities.get("quote")
    contract = platform.registry.get(MODULE)
    if entity is None or contract.get_field("quote") is None:
        return None
    if entity.get_field("opportunity") is None or entity.get_field("status") is None:
        return None
    if not platform.records.access(actor).allows("quote", "view"):
        return None
    page = platform.records.query(
        actor, "quote",
        [{"field": "opportunity", "op": "eq", "value": opportunity_id},
         {"field": "status", "op": "eq", "value": "accepted"}],
        sort=["-id"], limit=1,
    )  # fmt: skip
    return int(page.rows[0]["id"]) if page.rows else None
