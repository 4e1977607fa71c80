"""Backup and verified restore (DATA-13) through the Python API, on SQLite and PostgreSQL:
back up, destroy, restore into the empty database, and compare every record."""

from __future__ import annotations

import base64
import dataclasses
import errno
import json
import os
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from guanxi.actor import Actor
from guanxi.backup import (
    BackupError,
    RestoreRefused,
    create_backup,
    pg_tools,
    restore_backup,
    verify_archive,
)
from guanxi.backup import archive as archive_module
from guanxi.store.db import normalize_url
from tests.backup.support import QUOTE_PDF, all_rows, destroy, files_under, records, repack
from tests.conftest import PG_URL, customer_data


def test_backup_destroy_restore_gives_back_every_record(
    seeded: Any, make_platform: Any, test_db: Any
) -> None:  # DATA-13
    before = records(seeded)
    rows_before = all_rows(test_db)
    files_before = files_under(seeded.settings.attachments_dir)
    result = create_backup(seeded)

    assert result.path.parent == seeded.settings.backup_dir
    assert result.path.name.startswith("guanxi-backup-") and result.path.name.endswith("Z.tar.gz")
    assert result.files == 1 and QUOTE_PDF in files_before.values()
    manifest = result.manifest
    assert manifest.dialect == test_db.dialect and manifest.schema == test_db.schema
    assert {t: d.rows for t, d in manifest.tables.items()} == {
        t: len(r) for t, r in rows_before.items()
    }
    assert manifest.tables["e_customer"].rows == 2 and manifest.tables["gx_tag_link"].rows == 3
    assert manifest.encryption["key_ids"] == [seeded.cipher.current]  # mobiles are sealed
    assert verify_archive(result.path).ok

    destroy(test_db, seeded)
    assert all_rows(test_db) == {} and files_under(seeded.settings.attachments_dir) == {}

    report = restore_backup(seeded.settings, result.path)

    assert report.ok, [(t.name, t.expected, t.actual) for t in report.tables if not t.ok]
    assert [t.name for t in report.tables] == sorted(rows_before)
    assert report.files_restored == 1 and report.warnings == []
    assert all_rows(test_db) == rows_before  # every row of every table, field by field
    assert files_under(seeded.settings.attachments_dir) == files_before
    restored = make_platform()
    assert records(restored) == before
    customer = before["customer"][0]
    assert customer["tags"] == ["erp", "vip"] and customer["cf_wechat_id"] == "zhangsan_88"
    assert customer["mobile"] == "13812345678" and "广交会 🎉" in customer["remarks"]


def test_restore_into_a_database_with_guanxi_tables_is_refused_and_changes_nothing(
    seeded: Any, test_db: Any
) -> None:  # DATA-13
    result = create_backup(seeded)
    seeded.records.create(Actor.system(), "customer", customer_data(name="赵六"))
    rows = all_rows(test_db)
    files = files_under(seeded.settings.attachments_dir)

    with pytest.raises(RestoreRefused, match="already has Guanxi tables|is not empty"):
        restore_backup(seeded.settings, result.path)

    assert all_rows(test_db) == rows
    assert files_under(seeded.settings.attachments_dir) == files


def test_restore_refuses_to_replace_an_attachment_with_other_content(
    seeded: Any, test_db: Any
) -> None:  # DATA-13
    result = create_backup(seeded)
    destroy(test_db, seeded)
    [relative] = result.manifest.attachments
    clash = Path(seeded.settings.attachments_dir) / relative
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"someone else's file")

    with pytest.raises(RestoreRefused, match="other content"):
        restore_backup(seeded.settings, result.path)

    assert all_rows(test_db) == {}  # the database was not touched either
    assert clash.read_bytes() == b"someone else's file"


def test_tampered_archives_fail_verify_and_are_not_restored(
    seeded: Any, test_db: Any, tmp_path: Path
) -> None:  # DATA-13
    result = create_backup(seeded)
    [relative] = result.manifest.attachments

    flipped = tmp_path / "flipped.tar.gz"
    data = bytearray(result.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    flipped.with_name("flipped.tar.gz.sha256").write_text(
        result.path.with_name(result.path.name + ".sha256").read_text()
    )
    report = verify_archive(flipped)
    assert not report.ok and any("differs from" in p for p in report.problems)

    swapped = repack(
        result.path,
        tmp_path / "swapped.tar.gz",
        lambda name, data: b"%PDF forged" if name.startswith("attachments/") else data,
    )
    [problem] = verify_archive(swapped).problems
    assert problem.startswith(f"attachments/{relative} does not match its checksum")

    def forge_rows(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        document = json.loads(data)
        document["database"]["sha256"] = "0" * 64
        return json.dumps(document).encode()

    forged = repack(result.path, tmp_path / "forged.tar.gz", forge_rows)
    assert any("database/" in p for p in verify_archive(forged).problems)

    escaping = repack(result.path, tmp_path / "escape.tar.gz", extra={"../../evil.txt": b"x"})
    report = verify_archive(escaping)
    assert report.problems == ["the archive holds an unexpected member '../../evil.txt'"]

    no_sidecar = tmp_path / "lonely.tar.gz"
    no_sidecar.write_bytes(result.path.read_bytes())
    assert any(".sha256 is missing" in p for p in verify_archive(no_sidecar).problems)

    destroy(test_db, seeded)
    for broken in (flipped, swapped, forged, escaping, no_sidecar):
        with pytest.raises(RestoreRefused, match="failed verification"):
            restore_backup(seeded.settings, broken)
    assert all_rows(test_db) == {}
    assert files_under(seeded.settings.attachments_dir) == {}
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_backup_while_records_are_written_is_one_consistent_snapshot(
    seeded: Any, test_db: Any
) -> None:  # DATA-13: the app keeps writing during a backup
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        while not stop.is_set():
            created = seeded.records.create(
                Actor.system(), "customer", customer_data(name=f"客户{len(written)}")
            )
            written.append(created["id"])

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 3 and writer.is_alive():
            stop.wait(0.01)
        assert len(written) >= 3, "the writer thread stopped early"
        result = create_backup(seeded)
    finally:
        stop.set()
        writer.join()

    destroy(test_db, seeded)
    report = restore_backup(seeded.settings, result.path)
    assert report.ok  # the checksums describe exactly the rows the dump holds
    assert 2 + 3 <= result.manifest.tables["e_customer"].rows <= 2 + len(written)


def test_restore_into_another_empty_database(
    seeded: Any, test_db: Any, tmp_path: Path
) -> None:  # DATA-13: a new SQLite file, or on PostgreSQL a schema of another name
    rows_before = all_rows(test_db)
    result = create_backup(seeded)
    if not PG_URL:
        elsewhere = dataclasses.replace(
            seeded.settings,
            database_url=f"sqlite:///{tmp_path / 'new' / 'restored.db'}",
            attachments_dir=tmp_path / "new" / "attachments",
            encryption_key_file=tmp_path / "new" / "encryption.keys",
        )
        report = restore_backup(elsewhere, result.path)
        assert report.ok
        [warning] = report.warnings  # the data is back, but its key ring is not
        assert f"need key(s) {seeded.cipher.current}" in warning and "encryption.keys" in warning
        assert all_rows(test_db, url=elsewhere.database_url) == rows_before
        return
    other = f"{test_db.schema}_copy"
    engine = sa.create_engine(normalize_url(PG_URL))
    with engine.begin() as connection:  # with a table of its own, which stays as it is
        connection.exec_driver_sql(f'CREATE SCHEMA "{other}"')
        connection.exec_driver_sql(f'CREATE TABLE "{other}".keep_me (id int PRIMARY KEY)')
        connection.exec_driver_sql(f'INSERT INTO "{other}".keep_me VALUES (7)')
    try:
        elsewhere = dataclasses.replace(seeded.settings, database_schema=other)
        with pytest.raises(RestoreRefused, match="exists in the target database and is in use"):
            restore_backup(elsewhere, result.path)  # the backed-up schema is still there
        destroy(test_db, seeded)
        with engine.begin() as connection:  # as on a new server: no schema of that name
            connection.exec_driver_sql(f'DROP SCHEMA "{test_db.schema}"')
        report = restore_backup(elsewhere, result.path)
        assert report.ok and report.target.endswith(f"(schema {other})")
        assert report.tables == sorted(report.tables, key=lambda t: t.name)
        assert "keep_me" not in {t.name for t in report.tables}
        assert all_rows(test_db, other) == {**rows_before, "keep_me": [{"id": 7}]}
        with engine.connect() as connection:
            names = connection.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars()
            assert test_db.schema not in set(names)  # restored under its name, then moved
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{test_db.schema}"')
        engine.dispose()


def test_a_full_disk_is_a_clear_error_and_leaves_nothing_behind(
    seeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:  # DATA-13
    def full(*_args: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archive_module.ArchiveWriter, "add_file", full)
    with pytest.raises(BackupError, match="not enough disk space"):
        create_backup(seeded)
    assert list(Path(seeded.settings.backup_dir).iterdir()) == []


@pytest.mark.skipif(not PG_URL, reason="pg_dump is for PostgreSQL")
def test_missing_pg_dump_is_named(
    seeded: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # DATA-13
    monkeypatch.setattr(pg_tools, "PG_LIBDIR", tmp_path / "no-postgresql")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(BackupError, match="pg_dump was not found on PATH"):
        create_backup(seeded)
    assert list(Path(seeded.settings.backup_dir).iterdir()) == []


def test_archive_holds_only_the_expected_members(seeded: Any) -> None:  # DATA-13
    result = create_backup(seeded)
    with tarfile.open(result.path) as archive:
        names = archive.getnames()
    database = "database/guanxi.pgdump" if PG_URL else "database/guanxi.sqlite3"
    [relative] = result.manifest.attachments
    assert names == [database, f"attachments/{relative}", "manifest.json"]
    sidecar = result.path.with_name(result.path.name + ".sha256").read_text()
    assert sidecar == f"{result.sha256}  {result.path.name}\n"
    assert result.path.stat().st_mode & 0o077 == 0  # the owner's alone
    ring = json.loads(Path(seeded.settings.encryption_key_file).read_text())
    secrets = [key.encode() for key in ring["keys"].values()]
    secrets += [base64.b64decode(key) for key in ring["keys"].values()]
    with tarfile.open(result.path) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            content = handle.read() if handle else b""
            assert not any(secret in content for secret in secrets)  # the key stays outside


@pytest.mark.skipif(not PG_URL, reason="a second PostgreSQL database")
def test_restore_into_a_new_postgresql_database_creates_what_the_dump_needs(
    seeded: Any, test_db: Any
) -> None:  # DATA-13: another server or database, default schema, no pg_trgm yet
    rows_before = all_rows(test_db)
    result = create_backup(seeded)
    assert result.manifest.database["extensions"] == {"pg_trgm": "public"}
    name = f"gx_restore_{test_db.schema}"
    admin = sa.create_engine(normalize_url(PG_URL or ""), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.DBAPIError:
        admin.dispose()
        if os.environ.get("CI") == "true":  # the throwaway cluster's user may: a real failure
            raise
        pytest.skip("the test user may not create databases")
    try:
        url = sa.engine.make_url(normalize_url(PG_URL or "")).set(database=name)
        target_url = url.render_as_string(hide_password=False)
        target = dataclasses.replace(seeded.settings, database_url=target_url, database_schema=None)
        destroy(test_db, seeded)
        report = restore_backup(target, result.path)
        assert report.ok and report.target.endswith("(schema public)")
        assert all_rows(test_db, "public", url=target_url) == rows_before
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
