"""The query language: operators per type, nested groups, relative dates, tags, sorts, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from guanxi.errors import QueryError
from tests.conftest import customer_data

ROWS = [
    # name, company, stage, industry, value, region, interests
    ("甲", "北京华夏科技有限公司", "potential", None, 1000, "north", "关注新能源产品"),
    ("乙", "上海东方制造股份有限公司", "intention", "manufacturing", 5000, "east", None),
    ("丙", "广州南方物流有限公司", "intention", "logistics", 3000, "south", "需要移动端"),
    ("丁", "深圳前海金融服务有限公司", "negotiating", "finance", 9000, "south", None),
    ("戊", "杭州西湖教育科技有限公司", "potential", None, None, "east", "关注成本控制"),
]


@pytest.fixture
def seeded(platform, system):
    platform.admin.add_tag_group(system, "customer", "behaviour", "行为标签", kind="behaviour")
    for code in ("erp", "price", "vip"):
        platform.admin.add_tag(system, "customer", "behaviour", code, code.upper())
    tags = [["erp"], ["erp", "price"], ["price"], ["vip", "erp", "price"], []]
    for index, (name, company, stage, industry, value, region, interests) in enumerate(ROWS):
        record = platform.records.create(
            system,
            "customer",
            customer_data(
                name=name,
                company=company,
                industry=industry,
                expected_value=value,
                region=region,
                interests=interests,
                tags=tags[index],
                mobile=f"1380000000{index}",
                next_followup_at=datetime.now(UTC) + timedelta(days=index * 3),
            ),
        )
        if stage != "potential":
            path = {"intention": ["intention"], "negotiating": ["intention", "negotiating"]}[stage]
            for step in path:
                record = platform.records.update(
                    system, "customer", record["id"], {"stage": step}, version=record["version"]
                )
    return platform


def names(page) -> list[str]:
    return [row["name"] for row in page.rows]


def query(platform, system, filters=None, **kwargs):
    return platform.records.query(system, "customer", filters, **kwargs)


def test_comparison_and_text_operators(seeded, system):  # UI-02
    assert names(
        query(seeded, system, {"field": "stage", "op": "eq", "value": "intention"}, sort=["name"])
    ) == ["丙", "乙"]
    assert names(
        query(
            seeded,
            system,
            {"field": "expected_value", "op": "gte", "value": 5000},
            sort=["-expected_value"],
        )
    ) == ["丁", "乙"]
    assert names(
        query(
            seeded,
            system,
            {"field": "expected_value", "op": "between", "value": [2000, 6000]},
            sort=["expected_value"],
        )
    ) == ["丙", "乙"]
    assert names(
        query(
            seeded, system, {"field": "company", "op": "contains", "value": "科技"}, sort=["name"]
        )
    ) == ["戊", "甲"]
    assert names(
        query(seeded, system, {"field": "company", "op": "starts_with", "value": "广州"})
    ) == ["丙"]
    assert names(query(seeded, system, {"field": "industry", "op": "is_empty"}, sort=["name"])) == [
        "戊",
        "甲",
    ]
    assert names(
        query(
            seeded,
            system,
            {"field": "region", "op": "in", "value": ["south", "华北"]},
            sort=["name"],
        )
    ) == ["丁", "丙", "甲"]
    assert (
        len(query(seeded, system, {"field": "industry", "op": "ne", "value": "finance"}).rows) == 4
    )


def test_contains_treats_wildcards_literally(seeded, system):
    assert query(seeded, system, {"field": "company", "op": "contains", "value": "%"}).rows == []
    assert query(seeded, system, {"field": "company", "op": "contains", "value": "_"}).rows == []


def test_nested_and_or_groups(seeded, system):  # UI-02
    filters = {
        "or": [
            {
                "and": [
                    {"field": "region", "op": "eq", "value": "east"},
                    {"field": "stage", "op": "eq", "value": "potential"},
                ]
            },
            {"field": "expected_value", "op": "gt", "value": 8000},
        ]
    }
    assert names(query(seeded, system, filters, sort=["name"])) == ["丁", "戊"]
    assert names(query(seeded, system, {"not": filters}, sort=["name"])) == ["丙", "乙", "甲"]


def test_relative_date_operators(seeded, system):
    assert names(query(seeded, system, {"field": "next_followup_at", "op": "today"})) == ["甲"]
    assert names(
        query(
            seeded,
            system,
            {"field": "next_followup_at", "op": "next_n_days", "value": 4},
            sort=["name"],
        )
    ) == ["乙", "甲"]
    assert (
        len(query(seeded, system, {"field": "created_at", "op": "last_n_days", "value": 7}).rows)
        == 5
    )
    assert query(seeded, system, {"field": "created_at", "op": "last_year"}).rows == []


def test_tag_filters_any_all_none(seeded, system):  # CORE-07
    def tagged(op, value):
        return names(
            query(seeded, system, {"field": "tags", "op": op, "value": value}, sort=["name"])
        )

    assert tagged("any", ["vip", "erp"]) == ["丁", "乙", "甲"]
    assert tagged("all", ["erp", "price"]) == ["丁", "乙"]
    assert tagged("none", ["erp"]) == ["丙", "戊"]
    assert tagged("is_empty", None) == ["戊"]
    row = query(seeded, system, {"field": "name", "op": "eq", "value": "丁"}).rows[0]
    assert row["tags"] == ["erp", "price", "vip"]


def test_unknown_tag_is_refused(seeded, system):
    record = query(seeded, system, {"field": "name", "op": "eq", "value": "甲"}).rows[0]
    with pytest.raises(Exception) as caught:
        seeded.records.update(
            system, "customer", record["id"], {"tags": ["nosuch"]}, version=record["version"]
        )
    assert ("tags", "unknown_tag") in {(e.field, e.code) for e in caught.value.errors}


def test_sort_up_to_four_levels_and_no_fifth(seeded, system):  # UI-02
    page = query(seeded, system, sort=["region", "-stage", "expected_value", "name"])
    assert names(page) == ["戊", "乙", "甲", "丁", "丙"]  # stage codes sort alphabetically
    with pytest.raises(QueryError) as caught:
        query(seeded, system, sort=["region", "stage", "name", "company", "title"])
    assert caught.value.code == "too_many_sorts"


def test_nulls_sort_last_ascending_on_every_database(seeded, system):
    assert names(query(seeded, system, sort=["expected_value"]))[-1] == "戊"
    assert names(query(seeded, system, sort=["-expected_value"]))[0] == "戊"


def test_keyset_pages_walk_every_row_once_in_order(seeded, system):
    sort = ["-expected_value", "name"]
    expected = names(query(seeded, system, sort=sort, limit=50))
    seen, cursor = [], None
    while True:
        page = query(seeded, system, sort=sort, limit=2, after=cursor)
        seen.extend(names(page))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected and len(seen) == 5
    assert names(query(seeded, system, sort=sort, limit=2, offset=2)) == expected[2:4]


def test_capped_count(seeded, system):
    exact = seeded.records.count(system, "customer")
    assert (exact.value, exact.exact) == (5, True)
    capped = seeded.records.count(system, "customer", cap=3)
    assert (capped.value, capped.exact) == (3, False)
    assert (
        seeded.records.count(
            system, "customer", {"field": "stage", "op": "eq", "value": "intention"}
        ).value
        == 2
    )


def test_group_by_aggregates(seeded, system):
    rows = seeded.records.aggregate(
        system,
        "customer",
        group_by=["stage"],
        measures=[("count", None), ("sum", "expected_value")],
    )
    by_stage = {row["stage"]: (row["count"], float(row["sum_expected_value"] or 0)) for row in rows}
    assert by_stage == {
        "potential": (2, 1000.0),
        "intention": (2, 8000.0),
        "negotiating": (1, 9000.0),
    }


def test_quick_search_covers_search_fields_and_number(seeded, system):
    assert names(seeded.records.query(system, "customer", search="物流")) == ["丙"]
    assert len(seeded.records.query(system, "customer", search="C00000").rows) == 5


@pytest.mark.parametrize(
    ("filters", "sort", "code"),
    [
        ({"field": "nosuch", "op": "eq", "value": 1}, None, "unknown_field"),
        ({"field": "company", "op": "gt", "value": "x"}, None, "bad_operator"),
        ({"field": "expected_value", "op": "gt", "value": "lots"}, None, "bad_value"),
        ({"field": "created_at", "op": "between", "value": "2024"}, None, "bad_value"),
        ({"field": "created_at", "op": "last_n_days", "value": -3}, None, "bad_value"),
        ("just text", None, "bad_filter"),
        ({"or": "x"}, None, "bad_filter"),
        (None, ["nosuch"], "unknown_field"),
        (None, ["remarks"], "not_sortable"),
        (None, [{"bad": 1}], "unknown_field"),
    ],
)
def test_bad_queries_are_clear_client_errors(seeded, system, filters, sort, code):
    with pytest.raises(QueryError) as caught:
        query(seeded, system, filters, sort=sort)
    assert caught.value.code == code and caught.value.status == 400
    assert caught.value.to_dict("zh-CN")["errors"][0]["message"]


def test_bad_cursor_and_limit(seeded, system):
    with pytest.raises(QueryError):
        query(seeded, system, after="garbage!")
    with pytest.raises(QueryError):
        query(seeded, system, limit=0)
    with pytest.raises(QueryError):
        query(seeded, system, limit=10_000)


def test_multiselect_filters(platform, system):  # CORE-02
    platform.admin.add_field(
        system, "customer", "channels", "multiselect", "渠道", options=["微信", "电话", "邮件"]
    )
    first = platform.records.create(system, "customer", customer_data(cf_channels="微信、电话"))
    platform.records.create(
        system, "customer", customer_data(cf_channels=["邮件"], mobile="13900000000")
    )
    assert first["cf_channels"] == "|微信|电话|" or sorted(
        first["cf_channels"].strip("|").split("|")
    ) == ["微信", "电话"]
    found = platform.records.query(
        system, "customer", {"field": "cf_channels", "op": "all", "value": ["电话", "微信"]}
    )
    assert [row["id"] for row in found.rows] == [first["id"]]
    assert (
        len(
            platform.records.query(
                system, "customer", {"field": "cf_channels", "op": "none", "value": ["微信"]}
            ).rows
        )
        == 1
    )


@pytest.mark.parametrize(
    "sort",
    [
        ["-expected_value", "name"],
        ["expected_value", "-rating"],
        ["region", "-created_at"],
        ["-rating", "region", "expected_value", "name"],
        ["name"],
    ],
)
def test_keyset_walk_matches_one_full_page_with_nulls_and_ties(platform, system, sort):
    """Cursor pages over nullable, repeating sort keys return every row exactly once."""
    import random

    rng = random.Random(7)
    for index in range(37):
        platform.records.create(
            system,
            "customer",
            customer_data(
                name=rng.choice(["甲", "乙", "丙", None]) or f"客户{index % 3}",
                expected_value=rng.choice([None, 100, 200, 300]),
                rating=rng.choice([None, 1, 5]),
                region=rng.choice([None, "east", "south"]),
                mobile=f"139{index:08d}",
            ),
        )
    full = [
        row["id"] for row in platform.records.query(system, "customer", sort=sort, limit=100).rows
    ]
    walked, cursor = [], None
    for _page in range(20):
        page = platform.records.query(system, "customer", sort=sort, limit=4, after=cursor)
        walked.extend(row["id"] for row in page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == full and len(full) == 37


def test_contains_ignores_ascii_case_on_both_databases(platform, system):
    platform.records.create(system, "customer", customer_data(company="ACME 科技有限公司"))
    for text in ("acme", "Acme 科技", "科技"):
        page = platform.records.query(
            system, "customer", {"field": "company", "op": "contains", "value": text}
        )
        assert [row["company"] for row in page.rows] == ["ACME 科技有限公司"]
    starts = {"field": "company", "op": "starts_with", "value": "acm"}
    assert len(platform.records.query(system, "customer", starts).rows) == 1
