"""The one error backups raise: a message an operator can act on (no traceback needed)."""

from __future__ import annotations


class BackupError(Exception):
    """A backup, verify or restore could not be done; the message names the problem."""


class RestoreRefused(BackupError):
    """The restore was refused before anything was written (non-empty target, bad archive)."""
