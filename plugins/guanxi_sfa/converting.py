"""Convert a lead (SFA-05): one action creates the customer (or links the existing customer
the duplicate rules find), the contact, and optionally an opportunity; the lead's follow-ups
and tasks move to the customer; the lead keeps links to all three and is "converted".

Everything happens in one `records.batch()`: a refused part (a required field, a duplicate
rule that blocks, a customer the user may not see) writes nothing. The customer, contact and
opportunity are created as the user, so their rights, numbering and history apply; moving
the follow-ups and marking the lead (read-only fields) is the system's part of the same step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guanxi import clock
from guanxi.api import (
    Actor,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    _,
)
from guanxi.defaults.duplicates.checks import merging
from guanxi_sfa import records_util

CUSTOMER_FROM_LEAD = {
    "company": "company", "mobile": "mobile", "email": "email", "source": "source",
    "source_detail": "source_detail", "industry": "industry", "region": "region",
    "remarks": "remarks",
}  # fmt: skip
CONTACT_FROM_LEAD = {"name": "name", "mobile": "mobile", "email": "email", "title": "title",
                     "wechat": "wechat"}  # fmt: skip
OPPORTUNITY_STAGES = ("lead", "following", "opportunity")


@dataclass
class Plan:
    """What the user chose on the convert screen."""

    customer_id: int | None = None  # link to this existing customer instead of creating one
    customer: dict[str, Any] = field(default_factory=dict)  # values for a new customer
    contact: bool = True
    opportunity: dict[str, Any] | None = None  # values for an opportunity, or none
    reason: str | None = None


def _prefixed(error: ValidationFailed, part: str) -> ValidationFailed:
    return ValidationFailed(
        [
            FieldError(f"{part}.{e.field}" if e.field else part, e.code, e.message, e.warning,
                       e.details)
            for e in error.field_errors
        ]
    )  # fmt: skip


def duplicates_of(platform: Any, lead: Mapping[str, Any]) -> list[int]:
    """Customers the duplicate rules match with this lead (directly, or through a contact)."""
    book = getattr(platform, "duplicates", None)
    if book is None:
        return []
    found: list[int] = []
    contacts: list[int] = []
    with platform.db.read() as connection:
        for rule in book.covering("lead"):
            for entity, record_id in book.matches(connection, rule, "lead", lead, lead.get("id")):
                if entity == "customer":
                    found.append(record_id)
                elif entity == "contact":
                    contacts.append(record_id)
    for contact_id in contacts:
        contact = records_util.system_get(platform, "contact", contact_id)
        if contact is not None and isinstance(contact.get("customer"), int):
            found.append(contact["customer"])
    return list(dict.fromkeys(found))


def proposal(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The new customer's values, from the lead, for the form to show."""
    values = {key: lead.get(source) for key, source in CUSTOMER_FROM_LEAD.items()}
    values["name"] = lead.get("company")
    if lead.get("need"):
        values["interests"] = str(lead["need"])[:500]
    return {k: v for k, v in values.items() if v not in (None, "")}


def opportunity_proposal(lead: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": f"{lead.get('company') or lead.get('name')}",
        "stage": "following",
        "amount": lead.get("budget_amount"),
        "budget_amount": lead.get("budget_amount"),
        "budget_confirmed": lead.get("budget") == "confirmed",
        "product_line": lead.get("product_line"),
        "source": lead.get("source"),
        "requirements": lead.get("need"),
    }
    return {k: v for k, v in values.items() if v not in (None, "")}


def convert(platform: Any, actor: Actor, lead_id: int, plan: Plan) -> dict[str, Any]:
    """Returns {"customer": id, "contact": id | None, "opportunity": id | None}."""
    records = platform.records
    if not records.access(actor).allows("lead", "convert"):
        raise PermissionDenied(_("You may not convert leads"))
    lead = dict(records.get(actor, "lead", lead_id, action="edit", log_view=False))
    if lead.get("status") in ("converted", "abandoned"):
        raise ValidationFailed([FieldError("status", "closed", _("This lead is closed already"))])
    # The customer and contact made from the lead are not its duplicates (as records merging
    # into one are not each other's); every other match still counts.
    with merging([("lead", lead_id)]), records.batch():
        customer_id = _customer(platform, actor, lead, plan)
        contact_id = None
        if plan.contact:
            values = {k: lead.get(s) for k, s in CONTACT_FROM_LEAD.items() if lead.get(s)}
            try:
                contact_id = records.create(
                    actor, "contact", {**values, "customer": customer_id, "is_primary": True}
                )["id"]
            except ValidationFailed as error:
                raise _prefixed(error, "contact") from error
        opportunity_id = None
        if plan.opportunity is not None:
            values = {**plan.opportunity, "customer": customer_id}
            if contact_id is not None:
                values["contact"] = contact_id
            try:
                opportunity_id = records.create(actor, "opportunity", values)["id"]
            except ValidationFailed as error:
                raise _prefixed(error, "opportunity") from error
        _move(platform, lead_id, customer_id, contact_id, opportunity_id)
        reason = plan.reason or _("Converted by {user}", user=actor.name).render("zh-CN")
        current = records_util.system_get(platform, "lead", lead_id)
        assert current is not None
        records.update(
            records_util.SYSTEM, "lead", lead_id,
            {"status": "converted", "customer": customer_id, "contact": contact_id,
             "opportunity": opportunity_id,
             "converted_at": records_util.iso(clock.now_utc())},
            version=current["version"], reason=reason,
        )  # fmt: skip
    return {"customer": customer_id, "contact": contact_id, "opportunity": opportunity_id}


def _customer(platform: Any, actor: Actor, lead: Mapping[str, Any], plan: Plan) -> int:
    if plan.customer_id is not None:
        try:  # linking needs the right to edit the customer (its contacts and deals change)
            return int(
                platform.records.get(actor, "customer", plan.customer_id, action="edit",
                                     log_view=False)["id"]
            )  # fmt: skip
        except NotFound as error:
            raise ValidationFailed(
                [FieldError("customer_id", "not_found",
                            _("Choose a customer you may edit"))]
            ) from error  # fmt: skip
    values = {**proposal(lead), **plan.customer}
    try:
        return int(platform.records.create(actor, "customer", values)["id"])
    except ValidationFailed as error:
        raise _prefixed(error, "customer") from error


def _move(
    platform: Any, lead_id: int, customer_id: int, contact_id: int | None,
    opportunity_id: int | None,
) -> None:  # fmt: skip
    """The lead's follow-ups and tasks now belong to the customer (and the new deal)."""
    records = platform.records
    for entity in ("followup", "task"):
        after = None
        while True:
            page = records.query(
                records_util.SYSTEM, entity, {"field": "lead", "op": "eq", "value": lead_id},
                limit=200, after=after,
            )  # fmt: skip
            for row in page.rows:
                changes: dict[str, Any] = {"customer": customer_id}
                if entity == "followup" and contact_id is not None and not row.get("contact"):
                    changes["contact"] = contact_id
                if opportunity_id is not None and not row.get("opportunity"):
                    changes["opportunity"] = opportunity_id
                records.update(
                    records_util.SYSTEM, entity, row["id"], changes, version=row["version"],
                    reason=_("The lead was converted").render("zh-CN"),
                )  # fmt: skip
            after = page.next_cursor
            if after is None:
                break
