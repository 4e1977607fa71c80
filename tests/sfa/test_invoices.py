"""SFA-14 invoices: requested against a contract, issued with number and date, voided; never
more invoiced than the contract's amount; the contract shows what is invoiced."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from guanxi.api import ValidationFailed
from guanxi_sfa import records_util
from tests.org import Org
from tests.sfa.test_receivables import codes, contract


def invoice(platform: Any, actor: Any, contract_id: int, amount: str, **extra: Any) -> Any:
    return platform.records.create(actor, "invoice", {
        "contract": contract_id, "kind": "vat_special", "title": "东海重工有限公司",
        "tax_id": "91310000MA1FL0XX1X", "amount": amount, **extra,
    })  # fmt: skip


def invoiced(platform: Any, contract_id: int) -> Decimal:
    return records_util.system_get(platform, "contract", contract_id)["invoiced_amount"]


def test_sfa14_invoices_stay_within_the_contract(web_platform: Any, sfa_org: Org) -> None:
    rep = sfa_org.actor("rep_east")
    deal = contract(web_platform, sfa_org, amount="113000.00")
    first = invoice(web_platform, rep, deal["id"], "56500.00")
    assert first["customer"] == sfa_org.customers["east"]
    assert first["tax_amount"] == Decimal("6500.00")  # 13 % contained in 56,500
    assert first["status"] == "requested" and first["number"].startswith("IV")
    assert invoiced(web_platform, deal["id"]) == Decimal("56500.00")

    with pytest.raises(ValidationFailed) as over:
        invoice(web_platform, rep, deal["id"], "56500.01")
    assert codes(over.value) == {"amount": "over_contract"}
    assert "56,500.00" in over.value.field_errors[0].message.render("zh-CN")
    assert web_platform.records.count(rep, "invoice").value == 1  # nothing written

    with pytest.raises(ValidationFailed) as missing:  # issued needs its number and date
        web_platform.records.update(rep, "invoice", first["id"], {"status": "issued"},
                                    version=first["version"])  # fmt: skip
    assert set(codes(missing.value)) == {"invoice_no", "issued_on"}
    issued = web_platform.records.update(
        rep, "invoice", first["id"],
        {"status": "issued", "invoice_no": "04412345", "issued_on": "2026-11-20"},
        version=first["version"],
    )  # fmt: skip
    assert issued["status"] == "issued"
    voided = web_platform.records.update(rep, "invoice", first["id"], {"status": "void"},
                                         version=issued["version"])  # fmt: skip
    assert voided["status"] == "void"
    assert invoiced(web_platform, deal["id"]) == Decimal("0.00")
    invoice(web_platform, rep, deal["id"], "113000.00")  # the void one no longer counts
    assert invoiced(web_platform, deal["id"]) == Decimal("113000.00")


def test_sfa14_contract_page_lists_its_invoices(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    rep = sfa_org.actor("rep_east")
    deal = contract(web_platform, sfa_org)
    made = invoice(web_platform, rep, deal["id"], "2000.00")
    client = login("rep_east")
    page = client.get(f"/r/contract/{deal['id']}")
    assert (
        page.status_code == 200
        and 'data-related="invoice"' in page.text
        and "已开票金额" in page.text
    )
    related = client.get(f"/r/contract/{deal['id']}/related/invoice/contract")
    assert related.status_code == 200 and f"/r/invoice/{made['id']}" in related.text


def test_sfa14_a_rep_sees_only_their_own_invoices(web_platform: Any, sfa_org: Org) -> None:
    rep, other = sfa_org.actor("rep_east"), sfa_org.actor("rep_north")
    deal = contract(web_platform, sfa_org)
    invoice(web_platform, rep, deal["id"], "1000.00")
    assert web_platform.records.count(rep, "invoice").value == 1
    assert web_platform.records.count(other, "invoice").value == 0
    assert web_platform.records.count(sfa_org.actor("manager"), "invoice").value == 1
