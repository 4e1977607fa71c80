"""What an archive holds and how its files are named: the manifest, member names, and the
`guanxi-backup-YYYYMMDDTHHMMSSZ.tar.gz` names retention recognizes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from guanxi.backup.checksums import TableDigest
from guanxi.backup.errors import BackupError

FORMAT = "guanxi-backup"
FORMAT_VERSION = 1
MANIFEST_MEMBER = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database/guanxi.sqlite3", "postgresql": "database/guanxi.pgdump"}
ATTACHMENTS_PREFIX = "attachments/"
MANIFEST_MAX_BYTES = 64 * 1024 * 1024
ARCHIVE_SUFFIX = ".tar.gz"
CHECKSUM_SUFFIX = ".sha256"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
ARCHIVE_NAME = re.compile(r"^guanxi-backup-(\d{8}T\d{6}Z)(?:-(\d{1,3}))?\.tar\.gz$")


def archive_name(moment: datetime, attempt: int = 1) -> str:
    """guanxi-backup-20240305T023000Z.tar.gz (UTC); a second one in the same second gets -2."""
    suffix = f"-{attempt}" if attempt > 1 else ""
    return f"guanxi-backup-{moment.strftime(STAMP_FORMAT)}{suffix}{ARCHIVE_SUFFIX}"


def archive_time(name: str) -> datetime | None:
    """The UTC moment in a Guanxi archive's name; None for any other file name."""
    match = ARCHIVE_NAME.match(name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), STAMP_FORMAT)
    except ValueError:
        return None


def safe_relative_path(name: str) -> PurePosixPath | None:
    """A relative path with no way out of its directory, or None."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    path = PurePosixPath(name)
    if any(part in ("", ".", "..") for part in name.split("/")) or len(path.parts) > 16:
        return None
    return path


@dataclass
class Manifest:
    created_at: str
    guanxi_version: str
    dialect: str
    schema: str | None
    database: dict[str, Any]  # member, format, size, sha256 (+ server_version, extensions)
    tables: dict[str, TableDigest]
    attachments: dict[str, dict[str, Any]]  # relative path -> {"size", "sha256"}
    encryption: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables.values())

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "format_version": self.format_version,
            "created_at": self.created_at,
            "guanxi_version": self.guanxi_version,
            "dialect": self.dialect,
            "schema": self.schema,
            "database": self.database,
            "tables": {name: t.to_dict() for name, t in sorted(self.tables.items())},
            "attachments": dict(sorted(self.attachments.items())),
            "encryption": self.encryption,
        }
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse and check a manifest; a BackupError says what is wrong with it."""
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise BackupError(f"manifest.json is not valid JSON: {error}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise BackupError("manifest.json is not a Guanxi backup manifest")
        version = document.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise BackupError(
                f"the archive has format version {version}; this Guanxi reads up to "
                f"{FORMAT_VERSION} (upgrade Guanxi to restore it)"
            )
        try:
            dialect = document["dialect"]
            database = dict(document["database"])
            if dialect not in DATABASE_MEMBERS or database["member"] != DATABASE_MEMBERS[dialect]:
                raise BackupError(f"manifest.json names an unknown database kind {dialect!r}")
            tables = {
                str(name): TableDigest(int(entry["rows"]), str(entry["sha256"]))
                for name, entry in dict(document["tables"]).items()
            }
            attachments = {
                str(name): {"size": int(entry["size"]), "sha256": str(entry["sha256"])}
                for name, entry in dict(document["attachments"]).items()
            }
            manifest = cls(
                created_at=str(document["created_at"]),
                guanxi_version=str(document.get("guanxi_version", "")),
                dialect=dialect,
                schema=document.get("schema"),
                database=database,
                tables=tables,
                attachments=attachments,
                encryption=dict(document.get("encryption") or {}),
                format_version=version,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise BackupError(f"manifest.json is incomplete or malformed ({error!r})") from None
        for name in manifest.attachments:
            if safe_relative_path(name) is None:
                raise BackupError(f"manifest.json lists an unsafe attachment path {name!r}")
        return manifest
