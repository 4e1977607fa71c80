"""`guanxi backup` and `guanxi restore` (DATA-13)."""

from __future__ import annotations

from typing import Any


def add_backup_commands(commands: Any) -> None:
    """Register the backup commands on the `guanxi` parser's subcommands."""
    del commands
