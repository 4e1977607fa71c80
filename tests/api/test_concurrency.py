"""Optimistic concurrency over the API (API-01, DATA-01): the version is the ETag; PATCH needs
If-Match or a version field, a stale one is a 409 carrying the current record, neither is a 428;
DELETE honours If-Match; GET honours If-None-Match."""

from __future__ import annotations

from typing import Any

from tests.org import Org


def test_etag_if_match_and_version_field(api: Any, org: Org) -> None:  # API-01
    rep = api("rep_east")
    url = f"/api/v1/customer/{org.customers['east']}"
    first = rep.get(url)
    assert first.headers["etag"] == '"1"' and first.json()["version"] == 1

    missing = rep.patch(url, json={"title": "总监"})
    assert missing.status_code == 428
    assert missing.json()["errors"][0]["code"] == "version_required"

    by_header = rep.patch(url, json={"title": "总监"}, headers={"If-Match": first.headers["etag"]})
    assert by_header.status_code == 200 and by_header.headers["etag"] == '"2"'

    stale = rep.patch(url, json={"title": "经理"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    body = stale.json()
    assert body["errors"][0]["code"] == "conflict"
    assert body["current"]["title"] == "总监" and body["current"]["version"] == 2
    assert stale.headers["etag"] == '"2"'
    assert "remarks" not in body["current"]  # the conflict shows only what the rep may see

    stale_body = rep.patch(url, json={"title": "经理", "version": 1})
    assert stale_body.status_code == 409

    by_body = rep.patch(url, json={"title": "经理", "version": 2})
    assert by_body.status_code == 200 and by_body.json()["version"] == 3

    weak = rep.patch(url, json={"title": "副总"}, headers={"If-Match": 'W/"3"'})
    assert weak.status_code == 200

    overwrite = rep.patch(url, json={"title": "董事"}, headers={"If-Match": "*"})
    assert overwrite.status_code == 200 and overwrite.json()["title"] == "董事"

    disagree = rep.patch(url, json={"title": "x", "version": 1}, headers={"If-Match": '"5"'})
    assert disagree.status_code == 400
    garbage = rep.patch(url, json={"title": "x"}, headers={"If-Match": "yesterday"})
    assert garbage.status_code == 400 and garbage.json()["errors"][0]["field"] == "If-Match"
    for bad in ("3", True, 0, -1, 1.5):
        answer = rep.patch(url, json={"title": "x", "version": bad})
        assert answer.status_code == 422, bad
        assert answer.json()["errors"][0]["field"] == "version"


def test_if_none_match_answers_304(api: Any, org: Org) -> None:  # API-01
    rep = api("rep_east")
    url = f"/api/v1/customer/{org.customers['east']}"
    answer = rep.get(url, headers={"If-None-Match": '"1"'})
    assert answer.status_code == 304 and answer.headers["etag"] == '"1"' and answer.content == b""
    assert rep.get(url, headers={"If-None-Match": '"7"'}).status_code == 200


def test_delete_honours_if_match(api: Any, org: Org) -> None:  # API-01
    rep = api("rep_east")
    url = f"/api/v1/followup/{org.followups['east']}"
    stale = rep.delete(url, headers={"If-Match": '"9"'})
    assert stale.status_code == 409 and stale.json()["current"]["id"] == org.followups["east"]
    assert rep.delete(url, headers={"If-Match": '"1"'}).status_code == 204
    assert rep.get(url).status_code == 404


def test_locked_record_is_423(api: Any, org: Org) -> None:  # API-01, DATA-03
    org.platform.records.lock(org.admin, "customer", org.customers["east"])
    answer = api("rep_east").patch(
        f"/api/v1/customer/{org.customers['east']}", json={"title": "x"}, headers={"If-Match": "*"}
    )
    assert answer.status_code == 423 and answer.json()["errors"][0]["code"] == "locked"


def test_reason_required_by_a_field_comes_from_the_query(api: Any, org: Org) -> None:  # DATA-06
    rep = api("rep_east")
    url = f"/api/v1/customer/{org.customers['east']}"
    refused = rep.patch(url, json={"mobile": "13900001111", "version": 1})
    assert refused.status_code == 422
    assert refused.json()["errors"][0] == {
        **refused.json()["errors"][0],
        "field": "mobile",
        "code": "reason_required",
    }
    done = rep.patch(
        url, params={"reason": "客户换号"}, json={"mobile": "13900001111", "version": 1}
    )
    assert done.status_code == 200, done.text
    history = org.platform.records.history(org.admin, "customer", org.customers["east"])
    assert history[-1]["reason"] == "客户换号"
