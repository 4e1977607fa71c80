"""SQLite: a consistent copy of the live file through SQLite's online backup API (the app may
keep writing), and the same API to put a copy into an empty target file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from guanxi.backup.errors import BackupError, RestoreRefused
from guanxi.store.db import normalize_url


def database_path(url: str) -> Path:
    """The file a sqlite:/// URL points at."""
    name = make_url(normalize_url(url)).database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(name).expanduser()


def snapshot(live: Path, target: Path) -> None:
    """Copy the live database as of one moment into `target` (a self-contained file)."""
    if not live.is_file():
        raise BackupError(f"the SQLite database {live} does not exist")
    try:
        source = sqlite3.connect(live, timeout=60)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)  # all pages in one step: one read snapshot, writers go on
                copy.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as error:
        raise BackupError(f"could not copy the SQLite database {live}: {error}") from None


def existing_tables(path: Path) -> list[str]:
    """Tables in the target file (none when it does not exist or is empty)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return [
                row[0]
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
                )
            ]
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise RestoreRefused(f"{path} is not a usable SQLite database ({error})") from None


def check_target(path: Path) -> None:
    """Refuse a target that holds any table: a restore never overwrites data."""
    tables = existing_tables(path)
    if tables:
        shown = ", ".join(tables[:5]) + (" ..." if len(tables) > 5 else "")
        raise RestoreRefused(
            f"the target database {path} is not empty ({len(tables)} tables: {shown}); "
            "restore only into an empty database (a new file, or move this one away first)"
        )
    wal = path.with_name(path.name + "-wal")
    if not path.exists() and wal.exists() and wal.stat().st_size > 0:
        raise RestoreRefused(
            f"{wal} is left over from a removed database; move it away before restoring"
        )


def restore(copy: Path, target: Path) -> None:
    """Write the archived copy into the (checked, empty) target file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
        try:
            destination = sqlite3.connect(target, timeout=60)
            try:
                source.backup(destination)
            finally:
                destination.close()
        finally:
            source.close()
    except (sqlite3.Error, OSError) as error:
        raise BackupError(f"could not write the SQLite database {target}: {error}") from None
