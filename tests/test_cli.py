"""The `guanxi` command, run as a real process against this test's database:
check, plugins, init and demo."""

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

from guanxi import identity
from guanxi.actor import Actor
from guanxi.core import Guanxi
from guanxi.plugins import DEFAULT_PLUGINS
from tests.conftest import TestDatabase as DatabaseFixture  # a Test* name would be collected

Run = Callable[..., subprocess.CompletedProcess[str]]
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
    assert f"ok: schemas in {schema_dir}, {len(DEFAULT_PLUGINS)} plugin(s)" in result.stdout
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
    assert listing == {name: ("enabled", "core") for name in DEFAULT_PLUGINS}
    assert hooks == {
        "guanxi.defaults.field_types": "register_field_types",
        "guanxi.defaults.history": "record_stored",
        "guanxi.defaults.stages": "record_stored, validate_record",
    }


# -- init -----------------------------------------------------------------------------------


def test_init_creates_tables_and_the_first_admin_then_is_idempotent(
    guanxi: Run, test_db: DatabaseFixture
) -> None:  # OPS-01, OPS-05: init again never recreates or duplicates
    first = guanxi("init", "--admin", "boss")
    assert first.returncode == 0, output(first)
    assert "database ready: " in first.stdout
    created = set(re.findall(r"created table (\S+)", first.stdout))
    assert created >= CORE_TABLES
    assert "created first admin user 'boss'" in first.stdout
    database = test_db.database()
    with database.read() as connection:
        assert set(sa.inspect(connection).get_table_names()) >= CORE_TABLES
    assert [u["username"] for u in identity.list_users(database)] == ["boss"]

    again = guanxi("init", "--admin", "boss")
    assert again.returncode == 0, output(again)
    assert "created table" not in again.stdout
    assert "created first admin" not in again.stdout
    assert [u["username"] for u in identity.list_users(database)] == ["boss"]


# -- demo -----------------------------------------------------------------------------------


def test_demo_loads_the_requested_customers_once(
    guanxi: Run, make_platform: Callable[..., Guanxi]
) -> None:  # OPS-01: demo data
    result = guanxi("demo", "--customers", "12")
    assert result.returncode == 0, output(result)
    reported = loaded(result)
    platform = make_platform(start=False)
    found = counts(platform)
    assert found["customer"] == reported["customers"] == 12
    assert found["contact"] == reported["contacts"] >= 12
    assert found["followup"] == reported["followups"] >= 24
    assert (found["task"], found["note"]) == (reported["tasks"], reported["notes"])
    assert len(identity.list_users(platform.db)) == 13  # twelve reps and one service agent

    again = guanxi("demo")
    assert again.returncode == 0, output(again)
    assert "already has customers" in again.stdout
    assert counts(platform) == found


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


def test_serve_with_two_workers_answers_on_loopback(
    test_db: DatabaseFixture, tmp_path: Path
) -> None:
    """OPS-01: `guanxi serve --workers 2` syncs once, forks uvicorn workers, serves pages."""
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    environment = {**inherited, **test_db.env(), "GUANXI_PLUGINS_TOML": str(tmp_path / "x.toml")}
    server = subprocess.Popen(
        [sys.executable, "-m", "guanxi.cli", "serve", "--port", str(port), "--workers", "2"],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, answers = time.monotonic() + 60, []
        while time.monotonic() < deadline and len(answers) < 4:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as reply:
                    answers.append(json.loads(reply.read()))
            except OSError:
                time.sleep(0.3)
        assert len(answers) == 4, "server did not answer"
        assert all(answer["status"] == "ok" for answer in answers)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            assert "客户" in reply.read().decode()
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    assert "Guanxi on http://127.0.0.1" in log
