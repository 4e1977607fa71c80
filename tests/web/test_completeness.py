"""The completeness report (DATA-11): records missing chosen fields per owner, through the
service (one grouped query, the viewer's scope, readable fields only) and over HTTP (figures,
total, order, links to the filtered list, CSV)."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from guanxi.errors import QueryError
from guanxi.web.completeness import MENU_ITEM, menu_entries

REPORT = "/reports/completeness?entity=customer&fields=mobile&fields=email"


@pytest.fixture
def gaps(org: Any) -> dict[str, int]:
    """Beyond the org's five complete customers: rep_east adds one without mobile or email and
    one without mobile, rep_north one without email, the admin one without either and without
    an owner. Returns the new ids."""
    records = org.platform.records
    east, north = org.actor("rep_east"), org.actor("rep_north")

    def customer(name: str, **values: Any) -> dict[str, Any]:
        return {"name": name, "company": f"{name}公司", "source": "website", **values}

    made = {
        "east_bare": records.create(east, "customer", customer("缺手机邮箱"))["id"],
        "east_no_mobile": records.create(
            east, "customer", customer("缺手机", email="gap1@example.com")
        )["id"],
        "north_no_email": records.create(
            north, "customer", customer("缺邮箱", mobile="13700000001", email="")
        )["id"],
    }
    nobody = records.create(org.admin, "customer", customer("无人负责"))
    records.update(
        org.admin, "customer", nobody["id"], {"owner_id": None}, version=nobody["version"]
    )
    made["unassigned"] = nobody["id"]
    return made


def report_rows(page: str) -> dict[str, dict[str, Any]]:
    """The report table by row label: records, and per field (missing, % complete, link)."""
    rows = {}
    for block in re.findall(r'<tr data-row="[^"]+">(.*?)</tr>', page, re.S):
        label = html.unescape(re.search(r'<th scope="row">([^<]*)</th>', block)[1])
        records = re.search(r"data-records>([\d,]+)</a>", block)[1]
        fields = {}
        for key, cell in re.findall(r'data-missing="(\w+)">(.*?)</td>', block):
            link = re.search(r'href="([^"]*)"', cell)
            fields[key] = {
                "missing": int(re.sub(r"<[^>]+>", "", cell).replace(",", "")),
                "href": html.unescape(link[1]) if link else None,
            }
        for key, share in re.findall(r'data-complete="(\w+)">([\d.]+)%</td>', block):
            fields[key]["complete"] = float(share)
        rows[label] = {"records": int(records.replace(",", "")), **fields}
    return rows


def figures(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["records"], row["mobile"]["missing"], row["email"]["missing"]


def test_service_counts_missing_fields_per_owner_in_one_query(org, gaps, web_platform):
    """DATA-11: per owner counts from one GROUP BY, within the actor's scope (a rep sees only
    their own group)."""
    records = web_platform.records
    engine = web_platform.db.engine
    statements: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        rows = records.completeness(org.admin, "customer", ["mobile", "email"])
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    assert sum("GROUP BY" in s for s in statements) == 1
    by_owner = {row["group"]: (row["count"], row["missing"]) for row in rows}
    users = org.users
    assert by_owner[users["rep_east"]] == (3, {"mobile": 2, "email": 1})
    assert by_owner[users["rep_north"]] == (2, {"mobile": 0, "email": 1})
    assert by_owner[None] == (1, {"mobile": 1, "email": 1})
    assert by_owner[users["manager"]] == (1, {"mobile": 0, "email": 0})
    assert sum(count for count, _missing in by_owner.values()) == 5 + 4
    mine = records.completeness(org.actor("rep_east"), "customer", ["mobile", "email"])
    assert mine == [{"group": users["rep_east"], "count": 3, "missing": {"mobile": 2, "email": 1}}]
    one = records.completeness(org.admin, "customer", ["email"], group_by=None)
    assert one == [{"group": None, "count": 9, "missing": {"email": 3}}]


def test_service_refuses_fields_the_actor_cannot_read(org, web_platform):
    """DATA-11, PERM-03: a hidden field is unknown, a masked one refused by name; no field at
    all is an error too."""
    records = web_platform.records
    with pytest.raises(QueryError) as hidden:
        records.completeness(org.actor("rep_east"), "customer", ["remarks"])
    assert hidden.value.errors[0].code == "unknown_field"
    with pytest.raises(QueryError) as masked:
        records.completeness(org.actor("agent"), "customer", ["mobile"])
    assert masked.value.errors[0].code == "masked_field"
    with pytest.raises(QueryError) as none:
        records.completeness(org.admin, "customer", [])
    assert none.value.errors[0].code == "no_fields"


def test_report_page_shows_owners_most_missing_first_with_a_total(org, gaps, login):
    """DATA-11: per owner records, missing and % complete, most missing first; the total."""
    page = login("admin").get(REPORT)
    assert page.status_code == 200
    rows = report_rows(page.text)
    labels = list(rows)
    assert labels[:3] == ["王东", "未分配", "赵北"]  # 3, 2, 1 missing; then complete owners
    assert set(labels[3:]) == {"李华", "孙沪", "周经理", "合计"}
    assert figures(rows["王东"]) == (3, 2, 1)
    assert rows["王东"]["mobile"]["complete"] == pytest.approx(33.3)
    assert rows["王东"]["email"]["complete"] == pytest.approx(66.7)
    assert figures(rows["赵北"]) == (2, 0, 1) and rows["赵北"]["mobile"]["href"] is None
    assert figures(rows["未分配"]) == (1, 1, 1)
    assert figures(rows["合计"]) == (9, 3, 3)
    assert rows["合计"]["mobile"]["complete"] == pytest.approx(66.7)


def test_a_rep_sees_only_own_records_and_only_readable_fields(org, gaps, login):
    """DATA-11, PERM-03, PERM-05: the rep's report holds their own records; a field hidden from
    them is neither offered nor accepted, and for an agent a masked field neither."""
    rep = login("rep_east")
    rows = report_rows(rep.get(REPORT).text)
    assert list(rows) == ["王东", "合计"] and figures(rows["合计"]) == (3, 2, 1)
    form = rep.get("/reports/completeness?entity=customer").text
    assert 'name="fields" value="mobile"' in form and 'value="remarks"' not in form
    refused = rep.get("/reports/completeness?entity=customer&fields=remarks")
    assert refused.status_code == 400 and 'id="completeness-error"' in refused.text
    assert 'id="completeness"' not in refused.text
    agent = login("agent")
    offered = agent.get("/reports/completeness?entity=customer").text
    assert 'value="mobile"' not in offered and 'value="industry"' in offered
    masked = agent.get("/reports/completeness?entity=customer&fields=mobile")
    assert masked.status_code == 400 and 'id="completeness-error"' in masked.text


def test_missing_numbers_link_to_the_list_filtered_by_owner_and_empty_field(org, gaps, login):
    """DATA-11, UI-02: a number opens exactly the records it counts (owner + field is_empty)."""
    admin = login("admin")
    rows = report_rows(admin.get(REPORT).text)
    link = rows["王东"]["mobile"]["href"]
    url = urlsplit(link)
    assert url.path == "/r/customer"
    assert json.loads(parse_qs(url.query)["filter"][0]) == {
        "and": [
            {"field": "owner_id", "op": "eq", "value": org.users["rep_east"]},
            {"field": "mobile", "op": "is_empty"},
        ]
    }
    listed = re.findall(r'class="record-link" href="[^"]*">([^<]*)</a>', admin.get(link).text)
    assert sorted(listed) == sorted(["缺手机邮箱", "缺手机"])
    unassigned = json.loads(parse_qs(urlsplit(rows["未分配"]["email"]["href"]).query)["filter"][0])
    assert unassigned["and"][0] == {"field": "owner_id", "op": "is_empty"}
    assert "无人负责" in admin.get(rows["未分配"]["email"]["href"]).text
    total = parse_qs(urlsplit(rows["合计"]["email"]["href"]).query)["filter"][0]
    assert json.loads(total) == {"field": "email", "op": "is_empty"}
    emails = re.findall(r'class="record-link" href="[^"]*">([^<]*)</a>', admin.get(
        rows["合计"]["email"]["href"]).text)  # fmt: skip
    assert len(emails) == rows["合计"]["email"]["missing"] == 3


def test_defaults_module_choice_csv_and_menu(org, gaps, login, web_platform):
    """DATA-11: indexed optional fields ticked by default; a changed module starts from its own
    defaults; an unknown module is 404; the report as CSV; the navigation entry."""
    admin = login("admin")
    page = admin.get("/reports/completeness").text
    checked = re.findall(r'name="fields" value="(\w+)" checked', page)
    assert {"mobile", "email", "industry", "region"} <= set(checked) and "name" not in checked
    switched = admin.get("/reports/completeness?entity=contact&for=customer&fields=industry")
    assert switched.status_code == 200 and 'data-field="industry"' not in switched.text
    assert 'data-field="mobile"' in switched.text
    assert admin.get("/reports/completeness?entity=nosuch").status_code == 404
    answer = login("rep_east").get(REPORT.replace("completeness?", "completeness.csv?"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[1:] == ["王东,3,2,33.3,1,66.7", "合计,3,2,33.3,1,66.7"]
    assert menu_entries(web_platform, org.actor("agent")) == [MENU_ITEM]
