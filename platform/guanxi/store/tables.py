"""Entity metadata -> SQLAlchemy Table: real typed columns, system columns, wanted indexes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from guanxi.crypto.cipher import Cipher
from guanxi.crypto.columns import BLIND_LENGTH, SealedText, blind_column, is_sealable
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldTypeRegistry
from guanxi.store.identifiers import index_name
from guanxi.store.system_tables import system_metadata

ID_TYPE = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # INTEGER PRIMARY KEY = rowid


def reference_target(field: FieldDef, entity_table: dict[str, str]) -> str | None:
    """The table a reference-like field points at, or None."""
    if field.type == "user":
        return "gx_user"
    if field.type == "department":
        return "gx_department"
    if field.type == "reference" and field.reference:
        return entity_table.get(field.reference)
    return None


def system_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(40), nullable=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=True),
        sa.Column("department_id", sa.Integer, sa.ForeignKey("gx_department.id"), nullable=True),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("locked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted_at", sa.DateTime, nullable=True),  # in the recycle bin since
        sa.Column("deleted_by", sa.Integer, sa.ForeignKey("gx_user.id"), nullable=True),
    ]


REFERENCE_TYPES = frozenset({"reference", "user", "department", "stage"})
SYSTEM_INDEXES: tuple[tuple[str, ...], ...] = (
    ("owner_id", "created_at"),
    ("department_id",),
    ("created_at",),
    ("updated_at",),
    ("deleted_at",),  # the recycle bin's pages and its purge run on it
)


def build_table(
    entity: EntityDef,
    types: FieldTypeRegistry,
    entity_table: dict[str, str],
    metadata: sa.MetaData | None = None,
    dialect: str = "sqlite",
    cipher: Cipher | None = None,
) -> sa.Table:
    """The wanted table for one entity version (hidden fields keep their columns). With a
    cipher, sensitive text fields are sealed columns with a blind-index column (DATA-12)."""
    metadata = metadata if metadata is not None else sa.MetaData()
    _ensure_system_tables(metadata)
    columns = system_columns()
    for field in entity.fields:
        if field.system or not types.get(field.type).stored_in_column:
            continue
        column_args: list[Any] = []
        target = reference_target(field, entity_table)
        if target:
            column_args.append(sa.ForeignKey(f"{target}.id"))
        field_type = types.get(field.type)
        if cipher is not None and is_sealable(field, types):
            sealed = SealedText(cipher, f"{entity.name}.{field.key}", field_type.match_text)
            columns.append(sa.Column(field.column, sealed, nullable=True))
            columns.append(
                sa.Column(blind_column(field.column), sa.String(BLIND_LENGTH), nullable=True)
            )
            continue
        columns.append(
            sa.Column(field.column, field_type.column_type(field), *column_args, nullable=True)
        )
    # AUTOINCREMENT: SQLite must never hand a deleted record's id (and history) to a new one.
    table = sa.Table(entity.table, metadata, *columns, sqlite_autoincrement=True)
    sealed = {c.name for c in table.columns if isinstance(c.type, SealedText)}
    for wanted_columns, unique in wanted_indexes(entity, types, dialect):
        # A sealed value is random bytes: its index (and uniqueness) lives on the blind index.
        index_columns = tuple(blind_column(c) if c in sealed else c for c in wanted_columns)
        sa.Index(
            index_name("ux" if unique else "ix", entity.table, index_columns),
            *(table.c[c] for c in index_columns),
            unique=unique,
        )
    if dialect == "postgresql":
        for field in entity.fields:
            if field.search and field.column in table.c and field.column not in sealed:
                sa.Index(
                    index_name("trgm", entity.table, (field.column,)),
                    table.c[field.column],
                    postgresql_using="gin",
                    postgresql_ops={field.column: "gin_trgm_ops"},
                )
    return table


def wanted_indexes(
    entity: EntityDef, types: FieldTypeRegistry, dialect: str
) -> list[tuple[tuple[str, ...], bool]]:
    wanted: dict[tuple[str, ...], bool] = {("number",): True}
    for columns in SYSTEM_INDEXES:
        wanted.setdefault(columns, False)
    for field in entity.fields:
        if field.system or not types.get(field.type).stored_in_column:
            continue
        if field.unique:
            wanted[(field.column,)] = True
        elif field.index or field.type in REFERENCE_TYPES:
            wanted.setdefault((field.column,), False)
    for columns in entity.indexes:
        wanted.setdefault(tuple(columns), False)
    # A plain one-column index is redundant when a composite index starts with that column.
    leading = {columns[0] for columns in wanted if len(columns) > 1}
    return [
        (columns, unique)
        for columns, unique in wanted.items()
        if unique or len(columns) > 1 or columns[0] not in leading
    ]


def _ensure_system_tables(metadata: sa.MetaData) -> None:
    for name in ("gx_department", "gx_position", "gx_user"):
        if name not in metadata.tables:
            system_metadata.tables[name].to_metadata(metadata)
