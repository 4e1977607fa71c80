"""Backup and verified restore (DATA-13): one archive holds the database dump (SQLite's
backup API, or pg_dump), the attachments and a manifest of checksums; a restore goes only
into an empty database and proves itself table by table. See docs/backup.md."""

from guanxi.backup.create import BackupResult, create_backup
from guanxi.backup.errors import BackupError, RestoreRefused
from guanxi.backup.restore import RestoreReport, TableCheck, restore_backup
from guanxi.backup.retention import expired_archives, prune_backups
from guanxi.backup.verify import VerifyReport, verify_archive

__all__ = [
    "BackupError",
    "BackupResult",
    "RestoreRefused",
    "RestoreReport",
    "TableCheck",
    "VerifyReport",
    "create_backup",
    "expired_archives",
    "prune_backups",
    "restore_backup",
    "verify_archive",
]
