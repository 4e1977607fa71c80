"""Quote arithmetic in Decimal, CNY rounded half-up to the fen: a line's net is
quantity × unit price less its discount, tax is charged on the net, and a quote's totals are
the sums of its lines (so the printed lines always add up to the printed total)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def number(value: Any, default: Decimal = ZERO) -> Decimal:
    return default if value is None or value == "" else Decimal(str(value))


@dataclass(frozen=True)
class LineAmounts:
    gross: Decimal  # quantity × unit price, before the discount
    discount: Decimal
    net: Decimal
    tax: Decimal
    amount: Decimal  # net + tax


def line_amounts(quantity: Any, unit_price: Any, discount: Any, tax_rate: Any) -> LineAmounts:
    gross = money(number(quantity) * number(unit_price))
    net = money(number(quantity) * number(unit_price) * (HUNDRED - number(discount)) / HUNDRED)
    tax = money(net * number(tax_rate) / HUNDRED)
    return LineAmounts(gross, gross - net, net, tax, net + tax)


@dataclass(frozen=True)
class QuoteTotals:
    subtotal: Decimal
    discount_amount: Decimal
    net_amount: Decimal
    tax_amount: Decimal
    total: Decimal
    max_discount: Decimal  # the largest line discount, in percent

    @property
    def discount_share(self) -> Decimal:
        """The discount as a percentage of the undiscounted subtotal."""
        return ZERO if not self.subtotal else self.discount_amount * HUNDRED / self.subtotal

    def as_changes(self) -> dict[str, Decimal]:
        return {
            "subtotal": self.subtotal,
            "discount_amount": self.discount_amount,
            "net_amount": self.net_amount,
            "tax_amount": self.tax_amount,
            "total": self.total,
            "max_discount": self.max_discount,
        }


def _sum(found: list[LineAmounts], discounts: list[Decimal]) -> QuoteTotals:
    return QuoteTotals(
        subtotal=sum((a.gross for a in found), ZERO),
        discount_amount=sum((a.discount for a in found), ZERO),
        net_amount=sum((a.net for a in found), ZERO),
        tax_amount=sum((a.tax for a in found), ZERO),
        total=sum((a.amount for a in found), ZERO),
        max_discount=max(discounts, default=ZERO).quantize(CENT),
    )


def totals_of(lines: list[Mapping[str, Any]]) -> QuoteTotals:
    """Totals of stored lines (quantity, unit_price, discount, tax_rate each)."""
    found = [
        line_amounts(r.get("quantity"), r.get("unit_price"), r.get("discount"), r.get("tax_rate"))
        for r in lines
    ]
    return _sum(found, [number(r.get("discount")) for r in lines])


def needs_approval(totals: QuoteTotals, threshold: Any) -> bool:
    """Above the threshold: the largest line discount, or the discount over the whole quote."""
    limit = number(threshold, Decimal(10))
    return totals.max_discount > limit or totals.discount_share > limit


DIGITS = "零壹贰叁肆伍陆柒捌玖"
UNITS = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿", "万亿")


def rmb_upper(value: Any) -> str:
    """An amount in Chinese capital numerals as cheques and contracts write it
    (1234.50 -> 壹仟贰佰叁拾肆元伍角整)."""
    amount = money(number(value))
    if amount < 0:
        return "负" + rmb_upper(-amount)
    fen_total = int(amount * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    text = _integer_upper(yuan) + "元" if yuan else ""
    if jiao:
        text += DIGITS[jiao] + "角"
    if fen:
        text += ("零" if (yuan and not jiao) else "") + DIGITS[fen] + "分"
    if not text:
        return "零元整"
    return text + ("整" if not fen else "")


def _integer_upper(value: int) -> str:
    groups: list[int] = []
    while value:
        groups.append(value % 10000)
        value //= 10000
    text, zero_pending = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero_pending = bool(text)
            continue
        if text and (zero_pending or group < 1000):
            text += "零"
        text += _group_upper(group) + GROUPS[index]
        zero_pending = False
    return text


def _group_upper(group: int) -> str:
    text, zero = "", False
    for position in range(3, -1, -1):
        digit = group // 10**position % 10
        if digit == 0:
            zero = bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        text += DIGITS[digit] + UNITS[position]
    return text
