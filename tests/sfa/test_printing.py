"""Quote screens and printing over HTTP (SFA-12, DATA-18): the htmx line editor with its
totals, print templates edited by administrators (refused when the syntax is wrong or the
template reaches for internals), and printing as the viewer: their hidden fields never
appear, a quote they cannot see is a 404, and ?format=pdf answers a PDF (or a clear 503)."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.errors import ValidationFailed
from guanxi_sfa.commerce import printing, quotes
from tests.org import Org

SECRET_TERMS = "内部底价说明-请勿外传"


def _quote_with_lines(platform: Any, org: Org) -> dict[str, Any]:
    rep = org.actor("rep_east")
    product = platform.records.create(
        org.admin, "product", {"code": "CRM-STD", "name": "CRM 标准版", "list_price": "1200"}
    )
    quote = platform.records.create(
        rep,
        "quote",
        {"customer": org.customers["east"], "subject": "CRM 采购报价", "terms": SECRET_TERMS},
    )
    # 2 × 1200 = 2400.00, tax 312.00; 1 × 800 less 10% = 720.00, tax 93.60 -> total 3525.60
    quotes.add_line(platform, rep, quote["id"], {"product": product["id"], "quantity": "2"})
    quotes.add_line(
        platform,
        rep,
        quote["id"],
        {"description": "上门培训", "quantity": "1", "unit_price": "800", "discount": "10"},
    )
    return platform.records.get(rep, "quote", quote["id"])


def test_sfa12_line_editor_over_htmx(web_platform: Any, sfa_org: Org, login: Any) -> None:
    quote = _quote_with_lines(web_platform, sfa_org)
    assert quote["total"] == Decimal("3525.60")
    rep = login("rep_east")
    detail = rep.get(f"/r/quote/{quote['id']}")
    assert detail.status_code == 200
    assert f"/sfa/quotes/{quote['id']}/lines" in detail.text and "打印" in detail.text
    page = rep.get(f"/sfa/quotes/{quote['id']}/lines")
    assert page.status_code == 200 and "上门培训" in page.text and "3,525.60" in page.text
    added = rep.post(
        f"/sfa/quotes/{quote['id']}/lines",
        {"description": "差旅费", "quantity": "1", "unit_price": "100", "discount": "0"},
        htmx=True,
    )
    assert added.status_code == 200 and "差旅费" in added.text and "3,638.60" in added.text
    refused = rep.post(
        f"/sfa/quotes/{quote['id']}/lines",
        {"description": "x", "quantity": "-1", "unit_price": "1"},
        htmx=True,
    )
    assert refused.status_code == 422 and 'data-field="quantity"' in refused.text
    assert "数量必须大于0" in refused.text
    lines = quotes.lines_of(web_platform, sfa_org.actor("rep_east"), quote["id"])
    training = next(line for line in lines if line["description"] == "上门培训")
    changed = rep.post(
        f"/sfa/quotes/{quote['id']}/lines/{training['id']}",
        {"quantity": "2", "version": str(training["version"])},
        htmx=True,
    )
    assert changed.status_code == 200 and "4,452.20" in changed.text  # + 720.00 + 93.60
    bad = rep.post(
        f"/sfa/quotes/{quote['id']}/lines/{training['id']}", {"discount": "150"}, htmx=True
    )
    assert bad.status_code == 422 and f'data-field="line-{training["id"]}.discount"' in bad.text
    gone = rep.post(f"/sfa/quotes/{quote['id']}/lines/{training['id']}/delete", {}, htmx=True)
    assert gone.status_code == 200 and "上门培训" not in gone.text and "2,825.00" in gone.text
    assert web_platform.records.get(sfa_org.admin, "quote", quote["id"])["total"] == Decimal(
        "2825.00"
    )
    no_token = rep.client.post(
        f"/sfa/quotes/{quote['id']}/lines",
        data={"description": "x", "quantity": "1", "unit_price": "1"},
    )
    assert no_token.status_code == 403
    other = login("rep_east2").get(f"/sfa/quotes/{quote['id']}/lines")
    assert other.status_code == 404


def test_data18_print_as_viewer_hides_fields(web_platform: Any, sfa_org: Org, login: Any) -> None:
    quote = _quote_with_lines(web_platform, sfa_org)
    web_platform.permissions.grant(sfa_org.admin, "sales_rep", "quote.terms", "read", "deny")
    rep = login("rep_east")
    page = rep.get(f"/sfa/print/quote/{quote['id']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "报价单" in page.text and quote["number"] in page.text and "上门培训" in page.text
    assert "CRM 标准版" in page.text and "3,525.60" in page.text
    assert "叁仟伍佰贰拾伍元陆角整" in page.text
    assert SECRET_TERMS not in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    admin = login("admin").get(f"/sfa/print/quote/{quote['id']}")
    assert admin.status_code == 200 and SECRET_TERMS in admin.text
    assert login("rep_east2").get(f"/sfa/print/quote/{quote['id']}").status_code == 404


def test_data18_pdf(web_platform: Any, sfa_org: Org, login: Any, monkeypatch: Any) -> None:
    import weasyprint  # noqa: F401  (scripts/test.sh installs pango; never skipped)

    quote = _quote_with_lines(web_platform, sfa_org)
    rep = login("rep_east")
    pdf = rep.get(f"/sfa/print/quote/{quote['id']}?format=pdf")
    assert pdf.status_code == 200, pdf.text[:300]
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if it were not installed
    missing = rep.get(f"/sfa/print/quote/{quote['id']}?format=pdf")
    assert missing.status_code == 503 and "WeasyPrint" in missing.text


def test_data18_templates_admin_refuses_bad_ones(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    seeded = printing.templates(web_platform)
    assert {t["module"] for t in seeded} >= {"quote", "contract"}
    assert login("rep_east").get("/sfa/admin/print-templates").status_code == 404
    admin = login("admin")
    page = admin.get("/sfa/admin/print-templates")
    assert page.status_code == 200 and "打印模板" in page.text
    broken = admin.post(
        "/sfa/admin/print-templates",
        {"module": "quote", "name": "坏模板", "body": "{% for line in lines %}{{ line.amount }"},
    )
    assert broken.status_code == 422 and 'data-field="body"' in broken.text
    assert "模板第1行有错误" in broken.text
    escape = admin.post(
        "/sfa/admin/print-templates",
        {"module": "quote", "name": "越权", "body": "{{ ''.__class__.__mro__ }}"},
    )
    assert escape.status_code == 422 and 'data-field="body"' in escape.text
    assert len(printing.templates(web_platform)) == len(seeded)  # nothing saved
    with pytest.raises(ValidationFailed) as error:
        printing.save(web_platform, sfa_org.admin, "quote", "x", "{{ lines.__class__ }}")
    assert error.value.fields() == {"body"}
    saved = admin.post(
        "/sfa/admin/print-templates",
        {
            "module": "quote",
            "name": "简版",
            "body": "<h1>{{ record.number }}</h1>合计 {{ record.total }}",
        },
    )
    assert saved.status_code == 303
    simple = next(t for t in printing.templates(web_platform, "quote") if t["name"] == "简版")
    quote = _quote_with_lines(web_platform, sfa_org)
    page = login("rep_east").get(f"/sfa/print/quote/{quote['id']}?template={simple['id']}")
    assert page.status_code == 200 and f"<h1>{quote['number']}</h1>" in page.text


def test_data18_sandbox_escape_stored_behind_the_screen_fails_safely(
    web_platform: Any, sfa_org: Org, login: Any
) -> None:
    quote = _quote_with_lines(web_platform, sfa_org)
    with web_platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(printing.print_template)
            .where(printing.print_template.c.module == "quote")
            .values(body="{{ ''.__class__.__mro__[1].__subclasses__() }}")
        )
    page = login("rep_east").get(f"/sfa/print/quote/{quote['id']}")
    assert page.status_code == 422 and "不允许" in page.text
    assert "<class" not in page.text and "&lt;class" not in page.text
