"""Permissions over the API are the record service's (API-01, PERM-02..04): a hidden field is in
no response, a masked one only masked, another rep's customer is 404 on every method, and a
refused module is 403."""

from __future__ import annotations

import json
from typing import Any

from tests.org import REMARK, Org


def test_hidden_field_is_in_no_response(api: Any, org: Org) -> None:  # API-01, PERM-03
    rep = api("rep_east")
    customer_id = org.customers["east"]
    bodies = [
        rep.get(f"/api/v1/customer/{customer_id}").text,
        rep.get("/api/v1/customer").text,
        rep.patch(
            f"/api/v1/customer/{customer_id}", json={"title": "x"}, headers={"If-Match": "*"}
        ).text,
        rep.patch(
            f"/api/v1/customer/{customer_id}", json={"title": "y"}, headers={"If-Match": '"1"'}
        ).text,  # the 409's current record
        rep.post(
            "/api/v1/customer", json={"name": "新", "company": "新公司", "source": "website"}
        ).text,
    ]
    for body in bodies:
        assert "remarks" not in body and REMARK not in body
    # filtering, sorting or writing the hidden field: it is unknown to the rep
    assert rep.get("/api/v1/customer", params={"filter[remarks]": "x"}).status_code == 400
    assert rep.get("/api/v1/customer", params={"sort": "remarks"}).status_code == 400
    written = rep.patch(
        f"/api/v1/customer/{customer_id}", json={"remarks": "x"}, headers={"If-Match": "*"}
    )
    assert written.status_code == 422
    assert written.json()["errors"][0]["code"] == "unknown_field"


def test_masked_field_is_masked_and_not_filterable(api: Any, org: Org) -> None:  # DATA-12
    org.platform.permissions.set_field_access(
        org.admin, "sales_rep", "customer", "mobile", "masked"
    )
    rep = api("rep_east")
    record = rep.get(f"/api/v1/customer/{org.customers['east']}").json()
    assert record["mobile"] == "138****4321"
    listed = rep.get("/api/v1/customer").json()["data"]
    assert {row["mobile"] for row in listed} == {"138****4321"}
    refused = rep.get("/api/v1/customer", params={"filter[mobile]": "13812344321"})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "masked_field"


def test_another_reps_customer_is_404_on_every_method(api: Any, org: Org) -> None:  # PERM-04
    rep = api("rep_east")
    url = f"/api/v1/customer/{org.customers['north']}"
    assert rep.get(url).status_code == 404
    assert rep.patch(url, json={"title": "x"}, headers={"If-Match": "*"}).status_code == 404
    assert rep.patch(url, json={"title": "x", "version": 1}).status_code == 404
    assert rep.delete(url).status_code == 404
    assert rep.delete(url, headers={"If-Match": '"1"'}).status_code == 404
    ids = {row["id"] for row in rep.get("/api/v1/customer").json()["data"]}
    assert org.customers["north"] not in ids and org.customers["east"] in ids
    by_filter = rep.get(
        "/api/v1/customer",
        params={"filter": json.dumps({"field": "id", "op": "eq", "value": org.customers["north"]})},
    )
    assert by_filter.json()["data"] == []
    # a reference to a record outside scope does not exist either
    contact = rep.post("/api/v1/contact", json={"name": "x", "customer": org.customers["north"]})
    assert contact.status_code == 422
    assert contact.json()["errors"][0]["field"] == "customer"


def test_a_write_the_role_may_not_make_is_405_with_the_reason(api: Any, org: Org) -> None:
    """PERM-02: the method is not in the rep's OpenAPI document, so the answer is 405 with
    their Allow list (checked before the body is read), and it says why."""
    org.platform.permissions.revoke(org.admin, "sales_rep", "task", "create")
    answer = api("rep_east").post("/api/v1/task", json={"title": "x"}, params={"lang": "en"})
    assert answer.status_code == 405 and "POST" not in answer.headers["Allow"]
    assert answer.json()["errors"][0]["message"] == "You may not create Task records"
    no_body = api("rep_east").post("/api/v1/task", content=b"", params={"lang": "en"})
    assert no_body.status_code == 405
