"""Retention: delete Guanxi backup archives older than the kept days, judged by the UTC time
in their names, and nothing else (other files in the directory are never touched)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

from guanxi import clock
from guanxi.backup.create import WORK_PREFIX, WORK_SUFFIX
from guanxi.backup.manifest import CHECKSUM_SUFFIX, archive_time

STALE_WORK = timedelta(days=1)  # a working folder this old belongs to a backup that died


def expired_archives(
    directory: Path, keep_days: int, now: datetime | None = None, keep: Collection[str] = ()
) -> list[Path]:
    """The archives (and their .sha256 files) that retention would delete, oldest first."""
    if not directory.is_dir():
        return []
    cutoff = (now or clock.now_utc()) - timedelta(days=keep_days)
    found: list[tuple[datetime, Path]] = []
    for path in directory.iterdir():
        name = path.name
        base = name[: -len(CHECKSUM_SUFFIX)] if name.endswith(CHECKSUM_SUFFIX) else name
        moment = archive_time(base)
        if moment is None or base in keep or moment >= cutoff:
            continue
        if path.is_file() and not path.is_symlink():
            found.append((moment, path))
    return [path for _moment, path in sorted(found)]


def prune_backups(
    directory: Path | str,
    keep_days: int,
    *,
    now: datetime | None = None,
    keep: Collection[str] = (),
) -> list[str]:
    """Delete expired archives and their checksum files; names of what was removed."""
    directory = Path(directory)
    removed = []
    for path in expired_archives(directory, keep_days, now, keep):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    _remove_stale_work(directory)
    return removed


def _remove_stale_work(directory: Path) -> None:
    """Working folders of backups that were killed mid-way (ours by their name)."""
    if not directory.is_dir():
        return
    limit = time.time() - STALE_WORK.total_seconds()
    for path in directory.glob(f"{WORK_PREFIX}*{WORK_SUFFIX}"):
        if path.is_dir() and not path.is_symlink() and path.stat().st_mtime < limit:
            shutil.rmtree(path, ignore_errors=True)
