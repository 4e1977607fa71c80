"""Files attached to records (DATA-14): stored under random keys, checked against the record.

The record decides who may touch its files: uploading needs edit rights on the record, reading
needs that the actor can see it (else NotFound, like the record itself), deleting is for the
uploader or anyone who may edit the record. The user's file name is kept only as data: the
path on disk is a random key, so a name can never escape the directory or collide.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from guanxi import clock
from guanxi.actor import Actor
from guanxi.errors import FieldError, GuanxiError, NotFound, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.store.system_tables import attachment

CHUNK = 64 * 1024
FILENAME_MAX = 255
GENERIC_TYPE = "application/octet-stream"


class TooLarge(GuanxiError):
    """The upload passed the size limit; nothing was stored."""

    status = 413
    code = "too_large"


@dataclass(frozen=True)
class StoredFile:
    path: Path
    size: int
    sha256: str


def max_bytes(platform: Any) -> int:
    return int(platform.settings.attachment_max_mb) * 1024 * 1024


def too_large(platform: Any) -> TooLarge:
    return TooLarge(
        _("The file is larger than {limit} MB", limit=platform.settings.attachment_max_mb),
        field="file",
    )


def _root(platform: Any) -> Path:
    return Path(platform.settings.attachments_dir)


def _path(platform: Any, key: str) -> Path:
    return _root(platform) / key[:2] / key


# -- permission checks --------------------------------------------------------------------------


def can_edit(platform: Any, actor: Actor, entity: str, record_id: int) -> bool:
    """Whether the actor may change the record (module edit right and edit scope)."""
    if not platform.records.access(actor).allows(entity, "edit"):
        return False
    try:
        platform.records.get(actor, entity, record_id, action="edit")
    except NotFound:
        return False
    return True


def _check_upload(platform: Any, actor: Actor, entity: str, record_id: int) -> None:
    platform.records.get(actor, entity, record_id, action="view")  # NotFound out of scope
    if not can_edit(platform, actor, entity, record_id):
        raise PermissionDenied(_("You may not add files to this record"))


# -- writing ------------------------------------------------------------------------------------


def save(
    platform: Any,
    actor: Actor,
    entity: str,
    record_id: int,
    filename: str,
    content_type: str | None,
    source: IO[bytes],
) -> dict[str, Any]:
    """Store an uploaded file for a record the actor may edit; returns the attachment row."""
    _check_upload(platform, actor, entity, record_id)
    name = clean_filename(filename)
    if not name:
        raise ValidationFailed([FieldError("file", "required", _("Choose a file to upload"))])
    stored = _write(platform, source)
    try:
        with platform.db.unit_of_work() as connection:
            row = {
                "entity": entity,
                "record_id": record_id,
                "filename": name,
                "content_type": (content_type or GENERIC_TYPE)[:120],
                "size": stored.size,
                "sha256": stored.sha256,
                "storage_key": stored.path.name,
                "created_by": actor.user_id,
                "created_by_name": actor.username,
                "created_at": clock.now_utc(),
            }
            new_id = connection.execute(
                sa.insert(attachment).values(row).returning(attachment.c.id)
            ).scalar_one()
    except BaseException:
        stored.path.unlink(missing_ok=True)
        raise
    return {**row, "id": new_id}


def _write(platform: Any, source: IO[bytes]) -> StoredFile:
    """Copy the upload under a fresh random key, hashing and counting as it goes; past the
    limit the partial file is removed and TooLarge raised."""
    limit = max_bytes(platform)
    key = secrets.token_hex(20)
    path = _path(platform, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as target:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large(platform)
                digest.update(chunk)
                target.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredFile(path, size, digest.hexdigest())


def clean_filename(filename: str | None) -> str:
    """The name as shown and offered for download: no directories, no control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ord(ch) >= 32 and ch != "\x7f").strip()
    if len(name) > FILENAME_MAX:
        stem, dot, extension = name.rpartition(".")
        name = (stem[: FILENAME_MAX - len(extension) - 1] + dot + extension) if dot else name
        name = name[:FILENAME_MAX]
    return name


# -- reading ------------------------------------------------------------------------------------


def for_record(platform: Any, entity: str, record_id: int) -> list[dict[str, Any]]:
    """A record's attachments, newest first. The caller has already read the record as the
    actor (its timeline), which is what makes the list visible."""
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(attachment)
            .where(attachment.c.entity == entity, attachment.c.record_id == record_id)
            .order_by(attachment.c.id.desc())
            .limit(100)
        )
        return [dict(row) for row in rows.mappings()]


def _row(platform: Any, attachment_id: int) -> dict[str, Any]:
    with platform.db.read() as connection:
        row = (
            connection.execute(sa.select(attachment).where(attachment.c.id == attachment_id))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(_("No such file"))
    return dict(row)


def open_for(platform: Any, actor: Actor, attachment_id: int) -> tuple[dict[str, Any], Path]:
    """The attachment and its file, if the actor can see the record (else NotFound)."""
    row, path = _visible_row(platform, actor, attachment_id)
    if not path.is_file():
        raise NotFound(_("The file is missing from storage"))
    return row, path


def read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def delete(platform: Any, actor: Actor, attachment_id: int) -> dict[str, Any]:
    """Remove an attachment: its uploader, or whoever may edit the record."""
    row, path = _visible_row(platform, actor, attachment_id)
    uploader = actor.user_id is not None and row["created_by"] == actor.user_id
    if (
        not uploader
        and not actor.is_system
        and not can_edit(platform, actor, row["entity"], row["record_id"])
    ):
        raise PermissionDenied(
            _("Only the uploader or someone who may edit the record may delete it")
        )
    with platform.db.unit_of_work() as connection:
        connection.execute(sa.delete(attachment).where(attachment.c.id == attachment_id))
    path.unlink(missing_ok=True)
    return row


def drop_for_record(
    platform: Any, connection: sa.Connection, entity: str, record_id: int
) -> list[Path]:
    """Remove a purged record's attachment rows in the caller's transaction; returns the
    files to unlink once it commits (a rollback must not lose them)."""
    where = sa.and_(attachment.c.entity == entity, attachment.c.record_id == record_id)
    keys = connection.execute(sa.select(attachment.c.storage_key).where(where)).scalars().all()
    connection.execute(sa.delete(attachment).where(where))
    return [_path(platform, key) for key in keys]


def _visible_row(platform: Any, actor: Actor, attachment_id: int) -> tuple[dict[str, Any], Path]:
    row = _row(platform, attachment_id)
    try:
        platform.records.get(actor, row["entity"], row["record_id"])
    except (NotFound, PermissionDenied):
        raise NotFound(_("No such file")) from None
    return row, _path(platform, row["storage_key"])
