"""Where uploads wait for their import: a random name under settings.imports_dir (the user's
file name is only data), a size limit checked while copying, deletion once the import ends."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from guanxi.errors import GuanxiError
from guanxi.i18n import _
from guanxi.imports.files import FileRefused
from guanxi.store.system_tables import import_run

COPY_CHUNK = 64 * 1024


class ImportTooLarge(GuanxiError):
    """The upload passed settings.import_max_mb; nothing was stored."""

    status = 413
    code = "too_large"


def imports_dir(platform: Any) -> Path:
    return Path(platform.settings.imports_dir)


def stored_path(platform: Any, key: str) -> Path:
    return imports_dir(platform) / key


def max_bytes(platform: Any) -> int:
    return int(platform.settings.import_max_mb) * 1024 * 1024


def too_large(platform: Any) -> ImportTooLarge:
    return ImportTooLarge(
        _(
            "The file is larger than {limit} MB; split it into smaller files",
            limit=platform.settings.import_max_mb,
        ),
        field="file",
    )


def store_upload(platform: Any, filename: str, source: IO[bytes]) -> str:
    """Copy the upload under a random name (its suffix kept, which the reader needs); past
    the size limit the partial file is removed and ImportTooLarge raised."""
    suffix = ".xlsx" if Path(filename).suffix.lower() == ".xlsx" else ".csv"
    key = secrets.token_hex(20) + suffix
    path = stored_path(platform, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    limit, size = max_bytes(platform), 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as target:
            while chunk := source.read(COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise too_large(platform)
                target.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise FileRefused(_("The file is empty"), field="file")
    return key


def delete_file(platform: Any, import_id: int) -> None:
    """Remove the stored upload (finished, cancelled or expired); the row keeps its counts.
    A dry run's file passes to the real run made from it, so no two rows share a file."""
    with platform.db.unit_of_work() as connection:
        key = connection.execute(
            sa.select(import_run.c.storage_key).where(import_run.c.id == import_id)
        ).scalar()
        if key:
            connection.execute(
                sa.update(import_run).where(import_run.c.id == import_id).values(storage_key=None)
            )
    if key:
        stored_path(platform, key).unlink(missing_ok=True)
