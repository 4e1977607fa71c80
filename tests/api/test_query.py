"""List queries over /api/v1 (API-01): the JSON filter tree and its shorthand, sorts on up to
four keys, keyset pages through every record, counts, quick search, and 400s that name the
field or parameter at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.org import Org


@pytest.fixture
def visits_made(org: Org) -> list[int]:
    """13 visits of rep_east: costs 100..1300, subjects A..M, every third one on 2024-03-05."""
    rep = org.actor("rep_east")
    ids = []
    for index in range(13):
        record = org.platform.records.create(
            rep,
            "visit",
            {
                "subject": f"{chr(ord('A') + index)} 回访",
                "cost": str(100 * (index + 1)),
                "visited_on": "2024-03-05" if index % 3 == 0 else "2024-04-01",
            },
        )
        ids.append(record["id"])
    return ids


def test_pages_through_every_record_with_the_next_link(
    api: Any, visits_made: list[int]
) -> None:  # API-01
    rep = api("rep_east")
    url: str | None = "/api/v1/visit?sort=-cost&limit=5"
    seen: list[str] = []
    pages = 0
    while url:
        answer = rep.get(url)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += [row["cost"] for row in body["data"]]
        url = body["links"]["next"]
        assert (url is None) == (body["meta"]["next_cursor"] is None)
        pages += 1
    assert pages == 3
    assert seen == [f"{100 * n}.00" for n in range(13, 0, -1)]


def test_filter_tree_shorthand_and_count(api: Any, visits_made: list[int]) -> None:  # API-01
    rep = api("rep_east")
    tree = {
        "or": [
            {"field": "cost", "op": "lt", "value": 250},
            {"field": "subject", "op": "starts_with", "value": "M"},
        ]
    }
    body = rep.get("/api/v1/visit", params={"filter": json.dumps(tree), "sort": "cost"}).json()
    assert [row["subject"] for row in body["data"]] == ["A 回访", "B 回访", "M 回访"]

    shorthand = rep.get(
        "/api/v1/visit",
        params={"filter[visited_on]": "2024-03-05", "filter[cost][gte]": "400", "count": "true"},
    ).json()
    costs = sorted(float(row["cost"]) for row in shorthand["data"])
    assert costs == [400, 700, 1000, 1300]
    assert shorthand["meta"]["count"] == 4 and shorthand["meta"]["count_exact"] is True

    listed = rep.get(
        "/api/v1/visit", params=[("filter[subject][in]", "A 回访,B 回访"), ("sort", "subject")]
    ).json()
    assert [row["subject"] for row in listed["data"]] == ["A 回访", "B 回访"]
    between = rep.get("/api/v1/visit", params={"filter[cost][between]": "200,300"}).json()
    assert len(between["data"]) == 2


def test_sort_on_several_keys_and_quick_search(api: Any, visits_made: list[int]) -> None:
    rep = api("rep_east")
    body = rep.get("/api/v1/visit", params={"sort": "visited_on,-cost", "limit": 4}).json()
    assert [(r["visited_on"], r["cost"]) for r in body["data"]] == [
        ("2024-03-05", "1300.00"),
        ("2024-03-05", "1000.00"),
        ("2024-03-05", "700.00"),
        ("2024-03-05", "400.00"),
    ]
    found = rep.get("/api/v1/customer", params={"q": "东海"}).json()["data"]
    assert [row["name"] for row in found] == ["东海重工"]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"filter": "{not json"}, "filter", "bad_filter"),
        (
            {"filter": json.dumps({"field": "nope", "op": "eq", "value": 1})},
            "nope",
            "unknown_field",
        ),
        ({"filter[cost][near]": "1"}, "cost", "bad_operator"),
        ({"filter[cost]": "many"}, "cost", "bad_value"),
        ({"sort": "nope"}, "nope", "unknown_field"),
        ({"sort": "a,b,c,d,e"}, "sort", "too_many_sorts"),
        ({"limit": "0"}, "limit", "bad_limit"),
        ({"limit": "201"}, "limit", "bad_limit"),
        ({"cursor": "garbage"}, "cursor", "bad_cursor"),
        ({"count": "maybe"}, "count", "bad_flag"),
        ({"sort_by": "cost"}, "sort_by", "unknown_parameter"),
        ({"filter[subject]": "a\x00b"}, "filter[subject]", "bad_parameter"),
        (
            {"filter": '{"field": "subject", "op": "eq", "value": "a\\u0000b"}'},
            "filter",
            "bad_parameter",
        ),
        (
            {"filter": '{"field": "subject", "op": "eq", "value": "\\ud800"}'},
            "filter",
            "bad_parameter",
        ),
    ],
)
def test_bad_query_parameters_are_400s_naming_the_culprit(
    api: Any, org: Org, params: dict[str, str], field: str, code: str
) -> None:  # API-01
    answer = api("rep_east").get("/api/v1/visit", params=params)
    assert answer.status_code == 400, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["code"]) == (field, code)


def test_a_cursor_from_another_sort_or_tampered_is_refused(
    api: Any, visits_made: list[int]
) -> None:  # API-01
    rep = api("rep_east")
    cursor = rep.get("/api/v1/visit", params={"limit": 2, "sort": "cost"}).json()["meta"][
        "next_cursor"
    ]
    answer = rep.get("/api/v1/visit", params={"cursor": cursor, "sort": "cost,subject"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "cursor"
    import base64

    huge = base64.urlsafe_b64encode(json.dumps([2**70, 2**70]).encode()).decode()
    answer = rep.get("/api/v1/visit", params={"cursor": huge, "sort": "cost"})
    assert answer.status_code == 400
