"""`guanxi import FILE --entity customer` (DATA-09)."""

from __future__ import annotations

from typing import Any


def add_import_commands(commands: Any) -> None:
    """Register the import command on the `guanxi` parser's subcommands."""
    del commands
