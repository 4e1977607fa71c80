"""Products, price lists and quotes (SFA-12, SFA-15): Decimal line arithmetic with tax on the
discounted net, prices from the price list then the product, totals kept by the system after
every line change, and the approval a large discount needs before the quote is sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from guanxi import plugin_overrides
from guanxi.errors import PermissionDenied, ValidationFailed
from guanxi_sfa.commerce import pricing, quotes
from tests.org import Org


def catalogue(platform: Any, org: Org) -> dict[str, Any]:
    """Two products, and a price list that sells the first cheaper (more so from 10 units)."""
    admin = org.admin
    crm = platform.records.create(
        admin,
        "product",
        {"code": "CRM-PRO", "name": "CRM 专业版", "unit": "套", "list_price": "1999.99"},
    )
    box = platform.records.create(
        admin,
        "product",
        {"code": "HW-01", "name": "服务器", "unit": "台", "list_price": "35000", "tax_rate": "6"},
    )
    plist = platform.records.create(admin, "price_list", {"name": "2026 渠道价"})
    for price, minimum in (("1800", None), ("1700", "10")):
        platform.records.create(
            admin,
            "price_list_item",
            {
                "price_list": plist["id"],
                "product": crm["id"],
                "unit_price": price,
                "min_quantity": minimum,
            },
        )
    return {"crm": crm, "box": box, "plist": plist}


def new_quote(platform: Any, org: Org, **extra: Any) -> dict[str, Any]:
    return platform.records.create(
        org.actor("rep_east"), "quote", {"customer": org.customers["east"], **extra}
    )


def test_sfa12_line_arithmetic_is_exact_decimal(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    items = catalogue(web_platform, sfa_org)
    quote = new_quote(web_platform, sfa_org)
    assert quote["number"].startswith("Q") and len(quote["number"]) == 11
    assert quote["status"] == "draft" and quote["approval"] == "none"
    # 3 × 1999.99 = 5999.97, less 5% = 5699.9715 -> 5699.97; tax 13% = 740.9961 -> 741.00
    quotes.add_line(
        web_platform,
        rep,
        quote["id"],
        {"product": items["crm"]["id"], "quantity": "3", "discount": "5"},
    )
    # 2 × 35000 = 70000, less 2.5% = 68250.00; tax 6% = 4095.00
    quotes.add_line(
        web_platform,
        rep,
        quote["id"],
        {"product": items["box"]["id"], "quantity": "2", "discount": "2.5"},
    )
    # a free line: 1.5 × 333.33 = 499.995 -> 500.00 (half up); tax 13% = 65.00
    third = quotes.add_line(
        web_platform,
        rep,
        quote["id"],
        {"description": "实施服务(人天)", "quantity": "1.5", "unit_price": "333.33"},
    )
    assert third["net_amount"] == Decimal("500.00") and third["tax_amount"] == Decimal("65.00")
    saved = web_platform.records.get(rep, "quote", quote["id"])
    assert saved["subtotal"] == Decimal("5999.97") + Decimal("70000.00") + Decimal("500.00")
    assert saved["discount_amount"] == Decimal("300.00") + Decimal("1750.00") + Decimal("0.00")
    assert saved["net_amount"] == Decimal("74449.97")
    assert saved["tax_amount"] == Decimal("741.00") + Decimal("4095.00") + Decimal("65.00")
    assert saved["total"] == Decimal("79350.97")
    assert saved["max_discount"] == Decimal("5.00") and saved["needs_approval"] is False
    assert pricing.rmb_upper(saved["total"]) == "柒万玖仟叁佰伍拾元玖角柒分"


def test_sfa15_price_from_price_list_then_product(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    items = catalogue(web_platform, sfa_org)
    listed = new_quote(web_platform, sfa_org, price_list=items["plist"]["id"])
    one = quotes.add_line(
        web_platform, rep, listed["id"], {"product": items["crm"]["id"], "quantity": "2"}
    )
    many = quotes.add_line(
        web_platform, rep, listed["id"], {"product": items["crm"]["id"], "quantity": "12"}
    )
    other = quotes.add_line(
        web_platform, rep, listed["id"], {"product": items["box"]["id"], "quantity": "1"}
    )
    assert one["unit_price"] == Decimal("1800.00") and many["unit_price"] == Decimal("1700.00")
    assert other["unit_price"] == Decimal("35000.00")  # not on the list: the list price
    assert one["description"] == "CRM 专业版" and one["tax_rate"] == Decimal("13.00")
    assert other["tax_rate"] == Decimal("6.00")  # the product's own rate
    plain = new_quote(web_platform, sfa_org)
    line = quotes.add_line(
        web_platform, rep, plain["id"], {"product": items["crm"]["id"], "quantity": "1"}
    )
    assert line["unit_price"] == Decimal("1999.99")


def test_sfa12_totals_follow_line_update_and_delete(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    items = catalogue(web_platform, sfa_org)
    quote = new_quote(web_platform, sfa_org)
    first = quotes.add_line(
        web_platform, rep, quote["id"], {"product": items["crm"]["id"], "quantity": "1"}
    )
    second = quotes.add_line(
        web_platform,
        rep,
        quote["id"],
        {"description": "培训", "quantity": "2", "unit_price": "1000", "tax_rate": "6"},
    )
    assert web_platform.records.get(rep, "quote", quote["id"])["total"] == Decimal("4379.99")
    # 4 × 1999.99 = 7999.96 less 8% = 7359.9632 -> 7359.96; tax 956.79 (956.7948)
    quotes.change_line(
        web_platform, rep, first["id"], {"quantity": "4", "discount": "8"}, first["version"]
    )
    saved = web_platform.records.get(rep, "quote", quote["id"])
    assert saved["net_amount"] == Decimal("7359.96") + Decimal("2000.00")
    assert saved["tax_amount"] == Decimal("956.79") + Decimal("120.00")
    assert saved["total"] == Decimal("10436.75")
    quotes.remove_line(web_platform, rep, second["id"])
    assert web_platform.records.get(rep, "quote", quote["id"])["total"] == Decimal("8316.75")
    # a line written through the record service directly is totalled right after its commit
    web_platform.records.create(
        rep,
        "quote_line",
        {
            "quote": quote["id"],
            "description": "差旅",
            "quantity": "1",
            "unit_price": "100",
            "tax_rate": "0",
        },
    )
    assert web_platform.records.get(rep, "quote", quote["id"])["total"] == Decimal("8416.75")


def test_sfa12_line_validation_names_fields(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    quote = new_quote(web_platform, sfa_org)
    with pytest.raises(ValidationFailed) as error:
        quotes.add_line(
            web_platform,
            rep,
            quote["id"],
            {"description": "x", "quantity": "0", "unit_price": "10", "discount": "120"},
        )
    assert {"quantity", "discount"} <= error.value.fields()
    with pytest.raises(ValidationFailed) as error:
        quotes.add_line(web_platform, rep, quote["id"], {"description": "x", "quantity": "1"})
    assert "unit_price" in error.value.fields()
    assert web_platform.records.get(rep, "quote", quote["id"])["total"] == Decimal("0.00")
    with pytest.raises(ValidationFailed) as error:  # totals are the system's
        web_platform.records.update(
            rep, "quote", quote["id"], {"total": "1"}, version=quote["version"]
        )
    assert "total" in error.value.fields()


def test_sfa15_catalogue_read_by_all_kept_by_managers(web_platform: Any, sfa_org: Org) -> None:
    items = catalogue(web_platform, sfa_org)
    for user in ("rep_east", "agent", "manager"):
        found = web_platform.records.get(sfa_org.actor(user), "product", items["crm"]["id"])
        assert found["code"] == "CRM-PRO"
    with pytest.raises(PermissionDenied):
        web_platform.records.create(
            sfa_org.actor("rep_east"), "product", {"code": "X1", "name": "x", "list_price": "1"}
        )
    made = web_platform.records.create(
        sfa_org.actor("manager"),
        "product",
        {"code": "SV-1", "name": "运维服务", "list_price": "8000"},
    )
    assert made["tax_rate"] == Decimal("13.00") and made["active"] is True
    with pytest.raises(ValidationFailed) as error:
        web_platform.records.create(
            sfa_org.admin, "product", {"code": "A B", "name": "x", "list_price": "1"}
        )
    assert "code" in error.value.fields()
    # a rep's quote is theirs: a colleague neither sees it nor its lines
    quote = new_quote(web_platform, sfa_org)
    line = quotes.add_line(
        web_platform,
        sfa_org.actor("rep_east"),
        quote["id"],
        {"product": items["crm"]["id"], "quantity": "1"},
    )
    colleague = sfa_org.actor("rep_east2")
    assert web_platform.records.count(colleague, "quote").value == 0
    assert web_platform.records.count(colleague, "quote_line").value == 0
    assert web_platform.records.get(sfa_org.actor("manager"), "quote_line", line["id"])


def test_sfa12_send_over_threshold_needs_approval(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    items = catalogue(web_platform, sfa_org)
    quote = new_quote(web_platform, sfa_org)
    line = quotes.add_line(
        web_platform,
        rep,
        quote["id"],
        {"product": items["crm"]["id"], "quantity": "1", "discount": "15"},
    )
    current = web_platform.records.get(rep, "quote", quote["id"])
    assert current["needs_approval"] is True and current["max_discount"] == Decimal("15.00")
    with pytest.raises(ValidationFailed) as error:
        web_platform.records.update(
            rep, "quote", quote["id"], {"status": "sent"}, version=current["version"]
        )
    assert error.value.fields() == {"approval"}
    assert "审批" in error.value.field_errors[0].message.render("zh-CN")
    approved = _approve(web_platform, sfa_org, quote["id"])
    assert approved["approval"] == "approved"
    # changing the lines after approval, still above the threshold, needs approval again
    quotes.change_line(web_platform, rep, line["id"], {"discount": "20"}, line["version"])
    again = web_platform.records.get(rep, "quote", quote["id"])
    assert again["approval"] == "none"
    approved = _approve(web_platform, sfa_org, quote["id"])
    sent = web_platform.records.update(
        rep, "quote", quote["id"], {"status": "sent"}, version=approved["version"]
    )
    assert sent["status"] == "sent"
    with pytest.raises(ValidationFailed) as error:  # what was sent stays as sent
        quotes.change_line(web_platform, rep, line["id"], {"discount": "1"}, line["version"] + 1)
    assert "quote" in error.value.fields()
    with pytest.raises(ValidationFailed) as error:  # nor by deleting a line on its own
        web_platform.records.delete(sfa_org.actor("manager"), "quote_line", line["id"])
    assert "quote" in error.value.fields()
    assert web_platform.records.get(rep, "quote_line", line["id"])["id"] == line["id"]
    outcome = web_platform.records.delete(sfa_org.actor("manager"), "quote", quote["id"])
    assert outcome == "deleted"  # the quote's own deletion takes its lines along


def test_sfa12_threshold_is_a_live_setting(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    quote = new_quote(web_platform, sfa_org)
    quotes.add_line(
        web_platform,
        rep,
        quote["id"],
        {"description": "x", "quantity": "1", "unit_price": "100", "discount": "15"},
    )
    settings = {**web_platform.plugin_settings("guanxi_sfa"), "quote_discount_threshold": 20}
    plugin_overrides.save_plugin(web_platform, sfa_org.admin, "guanxi_sfa", True, settings)
    current = web_platform.records.get(rep, "quote", quote["id"])
    sent = web_platform.records.update(
        rep, "quote", quote["id"], {"status": "sent"}, version=current["version"]
    )
    assert sent["status"] == "sent" and sent["needs_approval"] is False


def _approve(platform: Any, org: Org, quote_id: int) -> dict[str, Any]:
    """The rep asks, their manager approves (the approvals service of contracts, SFA-13)."""
    from guanxi_sfa.contracts import approvals

    approvals.submit(platform, org.actor("rep_east"), "quote", quote_id, "大客户折扣")
    assert platform.records.get(org.admin, "quote", quote_id)["approval"] == "pending"
    approvals.decide(platform, org.actor("manager"), "quote", quote_id, True, "同意")
    return platform.records.get(org.admin, "quote", quote_id)


def test_sfa12_new_quote_from_an_open_opportunity(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    rep = sfa_org.actor("rep_east")
    deal = web_platform.records.create(rep, "opportunity", {
        "name": "东海重工 CRM", "customer": sfa_org.customers["east"], "amount": "80000",
        "expected_close": "2026-12-31",
    })  # fmt: skip
    client = login("rep_east")
    page = client.get(f"/r/opportunity/{deal['id']}")
    link = f"/r/quote/new?opportunity={deal['id']}&amp;customer={sfa_org.customers['east']}"
    assert page.status_code == 200 and link in page.text
    form = client.get(link.replace("&amp;", "&"))
    assert form.status_code == 200 and "东海重工 CRM" in form.text  # the deal is preselected
