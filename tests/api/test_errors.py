"""Errors of the API (API-01): one JSON shape in the request's language, the right status for
each refusal (401, 404, 405, 413, 415, 422, 429), and never a 500 for bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.testclient import TestClient

from guanxi.app import create_app
from guanxi.auth import identity
from tests.api.conftest import SECRET, ApiClient, VisitPlugin, issue_token
from tests.org import Org, build_org


def test_error_shape_and_language(api: Any, org: Org) -> None:  # API-01
    rep = api("rep_east")
    chinese = rep.get("/api/v1/customer/999999")
    assert chinese.status_code == 404
    assert chinese.json() == {
        "errors": [
            {
                "field": None,
                "code": "not_found",
                "message": "记录不存在",
                "messages": {"zh-CN": "记录不存在", "en": "No such record"},
            }
        ]
    }
    english = rep.get("/api/v1/customer/999999", params={"lang": "en"})
    assert english.json()["errors"][0]["message"] == "No such record"
    # without a user, Accept-Language decides; a user's own language comes before it
    anonymous = api(None).get("/api/v1/nothing", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert anonymous.json()["errors"][0]["message"] == "Sign in or send an API token"
    chosen = rep.get("/api/v1/nothing", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert chosen.json()["errors"][0]["message"] == "未知模块“nothing”"
    identity.set_own_locale(org.platform.db, org.actor("rep_east"), "en")
    mine = api("rep_east").get("/api/v1/nothing")
    assert mine.json()["errors"][0]["message"] == "Unknown module 'nothing'"


def test_no_or_bad_credentials_are_401_with_www_authenticate(api: Any) -> None:  # API-01
    anonymous = api(None).get("/api/v1/customer")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["errors"][0]["code"] == "unauthenticated"
    forged = api(None).get("/api/v1/customer", headers={"Authorization": "Bearer gx_nope"})
    assert forged.status_code == 401 and forged.json()["errors"][0]["code"] == "invalid_token"
    assert api(None).get("/api/openapi.json").status_code == 401


def test_wrong_method_is_405_with_allow(api: Any, org: Org) -> None:  # API-01
    rep = api("rep_east")
    answer = rep.request("PUT", f"/api/v1/customer/{org.customers['east']}", json={})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET, PATCH"
    assert answer.json()["errors"][0]["code"] == "method_not_allowed"
    assert rep.delete("/api/v1/customer").headers["allow"] == "GET, POST"
    # Allow lists what this caller may do, as their OpenAPI document does
    reader = api("rep_east", read_only=True)
    assert reader.request("PUT", "/api/v1/customer/1").headers["allow"] == "GET"
    assert reader.request("PUT", "/api/v1/nothing/1").status_code == 404


def test_bodies_over_the_limit_are_413_without_reading_them(
    make_platform: Any, visits: VisitPlugin
) -> None:  # API-01
    platform = make_platform(secret_key=SECRET, plugins=[("visits", visits)], api_max_body_kb=1)
    org = build_org(platform)
    with TestClient(create_app(platform)) as client:
        rep = ApiClient(client, issue_token(platform, org.users["rep_east"]))
        big = {"subject": "x" * 2000}
        declared = rep.post("/api/v1/visit", json=big)
        assert declared.status_code == 413 and declared.json()["errors"][0]["code"] == "too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the chunks are counted
            yield b'{"subject": "'
            for _ in range(50):
                yield b"y" * 100
            yield b'"}'

        streamed = rep.post(
            "/api/v1/visit", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert rep.post("/api/v1/visit", json={"subject": "ok"}).status_code == 201


def test_rate_limit_per_token_is_429_with_retry_after(
    make_platform: Any, visits: VisitPlugin
) -> None:  # API-01
    platform = make_platform(secret_key=SECRET, plugins=[("visits", visits)], api_rate_limit=3)
    org = build_org(platform)
    with TestClient(create_app(platform)) as client:
        first = ApiClient(client, issue_token(platform, org.users["rep_east"]))
        answers = [first.get("/api/v1/visit") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert answers[0].headers["x-ratelimit-limit"] == "3"
        limited = answers[-1]
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["errors"][0]["code"] == "rate_limited"
        # another token of the same user has its own bucket
        second = ApiClient(client, issue_token(platform, org.users["rep_east"]))
        assert second.get("/api/v1/visit").status_code == 200


BAD_INPUT: list[tuple[str, str, dict[str, Any], int]] = [
    (
        "POST",
        "/api/v1/visit",
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        400,
    ),
    (
        "POST",
        "/api/v1/visit",
        {"content": b"[1, 2]", "headers": {"Content-Type": "application/json"}},
        400,
    ),
    (
        "POST",
        "/api/v1/visit",
        {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
        400,
    ),
    (
        "POST",
        "/api/v1/visit",
        {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}},
        400,
    ),
    (
        "POST",
        "/api/v1/visit",
        {"content": b'{"subject": NaN}', "headers": {"Content-Type": "application/json"}},
        400,
    ),
    (
        "POST",
        "/api/v1/visit",
        {"content": b"subject=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
    ),
    ("POST", "/api/v1/visit", {"json": {"subject": "ok", "cost": 1e300}}, 422),
    ("POST", "/api/v1/visit", {"json": {"subject": "ok", "cost": "1e2000000"}}, 422),
    (
        "POST",
        "/api/v1/visit",
        {
            "content": b'{"cost": ' + b"9" * 5000 + b"}",
            "headers": {"Content-Type": "application/json"},
        },
        400,
    ),
    ("POST", "/api/v1/visit", {"json": {"subject": ["a"], "visited_on": {"y": 1}}}, 422),
    ("POST", "/api/v1/visit", {"json": {"subject": "a\x00b"}}, 422),
    (
        "POST",
        "/api/v1/visit",
        {"content": b'{"subject": "\\ud800"}', "headers": {"Content-Type": "application/json"}},
        422,
    ),
    ("POST", "/api/v1/visit", {"json": {"subject": "ok", "visited_on": "0000-13-45"}}, 422),
    ("POST", "/api/v1/visit", {"json": {"subject": "ok", "owner_id": 2**70}}, 422),
    ("POST", "/api/v1/visit", {"json": {"subject": "ok", "id": 5, "version": "x"}}, 201),
    ("GET", "/api/v1/visit/abc", {}, 404),
    ("GET", "/api/v1/visit/-1", {}, 404),
    ("GET", "/api/v1/visit/0", {}, 404),
    ("GET", "/api/v1/visit/99999999999999999999999", {}, 404),
    ("GET", "/api/v1/visit/１２", {}, 404),
    ("GET", "/api/v1/no_such_module", {}, 404),
    ("GET", "/api/v1/no_such_module/1", {}, 404),
    ("GET", "/api/v1/visit?filter=" + "[" * 5000, {}, 400),
    ("GET", "/api/v1/visit?filter[owner_id]=99999999999999999999999", {}, 400),
    ("GET", "/api/v1/visit?filter[visited_on][last_n_days]=99999999", {}, 400),
    ("PATCH", "/api/v1/customer/1", {"json": {"version": 10**30}}, 422),
    ("DELETE", "/api/v1/visit/1?reason=" + "x" * 600, {}, 400),
]


def test_bad_input_is_never_a_server_error(api: Any, org: Org) -> None:  # API-01
    admin = api("admin")
    for method, path, kwargs, status in BAD_INPUT:
        answer = admin.request(method, path, **kwargs)
        assert answer.status_code == status, (method, path, answer.text)
        if status != 201:
            assert answer.json()["errors"][0]["code"]


def test_session_writes_need_the_csrf_header(session: Any, org: Org) -> None:  # API-01
    client, csrf = session("rep_east")
    body = {"subject": "会话创建"}
    refused = client.post("/api/v1/visit", json=body)
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "csrf"
    made = client.post("/api/v1/visit", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    assert client.get("/api/v1/visit").json()["data"][0]["subject"] == "会话创建"


def test_odd_digits_in_limit_are_a_400_not_a_500(api: Any) -> None:
    """API-01: '²' passes str.isdigit() but is no number; a 5,000-digit limit neither."""
    rep = api("rep_east")
    for value in ("²", "9" * 5000, "٣"):
        answer = rep.get(f"/api/v1/customer?limit={value}")
        assert answer.status_code == 400, value
        assert answer.json()["errors"][0]["field"] == "limit"
