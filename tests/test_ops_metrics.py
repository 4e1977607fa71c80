"""OPS-03: /metrics in Prometheus text format counts requests by route template (never the
raw path) and job runs; it answers loopback clients and administrators, or everyone when
GUANXI_METRICS_PUBLIC is set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route
from starlette.testclient import TestClient

from guanxi.actor import Actor
from guanxi.app import create_app
from guanxi.auth import identity
from guanxi.core import Guanxi
from guanxi.hookspecs import hookimpl
from guanxi.ops.metrics import observe_job_run

LOOPBACK = ("127.0.0.1", 41000)
STRANGER = ("203.0.113.9", 41000)  # TEST-NET-3: outside, not loopback


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, labels): value} of a Prometheus text page."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: dict[Any, float], name: str, **labels: str) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


def scrape(client: TestClient) -> dict[Any, float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return samples(answer.text)


class Failing:
    """A plugin route that breaks, for the 5xx series."""

    @hookimpl
    def register_routes(self) -> list[Route]:
        def boom(request: Any) -> Any:
            raise RuntimeError("a bug")

        return [Route("/ops-test/boom/{n:int}", boom)]


class CountedJob:
    @hookimpl
    def register_jobs(self) -> list[dict[str, Any]]:
        return [{"name": "ops_test.count", "run": lambda ctx: {"counted": True}}]


@pytest.fixture
def platform(make_platform: Any) -> Guanxi:
    return make_platform(
        jobs_in_web=False, plugins=[("ops_failing", Failing()), ("ops_jobs", CountedJob())]
    )


@pytest.fixture
def local(platform: Guanxi) -> Iterator[TestClient]:
    app = create_app(platform)
    with TestClient(app, client=LOOPBACK, raise_server_exceptions=False) as client:
        yield client


def test_requests_are_counted_by_route_template_and_status_class(local: TestClient) -> None:
    # OPS-03
    before = scrape(local)
    for record_id in (1, 2, 3):
        local.get(f"/r/customer/{record_id}", follow_redirects=False)
    local.get("/no/such/page")
    local.get("/no/other/page")
    failed = local.get("/ops-test/boom/7", headers={"X-Request-ID": "bug-1"})
    assert failed.status_code == 500 and failed.headers["x-request-id"] == "bug-1"
    after = scrape(local)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    detail = {"method": "GET", "route": "/r/{entity}/{record_id}", "status": "3xx"}
    assert grew("guanxi_http_requests_total", **detail) == 3
    assert grew("guanxi_http_request_duration_seconds_count", **detail) == 3
    assert grew("guanxi_http_request_duration_seconds_bucket", **detail, le="+Inf") == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "4xx"}
    assert grew("guanxi_http_requests_total", **unmatched) == 2
    failing = {"method": "GET", "route": "/ops-test/boom/{n}", "status": "5xx"}
    assert grew("guanxi_http_requests_total", **failing) == 1
    assert not [key for key in after if any("/r/customer/1" in v for _k, v in key[1])]
    assert value(after, "guanxi_http_requests_in_progress") == 1  # this scrape
    assert value(after, "guanxi_web_workers") == 1
    assert any(name == "process_start_time_seconds" for name, _labels in after)


def test_job_runs_are_counted_by_job_and_status(platform: Guanxi, local: TestClient) -> None:
    # OPS-03, OPS-02: what the job runner reports after each run
    before = scrape(local)
    observe_job_run("ops_test.direct", "failed", 0.3)
    platform.jobs.enqueue("ops_test.count")
    outcomes = platform.jobs.run_due()
    assert [o.status for o in outcomes if o.job == "ops_test.count"] == ["ok"]
    after = scrape(local)
    direct = {"job": "ops_test.direct", "status": "failed"}
    assert (
        value(after, "guanxi_job_runs_total", **direct)
        - value(before, "guanxi_job_runs_total", **direct)
        == 1
    )
    assert value(after, "guanxi_job_run_duration_seconds_sum", **direct) >= 0.3
    counted = {"job": "ops_test.count", "status": "ok"}
    assert (
        value(after, "guanxi_job_runs_total", **counted)
        - value(before, "guanxi_job_runs_total", **counted)
        == 1
    )


def token_for(platform: Guanxi, username: str, *, admin: bool) -> str:
    user_id = identity.create_user(platform.db, username, username)
    if admin:
        platform.permissions.assign_role(Actor.system(), user_id, "admin")
    return platform.login.create_token(Actor.system(), user_id, "scraper").token


def test_metrics_answer_loopback_and_admins_only(platform: Guanxi) -> None:  # OPS-03
    admin = token_for(platform, "ops_admin", admin=True)
    user = token_for(platform, "ops_user", admin=False)
    app = create_app(platform)
    with TestClient(app, client=STRANGER) as outside:
        anonymous = outside.get("/metrics", headers={"Accept-Language": "en"})
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/json"
        [error] = anonymous.json()["errors"]
        assert error["code"] == "login_required" and "administrator" in error["message"]
        assert error["messages"]["zh-CN"]
        refused = outside.get("/metrics", headers={"Authorization": f"Bearer {user}"})
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "forbidden"
        allowed = outside.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
        assert allowed.status_code == 200 and "guanxi_http_requests_total" in allowed.text
    for loopback in (LOOPBACK, ("::1", 41000)):
        with TestClient(app, client=loopback) as local:
            assert local.get("/metrics").status_code == 200


def test_metrics_public_opens_them_to_everyone(make_platform: Any) -> None:  # OPS-03
    platform = make_platform(jobs_in_web=False, metrics_public=True)
    with TestClient(create_app(platform), client=STRANGER) as outside:
        assert outside.get("/metrics").status_code == 200
