"""XLSX export of a list view over HTTP (DATA-10): the view's filter, search, sort and columns,
typed cells, field masks (PERM-03), the export right, the access log with the row count
(PERM-08) for CSV and XLSX, the selection export from the bulk bar, and the list toolbar."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from openpyxl import load_workbook

from guanxi import clock
from guanxi.auth import access_log
from tests.org import MOBILES, NAMES, REMARK

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook_rows(answer: Any) -> tuple[Any, list[list[Any]]]:
    """The first sheet of a downloaded workbook and its values, row by row."""
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"] == XLSX
    sheet = load_workbook(io.BytesIO(answer.content)).worksheets[0]
    return sheet, [list(row) for row in sheet.iter_rows(values_only=True)]


def column(rows: list[list[Any]], label: str) -> list[Any]:
    position = rows[0].index(label)
    return [row[position] for row in rows[1:]]


def exports_of(platform: Any, user_id: int) -> list[dict[str, Any]]:
    return [
        entry
        for entry in access_log.entries(platform.db, user_id=user_id)
        if entry["action"] == "export"
    ]


def test_xlsx_has_labels_typed_cells_and_the_view_filter(org, login, web_platform):
    """DATA-10: header = field labels (bold, frozen), money exact with a number format, local
    date-times, option labels, tag labels, owner names; the list's filter, search and sort."""
    admin_actor = org.admin
    web_platform.admin.add_tag_group(admin_actor, "customer", "grade", "客户分组")
    web_platform.admin.add_tag(admin_actor, "customer", "grade", "vip", "重点")
    web_platform.admin.add_tag(admin_actor, "customer", "grade", "new", "新客")
    records = web_platform.records
    base = {"company": "导出测试公司", "source": "website", "region": "east"}
    records.create(admin_actor, "customer", {
        **base, "name": "导出甲", "expected_value": "1234567.89", "rating": 4,
        "next_followup_at": "2026-11-30T18:00:00", "tags": ["vip", "new"],
    })  # fmt: skip
    records.create(admin_actor, "customer", {**base, "name": "=1+1", "company": "公式公司"})
    records.create(admin_actor, "customer", {**base, "name": "导出北方", "region": "north"})
    cols = "name,expected_value,next_followup_at,rating,source,tags,owner_id"
    region = quote(json.dumps({"field": "region", "op": "eq", "value": "east"}))
    answer = login("admin").get(
        f"/r/customer/export.xlsx?cols={cols}&sort=name&filter={region}&q=%E5%AF%BC%E5%87%BA"
    )
    sheet, rows = workbook_rows(answer)
    disposition = answer.headers["content-disposition"]
    assert re.search(r'filename="customer-\d{8}\.xlsx"', disposition)
    assert re.search(r"filename\*=UTF-8''(\S+)", disposition)
    assert unquote(re.search(r"filename\*=UTF-8''(\S+)", disposition)[1]).startswith("客户-")
    assert rows[0] == [
        "客户名称",
        "预计金额",
        "下次跟进时间",
        "重要程度",
        "线索来源",
        "标签",
        "负责人",
    ]
    assert sheet["A1"].font.b and sheet.freeze_panes == "A2"
    assert all(sheet.column_dimensions[c].width >= 8 for c in "ABCDEFG")
    assert column(rows, "客户名称") == ["导出甲"]  # search 导出 + region east: not 北方, not =1+1
    [row] = rows[1:]
    assert row[1] == 1234567.89 and sheet["B2"].number_format == "#,##0.00"
    assert row[2] == datetime(2026, 11, 30, 18, 0)  # stored in UTC, shown in local time
    assert sheet["C2"].number_format == "yyyy-mm-dd hh:mm"
    assert row[3] == 4 and row[4] == "官网" and set(row[5].split("、")) == {"重点", "新客"}
    assert row[6] == "管理员"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as package:
        xml = package.read("xl/worksheets/sheet1.xml").decode()
    assert "<v>1234567.89</v>" in xml  # the Decimal as written, never through a float

    everything = login("admin").get("/r/customer/export.xlsx?cols=name,source&sort=name")
    formula = workbook_rows(everything)[0]
    found = [cell for cell in formula["A"] if cell.value == "=1+1"]
    assert found and found[0].data_type == "s"  # text that looks like a formula stays text


def test_xlsx_dates_booleans_and_references_in_english(org, login, web_platform):
    """DATA-10: dates as dates, yes/no per locale, a reference as its title; English labels
    for an English-speaking user."""
    customer = org.customers["east"]
    web_platform.records.create(org.admin, "contact", {
        "name": "日期联系人", "customer": customer, "birthday": "1990-05-17", "is_primary": True,
    })  # fmt: skip
    filters = quote(json.dumps({"field": "name", "op": "eq", "value": "日期联系人"}))
    url = f"/r/contact/export.xlsx?cols=name,birthday,is_primary,customer&filter={filters}"
    admin = login("admin")
    sheet, rows = workbook_rows(admin.get(url))
    assert rows[1][1] == datetime(1990, 5, 17) and sheet["B2"].number_format == "yyyy-mm-dd"
    assert rows[1][2] == "是" and rows[1][3] == NAMES["east"]
    admin.post("/me/locale", {"locale": "en", "next": "/"})
    answer = admin.get(url)
    sheet, rows = workbook_rows(answer)
    assert rows[0] == ["Name", "Birthday", "Primary contact", "Customer"]
    assert rows[1][2] == "Yes"
    assert "Contact-" in unquote(answer.headers["content-disposition"])


def test_xlsx_applies_masks_hidden_fields_scope_and_the_export_right(org, login, web_platform):
    """DATA-10, PERM-03: masked mobile for agents, hidden remarks never (not even a column),
    a rep's own records only, and no export right -> 403 from the service."""
    assert login("rep_east").get("/r/customer/export.xlsx").status_code == 403
    web_platform.permissions.grant(org.admin, "service_agent", "customer", "export")
    _sheet, rows = workbook_rows(login("agent").get("/r/customer/export.xlsx?cols=name,mobile"))
    mobiles = column(rows, "手机号")
    assert "138****4321" in mobiles and MOBILES["east"] not in mobiles
    assert len(rows) == 1 + len(NAMES)
    web_platform.permissions.grant(org.admin, "sales_rep", "customer", "export")
    answer = login("rep_east").get("/r/customer/export.xlsx?cols=name,remarks,mobile")
    _sheet, rows = workbook_rows(answer)
    assert rows == [["客户名称", "手机号"], [NAMES["east"], MOBILES["east"]]]
    assert REMARK.encode() not in answer.content


def test_csv_and_xlsx_exports_are_logged_with_their_row_count(org, login, web_platform):
    """PERM-08: one access-log row per export, with the row count, the filter and the search."""
    manager = login("manager")
    region = {"field": "region", "op": "eq", "value": "east"}
    query = f"filter={quote(json.dumps(region))}&cols=name"
    assert manager.get(f"/r/customer/export?{query}").status_code == 200
    _sheet, rows = workbook_rows(manager.get(f"/r/customer/export.xlsx?{query}"))
    assert len(rows) == 1 + 3  # east, east2, shanghai: the manager's tree in region east
    assert manager.get(f"/r/customer/export.xlsx?{query}&q=%E4%B8%9C").status_code == 200
    logged = exports_of(web_platform, org.users["manager"])
    assert [(e["entity"], e["row_count"]) for e in logged] == [
        ("customer", 2),  # newest first: the search 东 leaves 东海, 东岳
        ("customer", 3),
        ("customer", 3),
    ]
    assert logged[1]["filters"] == region and logged[2]["filters"] == region
    assert logged[0]["filters"] == {"filter": region, "search": "东"}


def test_bulk_bar_exports_the_selection_as_xlsx_or_csv(org, login, web_platform):
    """DATA-10, UI-03: the selected ids of the view, through the export routes (htmx gets an
    HX-Redirect to the download, a plain form a 303)."""
    manager = login("manager")
    picked = [org.customers["east2"], org.customers["shanghai"]]
    form = {"action": "export_xlsx", "ids": [str(i) for i in picked], "back": "cols=name&sort=name"}
    answer = manager.post("/r/customer/bulk", form, htmx=True)
    assert answer.status_code == 204
    target = answer.headers["hx-redirect"]
    assert target.startswith("/r/customer/export.xlsx?") and "cols=name" in target
    _sheet, rows = workbook_rows(manager.get(target))
    assert sorted(column(rows, "客户名称")) == sorted([NAMES["east2"], NAMES["shanghai"]])
    plain = manager.post("/r/customer/bulk", {**form, "action": "export_csv"})
    assert plain.status_code == 303 and plain.headers["location"].startswith("/r/customer/export?")
    text = manager.get(plain.headers["location"]).content.decode("utf-8")
    assert NAMES["east2"] in text and NAMES["east"] not in text
    rep = login("rep_east")
    refused = rep.post("/r/customer/bulk", {**form, "ids": [str(org.customers["east"])]}, htmx=True)
    assert refused.status_code == 403 and "hx-redirect" not in refused.headers


def test_list_toolbar_offers_csv_excel_and_import_by_permission(org, login):
    """DATA-10, DATA-09: both export formats for whoever may export; the import link only for
    whoever may create records of the module."""
    manager = login("manager").get("/r/customer?sort=name").text
    assert 'href="/r/customer/export?sort=name"' in manager
    assert 'href="/r/customer/export.xlsx?sort=name"' in manager
    assert 'href="/import/customer"' in manager
    assert 'value="export_xlsx"' in manager and 'value="export_csv"' in manager
    agent = login("agent").get("/r/customer").text  # views customers, may neither export nor create
    assert "/r/customer/export" not in agent and "/import/customer" not in agent
    assert 'href="/reports/completeness?entity=customer"' in agent


def test_a_large_export_is_complete_and_the_temporary_file_is_gone(
    org, login, web_platform, tmp_path, monkeypatch
):
    """DATA-10: 3,000 rows (six pages of the export) arrive whole and in order; the workbook's
    temporary file is deleted once sent."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seed_customers(web_platform, org.users["admin"], 3000)
    answer = login("admin").get("/r/customer/export.xlsx?cols=name,expected_value&sort=name")
    _sheet, rows = workbook_rows(answer)
    bulk_rows = [row for row in rows[1:] if str(row[0]).startswith("批量")]
    assert len(bulk_rows) == 3000
    assert bulk_rows[0] == ["批量0000", 1000.5] and bulk_rows[-1] == ["批量2999", 3999.5]
    assert not list(tmp_path.glob("guanxi-export-*")) and not list(tmp_path.glob("openpyxl*"))
    [logged] = exports_of(web_platform, org.users["admin"])
    assert logged["row_count"] == 3000 + len(NAMES)


def seed_customers(platform: Any, owner_id: int, count: int) -> None:
    """Many plain customers in one statement: test data for volume only (the record pipeline
    is what the other tests exercise)."""
    table = platform.registry.snapshot().tables["customer"]
    now = clock.now_utc()
    rows = [
        {
            "number": f"B{i:06d}", "name": f"批量{i:04d}", "company": f"批量公司{i}",
            "source": "website", "expected_value": Decimal(1000) + i + Decimal("0.5"),
            "owner_id": owner_id, "created_by": owner_id, "updated_by": owner_id,
            "created_at": now, "updated_at": now, "version": 1, "locked": False,
        }
        for i in range(count)
    ]  # fmt: skip
    with platform.db.unit_of_work() as connection:
        connection.execute(sa.insert(table), rows)
