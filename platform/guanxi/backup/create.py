"""`create_backup`: database dump, attachments and manifest into one timestamped archive."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from guanxi import __version__, clock
from guanxi.backup import pg_dump, sqlite_dump
from guanxi.backup.archive import ArchiveWriter, publish
from guanxi.backup.checksums import TableDigest, sqlite_digests
from guanxi.backup.errors import BackupError
from guanxi.backup.manifest import ATTACHMENTS_PREFIX, DATABASE_MEMBERS, Manifest

WORK_PREFIX = ".guanxi-backup-"
WORK_SUFFIX = ".work"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    sha256: str
    manifest: Manifest
    skipped_files: tuple[str, ...] = ()  # attachments-directory entries not archived, and why

    @property
    def tables(self) -> int:
        return len(self.manifest.tables)

    @property
    def rows(self) -> int:
        return self.manifest.total_rows

    @property
    def files(self) -> int:
        return len(self.manifest.attachments)


@dataclass(frozen=True)
class _Dumped:
    file: Path
    tables: dict[str, TableDigest]
    schema: str | None
    details: dict[str, Any]
    key_ids: set[str]


def create_backup(
    platform: Any, to_dir: Path | str | None = None, *, now: datetime | None = None
) -> BackupResult:
    """Write guanxi-backup-<UTC time>.tar.gz (+ .sha256) into `to_dir` (settings.backup_dir
    by default). Nothing half-written is ever left under the final name."""
    settings = platform.settings
    directory = Path(to_dir or settings.backup_dir).expanduser()
    moment = (now or clock.now_utc()).replace(microsecond=0)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, suffix=WORK_SUFFIX, dir=directory))
    except OSError as error:
        raise BackupError(_os_problem(error, directory)) from None
    try:
        return _create(platform, directory, work, moment)
    except OSError as error:
        raise BackupError(_os_problem(error, directory)) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _create(platform: Any, directory: Path, work: Path, moment: datetime) -> BackupResult:
    dumped = _dump_database(platform, work)
    writer = ArchiveWriter(work / "archive.tar.gz.partial", moment)
    try:
        database = writer.add_file(DATABASE_MEMBERS[platform.db.dialect], dumped.file)
        attachments, skipped = _add_attachments(
            writer, Path(platform.settings.attachments_dir), exclude=directory
        )
        manifest = Manifest(
            created_at=moment.isoformat() + "Z",
            guanxi_version=__version__,
            dialect=platform.db.dialect,
            schema=dumped.schema,
            database={
                "member": DATABASE_MEMBERS[platform.db.dialect],
                "size": database.size,
                "sha256": database.sha256,
                **dumped.details,
            },
            tables=dumped.tables,
            attachments=attachments,
            encryption=_encryption(platform, dumped.key_ids),
        )
        writer.add_bytes("manifest.json", manifest.to_json())
        archive = writer.finish()
    except BaseException:
        writer.abandon()
        raise
    final = publish(writer.path, directory, moment, archive.sha256)
    return BackupResult(final, archive.size, archive.sha256, manifest, tuple(skipped))


def _dump_database(platform: Any, work: Path) -> _Dumped:
    if platform.db.dialect == "sqlite":
        copy = work / "guanxi.sqlite3"
        sqlite_dump.snapshot(sqlite_dump.database_path(platform.settings.database_url), copy)
        key_ids: set[str] = set()
        tables = sqlite_digests(copy, key_ids)
        return _Dumped(copy, tables, None, {"format": "sqlite3"}, key_ids)
    if platform.db.dialect == "postgresql":
        target = work / "guanxi.pgdump"
        dumped = pg_dump.dump(
            platform.db.engine, platform.settings.database_url, platform.settings.database_schema,
            target,
        )  # fmt: skip
        details = {
            "format": "pg_dump-custom",
            "server_version": dumped.server_version,
            "extensions": dumped.extensions,
        }
        return _Dumped(target, dumped.tables, dumped.schema, details, dumped.key_ids)
    raise BackupError(f"backups of {platform.db.dialect} databases are not supported")


def _add_attachments(
    writer: ArchiveWriter, root: Path, *, exclude: Path
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every regular file under the attachments directory (links are not followed; a backup
    directory inside it is left out, or each backup would hold the ones before)."""
    recorded: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    if not root.is_dir():
        return recorded, skipped
    excluded = exclude.resolve()
    for folder, directories, files in os.walk(root):
        directories[:] = sorted(d for d in directories if (Path(folder) / d).resolve() != excluded)
        for name in sorted(files):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink() or not path.is_file():
                skipped.append(f"{relative} (not a regular file)")
                continue
            if name.startswith(".") and name.endswith(".partial"):
                continue  # an upload or restore still being written
            try:
                digest = writer.add_file(ATTACHMENTS_PREFIX + relative, path)
            except FileNotFoundError:
                continue  # deleted since the walk saw it
            recorded[relative] = {"size": digest.size, "sha256": digest.sha256}
    return recorded, skipped


def _encryption(platform: Any, key_ids: set[str]) -> dict[str, Any]:
    """Which keys the sealed values need (ids only: keys never go into an archive)."""
    info: dict[str, Any] = {"key_ids": sorted(key_ids)}
    cipher = getattr(platform, "cipher", None)
    with contextlib.suppress(Exception):  # a ring that cannot load must not stop a backup
        info["current_key"] = str(cipher.current)  # type: ignore[union-attr]
        info["ring_key_ids"] = list(cipher.ring.ids())  # type: ignore[union-attr]
    return info


def _os_problem(error: OSError, directory: Path) -> str:
    where = error.filename or directory
    if error.errno == errno.ENOSPC:
        return f"not enough disk space to write the backup in {directory} (no space left on device)"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write the backup: {where} ({error.strerror})"
    return f"could not write the backup in {directory}: {error.strerror or error} ({where})"
