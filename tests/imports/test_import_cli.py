"""`guanxi import` (DATA-09) as a real process on this test's database: the progress bar,
the summary, the error workbook, exit codes, a mapping file, and --resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from guanxi.imports import service
from guanxi.store.system_tables import import_run
from tests.conftest import TestDatabase as DatabaseFixture
from tests.imports.conftest import customers_named, write_csv, write_xlsx
from tests.org import Org

HEADER = ["客户名称", "公司名称", "线索来源", "电话号码"]


def run_cli(test_db: DatabaseFixture, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    environment.update(
        test_db.env(),
        GUANXI_IMPORTS_DIR=str(tmp_path / "imports"),
        GUANXI_PLUGINS_TOML=str(tmp_path / "plugins.toml"),
    )
    return subprocess.run(
        [sys.executable, "-m", "guanxi.cli", "import", *args],
        env=environment,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_command_shows_progress_and_writes_the_error_workbook(
    org: Org, test_db: DatabaseFixture, tmp_path: Path
) -> None:  # DATA-09
    rows = [HEADER] + [[f"命令行{i}", "公司", "展会", f"137000099{i:02d}"] for i in range(12)]
    rows.append(["坏行", "公司", "展会", "123"])
    path = write_xlsx(tmp_path / "cli.xlsx", rows)
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"电话号码": "mobile"}), encoding="utf-8")
    result = run_cli(
        test_db,
        tmp_path,
        str(path),
        "--entity",
        "customer",
        "--user",
        "rep_east",
        "--mapping",
        str(mapping),
    )
    assert result.returncode == 3, result.stdout + result.stderr  # finished, one row failed
    assert "电话号码 -> mobile" in result.stdout
    assert "13/13" in result.stderr and "rows" in result.stderr  # the tqdm bar
    assert "created 12" in result.stdout and "failed 1" in result.stdout
    errors = tmp_path / "cli-errors.xlsx"
    assert f"error workbook: {errors}" in result.stdout
    sheet = openpyxl.load_workbook(errors).worksheets[0]
    assert [c.value for c in list(sheet.iter_rows())[1]][:4] == ["坏行", "公司", "展会", "123"]
    assert customers_named(org, "命令行0")[0]["owner_id"] == org.users["rep_east"]


def test_import_command_dry_run_exits_zero_and_defaults_to_an_admin(
    org: Org, test_db: DatabaseFixture, tmp_path: Path
) -> None:  # DATA-09
    path = write_csv(tmp_path / "ok.csv", [HEADER, ["干跑", "公司", "官网", ""]], "gb18030")
    result = run_cli(test_db, tmp_path, str(path), "--entity", "customer", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "as admin" in result.stdout and "would be created 1" in result.stdout
    assert customers_named(org, "干跑") == []


def test_import_command_resumes_a_stopped_import(
    org: Org, test_db: DatabaseFixture, tmp_path: Path
) -> None:  # DATA-09
    path = write_xlsx(
        tmp_path / "resume.xlsx", [HEADER] + [[f"续{i}", "司", "展会", ""] for i in range(5)]
    )
    rep = org.actor("rep_east")
    with path.open("rb") as handle:
        draft = service.upload(org.platform, rep, "customer", "resume.xlsx", handle)
    service.start(org.platform, rep, draft.id, queue=False)
    with org.platform.db.unit_of_work() as connection:  # as a crash leaves it: stopped
        connection.execute(
            sa.update(import_run)
            .where(import_run.c.id == draft.id)
            .values(status="failed", error="worker killed")
        )
    stored = Path(org.platform.settings.imports_dir)
    result = run_cli(test_db, stored.parent, "--resume", str(draft.id))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"import {draft.id}: resuming resume.xlsx at row 2" in result.stdout
    assert service.get(org.platform, rep, draft.id).created == 5
    again = run_cli(test_db, stored.parent, "--resume", str(draft.id))
    assert again.returncode == 1 and "nothing to resume" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.xlsx", "--entity", "customer"), "no such file"),
        (("--entity", "customer"), "give FILE"),
        (("x.xls", "--entity", "customer", "--user", "agent"), "may not create"),
    ],
)
def test_import_command_errors(
    org: Org, test_db: DatabaseFixture, tmp_path: Path, args: Any, message: str
) -> None:  # DATA-09
    (tmp_path / "x.xls").write_bytes(b"\xd0\xcf")
    result = run_cli(test_db, tmp_path, *args)
    assert result.returncode == 1 and message in result.stderr
