"""Quotes and their lines (SFA-12): a line's price defaults from the quote's price list, else
the product's list price; its amounts, and the quote's totals, are derived by the system. Lines
change through `add_line` / `change_line` / `remove_line`, which write the line and the
quote's new totals in ONE transaction (`records.batch`); a line written any other way (the
generic form, the REST API) has the totals caught up right after its commit by `changed`."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.api import (
    Actor,
    ConflictError,
    FieldError,
    LockedError,
    NotFound,
    RecordEvent,
    ValidationFailed,
    _,
)
from guanxi_sfa import records_util
from guanxi_sfa.commerce import pricing

log = logging.getLogger(__name__)
SYSTEM = records_util.SYSTEM
PLUGIN = "guanxi_sfa"
EDITABLE_STATUSES = ("draft",)  # what the customer was sent stays as it was sent
APPROVAL_NEEDED_FOR = ("sent", "accepted")
DEFAULT_TAX_RATE = Decimal(13)
VALID_DAYS = 30


def threshold(platform: Any) -> Decimal:
    value = platform.plugin_settings(PLUGIN).get("quote_discount_threshold", 10)
    return pricing.number(value, Decimal(10))


# -- hooks: quote ---------------------------------------------------------------------------------


def prepare_quote(platform: Any, record: dict[str, Any], old: dict[str, Any] | None) -> None:
    """New quotes start as drafts without approval and with zero totals; every save re-decides
    whether the discount needs approval (the threshold is a live setting)."""
    if old is None:
        for key in ("subtotal", "discount_amount", "net_amount", "tax_amount", "total"):
            record[key] = pricing.ZERO
        record["max_discount"] = pricing.ZERO
        record.setdefault("approval", "none")
        today = clock.today_local()
        if record.get("quoted_on") is None:
            record["quoted_on"] = today
        if record.get("valid_until") is None:
            record["valid_until"] = record["quoted_on"] + timedelta(days=VALID_DAYS)
    if record.get("approval") is None:
        record["approval"] = "none"
    totals = pricing.QuoteTotals(
        subtotal=pricing.number(record.get("subtotal")),
        discount_amount=pricing.number(record.get("discount_amount")),
        net_amount=pricing.number(record.get("net_amount")),
        tax_amount=pricing.number(record.get("tax_amount")),
        total=pricing.number(record.get("total")),
        max_discount=pricing.number(record.get("max_discount")),
    )
    record["needs_approval"] = pricing.needs_approval(totals, threshold(platform))


def validate_quote(record: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errors = []
    status = record.get("status")
    moved = old is None or old.get("status") != status
    if (
        moved
        and status in APPROVAL_NEEDED_FOR
        and record.get("needs_approval")
        and record.get("approval") != "approved"
    ):
        errors.append(
            FieldError(
                "approval",
                "needs_approval",
                _(
                    "The discount ({discount}%) exceeds the approval threshold: the quote needs "
                    "approval before it is sent",
                    discount=str(record.get("max_discount") or 0),
                ),
            )
        )
    quoted, valid = record.get("quoted_on"), record.get("valid_until")
    if isinstance(quoted, date) and isinstance(valid, date) and valid < quoted:
        message = _("The quote must be valid at least until the quote date")
        errors.append(FieldError("valid_until", "before_quote_date", message))
    return errors


# -- hooks: lines ---------------------------------------------------------------------------------


def prepare_line(
    platform: Any, record: dict[str, Any], old: dict[str, Any] | None, actor: Actor
) -> None:
    """Defaults from the product and price list, then the line's amounts."""
    quote = records_util.system_get(platform, "quote", record.get("quote"))
    left = None  # a line moved from another quote leaves that one changed too
    if old is not None and old.get("quote") != record.get("quote"):
        left = records_util.system_get(platform, "quote", old.get("quote"))
    locked = [
        q for q in (quote, left) if q is not None and q.get("status") not in EDITABLE_STATUSES
    ]
    if locked and not actor.is_system:
        raise ValidationFailed(
            [
                FieldError(
                    "quote", "not_draft", _("Lines can only change while the quote is a draft")
                )
            ]
        )
    product = records_util.system_get(platform, "product", record.get("product"))
    switched = old is not None and old.get("product") != record.get("product")
    if product is not None:
        if not record.get("description") or (
            switched and record.get("description") == old.get("description")  # type: ignore[union-attr]
        ):
            record["description"] = product.get("name")
        if record.get("unit_price") is None or (
            switched and record.get("unit_price") == old.get("unit_price")  # type: ignore[union-attr]
        ):
            record["unit_price"] = default_price(platform, quote, product, record.get("quantity"))
        if record.get("tax_rate") is None or (
            switched and record.get("tax_rate") == old.get("tax_rate")  # type: ignore[union-attr]
        ):
            record["tax_rate"] = product.get("tax_rate")
    if record.get("tax_rate") is None:
        record["tax_rate"] = DEFAULT_TAX_RATE
    if record.get("discount") is None:
        record["discount"] = pricing.ZERO
    amounts = pricing.line_amounts(
        record.get("quantity"), record.get("unit_price"), record["discount"], record["tax_rate"]
    )
    record.update(net_amount=amounts.net, tax_amount=amounts.tax, amount=amounts.amount)


def refuse_line_delete(platform: Any, record: dict[str, Any], actor: Actor) -> None:
    """A line deleted on its own (not with its quote) only while the quote is a draft: what
    the customer was sent stays as it was sent. The quote's own deletion cascades freely."""
    quote = records_util.system_get(platform, "quote", record.get("quote"))
    if quote is not None and quote.get("status") not in EDITABLE_STATUSES and not actor.is_system:
        raise ValidationFailed([FieldError(
            "quote", "not_draft", _("Lines can only change while the quote is a draft"))])  # fmt: skip


def validate_line(record: dict[str, Any]) -> list[FieldError]:
    errors = []
    quantity = record.get("quantity")
    if quantity is not None and Decimal(quantity) <= 0:
        errors.append(FieldError("quantity", "positive", _("The quantity must be more than 0")))
    discount = record.get("discount")
    if discount is not None and not 0 <= Decimal(discount) <= 100:
        errors.append(
            FieldError("discount", "range", _("The discount is a percentage from 0 to 100"))
        )
    if record.get("unit_price") is None:
        errors.append(
            FieldError(
                "unit_price", "required", _("Enter a unit price or choose a product with a price")
            )
        )
    return errors


def default_price(
    platform: Any, quote: dict[str, Any] | None, product: dict[str, Any], quantity: Any
) -> Decimal | None:
    """The quote's price list price for the product (the highest quantity break the line
    reaches), when that list is active and valid on the quote date; else the list price."""
    price_list = records_util.system_get(platform, "price_list", (quote or {}).get("price_list"))
    if price_list is not None and _in_force(price_list, (quote or {}).get("quoted_on")):
        page = platform.records.query(
            SYSTEM,
            "price_list_item",
            [
                {"field": "price_list", "op": "eq", "value": price_list["id"]},
                {"field": "product", "op": "eq", "value": product["id"]},
            ],
            limit=100,
        )
        wanted = pricing.number(quantity, Decimal(1))
        reached = [r for r in page.rows if pricing.number(r.get("min_quantity")) <= wanted]
        if reached:
            best = max(reached, key=lambda r: (pricing.number(r.get("min_quantity")), -r["id"]))
            return best["unit_price"]
    return product.get("list_price")


def _in_force(price_list: dict[str, Any], on: Any) -> bool:
    day = on if isinstance(on, date) else clock.today_local()
    starts, ends = price_list.get("valid_from"), price_list.get("valid_to")
    return (
        price_list.get("active") is not False
        and (starts is None or starts <= day)
        and (ends is None or day <= ends)
    )


# -- totals ---------------------------------------------------------------------------------------


def line_rows(platform: Any, connection: Any, quote_id: int) -> list[dict[str, Any]]:
    """The quote's live lines as `connection` sees them (inside a batch: with its writes)."""
    table = platform.registry.snapshot().tables["quote_line"]
    query = sa.select(table.c.quantity, table.c.unit_price, table.c.discount, table.c.tax_rate)
    query = query.where(table.c.quote == quote_id)
    if "deleted_at" in table.c:  # a line in the recycle bin no longer counts
        query = query.where(table.c.deleted_at.is_(None))
    return [dict(row._mapping) for row in connection.execute(query)]


def recompute(platform: Any, connection: Any, quote_id: int) -> dict[str, Any] | None:
    """Write the quote's totals as the system. Inside `records.batch()` the update joins the
    caller's transaction. An approved (or pending) quote whose lines changed while above the
    threshold needs approval again."""
    totals = pricing.totals_of(line_rows(platform, connection, quote_id))
    for _attempt in range(2):
        current = records_util.system_get(platform, "quote", quote_id)
        if current is None:
            return None
        changes: dict[str, Any] = totals.as_changes()
        differs = any(current.get(k) != v for k, v in changes.items())
        if not differs:
            return current
        if current.get("approval") in ("approved", "pending") and pricing.needs_approval(
            totals, threshold(platform)
        ):
            changes["approval"] = "none"
        try:
            return dict(
                platform.records.update(
                    SYSTEM, "quote", quote_id, changes, version=current["version"], reason=None
                )
            )
        except ConflictError:
            continue
        except LockedError:
            return None
    return None


def changed(platform: Any, event: RecordEvent) -> None:
    """A line written outside this module's functions: catch the quote's totals up."""
    if event.entity != "quote_line":
        return
    quote_ids = {
        value.get("quote")
        for value in (event.record, event.old)
        if value is not None and isinstance(value.get("quote"), int)
    }
    for quote_id in quote_ids:
        try:
            with platform.records.batch() as connection:
                recompute(platform, connection, quote_id)
        except Exception:  # after commit: log, never undo the line's write
            log.exception("could not total quote %s", quote_id)


# -- the line editor's writes -------------------------------------------------------------------


def editable_quote(platform: Any, actor: Actor, quote_id: int) -> dict[str, Any]:
    """The quote if the actor may edit it (NotFound otherwise) and it is still a draft."""
    quote = dict(platform.records.get(actor, "quote", quote_id, action="edit", log_view=False))
    if quote.get("status") not in EDITABLE_STATUSES:
        raise ValidationFailed(
            [
                FieldError(
                    "quote", "not_draft", _("Lines can only change while the quote is a draft")
                )
            ]
        )
    return quote


def add_line(platform: Any, actor: Actor, quote_id: int, data: dict[str, Any]) -> dict[str, Any]:
    editable_quote(platform, actor, quote_id)
    with platform.records.batch() as connection:
        line = platform.records.create(actor, "quote_line", {**data, "quote": quote_id})
        recompute(platform, connection, quote_id)
    return line


def change_line(
    platform: Any, actor: Actor, line_id: int, changes: dict[str, Any], version: int
) -> dict[str, Any]:
    line = platform.records.get(actor, "quote_line", line_id, action="edit", log_view=False)
    editable_quote(platform, actor, line["quote"])
    with platform.records.batch() as connection:
        saved = platform.records.update(actor, "quote_line", line_id, changes, version=version)
        recompute(platform, connection, line["quote"])
    return saved


def remove_line(platform: Any, actor: Actor, line_id: int) -> int:
    """Delete a line; returns its quote's id."""
    line = platform.records.get(actor, "quote_line", line_id, action="delete", log_view=False)
    editable_quote(platform, actor, line["quote"])
    with platform.records.batch() as connection:
        platform.records.delete(actor, "quote_line", line_id, version=line["version"])
        recompute(platform, connection, line["quote"])
    return int(line["quote"])


def lines_of(platform: Any, actor: Actor, quote_id: int) -> list[dict[str, Any]]:
    page = platform.records.query(
        actor,
        "quote_line",
        {"field": "quote", "op": "eq", "value": quote_id},
        sort=["id"],
        limit=500,
    )
    return list(page.rows)


__all__ = ["NotFound", "add_line", "change_line", "recompute", "remove_line"]
