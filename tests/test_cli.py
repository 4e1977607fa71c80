"""The `guanxi` command, run as a real process against this test's database:
check, plugins, init, passwd, token, demo and serve."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.core import Guanxi
from guanxi.plugins import DEFAULT_PLUGINS
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected

Run = Callable[..., subprocess.CompletedProcess[str]]
ADMIN_PASSWORD = "绿茶-Longjing-2024"
CORE_TABLES = {"e_customer", "e_contact", "e_followup", "e_task", "e_note"}


@pytest.fixture
def guanxi(test_db: DatabaseFixture, tmp_path: Path) -> Run:
    """Run `python -m guanxi.cli ARGS` in tmp_path on this test's database; extra keyword
    arguments become environment variables."""

    def run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
        environment = {
            **inherited,
            **test_db.env(),
            "GUANXI_PLUGINS_TOML": str(tmp_path / "plugins.toml"),
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "guanxi.cli", *args],
            env=environment,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def counts(platform: Guanxi) -> dict[str, int]:
    system = Actor.system()
    return {
        name: platform.records.count(system, name, cap=100_000).value
        for name in ("customer", "contact", "followup", "task", "note")
    }


def loaded(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """{"customers": 12, ...} from the line `demo data loaded: 12 customers, 25 contacts, ...`."""
    match = re.search(r"demo data loaded: (.+)", result.stdout)
    assert match, output(result)
    return {name: int(value) for value, name in re.findall(r"(\d+) (\w+)", match.group(1))}


# -- check ----------------------------------------------------------------------------------


def test_check_passes_on_the_shipped_schemas(
    guanxi: Run, test_db: DatabaseFixture, tmp_path: Path
) -> None:  # CORE-01
    result = guanxi("check")
    assert result.returncode == 0, output(result)
    schema_dir = Path(__file__).resolve().parents[1] / "schemas"
    installed = len(DEFAULT_PLUGINS) + 2  # + guanxi_recyclebin, guanxi_sfa: entry points
    assert f"ok: schemas in {schema_dir}, {installed} plugin(s)" in result.stdout
    if test_db.dialect == "sqlite":
        assert not (tmp_path / "guanxi.db").exists()  # check never touches the database


def schema(entity: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "x-guanxi": {"entity": entity, "label": {"zh-CN": entity}},
    }


def test_check_reports_each_broken_schema_file_with_its_json_pointer(
    guanxi: Run, tmp_path: Path
) -> None:  # CORE-01: each schema's own errors with file and JSON pointer
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    unknown_type = {"rank": {"x-guanxi": {"type": "stars", "label": {"zh-CN": "星级"}}}}
    (schemas / "badtype.json").write_text(json.dumps(schema("badtype", unknown_type)))
    select_without_options = {"level": {"x-guanxi": {"type": "select", "label": {"zh-CN": "级别"}}}}
    (schemas / "nooptions.json").write_text(json.dumps(schema("nooptions", select_without_options)))
    (schemas / "truncated.json").write_text('{"$schema": "https://json-schema.org/draft/2020-12/')
    result = guanxi("check", GUANXI_SCHEMA_DIR=str(schemas))
    assert result.returncode == 1, output(result)
    lines = result.stdout.splitlines()
    assert any(
        line.startswith(f"{schemas / 'badtype.json'}#/properties/rank/x-guanxi/type: 'stars'")
        for line in lines
    ), result.stdout
    no_options = f"{schemas / 'nooptions.json'}#/properties/level/x-guanxi"
    assert f"{no_options}: a select needs options" in lines
    assert any(
        line.startswith(f"{schemas / 'truncated.json'}#/: not valid JSON") for line in lines
    ), result.stdout
    assert lines[-1] == "3 problem(s) found"


def test_check_names_a_configured_plugin_that_is_not_installed(guanxi: Run, tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text("[plugins.guanxi_wechat]\nenabled = true\n")
    result = guanxi("check")
    assert result.returncode == 1, output(result)
    assert "plugin 'guanxi_wechat': configured in plugins.toml but not installed" in result.stdout
    assert "1 problem(s) found" in result.stdout


def test_check_reports_an_unreadable_plugins_toml(guanxi: Run, tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text("[plugins.guanxi_wechat\n")
    result = guanxi("check")
    assert result.returncode == 1, output(result)
    assert result.stdout.startswith("plugins.toml: ")
    assert "Traceback" not in output(result)


# -- plugins --------------------------------------------------------------------------------


def test_plugins_lists_the_core_plugins_and_their_hooks(guanxi: Run) -> None:
    result = guanxi("plugins")
    assert result.returncode == 0, output(result)
    listing: dict[str, tuple[str, str]] = {}
    hooks: dict[str, str] = {}
    current = None
    for line in result.stdout.splitlines():
        if not line.startswith(" "):
            current, status, source = line.split(maxsplit=2)
            listing[current] = (status, source)
        elif line.strip().startswith("hooks: ") and current:
            hooks[current] = line.strip().removeprefix("hooks: ")
    assert listing == {
        **{name: ("enabled", "core") for name in DEFAULT_PLUGINS},
        "guanxi_recyclebin": ("enabled", "entry point (guanxi)"),  # built in, as a plugin
        "guanxi_sfa": ("enabled", "entry point (guanxi)"),
    }
    assert hooks == {
        "guanxi.defaults.field_types": "register_field_types",
        "guanxi.defaults.binned": "query_conditions",
        "guanxi.defaults.history": "record_stored",
        "guanxi.defaults.stages": "record_stored, validate_record",
        "guanxi.defaults.permissions": "register_actions, register_jobs",
        "guanxi.defaults.followups": "record_changed, record_stored",
        "guanxi.defaults.webhooks": "record_changed, register_jobs, register_routes",
        "guanxi.defaults.webforms": "find_duplicate, register_jobs, register_routes",
        "guanxi.defaults.duplicates": "find_duplicate, menu_items, record_actions, record_stored, "
        "register_jobs, register_routes, startup, validate_record",
        "guanxi.defaults.imports": "menu_items, register_jobs, register_routes",
        "guanxi.defaults.backups": "register_jobs",
        "guanxi.defaults.reports": "menu_items, register_routes",
        "guanxi_recyclebin": "delete_record, menu_items, record_stored, register_jobs, "
        "register_routes, register_tables, request_delete_approval",
        "guanxi_sfa": "delete_record, demo_data, extend_schemas, menu_items, prepare_record, "
        "record_actions, "
        "record_changed, record_stored, register_actions, register_jobs, register_routes, "
        "register_schemas, register_tables, startup, validate_record",
    }


# -- init -----------------------------------------------------------------------------------


def test_init_creates_tables_and_the_first_admin_then_is_idempotent(
    guanxi: Run, test_db: DatabaseFixture, make_platform: Callable[..., Guanxi]
) -> None:  # OPS-01, OPS-05: init again never recreates or duplicates; PERM-09
    first = guanxi("init", "--admin", "boss", GUANXI_ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert first.returncode == 0, output(first)
    assert "database ready: " in first.stdout
    created = set(re.findall(r"created table (\S+)", first.stdout))
    assert created >= CORE_TABLES
    assert "created first admin user 'boss'" in first.stdout
    assert ADMIN_PASSWORD not in output(first)
    database = test_db.database()
    with database.read() as connection:
        assert set(sa.inspect(connection).get_table_names()) >= CORE_TABLES
    assert [u["username"] for u in identity.list_users(database)] == ["boss"]
    platform = make_platform(start=False)
    _cookie, admin = platform.login.login("boss", ADMIN_PASSWORD)
    assert "admin" in admin.roles

    again = guanxi("init", "--admin", "boss")  # no password needed: the admin exists
    assert again.returncode == 0, output(again)
    assert "created table" not in again.stdout
    assert "created first admin" not in again.stdout
    assert [u["username"] for u in identity.list_users(database)] == ["boss"]


def test_init_reads_the_admin_password_from_a_file(
    guanxi: Run, tmp_path: Path, make_platform: Callable[..., Guanxi]
) -> None:  # PERM-09
    secret = tmp_path / "admin-password"
    secret.write_text(ADMIN_PASSWORD + "\n")
    result = guanxi("init", "--admin", "root_admin", "--admin-password-file", str(secret))
    assert result.returncode == 0, output(result)
    platform = make_platform(start=False)
    _cookie, admin = platform.login.login("root_admin", ADMIN_PASSWORD)
    assert admin.username == "root_admin" and "admin" in admin.roles


def test_init_without_a_password_fails_and_creates_no_user(
    guanxi: Run, test_db: DatabaseFixture
) -> None:  # PERM-09: never a default password
    result = guanxi("init", "--admin", "boss")
    assert result.returncode != 0
    assert "no password for the first admin" in result.stderr
    assert "--admin-password-file" in result.stderr and "GUANXI_ADMIN_PASSWORD" in result.stderr
    assert identity.list_users(test_db.database()) == []


def test_init_refuses_a_weak_admin_password(guanxi: Run, test_db: DatabaseFixture) -> None:
    result = guanxi("init", "--admin", "boss", GUANXI_ADMIN_PASSWORD="admin123")  # PERM-09
    assert result.returncode == 1
    assert "error: The password needs at least 10 characters" in result.stderr
    assert identity.list_users(test_db.database()) == []


# -- passwd and token -----------------------------------------------------------------------


def test_passwd_sets_a_password_and_ends_the_users_sessions(
    guanxi: Run, tmp_path: Path, make_platform: Callable[..., Guanxi]
) -> None:  # PERM-09
    assert guanxi("init", "--admin", "boss", GUANXI_ADMIN_PASSWORD=ADMIN_PASSWORD).returncode == 0
    platform = make_platform(start=False)
    cookie, _admin = platform.login.login("boss", ADMIN_PASSWORD)
    new_password = tmp_path / "new-password"
    new_password.write_text("铁观音-Anxi-1725\n")
    result = guanxi("passwd", "boss", "--password-file", str(new_password))
    assert result.returncode == 0, output(result)
    assert "password of 'boss' set; 1 session(s) ended" in result.stdout
    assert platform.login.session_actor(cookie) is None
    assert platform.login.login("boss", "铁观音-Anxi-1725")[1].username == "boss"
    unknown = guanxi("passwd", "nobody", "--password-file", str(new_password))
    assert unknown.returncode == 1 and "No such user" in unknown.stderr


def test_token_create_list_and_revoke(
    guanxi: Run, make_platform: Callable[..., Guanxi]
) -> None:  # PERM-09
    assert guanxi("init", "--admin", "boss", GUANXI_ADMIN_PASSWORD=ADMIN_PASSWORD).returncode == 0
    created = guanxi("token", "create", "boss", "ERP sync", "--days", "30")
    assert created.returncode == 0, output(created)
    token_id, token = re.search(r"token (\d+) .*\n(gx_\S+)", created.stdout).groups()
    platform = make_platform(start=False)
    assert platform.login.token_actor(token).username == "boss"
    listed = guanxi("token", "list", "boss")
    assert "ERP sync" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout  # the secret is never shown again
    revoked = guanxi("token", "revoke", token_id)
    assert revoked.returncode == 0 and f"token {token_id} revoked" in revoked.stdout
    assert platform.login.token_actor(token) is None
    assert "revoked" in guanxi("token", "list", "boss").stdout


# -- demo -----------------------------------------------------------------------------------


def test_demo_loads_the_requested_customers_once(
    guanxi: Run, make_platform: Callable[..., Guanxi]
) -> None:  # OPS-01: demo data
    result = guanxi("demo", "--customers", "12")
    assert result.returncode == 0, output(result)
    reported = loaded(result)
    platform = make_platform(start=False)
    found = counts(platform)
    assert found["customer"] == reported["customers"] >= 12  # + customers from converted leads
    assert found["contact"] == reported["contacts"] >= 12
    assert found["followup"] == reported["followups"] >= 24
    assert (found["task"], found["note"]) == (reported["tasks"], reported["notes"])
    # twelve reps, their manager and one service agent
    assert len(identity.list_users(platform.db)) == 14

    again = guanxi("demo")
    assert again.returncode == 0, output(again)
    assert "already has customers" in again.stdout
    assert counts(platform) == found


def test_explain_and_purge_logs_commands(
    guanxi: Run, make_platform: Callable[..., Guanxi]
) -> None:  # PERM-10, PERM-07
    assert guanxi("demo", "--customers", "6").returncode == 0
    platform = make_platform(start=False)
    customer = platform.records.query(
        Actor.system(), "customer", [{"field": "owner_id", "op": "not_empty"}], limit=1
    ).rows[0]  # not one the demo gave back to the public pool
    users = {u["id"]: u["username"] for u in identity.list_users(platform.db)}
    owner = users[customer["owner_id"]]
    record_id = str(customer["id"])
    allowed = guanxi("explain", owner, "view", "customer", record_id, "--lang", "en")
    assert allowed.returncode == 0, output(allowed)
    assert "within the scope 'own'" in allowed.stdout
    # reps 1, 4, 7, 10 share a department; rep02/rep03 are in others, so one of them is
    # neither the owner nor in the owner's department
    other = next(name for name in ("rep02", "rep03") if name != owner)
    denied = guanxi("explain", other, "view", "customer", record_id)
    assert denied.returncode == 3, output(denied)
    assert "拒绝" in denied.stdout
    masked = guanxi("explain", "service01", "read", "customer.mobile", "--lang", "en")
    assert masked.returncode == 3 and "masked" in masked.stdout

    too_short = guanxi("purge-logs", "--days", "30")
    assert too_short.returncode == 1 and "183" in output(too_short)
    purged = guanxi("purge-logs")
    assert purged.returncode == 0, output(purged)
    assert "kept 365 days" in purged.stdout


@pytest.mark.slow
def test_demo_default_loads_a_realistic_amount(
    guanxi: Run, make_platform: Callable[..., Guanxi]
) -> None:  # OPS-01
    result = guanxi("demo", timeout=900)
    assert result.returncode == 0, output(result)
    found = counts(make_platform(start=False))
    assert found["customer"] >= 200
    assert found["contact"] >= 200
    assert found["followup"] >= 400
    assert loaded(result)["customers"] == found["customer"]


# -- serve ----------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    test_db: DatabaseFixture, tmp_path: Path, *args: str
) -> tuple[subprocess.Popen[str], str]:
    """`guanxi serve ARGS` on a free loopback port; (process, base URL)."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    environment = {**inherited, **test_db.env(), "GUANXI_PLUGINS_TOML": str(tmp_path / "x.toml")}
    server = subprocess.Popen(
        [sys.executable, "-m", "guanxi.cli", "serve", "--port", str(port), *args],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return server, f"http://127.0.0.1:{port}"


def wait_for_health(base: str, answers_wanted: int = 1) -> list[dict[str, Any]]:
    import time
    import urllib.request

    deadline, answers = time.monotonic() + 60, []
    while time.monotonic() < deadline and len(answers) < answers_wanted:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as reply:
                answers.append(json.loads(reply.read()))
        except OSError:
            time.sleep(0.3)
    assert len(answers) == answers_wanted, "server did not answer"
    return answers


def browser() -> Any:
    """A urllib opener that keeps cookies, like a browser."""
    import http.cookiejar
    import urllib.request

    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def sign_in(opener: Any, base: str, username: str, password: str) -> str:
    """Log in through the form; returns the page the login led to."""
    import urllib.parse

    with opener.open(f"{base}/", timeout=5) as reply:  # redirected to the login form
        page = reply.read().decode()
    assert "登录" in page and reply.url.startswith(f"{base}/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"username": username, "password": password, "csrf_token": token, "next": "/"}
    data = urllib.parse.urlencode(form).encode()
    with opener.open(f"{base}/login", data=data, timeout=5) as reply:
        return str(reply.read().decode())


def test_serve_with_two_workers_answers_on_loopback(
    guanxi: Run, test_db: DatabaseFixture, tmp_path: Path
) -> None:
    """OPS-01: `guanxi serve --workers 2` syncs once, forks uvicorn workers, serves pages;
    PERM-09: both workers accept the same session (they share var/secret_key)."""
    assert guanxi("init", "--admin", "boss", GUANXI_ADMIN_PASSWORD=ADMIN_PASSWORD).returncode == 0
    server, base = start_server(test_db, tmp_path, "--workers", "2")
    try:
        answers = wait_for_health(base, 4)
        assert all(answer["status"] == "ok" for answer in answers)
        opener = browser()
        assert 'data-module="customer"' in sign_in(opener, base, "boss", ADMIN_PASSWORD)
        for _request in range(6):  # spread over both workers
            with opener.open(f"{base}/", timeout=5) as reply:
                assert reply.url == f"{base}/" and 'data-module="customer"' in reply.read().decode()
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    assert "Guanxi on http://127.0.0.1" in log
    assert "sign in at /login as an administrator (boss)" in log
    key = tmp_path / "var" / "secret_key"
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"


def test_serve_demo_creates_an_admin_with_a_one_time_password(
    guanxi: Run, test_db: DatabaseFixture, tmp_path: Path
) -> None:  # OPS-01, PERM-09: the demo is usable at once, with no fixed password shipped
    assert guanxi("demo", "--customers", "2").returncode == 0
    server, base = start_server(test_db, tmp_path, "--demo")
    try:
        wait_for_health(base)
        printed = _output_so_far(server)  # printed before the server listens
        username, password = re.search(
            r"demo admin created: sign in as '(\S+)' with the password (\S+)", printed
        ).groups()
        assert username == "admin"
        home = sign_in(browser(), base, username, password)
        shown = re.search(
            r'<div class="figure">(\d+)</div>\s*<div class="figure-label">客户</div>', home
        )
        assert shown and int(shown.group(1)) >= 2  # + customers from the SFA demo's conversions
    finally:
        server.terminate()
        server.communicate(timeout=30)
    again, base = start_server(test_db, tmp_path, "--demo")
    try:
        wait_for_health(base)
    finally:
        again.terminate()
        log, _ = again.communicate(timeout=30)
    assert "demo admin created" not in log  # once only
    assert "sign in at /login as an administrator (admin)" in log


def _output_so_far(server: subprocess.Popen[str]) -> str:
    """What the server printed until now, read without waiting for more."""
    import select

    assert server.stdout is not None
    chunks = []
    while select.select([server.stdout], [], [], 0)[0]:
        chunk = os.read(server.stdout.fileno(), 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


# -- jobs and worker (OPS-02) ------------------------------------------------------------------


def test_worker_once_runs_due_jobs_and_jobs_lists_them(guanxi: Run) -> None:
    """`guanxi worker --once` runs what is due (the core's daily jobs on a fresh database);
    `guanxi jobs` lists every job with its schedule and last run; `guanxi jobs runs` the log."""
    assert guanxi("init", "--admin", "boss", GUANXI_ADMIN_PASSWORD=ADMIN_PASSWORD).returncode == 0
    worker = guanxi("worker", "--once", GUANXI_LOG_FORMAT="text")
    assert worker.returncode == 0, output(worker)
    listed = guanxi("jobs")
    assert listed.returncode == 0, output(listed)
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "daily at 03:30" in lines["purge_logs"] and " ok " in lines["purge_logs"]
    assert "daily at 04:00" in lines["jobs.cleanup"]
    runs = guanxi("jobs", "runs", "purge_logs")
    assert runs.returncode == 0 and "purge_logs" in runs.stdout and " ok " in runs.stdout
    queued = guanxi("jobs", "run", "purge_logs", "--wait")
    assert queued.returncode == 0 and "purge_logs task" in queued.stdout, output(queued)
    assert ": ok" in queued.stdout
    unknown = guanxi("jobs", "run", "no.such")
    assert unknown.returncode == 1 and "no job named" in unknown.stdout
