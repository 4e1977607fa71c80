"""Imports (DATA-09): the org of tests/org.py, a duplicate rule by mobile for source
"import", and helpers that write XLSX/CSV files and run an import in this process."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from guanxi.actor import Actor
from guanxi.hookspecs import hookimpl
from guanxi.imports import process, service
from guanxi.imports.service import ImportRun
from tests.org import Org, build_org

SECRET = "a test install's signing key, at least 32 characters"


class MobileDuplicates:
    """A duplicate rule for the tests: an existing record with the same mobile, for imports."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def find_duplicate(
        self, platform: Any, entity: Any, record: dict[str, Any], source: str
    ) -> int | None:
        if source != "import" or entity.name != "customer" or not record.get("mobile"):
            return None
        self.calls += 1
        page = platform.records.query(
            Actor.system(), "customer", {"field": "mobile", "op": "eq", "value": record["mobile"]}
        )
        return int(page.rows[0]["id"]) if page.rows else None


@pytest.fixture
def duplicates() -> MobileDuplicates:
    return MobileDuplicates()


@pytest.fixture
def org(make_platform: Any, duplicates: MobileDuplicates) -> Org:
    return build_org(make_platform(secret_key=SECRET, plugins=[("test_dupes", duplicates)]))


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], sheet: str = "客户") -> Path:
    workbook = openpyxl.Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    for row in rows:
        worksheet.append(list(row))
    workbook.save(path)
    return path


def write_csv(
    path: Path, rows: Sequence[Sequence[Any]], encoding: str = "utf-8", delimiter: str = ","
) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


ImportFile = Callable[..., ImportRun]


@pytest.fixture
def import_file(org: Org) -> ImportFile:
    """Upload `path` as `username`, start with the auto (or given) mapping, run it here."""

    def run(
        path: Path,
        username: str = "rep_east",
        entity: str = "customer",
        mapping: list[str | None] | None = None,
        *,
        policy: str = "skip",
        dry_run: bool = False,
        save_mapping: bool = False,
        **options: Any,
    ) -> ImportRun:
        actor = org.actor(username)
        with path.open("rb") as handle:
            draft = service.upload(
                org.platform, actor, entity, path.name, handle, policy=policy, dry_run=dry_run
            )
        service.start(
            org.platform, actor, draft.id, mapping, save_mapping=save_mapping, queue=False
        )
        return process.run_import(org.platform, draft.id, **options)

    return run


def customers_named(org: Org, *names: str) -> list[dict[str, Any]]:
    page = org.platform.records.query(
        Actor.system(), "customer", {"field": "name", "op": "in", "value": list(names)}, limit=500
    )
    return page.rows
