"""OPS-03: every request has an id (the caller's when it is sane, else a new one) that comes
back in X-Request-ID and is on every log line written meanwhile; one access line per request,
as JSON, with no header, cookie or query value in it."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from guanxi.actor import Actor
from guanxi.app import create_app
from guanxi.auth import identity
from guanxi.core import Guanxi
from guanxi.ops import log_fields
from guanxi.ops.logs import JsonFormatter, TextFormatter, logging_config
from guanxi.settings import Settings


@pytest.fixture
def quiet_platform(make_platform: Any) -> Guanxi:
    return make_platform(jobs_in_web=False)


@pytest.fixture
def client(quiet_platform: Guanxi) -> Iterator[TestClient]:
    with TestClient(create_app(quiet_platform), follow_redirects=False) as test_client:
        yield test_client


class Captured:
    """Lines the "guanxi" loggers write through a formatter, as text and parsed JSON."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]


@contextmanager
def captured_log(formatter: logging.Formatter) -> Iterator[Captured]:
    """What Guanxi's loggers write at INFO and above while the block runs."""
    captured = Captured(formatter)
    logger = logging.getLogger("guanxi")
    level = logger.level
    logger.addHandler(captured.handler)
    logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        logger.removeHandler(captured.handler)
        logger.setLevel(level)


@pytest.fixture
def json_log() -> Iterator[Captured]:
    with captured_log(JsonFormatter()) as captured:
        yield captured


def test_a_sane_request_id_is_echoed_and_any_other_replaced(client: TestClient) -> None:
    # OPS-03
    assert (
        client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.01_x"}).headers["x-request-id"]
        == "lb-7f3a.01_x"
    )
    generated = []
    for unusable in ("", "has space", "x" * 65, "line\tbreak", "引号".encode()):
        answer = client.get("/healthz", headers={"X-Request-ID": unusable})
        generated.append(answer.headers["x-request-id"])
    generated.append(client.get("/healthz").headers["x-request-id"])
    assert all(re.fullmatch(r"[0-9a-f]{32}", found) for found in generated), generated
    assert len(set(generated)) == len(generated)
    assert client.get("/no/such/page").headers["x-request-id"]  # 404s carry one too


def test_access_line_is_json_with_the_request_id_and_no_secrets(
    quiet_platform: Guanxi, client: TestClient, json_log: Captured
) -> None:  # OPS-03
    user_id = identity.create_user(quiet_platform.db, "erp", "ERP 同步")
    token = quiet_platform.login.create_token(Actor.system(), user_id, "ERP sync").token
    answer = client.get(
        "/r/customer/1?reset_token=s3cr3t-link&q=%E5%BC%A0",
        headers={
            "Authorization": f"Bearer {token}",
            "Cookie": "guanxi_session=cookie-value-123",
            "X-Request-ID": "req-42",
        },
    )
    assert answer.headers["x-request-id"] == "req-42"
    [line] = [e for e in json_log.entries() if e["logger"] == "guanxi.access"]
    assert line["request_id"] == "req-42"
    assert line["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", line["time"])
    assert line["method"] == "GET" and line["path"] == "/r/customer/1"
    assert line["query_keys"] == ["reset_token", "q"]
    assert line["status"] == answer.status_code and line["duration_ms"] >= 0
    assert line["user_id"] == user_id and line["client_ip"] == "testclient"
    assert line["message"].startswith(f"GET /r/customer/1?reset_token&q {answer.status_code} ")
    for secret in (token, token.split("_", 2)[2], "s3cr3t-link", "cookie-value-123", "张"):
        assert secret not in json_log.text


def test_probe_answers_stay_out_of_the_info_log_but_failures_do_not(
    client: TestClient, json_log: Captured
) -> None:  # OPS-03: a load balancer asks every second
    client.get("/healthz")
    client.get("/no/such/page")
    paths = [e["path"] for e in json_log.entries() if e["logger"] == "guanxi.access"]
    assert paths == ["/no/such/page"]


def test_log_lines_carry_job_fields_redact_secret_extras_and_show_exceptions(
    json_log: Captured,
) -> None:  # OPS-03
    logger = logging.getLogger("guanxi.jobs")
    with log_fields(job="webhooks.deliver", task_id=12):
        try:
            raise ValueError("the receiver said no")
        except ValueError:
            logger.exception("delivery failed", extra={"api_token": "gx_abc", "attempt": 2})
    logger.info("outside")
    failed, outside = json_log.entries()
    assert failed["job"] == "webhooks.deliver" and failed["task_id"] == 12
    assert failed["attempt"] == 2 and failed["api_token"] == "[redacted]"
    assert failed["level"] == "ERROR" and failed["message"] == "delivery failed"
    assert "ValueError: the receiver said no" in failed["exception"]
    assert "gx_abc" not in json_log.text
    assert "job" not in outside and "request_id" not in outside


def test_text_format_shows_the_request_id_in_brackets(
    client: TestClient, tmp_path: Path
) -> None:  # OPS-03: GUANXI_LOG_FORMAT=text for a terminal
    settings = Settings(
        database_url="sqlite://", schema_dir=tmp_path, plugins_toml=tmp_path, log_format="text"
    )
    config = logging_config(settings)
    assert config["formatters"]["guanxi"]["()"] == "guanxi.ops.logs.TextFormatter"
    assert config["loggers"]["uvicorn.access"]["handlers"] == []  # ours replaces uvicorn's
    with captured_log(TextFormatter()) as captured:
        client.get("/no/such/page", headers={"X-Request-ID": "req-9"})
    assert re.search(
        r"^\S+ \S+ INFO guanxi\.access \[request_id=req-9\] GET /no/such/page 404 [\d.]+ ms "
        r"ip=testclient$",
        captured.text.strip(),
    ), captured.text
