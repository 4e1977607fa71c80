"""The archive file: written as a gzip tar stream to a temporary name, hashed on the way out,
then linked into place with its `.sha256` sidecar; read back as a stream that accepts only the
member names a Guanxi backup has (nothing is ever extracted by the name the archive gives)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from guanxi.backup.errors import BackupError
from guanxi.backup.manifest import (
    ATTACHMENTS_PREFIX,
    CHECKSUM_SUFFIX,
    DATABASE_MEMBERS,
    MANIFEST_MAX_BYTES,
    MANIFEST_MEMBER,
    archive_name,
    safe_relative_path,
)

CHUNK = 1024 * 1024
READ_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)
_SIDECAR = re.compile(r"^([0-9a-fA-F]{64})\b")


class _Hashing:
    """Counts and hashes the bytes passing through `write` or `read`."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return int(self.raw.write(data))

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.size += len(data)
        return bytes(data)

    def flush(self) -> None:
        self.raw.flush()

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


@dataclass(frozen=True)
class MemberDigest:
    size: int
    sha256: str


# -- writing ------------------------------------------------------------------------------------


class ArchiveWriter:
    """Members in order (database, attachments, manifest last: it holds their checksums)."""

    def __init__(self, path: Path, mtime: datetime) -> None:
        self.path = path
        self.mtime = int(mtime.timestamp())
        # Readable by its owner only: the archive holds the whole CRM. Open across calls:
        # finish() or abandon() closes it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(descriptor, "wb")
        self._out = _Hashing(self._file)
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=self._out, mode="w|gz", format=tarfile.PAX_FORMAT
        )

    def _info(self, member: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(member)
        info.size, info.mode, info.mtime = size, 0o600, self.mtime
        return info

    def add_file(self, member: str, source: Path) -> MemberDigest:
        with source.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            reader = _Hashing(handle)
            self._tar.addfile(self._info(member, size), reader)
        return MemberDigest(size, reader.hexdigest())

    def add_bytes(self, member: str, data: bytes) -> None:
        self._tar.addfile(self._info(member, len(data)), io.BytesIO(data))

    def finish(self) -> MemberDigest:
        """Close the stream and flush it to disk; the archive's own size and checksum."""
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return MemberDigest(self._out.size, self._out.hexdigest())

    def abandon(self) -> None:
        with contextlib.suppress(*READ_ERRORS):
            self._tar.close()
        with contextlib.suppress(OSError):
            self._file.close()
        self.path.unlink(missing_ok=True)


def publish(temporary: Path, directory: Path, moment: datetime, sha256: str) -> Path:
    """Give the finished archive its final name without ever replacing another archive, then
    write `<name>.sha256` (in `sha256sum -c` format) beside it."""
    for attempt in range(1, 100):
        final = directory / archive_name(moment, attempt)
        try:
            os.link(temporary, final)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links
            if final.exists():
                continue
            os.replace(temporary, final)
        break
    else:
        raise BackupError(f"too many backups named for {moment:%Y-%m-%d %H:%M:%S} in {directory}")
    temporary.unlink(missing_ok=True)
    sidecar = final.with_name(final.name + CHECKSUM_SUFFIX)
    partial = sidecar.with_name(f".{sidecar.name}.{secrets.token_hex(4)}.partial")
    try:
        partial.write_text(f"{sha256}  {final.name}\n", encoding="ascii")
        os.replace(partial, sidecar)
    finally:
        partial.unlink(missing_ok=True)
    _sync_directory(directory)
    return final


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# -- reading ------------------------------------------------------------------------------------


def sidecar_path(archive: Path) -> Path:
    return archive.with_name(archive.name + CHECKSUM_SUFFIX)


def read_sidecar(archive: Path) -> str:
    """The checksum recorded beside the archive; BackupError if missing or unreadable."""
    sidecar = sidecar_path(archive)
    try:
        text = sidecar.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise BackupError(
            f"the checksum file {sidecar.name} is missing (keep it next to the archive)"
        ) from None
    except OSError as error:
        raise BackupError(f"cannot read {sidecar}: {error.strerror}") from None
    match = _SIDECAR.match(text.strip())
    if not match:
        raise BackupError(f"{sidecar.name} does not hold a sha256 checksum")
    return match.group(1).lower()


def member_kind(name: str) -> str | None:
    """'manifest', 'database' or 'attachment' for a name a Guanxi archive may hold; else None."""
    if name == MANIFEST_MEMBER:
        return "manifest"
    if name in DATABASE_MEMBERS.values():
        return "database"
    if name.startswith(ATTACHMENTS_PREFIX) and safe_relative_path(name[len(ATTACHMENTS_PREFIX) :]):
        return "attachment"
    return None


MemberHandler = Callable[[str, str, IO[bytes]], None]


def read_archive(archive: Path, handle_member: MemberHandler) -> str:
    """Stream the archive once: `handle_member(kind, name, stream)` for every accepted member
    (regular files with an expected name); returns the sha256 of the whole file. Raises
    BackupError for an unexpected member or a damaged file."""
    try:
        raw = archive.open("rb")
    except OSError as error:
        raise BackupError(f"cannot open {archive}: {error.strerror}") from None
    with raw:
        reader = _Hashing(raw)
        try:
            _read_members(reader, handle_member)
        except READ_ERRORS as error:
            raise BackupError(f"the archive is damaged or not a Guanxi backup: {error}") from None
        finally:
            with contextlib.suppress(OSError):
                while reader.read(CHUNK):  # the rest of the file, for the file's checksum
                    pass
        return reader.hexdigest()


def _read_members(reader: _Hashing, handle_member: MemberHandler) -> None:
    seen: set[str] = set()
    with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
        for member in tar:
            kind = member_kind(member.name)
            if kind is None or not member.isreg():
                raise BackupError(f"the archive holds an unexpected member {member.name!r}")
            if member.name in seen:
                raise BackupError(f"the archive holds {member.name!r} twice")
            seen.add(member.name)
            stream = tar.extractfile(member)
            assert stream is not None  # a regular file
            handle_member(kind, member.name, stream)


def hash_stream(stream: IO[bytes], sink: Any = None) -> MemberDigest:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return MemberDigest(size, digest.hexdigest())


def read_manifest_bytes(stream: IO[bytes]) -> bytes:
    data = stream.read(MANIFEST_MAX_BYTES + 1)
    if len(data) > MANIFEST_MAX_BYTES:
        raise BackupError("manifest.json is implausibly large")
    return bytes(data)
