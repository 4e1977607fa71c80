"""The effective metadata of every entity = documents (files, plugins) + overlay rows.

One immutable Snapshot per metadata version; every service call checks the version (one
primary-key read) so a change made in another worker is picked up without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi.crypto.cipher import Cipher
from guanxi.errors import NotFound, SchemaFileError
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef
from guanxi.meta.field_types import FieldTypeRegistry
from guanxi.meta.loader import build_entity, check_documents, field_specs
from guanxi.store.db import Database
from guanxi.store.query import QueryCompiler
from guanxi.store.system_tables import (
    meta_entity,
    meta_field,
    meta_layout,
    meta_pipeline,
    meta_version,
)
from guanxi.store.tables import build_table


@dataclass(frozen=True)
class Snapshot:
    version: int
    entities: Mapping[str, EntityDef]
    tables: Mapping[str, sa.Table]
    documents: Mapping[str, tuple[str, Mapping[str, Any]]]  # name -> (source, document)
    field_specs: Mapping[str, Mapping[str, Mapping[str, Any]]]

    @cached_property
    def entity_tables(self) -> dict[str, str]:
        """Entity name -> table name, for resolving reference targets."""
        return {name: entity.table for name, entity in self.entities.items()}

    def entity(self, name: str) -> EntityDef:
        entity = self.entities.get(name)
        if entity is None:
            raise NotFound(_("Unknown module '{name}'", name=name))
        return entity

    def table(self, name: str) -> sa.Table:
        self.entity(name)
        return self.tables[name]

    def compiler(self, name: str, types: FieldTypeRegistry) -> QueryCompiler:
        return QueryCompiler(self.entity(name), self.tables[name], types)


class Registry:
    def __init__(
        self,
        db: Database,
        types: FieldTypeRegistry,
        documents: list[tuple[str, Any]],
        cipher: Cipher | None = None,
    ) -> None:
        problems = check_documents(documents, types.names())
        if problems:
            raise SchemaFileError(problems)
        self.db = db
        self.types = types
        self.cipher = cipher
        self.base_documents = {
            doc["x-guanxi"]["entity"]: (source, doc) for source, doc in documents
        }
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        # Called with the connection after each (re)load: other per-version state follows the
        # metadata version the same way (e.g. which plugins an admin switched on or off).
        self.on_reload: list[Callable[[Connection], None]] = []

    # -- reading -------------------------------------------------------------------------------

    def snapshot(
        self, connection: Connection | None = None, version: int | None = None
    ) -> Snapshot:
        """The current snapshot, reloaded first if another worker changed the metadata.
        `version`: the metadata version the caller already read on this connection."""
        if connection is None:
            with self.db.read() as own:
                return self.snapshot(own)
        if version is None:
            version = current_version(connection)
        snapshot = self._snapshot
        if snapshot is None or snapshot.version != version:
            with self._lock:
                if self._snapshot is None or self._snapshot.version != version:
                    self._snapshot = self._load(connection, version)
                    for callback in self.on_reload:
                        callback(connection)
                snapshot = self._snapshot
        return snapshot

    def get(self, name: str) -> EntityDef:
        return self.snapshot().entity(name)

    def entities(self) -> list[EntityDef]:
        return list(self.snapshot().entities.values())

    def _load(self, connection: Connection, version: int) -> Snapshot:
        documents: dict[str, tuple[str, Mapping[str, Any]]] = dict(self.base_documents)
        for row in connection.execute(sa.select(meta_entity.c.name, meta_entity.c.definition)):
            documents[row.name] = ("admin", row.definition)
        specs = {name: field_specs(doc) for name, (_src, doc) in documents.items()}
        for row in connection.execute(
            sa.select(meta_field.c.entity, meta_field.c.key, meta_field.c.definition).order_by(
                meta_field.c.id
            )
        ):
            if row.entity in specs:
                base = specs[row.entity].get(row.key, {})
                specs[row.entity][row.key] = {**base, **row.definition}
        pipelines: dict[str, dict[str, Any]] = {}
        for row in connection.execute(sa.select(meta_pipeline)):
            pipelines.setdefault(row.entity, {})[row.field] = row.definition
        layouts: dict[str, dict[str, Any]] = {}
        for row in connection.execute(sa.select(meta_layout)):
            if row.kind == NUMBERING_KIND and row.entity in documents:
                source, document = documents[row.entity]
                extension = {**document.get("x-guanxi", {}), **row.definition}
                documents[row.entity] = (source, {**document, "x-guanxi": extension})
                continue
            layouts.setdefault(row.entity, {})[row.kind] = row.definition
        entities = {
            name: build_entity(
                document,
                specs[name],
                pipelines.get(name, {}),
                version=version,
                source=source,
                layouts=layouts.get(name),
            )
            for name, (source, document) in documents.items()
        }
        return Snapshot(
            version=version,
            entities=entities,
            tables=build_tables(entities, self.types, connection.dialect.name, self.cipher),
            documents=documents,
            field_specs=specs,
        )

    def load_uncommitted(self, connection: Connection, version: int) -> Snapshot:
        """A snapshot including the caller's uncommitted overlay rows (to run their DDL)."""
        return self._load(connection, version)

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None


NUMBERING_KIND = "numbering"  # a meta_layout row holding {"number_format": ...} (CORE-05)


def build_tables(
    entities: Mapping[str, EntityDef],
    types: FieldTypeRegistry,
    dialect: str,
    cipher: Cipher | None = None,
) -> dict[str, sa.Table]:
    """All entity tables in one MetaData, ordered so referenced tables come first."""
    metadata = sa.MetaData()
    entity_table = {name: entity.table for name, entity in entities.items()}
    by_table = {
        entity.table: (name, build_table(entity, types, entity_table, metadata, dialect, cipher))
        for name, entity in entities.items()
    }
    return {by_table[t.name][0]: t for t in metadata.sorted_tables if t.name in by_table}


_VERSION = sa.select(meta_version.c.version).where(meta_version.c.id == 1)


_TX_VERSION = "guanxi.meta_version"  # connection.info key: (transaction, version read in it)


def current_version(connection: Connection) -> int:
    """The metadata version, read once per transaction: a write that checks many rules and
    rows (an import chunk) would otherwise read it per row and rule. The transaction sees
    one version throughout; its own bump_version updates what it remembers."""
    transaction = connection.get_transaction()
    remembered = connection.info.get(_TX_VERSION)
    if transaction is not None and remembered is not None and remembered[0] is transaction:
        return int(remembered[1])
    version = int(connection.execute(_VERSION).scalar() or 0)
    if transaction is not None:
        connection.info[_TX_VERSION] = (transaction, version)
    return version


def _remember(connection: Connection, version: int) -> int:
    transaction = connection.get_transaction()
    if transaction is not None:
        connection.info[_TX_VERSION] = (transaction, version)
    return version


def bump_version(connection: Connection) -> int:
    """Called in the transaction of every overlay edit; other workers reload on their next call."""
    from guanxi.clock import now_utc

    updated = connection.execute(
        sa.update(meta_version)
        .where(meta_version.c.id == 1)
        .values(version=meta_version.c.version + 1, updated_at=now_utc())
        .returning(meta_version.c.version)
    ).scalar()
    if updated is None:
        connection.execute(sa.insert(meta_version).values(id=1, version=1, updated_at=now_utc()))
        return _remember(connection, 1)
    return _remember(connection, int(updated))
