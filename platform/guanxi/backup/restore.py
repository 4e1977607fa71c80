"""`restore_backup`: a verified archive into an empty database and attachments directory,
then the proof: row counts and checksums of every table compared with the manifest.

Nothing is written unless the archive verifies, the target database holds no Guanxi tables
and no attachment file would be replaced by different content.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import make_url

from guanxi.backup import pg_dump, sqlite_dump
from guanxi.backup.archive import hash_stream, read_archive
from guanxi.backup.checksums import TableDigest, file_sha256, sqlite_digests
from guanxi.backup.create import WORK_PREFIX, WORK_SUFFIX
from guanxi.backup.errors import BackupError, RestoreRefused
from guanxi.backup.manifest import ATTACHMENTS_PREFIX, Manifest
from guanxi.backup.verify import verify_archive
from guanxi.store.db import normalize_url

Say = Callable[[str], None]


@dataclass(frozen=True)
class TableCheck:
    name: str
    expected: TableDigest | None  # from the manifest
    actual: TableDigest | None  # from the restored database

    @property
    def ok(self) -> bool:
        return self.expected is not None and self.expected == self.actual


@dataclass
class RestoreReport:
    archive: Path
    manifest: Manifest
    target: str
    tables: list[TableCheck] = field(default_factory=list)
    files_restored: int = 0
    files_present: int = 0  # already in place with the same content
    file_problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and not self.file_problems


def restore_backup(settings: Any, archive: Path | str, *, say: Say | None = None) -> RestoreReport:
    """Restore `archive` into the database and attachments directory of `settings`."""
    say = say or (lambda _text: None)
    archive = Path(archive)
    say(f"verifying {archive.name} ...")
    checked = verify_archive(archive)
    if not checked.ok or checked.manifest is None:
        raise RestoreRefused("the archive failed verification: " + "; ".join(checked.problems))
    manifest = checked.manifest
    dialect = make_url(normalize_url(settings.database_url)).get_backend_name()
    if dialect != manifest.dialect:
        raise RestoreRefused(
            f"the archive holds a {manifest.dialect} backup but the target database is "
            f"{dialect}; restore into the same kind of database"
        )
    target = _check_database(settings, manifest)
    root = Path(settings.attachments_dir)
    present = _check_attachments(root, manifest)
    work = _work_dir(Path(settings.backup_dir))
    try:
        staged = _extract(archive, manifest, work)
        say(f"restoring the database into {_describe(settings, target)} ...")
        if isinstance(target, Path):
            sqlite_dump.restore(staged, target)
        else:
            pg_dump.restore(target, staged, manifest.database)
        report = RestoreReport(archive, manifest, _describe(settings, target))
        say(f"restoring {len(manifest.attachments) - len(present)} attachment file(s) ...")
        report.files_restored = _place_attachments(work / "attachments", root, manifest, present)
        report.files_present = len(present)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say("checking every table against the manifest ...")
    actual = _digests(settings, target)
    for name in getattr(target, "other_tables", ()):  # not ours, there before: not compared
        if name not in manifest.tables:
            actual.pop(name, None)
    report.tables = [
        TableCheck(name, manifest.tables.get(name), actual.get(name))
        for name in sorted(set(manifest.tables) | set(actual))
    ]
    report.file_problems = _recheck_attachments(root, manifest)
    report.warnings = _key_warnings(settings, manifest)
    return report


# -- checks before anything is written ---------------------------------------------------------


def _check_database(settings: Any, manifest: Manifest) -> Path | pg_dump.PgTarget:
    if manifest.dialect == "sqlite":
        path = sqlite_dump.database_path(settings.database_url)
        sqlite_dump.check_target(path)
        return path
    return pg_dump.check_target(
        settings.database_url, settings.database_schema, manifest.schema or "public"
    )


def _destination(root: Path, relative: str) -> Path:
    destination = root / relative
    resolved_root = root.resolve()
    if not destination.resolve().is_relative_to(resolved_root):
        raise RestoreRefused(f"attachment {relative!r} would be written outside {root}")
    return destination


def _check_attachments(root: Path, manifest: Manifest) -> set[str]:
    """Attachments already in place with equal content; refuses if any differs."""
    present, conflicts = set(), []
    for relative, entry in manifest.attachments.items():
        destination = _destination(root, relative)
        if not destination.exists() and not destination.is_symlink():
            continue
        if destination.is_file() and file_sha256(destination) == entry["sha256"]:
            present.add(relative)
        else:
            conflicts.append(relative)
    if conflicts:
        raise RestoreRefused(
            f"{len(conflicts)} attachment file(s) already exist in {root} with other content "
            f"(e.g. {conflicts[0]}); restore into an empty attachments directory"
        )
    return present


# -- writing ------------------------------------------------------------------------------------


def _work_dir(backup_dir: Path) -> Path:
    try:
        backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return Path(
            tempfile.mkdtemp(prefix=WORK_PREFIX + "restore-", suffix=WORK_SUFFIX, dir=backup_dir)
        )
    except OSError as error:
        raise BackupError(f"cannot create a working folder in {backup_dir}: {error}") from None


def _extract(archive: Path, manifest: Manifest, work: Path) -> Path:
    """Copy the dump and the attachments out of the archive, checking each checksum again
    (the archive could have changed since it was verified). Returns the dump's path."""
    database = work / Path(manifest.database["member"]).name
    wanted = {ATTACHMENTS_PREFIX + name: entry for name, entry in manifest.attachments.items()}

    def take(kind: str, name: str, stream: IO[bytes]) -> None:
        if kind == "manifest":
            return
        if kind == "database":
            if name != manifest.database["member"]:
                raise BackupError(f"the archive holds an unexpected member {name!r}")
            target, expected = database, manifest.database["sha256"]
        else:
            entry = wanted.get(name)
            if entry is None:
                raise BackupError(f"{name} is in the archive but not in the manifest")
            target, expected = work / name, entry["sha256"]
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            sink = os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        except OSError as error:
            raise BackupError(_disk_problem(error, work)) from None
        with sink:
            digest = hash_stream(stream, _Guarded(sink, work))
        if digest.sha256 != expected:
            raise BackupError(f"{name} does not match its checksum in the manifest")

    read_archive(archive, take)
    if not database.is_file():
        raise BackupError("the archive holds no database dump")
    return database


class _Guarded:
    """A file whose write errors (a full disk) say so, instead of passing for a damaged
    archive in the reader around it."""

    def __init__(self, sink: IO[bytes], where: Path) -> None:
        self.sink, self.where = sink, where

    def write(self, data: bytes) -> int:
        try:
            return self.sink.write(data)
        except OSError as error:
            raise BackupError(_disk_problem(error, self.where)) from None


def _place_attachments(staged: Path, root: Path, manifest: Manifest, present: set[str]) -> int:
    """Link (or copy) each staged file into place; never replaces an existing file."""
    placed = 0
    for relative in sorted(set(manifest.attachments) - present):
        destination = _destination(root, relative)
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(staged / relative, destination)
        except FileExistsError:
            raise BackupError(
                f"{destination} appeared while restoring; the database is restored, restore "
                "the attachments again once nothing else writes there"
            ) from None
        except OSError as error:
            raise BackupError(_disk_problem(error, root)) from None
        placed += 1
    return placed


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
        return
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    partial = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.partial")
    try:
        shutil.copyfile(source, partial)
        os.chmod(partial, 0o600)
        os.link(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


def _disk_problem(error: OSError, where: Path) -> str:
    if error.errno == errno.ENOSPC:
        return f"not enough disk space in {where} to restore (no space left on device)"
    return f"could not write in {where}: {error.strerror or error} ({error.filename or where})"


# -- the proof ----------------------------------------------------------------------------------


def _digests(settings: Any, target: Path | pg_dump.PgTarget) -> dict[str, TableDigest]:
    if isinstance(target, Path):
        return sqlite_digests(target)
    return pg_dump.digests(settings.database_url, target.schema)


def _recheck_attachments(root: Path, manifest: Manifest) -> list[str]:
    problems = []
    for relative, entry in sorted(manifest.attachments.items()):
        path = root / relative
        if not path.is_file():
            problems.append(f"attachment {relative} is missing after the restore")
        elif file_sha256(path) != entry["sha256"]:
            problems.append(f"attachment {relative} does not match its checksum")
    return problems


def _key_warnings(settings: Any, manifest: Manifest) -> list[str]:
    """Sealed values need the key ring they were sealed with, which is never in the archive."""
    needed = set(manifest.encryption.get("key_ids") or [])
    if not needed:
        return []
    available = set()
    with contextlib.suppress(Exception):
        from guanxi.crypto.keyring import parse_ring, ring_from_env

        if settings.encryption_key:
            available = set(ring_from_env(settings.encryption_key).ids())
        elif settings.encryption_key_file and Path(settings.encryption_key_file).is_file():
            path = Path(settings.encryption_key_file)
            available = set(parse_ring(path.read_text(), str(path)).ids())
    missing = sorted(needed - available)
    if not missing:
        return []
    where = "GUANXI_ENCRYPTION_KEY" if settings.encryption_key else settings.encryption_key_file
    return [
        f"encrypted fields need key(s) {', '.join(missing)}, which are not in the key ring "
        f"({where}); put the key file kept with your backups there, or those fields "
        "will not open"
    ]


def _describe(settings: Any, target: Path | pg_dump.PgTarget) -> str:
    if isinstance(target, Path):
        return str(target)
    shown = make_url(normalize_url(settings.database_url)).render_as_string(hide_password=True)
    return f"{shown} (schema {target.schema})"
