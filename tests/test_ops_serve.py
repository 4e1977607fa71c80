"""OPS-03 with a real `guanxi serve --workers 2`: the probes answer, /metrics on either worker
counts the requests both answered, and the log is JSON with one access line per request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.browser.serve import free_port, stop, wait_until_up
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected
from tests.test_ops_metrics import samples, value

LOGIN = {"method": "GET", "route": "/login", "status": "2xx"}


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process, self.url, self.log_path = process, url, log_path

    def get(self, path: str, request_id: str | None = None) -> tuple[int, bytes]:
        headers = {"X-Request-ID": request_id} if request_id else {}
        request = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def entries(self) -> list[dict[str, Any]]:
        """The JSON lines of the log so far (the CLI's own prints are plain text)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found


@pytest.fixture
def server(test_db: DatabaseFixture, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GUANXI_", "PROMETHEUS"))}
    (tmp_path / "tmp").mkdir()
    environment = {
        **inherited,
        **test_db.env(),
        "GUANXI_PLUGINS_TOML": str(tmp_path / "plugins.toml"),
        "GUANXI_LOG_FORMAT": "json",
        "TMPDIR": str(tmp_path / "tmp"),  # where the shared metrics directory goes
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "guanxi.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "2"],
            env=environment, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        problem = wait_until_up(process, url, log_path, timeout=60)
        assert problem is None, problem + "\n" + log_path.read_text(errors="replace")
        yield Server(process, url, log_path)
    finally:
        stop(process)


def test_two_workers_share_probes_metrics_and_json_logs(server: Server, tmp_path: Path) -> None:
    # OPS-03
    status, body = server.get("/readyz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ready"

    # Enough requests, some at once, that both workers answer some of them.
    sent: list[str] = []
    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(max_workers=4) as pool:
        while time.monotonic() < deadline:
            batch = [f"ops-{len(sent) + i}" for i in range(8)]
            assert {s for s, _ in pool.map(lambda r: server.get("/login", r), batch)} == {200}
            sent.extend(batch)
            if len(access_pids(server, sent)) == 2:
                break
    assert len(access_pids(server, sent)) == 2, "one worker answered every request"

    # Whichever worker answers /metrics counts the requests of both.
    deadline = time.monotonic() + 10
    while True:
        status, page = server.get("/metrics")
        assert status == 200  # a loopback client needs no sign-in
        merged = samples(page.decode())
        if value(merged, "guanxi_http_requests_total", **LOGIN) == len(sent):
            break
        assert time.monotonic() < deadline, value(merged, "guanxi_http_requests_total", **LOGIN)
        time.sleep(0.05)
    assert value(merged, "guanxi_http_request_duration_seconds_count", **LOGIN) == len(sent)
    assert value(merged, "guanxi_web_workers") == 2
    assert value(merged, "guanxi_http_requests_in_progress") == 1  # this scrape

    entries = server.entries()
    assert any(e["message"].startswith("Uvicorn running on") for e in entries)
    ours = [e for e in entries if e["logger"] == "guanxi.access" and e["request_id"] in sent]
    assert sorted(e["request_id"] for e in ours) == sorted(sent)  # one line per request
    text = server.log_path.read_text(errors="replace")
    assert '"GET /login HTTP/1.1" 200' not in text  # uvicorn's own access log is off

    stop(server.process)
    assert server.process.returncode == 0
    assert list((tmp_path / "tmp").glob("guanxi-metrics-*")) == []  # removed at exit


def access_pids(server: Server, request_ids: list[str]) -> set[int]:
    wanted = set(request_ids)
    return {
        e["pid"]
        for e in server.entries()
        if e["logger"] == "guanxi.access" and e.get("request_id") in wanted
    }
