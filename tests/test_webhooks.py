"""Outbound webhooks (API-03) against a real receiver on 127.0.0.1: signed deliveries, payloads
read with the owner's permissions, stage changes and deletions, retries with backoff, a
receiver that times out, and redelivery by hand."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi import clock
from guanxi.core import Guanxi
from guanxi.defaults.webhooks.delivery import open_body
from guanxi.defaults.webhooks.service import webhooks
from guanxi.store.system_tables import webhook_delivery
from tests.org import Org, build_org

HANG = "hang"


class Receiver:
    """A small HTTP server on 127.0.0.1 that records each POST and answers from `script`
    (a status code, (status, {header: value}) or HANG), then 200 once the script is used up."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Any] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                action = receiver.script.pop(0) if receiver.script else 200
                if action == HANG:
                    receiver.release.wait(5)
                    return
                status, headers = action if isinstance(action, tuple) else (action, {})
                answer = b'{"ok": true}' if status < 300 else b"upstream says no " * 100
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/guanxi"

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def hooks_platform(make_platform: Any) -> Guanxi:
    return make_platform(webhook_allow_private=True)


@pytest.fixture
def org(hooks_platform: Guanxi) -> Org:
    return build_org(hooks_platform)


def valid_signature(secret: str, headers: dict[str, str], body: str) -> bool:
    """What a receiver does, written independently of guanxi's own signing module."""
    expected = hmac.new(
        secret.encode(), f"{headers['X-Guanxi-Timestamp']}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest("v1=" + expected, headers["X-Guanxi-Signature"])


def endpoint(org: Org, url: str, owner: str = "admin", **values: Any) -> dict[str, Any]:
    spec = {
        "name": "ERP 同步",
        "url": url,
        "entity": "customer",
        "events": ["created", "updated", "deleted"],
        "owner_id": org.users[owner],
        **values,
    }
    return webhooks(org.platform).create(org.admin, spec)


def deliver(platform: Guanxi, now: Any = None) -> list[Any]:
    """Run due jobs once (at `now`); the webhook outcomes."""
    return [o for o in platform.jobs.run_due(now=now) if o.job == "webhooks.deliver"]


def deliveries(platform: Guanxi) -> list[dict[str, Any]]:
    """The delivery log with each body opened (it is sealed at rest, DATA-12)."""
    with platform.db.read() as connection:
        rows = connection.execute(sa.select(webhook_delivery).order_by(webhook_delivery.c.id))
        found = [dict(row._mapping) for row in rows]
    for row in found:
        assert row["body"].startswith("gxe1:")
        row["body"] = open_body(platform, row["body"])
    return found


def test_created_event_is_delivered_with_a_valid_signature(org, receiver):
    """API-03: a POST with the documented headers, HMAC-SHA256 over timestamp.body."""
    hook = endpoint(org, receiver.url)
    rep = org.actor("rep_east")
    created = org.platform.records.create(
        rep, "customer", {"name": "新客户", "company": "新客户有限公司", "source": "website"}
    )
    outcomes = deliver(org.platform)
    assert [o.status for o in outcomes] == ["ok"]
    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Guanxi-Webhooks/1"
    assert headers["X-Guanxi-Event"] == "customer.created"
    assert abs(int(headers["X-Guanxi-Timestamp"]) - time.time()) < 60
    assert valid_signature(hook["secret"], headers, body)
    assert not valid_signature("whsec_wrong", headers, body)
    payload = json.loads(body)
    assert payload["id"] == headers["X-Guanxi-Delivery"]
    assert payload["event"] == "customer.created"
    assert payload["entity"] == "customer"
    assert payload["occurred_at"].endswith("Z")
    assert payload["record"]["id"] == created["id"]
    assert payload["record"]["name"] == "新客户"
    assert payload["changes"]["name"] == [None, "新客户"]
    assert payload["actor"] == {"id": org.users["rep_east"], "name": "王东"}
    (row,) = deliveries(org.platform)
    assert row["status"] == "delivered" and row["attempts"] == 1 and row["last_status"] == 200
    assert row["last_response_ms"] is not None and row["delivered_at"] is not None
    assert row["body"] == body and row["record_id"] == created["id"]


def test_payload_is_read_with_the_owners_permissions(org, receiver):
    """API-03 + PERM-03/04: a rep owner never receives remarks (hidden from reps) nor records
    of another rep; a service-agent owner gets mobiles masked and no mobile change."""
    rep_hook = endpoint(org, receiver.url, owner="rep_east", name="rep", events=["updated"])
    endpoint(org, receiver.url, owner="agent", name="agent", events=["updated"])
    admin, records = org.admin, org.platform.records
    east, north = org.customers["east"], org.customers["north"]
    records.update(admin, "customer", east, {"remarks": "新底价", "mobile": "13700001111",
                                             "name": "东海重工集团"},
                   version=org.version("customer", east), field_reasons={"mobile": "换号"})  # fmt: skip
    records.update(admin, "customer", north, {"name": "北辰机电集团"},
                   version=org.version("customer", north))  # fmt: skip
    assert [o.status for o in deliver(org.platform)] == ["ok"] * 3
    bodies: dict[str, list[str]] = {"rep": [], "agent": []}
    for row in deliveries(org.platform):
        bodies["rep" if row["webhook_id"] == rep_hook["id"] else "agent"].append(row["body"])
    (rep_body,) = bodies["rep"]  # north's customer is outside rep_east's scope
    assert "新底价" not in rep_body and "底价八折" not in rep_body
    rep_payload = json.loads(rep_body)
    assert rep_payload["record"]["id"] == east
    assert "remarks" not in rep_payload["record"] and "remarks" not in rep_payload["changes"]
    assert rep_payload["changes"]["name"] == ["东海重工", "东海重工集团"]
    assert rep_payload["changes"]["mobile"] == ["13812344321", "13700001111"]
    agent_payloads = {json.loads(b)["record"]["id"]: b for b in bodies["agent"]}
    assert set(agent_payloads) == {east, north}  # agents see every customer
    agent_east = json.loads(agent_payloads[east])
    assert "13700001111" not in agent_payloads[east]
    assert "13812344321" not in agent_payloads[east]
    assert agent_east["record"]["mobile"] == "137****1111"
    assert "interests" not in agent_east["record"]
    assert set(agent_east["changes"]) == {"name", "remarks"}  # mobile is only masked for them
    assert sorted(r["body"] for r in receiver.requests) == sorted(bodies["rep"] + bodies["agent"])


def test_stage_changed_is_one_delivery_named_after_the_stage(org, receiver):
    """API-03: an update changing the stage is "stage_changed" for endpoints listening for it,
    once per endpoint; other updates are not."""
    endpoint(org, receiver.url, name="stages only", events=["stage_changed"])
    endpoint(org, receiver.url, name="both", events=["updated", "stage_changed"])
    admin, records = org.admin, org.platform.records
    east = org.customers["east"]
    records.update(admin, "customer", east, {"name": "东海重工二厂"},
                   version=org.version("customer", east))  # fmt: skip
    records.update(admin, "customer", east, {"stage": "deal"},
                   version=org.version("customer", east))  # fmt: skip
    deliver(org.platform)
    events = [(row["webhook_id"], row["event"]) for row in deliveries(org.platform)]
    assert events == [(2, "customer.updated"), (1, "customer.stage_changed"),
                      (2, "customer.stage_changed")]  # fmt: skip
    stage_payload = receiver.payloads()[-1]
    assert stage_payload["changes"] == {"stage": ["potential", "deal"]}
    assert stage_payload["record"]["stage"] == "deal"


def test_deleted_record_is_sent_with_its_last_values_within_the_owners_scope(org, receiver):
    """API-03: a deletion carries the old values; the owner's scope is judged on them
    (a rep sees follow-ups of their customers through via:customer)."""
    endpoint(org, receiver.url, owner="rep_east", entity="followup", events=["deleted"])
    admin, records = org.admin, org.platform.records
    mine = records.create(org.actor("manager"), "followup", {
        "customer": org.customers["east"], "method": "visit", "content": "经理上门拜访"})  # fmt: skip
    records.delete(admin, "followup", mine["id"])
    records.delete(admin, "followup", org.followups["north"])  # another rep's customer
    assert [o.status for o in deliver(org.platform)] == ["ok"]
    (payload,) = receiver.payloads()
    assert payload["event"] == "followup.deleted"
    assert payload["record"]["id"] == mine["id"]
    assert payload["record"]["content"] == "经理上门拜访"
    assert payload["changes"]["content"] == ["经理上门拜访", None]
    assert payload["actor"]["name"] == "管理员"


def test_lock_is_an_update_of_the_locked_field(org, receiver):
    """API-03: locking a record changes `locked`, delivered as customer.updated."""
    endpoint(org, receiver.url, events=["updated"])
    org.platform.records.lock(org.admin, "customer", org.customers["east"])
    deliver(org.platform)
    (payload,) = receiver.payloads()
    assert payload["event"] == "customer.updated"
    assert payload["changes"] == {"locked": [False, True]}


def test_receiver_failing_twice_then_succeeding_is_retried_with_backoff(org, receiver):
    """API-03 + OPS-02: a redirect (never followed) and a 500 are failures retried after 30 s
    and 60 s; the third attempt is delivered; the log shows 3 attempts."""
    endpoint(org, receiver.url)
    receiver.script = [(302, {"Location": "http://169.254.169.254/"}), 500]
    org.platform.records.update(org.admin, "customer", org.customers["east"], {"name": "重试"},
                                version=org.version("customer", org.customers["east"]))  # fmt: skip
    start = clock.now_utc()
    assert [o.status for o in deliver(org.platform, start)] == ["retry"]
    (row,) = deliveries(org.platform)
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, 302)
    assert row["last_error"].startswith("HTTP 302")
    assert deliver(org.platform, start + timedelta(seconds=20)) == []  # still backing off
    assert [o.status for o in deliver(org.platform, start + timedelta(seconds=31))] == ["retry"]
    (row,) = deliveries(org.platform)
    assert (row["attempts"], row["last_status"]) == (2, 500)
    assert row["last_error"].startswith("HTTP 500: upstream says no")
    assert len(row["last_error"]) <= 1000  # a short excerpt, never the whole body
    assert deliver(org.platform, start + timedelta(seconds=31 + 50)) == []
    assert [o.status for o in deliver(org.platform, start + timedelta(seconds=31 + 62))] == ["ok"]
    (row,) = deliveries(org.platform)
    assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 3, 200)
    assert len(receiver.requests) == 3
    assert len({r["headers"]["X-Guanxi-Delivery"] for r in receiver.requests}) == 1
    assert len({r["body"] for r in receiver.requests}) == 1


def test_receiver_that_times_out_is_a_failed_attempt(make_platform, receiver):
    """API-03: webhook_timeout_seconds bounds each attempt; the log says it timed out."""
    platform = make_platform(webhook_allow_private=True, webhook_timeout_seconds=1)
    org = build_org(platform)
    endpoint(org, receiver.url)
    receiver.script = [HANG]
    org.platform.records.update(org.admin, "customer", org.customers["east"], {"name": "超时"},
                                version=org.version("customer", org.customers["east"]))  # fmt: skip
    started = time.perf_counter()
    assert [o.status for o in deliver(platform)] == ["retry"]
    assert time.perf_counter() - started < 4
    (row,) = deliveries(platform)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["last_status"] is None
    assert "timed out after 1 s" in row["last_error"]
    assert row["last_response_ms"] >= 900


def test_last_attempt_marks_the_delivery_failed(org, receiver):
    """API-03: after 9 attempts (8 retries) the delivery is failed for good."""
    endpoint(org, receiver.url)
    receiver.script = [503] * 20
    org.platform.records.update(org.admin, "customer", org.customers["east"], {"name": "失败"},
                                version=org.version("customer", org.customers["east"]))  # fmt: skip
    moment = clock.now_utc()
    statuses = []
    for _ in range(10):
        statuses += [o.status for o in deliver(org.platform, moment)]
        moment += timedelta(hours=7)
    assert statuses == ["retry"] * 8 + ["failed"]
    (row,) = deliveries(org.platform)
    assert (row["status"], row["attempts"], row["last_status"]) == ("failed", 9, 503)


def test_manual_redelivery_resends_the_same_body_signed_anew(org, receiver):
    """API-03: redeliver by hand = a new task, attempts reset; a rotated secret signs it."""
    hook = endpoint(org, receiver.url)
    service = webhooks(org.platform)
    org.platform.records.update(org.admin, "customer", org.customers["east"], {"name": "重发"},
                                version=org.version("customer", org.customers["east"]))  # fmt: skip
    deliver(org.platform)
    (first,) = deliveries(org.platform)
    secret = service.rotate_secret(org.admin, hook["id"])
    assert secret != hook["secret"] and secret.startswith("whsec_")
    service.redeliver(org.admin, first["id"])
    (row,) = deliveries(org.platform)
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 0, None)
    assert [o.status for o in deliver(org.platform)] == ["ok"]
    (row,) = deliveries(org.platform)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    old, new = receiver.requests
    assert old["body"] == new["body"]
    assert old["headers"]["X-Guanxi-Delivery"] == new["headers"]["X-Guanxi-Delivery"]
    assert valid_signature(secret, new["headers"], new["body"])
    assert not valid_signature(hook["secret"], new["headers"], new["body"])


def test_inactive_or_deleted_endpoints_send_nothing(org, receiver):
    """API-03: deactivating stops new events and fails queued ones; deleting removes the log
    and leaves queued tasks nothing to do."""
    hook = endpoint(org, receiver.url)
    service = webhooks(org.platform)
    east = org.customers["east"]
    org.platform.records.update(org.admin, "customer", east, {"name": "排队中"},
                                version=org.version("customer", east))  # fmt: skip
    service.set_active(org.admin, hook["id"], False)
    org.platform.records.update(org.admin, "customer", east, {"name": "停用后"},
                                version=org.version("customer", east))  # fmt: skip
    deliver(org.platform)
    (row,) = deliveries(org.platform)
    assert row["status"] == "failed" and "inactive" in row["last_error"]
    assert receiver.requests == []
    service.set_active(org.admin, hook["id"], True)
    org.platform.records.update(org.admin, "customer", east, {"name": "再启用"},
                                version=org.version("customer", east))  # fmt: skip
    service.delete(org.admin, hook["id"])
    assert deliveries(org.platform) == []
    assert [o.status for o in deliver(org.platform)] == ["ok"]  # the queued task: a no-op
    assert receiver.requests == []


def test_a_new_endpoint_reaches_other_workers_within_the_cache_interval(make_platform, receiver):
    """API-03: each worker caches endpoints for a few seconds; this one is told at once."""
    first = make_platform(webhook_allow_private=True)
    org = build_org(first)
    second = make_platform(webhook_allow_private=True)
    other = webhooks(second)
    other.cache_seconds = 0.3
    assert other.active_endpoints("customer") == []  # cached: nothing listens yet
    endpoint(org, receiver.url)
    assert len(webhooks(first).active_endpoints("customer")) == 1  # the changing worker
    assert other.active_endpoints("customer") == []  # stale until the interval passes
    time.sleep(0.35)
    assert [e.name for e in other.active_endpoints("customer")] == ["ERP 同步"]


def test_no_query_per_event_while_no_endpoint_listens(org):
    """API-03: with the cache warm, an event for an entity without webhooks reads nothing."""
    from guanxi.defaults.webhooks.dispatch import on_record_changed
    from guanxi.events import RecordEvent

    platform = org.platform
    event = RecordEvent("customer", "update", org.customers["east"], org.admin,
                        clock.now_utc(), {"id": 1}, {"id": 1}, {"name": ("a", "b")})  # fmt: skip
    on_record_changed(platform, event)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(platform.db.engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            assert on_record_changed(platform, event) == []
    finally:
        sa.event.remove(platform.db.engine, "before_cursor_execute", count)
    assert statements == []


def test_redelivery_cancels_a_retry_still_waiting_for_its_backoff(org, receiver):
    """API-03: redelivering a pending delivery sends it once, not once per queued task."""
    endpoint(org, receiver.url)
    receiver.script = [500]
    east = org.customers["east"]
    org.platform.records.update(org.admin, "customer", east, {"name": "等待重试"},
                                version=org.version("customer", east))  # fmt: skip
    assert [o.status for o in deliver(org.platform)] == ["retry"]
    (row,) = deliveries(org.platform)
    webhooks(org.platform).redeliver(org.admin, row["id"])
    later = clock.now_utc() + timedelta(hours=1)
    assert [o.status for o in deliver(org.platform, later)] == ["ok"]
    assert deliver(org.platform, later + timedelta(hours=7)) == []
    assert len(receiver.requests) == 2  # the failed first attempt and the redelivery
    (row,) = deliveries(org.platform)
    assert (row["status"], row["attempts"]) == ("delivered", 1)


def test_finished_deliveries_are_purged_after_30_days(org, receiver):
    """API-03: the daily purge drops delivered and failed rows older than 30 days."""
    endpoint(org, receiver.url)
    east = org.customers["east"]
    for name in ("旧", "新"):
        org.platform.records.update(org.admin, "customer", east, {"name": name},
                                    version=org.version("customer", east))  # fmt: skip
    deliver(org.platform)
    old, new = deliveries(org.platform)
    with org.platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(webhook_delivery)
            .where(webhook_delivery.c.id == old["id"])
            .values(created_at=clock.now_utc() - timedelta(days=31))
        )
    org.platform.jobs.enqueue("webhooks.purge")
    assert [o.result for o in org.platform.jobs.run_due() if o.job == "webhooks.purge"] == [
        {"deleted": 1}
    ]
    assert [row["id"] for row in deliveries(org.platform)] == [new["id"]]


def test_the_documented_verification_code_accepts_a_real_delivery(org, receiver):
    """API-03: the receiver code in docs/webhooks.md verifies what Guanxi sends."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "webhooks.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", docs, re.S) if "def verify" in b)
    hook = endpoint(org, receiver.url)
    namespace: dict[str, Any] = {}
    exec(snippet.replace('b"whsec_..."', repr(hook["secret"].encode())), namespace)  # noqa: S102
    east = org.customers["east"]
    org.platform.records.update(org.admin, "customer", east, {"name": "验签"},
                                version=org.version("customer", east))  # fmt: skip
    deliver(org.platform)
    (request,) = receiver.requests
    body = request["body"].encode()
    assert namespace["verify"](request["headers"], body)
    assert not namespace["verify"](request["headers"], body + b" ")
