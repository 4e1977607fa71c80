"""SQL identifiers come from metadata, so every entity name and field key is checked here."""

from __future__ import annotations

import re

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as PG_RESERVED
from sqlalchemy.dialects.sqlite.base import SQLiteIdentifierPreparer
from sqlalchemy.sql.compiler import RESERVED_WORDS as ANSI_RESERVED

from guanxi.errors import MetadataError
from guanxi.i18n import _

ENTITY_NAME = re.compile(r"^[a-z][a-z0-9_]{1,29}$")
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED = frozenset(
    w.lower() for w in (*PG_RESERVED, *ANSI_RESERVED, *SQLiteIdentifierPreparer.reserved_words)
)


def check_entity_name(name: str) -> str:
    if not isinstance(name, str) or not ENTITY_NAME.match(name):
        raise MetadataError(
            _(
                "Module name '{name}' must be 2-30 lowercase letters, digits or _, starting with a letter",
                name=name,
            ),
            field="name",
            code="bad_identifier",
        )
    if name in RESERVED or name.startswith(("gx_", "sqlite_", "pg_")):
        raise MetadataError(
            _("'{name}' is a reserved word and cannot be used as a name", name=name),
            field="name",
            code="reserved_identifier",
        )
    return name


def check_field_key(key: str) -> str:
    if not isinstance(key, str) or not FIELD_KEY.match(key):
        raise MetadataError(
            _(
                "Field key '{key}' must be 1-40 lowercase letters, digits or _, starting with a letter",
                key=key,
            ),
            field="key",
            code="bad_identifier",
        )
    if key in RESERVED:
        raise MetadataError(
            _("'{key}' is a reserved word and cannot be used as a name", key=key),
            field="key",
            code="reserved_identifier",
        )
    return key


def index_name(prefix: str, table: str, columns: tuple[str, ...]) -> str:
    """Deterministic index names that stay under PostgreSQL's 63-character limit."""
    name = f"{prefix}_{table}_{'_'.join(columns)}"
    if len(name) <= 60:
        return name
    import hashlib

    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[:49]}_{digest}"
