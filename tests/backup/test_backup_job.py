"""The daily backup job (DATA-13, OPS-02): registered with the job runner at 02:30, writes an
archive and applies retention to Guanxi archives only."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import pytest

from guanxi import clock
from guanxi.backup import verify_archive
from guanxi.backup.manifest import archive_name
from guanxi.defaults.backups import JOB_NAME

# 03:00 business time on a fixed day: the 02:30 backup of that day is due.
NOW = clock.to_utc(datetime.combine(datetime(2030, 1, 15).date(), dt_time(3, 0)))


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(clock, "now_utc", lambda: NOW)
    return NOW


def backup_outcomes(platform: Any) -> list[Any]:
    return [o for o in platform.jobs.run_due(worker="test", now=NOW) if o.job == JOB_NAME]


def test_daily_job_is_registered_at_half_past_two(platform: Any) -> None:  # DATA-13
    spec = platform.jobs.specs[JOB_NAME]
    assert spec.every_seconds == 86400 and spec.at == dt_time(2, 30)
    assert spec.plugin == "guanxi.defaults.backups"


def test_daily_job_writes_an_archive_and_removes_only_expired_guanxi_archives(
    make_platform: Any, frozen: datetime, tmp_path: Path
) -> None:  # DATA-13
    platform = make_platform(backup_keep_days=14)
    folder = Path(platform.settings.backup_dir)
    folder.mkdir(parents=True)
    expired = archive_name(frozen - timedelta(days=15))
    expired_twin = archive_name(frozen - timedelta(days=30), attempt=2)
    kept = archive_name(frozen - timedelta(days=13))
    for name in (expired, expired_twin, kept):
        (folder / name).write_bytes(b"old archive")
        (folder / f"{name}.sha256").write_text("0" * 64 + f"  {name}\n")
    strangers = [
        "notes.txt",
        "guanxi-backup-manual.tar.gz",
        "crm-20200101T000000Z.tar.gz",
        "guanxi-backup-20200101T000000Z.tar.gz.bak",
        "guanxi-backup-20200101T000000Z.zip",
    ]
    for name in strangers:
        (folder / name).write_text("not ours")
    (folder / "guanxi-backup-20200101T000000Z.tar.gz.d").mkdir()
    (folder / "guanxi-backup-20190101T000000Z.tar.gz").mkdir()  # a folder is never deleted

    [outcome] = backup_outcomes(platform)

    assert outcome.status == "ok", outcome.error
    written = archive_name(frozen)
    assert outcome.result["archive"] == written
    assert sorted(outcome.result["removed"]) == sorted(
        [expired, f"{expired}.sha256", expired_twin, f"{expired_twin}.sha256"]
    )
    assert verify_archive(folder / written).ok
    left = {p.name for p in folder.iterdir()}
    assert left == {
        written,
        f"{written}.sha256",
        kept,
        f"{kept}.sha256",
        *strangers,
        "guanxi-backup-20200101T000000Z.tar.gz.d",
        "guanxi-backup-20190101T000000Z.tar.gz",
    }
    assert backup_outcomes(platform) == []  # once per due time


def test_daily_job_does_nothing_when_turned_off(make_platform: Any, frozen: datetime) -> None:
    platform = make_platform(backup_daily=False)  # GUANXI_BACKUP_DAILY=0
    [outcome] = backup_outcomes(platform)
    assert outcome.status == "ok" and "skipped" in outcome.result
    assert not Path(platform.settings.backup_dir).exists()


def test_a_failed_backup_removes_no_old_archive(
    make_platform: Any, frozen: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:  # DATA-13: retention runs only after a new archive was written
    from guanxi.backup import create as create_module

    platform = make_platform()
    folder = Path(platform.settings.backup_dir)
    folder.mkdir(parents=True)
    old = archive_name(frozen - timedelta(days=60))
    (folder / old).write_bytes(b"the only copy")

    def broken(*_args: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(create_module, "_create", broken)
    [outcome] = backup_outcomes(platform)
    assert outcome.status == "retry" and "not enough disk space" in (outcome.error or "")
    assert [p.name for p in folder.iterdir()] == [old]
