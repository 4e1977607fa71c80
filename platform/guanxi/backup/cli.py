"""`guanxi backup [--to DIR]`, `guanxi backup verify ARCHIVE` and `guanxi restore ARCHIVE`
(DATA-13). Expected failures print one `error:` line and exit 1, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from guanxi.backup.errors import BackupError


def _size(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} bytes"


def _failing_cleanly(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except BackupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except sa.exc.DBAPIError as error:
            print(f"error: database: {error.orig}", file=sys.stderr)
            return 1

    return run


def cmd_backup(args: argparse.Namespace) -> int:
    if args.backup_command == "verify":
        return cmd_verify(args)
    from guanxi.backup import create_backup
    from guanxi.core import Guanxi

    platform = Guanxi.create()
    try:
        result = create_backup(platform, args.to)
    finally:
        platform.close()
    print(f"backup written: {result.path}")
    print(f"  {_size(result.size)}, sha256 {result.sha256} (in {result.path.name}.sha256)")
    print(
        f"  {result.tables} tables, {result.rows:,} rows, {result.files} attachment file(s)"
        + ("" if not result.manifest.schema else f"; schema {result.manifest.schema}")
    )
    keys = result.manifest.encryption.get("key_ids") or []
    if keys:
        print(
            f"  encrypted fields need key(s) {', '.join(keys)}: keep a copy of the key ring "
            f"({_key_source(platform.settings)}) apart from the archives; it is never in them"
        )
    for skipped in result.skipped_files:
        print(f"  skipped in the attachments directory: {skipped}")
    return 0


def _key_source(settings: Any) -> str:
    return "GUANXI_ENCRYPTION_KEY" if settings.encryption_key else str(settings.encryption_key_file)


def cmd_verify(args: argparse.Namespace) -> int:
    from guanxi.backup import verify_archive

    report = verify_archive(args.archive)
    print(f"archive: {report.archive}")
    manifest = report.manifest
    if manifest is not None:
        print(
            f"  made {manifest.created_at} by Guanxi {manifest.guanxi_version or '?'} "
            f"({manifest.dialect}{', schema ' + manifest.schema if manifest.schema else ''}): "
            f"{len(manifest.tables)} tables, {manifest.total_rows:,} rows, "
            f"{len(manifest.attachments)} attachment file(s)"
        )
        keys = manifest.encryption.get("key_ids") or []
        if keys:
            print(f"  encrypted fields need key(s) {', '.join(keys)} (not in the archive)")
    if report.ok and manifest is not None:
        files = len(manifest.attachments)
        print(f"OK: the archive, database dump and {files} attachment checksum(s) match")
        return 0
    for problem in report.problems:
        print(f"  problem: {problem}")
    print(f"FAILED: {len(report.problems)} problem(s)", file=sys.stderr)
    return 1


def cmd_restore(args: argparse.Namespace) -> int:
    from guanxi.backup import restore_backup
    from guanxi.settings import Settings

    settings = Settings.from_env()
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: pass --yes to restore without a question", file=sys.stderr)
            return 1
        answer = input(f"restore {args.archive} into the configured (empty) database? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing restored")
            return 1
    report = restore_backup(settings, args.archive, say=print)
    print_report(report)
    return 0 if report.ok else 1


def print_report(report: Any) -> None:
    print(f"{'table':<36} {'rows (backup)':>14} {'rows (restored)':>16}  checksum")
    for check in report.tables:
        expected = check.expected.rows if check.expected else "-"
        actual = check.actual.rows if check.actual else "-"
        verdict = "ok" if check.ok else "MISMATCH"
        if check.expected is None:
            verdict = "MISMATCH (not in the backup)"
        elif check.actual is None:
            verdict = "MISMATCH (missing)"
        print(f"{check.name:<36} {expected:>14} {actual:>16}  {verdict}")
    for problem in report.file_problems:
        print(f"problem: {problem}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    rows = sum(c.actual.rows for c in report.tables if c.actual)
    files = report.files_restored + report.files_present
    summary = (
        f"{len(report.tables)} tables, {rows:,} rows, {files} attachment file(s) "
        f"({report.files_present} were already in place) into {report.target}"
    )
    if report.ok:
        print(f"restore verified: OK: {summary}")
    else:
        bad = sum(1 for c in report.tables if not c.ok) + len(report.file_problems)
        print(f"restore verification FAILED: {bad} difference(s); {summary}", file=sys.stderr)


def add_backup_commands(commands: Any) -> None:
    """Register the backup commands on the `guanxi` parser's subcommands."""
    backup = commands.add_parser(
        "backup", help="write a backup archive (database, attachments, manifest); or verify one"
    )
    backup.add_argument(
        "--to", metavar="DIR", type=Path, help="write it here (default: GUANXI_BACKUP_DIR)"
    )
    backup_commands = backup.add_subparsers(dest="backup_command")
    verify = backup_commands.add_parser(
        "verify", help="check an archive's checksums without touching the database"
    )
    verify.add_argument("archive", type=Path)
    backup.set_defaults(run=_failing_cleanly(cmd_backup), backup_command=None)
    restore = commands.add_parser(
        "restore", help="restore an archive into an empty database, then verify every table"
    )
    restore.add_argument("archive", type=Path)
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.set_defaults(run=_failing_cleanly(cmd_restore))
