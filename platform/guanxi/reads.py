"""The read path: every list, count, aggregate, single get and history read adds the actor's
scope and the plugins' query conditions in SQL, in one place."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import access_log
from guanxi.auth.fields import FieldMask
from guanxi.auth.tokens import check_token_scope
from guanxi.auth.version import versions
from guanxi.auth.vocabulary import SCOPED_ACTION
from guanxi.authorization import Access
from guanxi.crypto.columns import is_sealable
from guanxi.crypto.copies import open_changes
from guanxi.errors import NotFound, QueryError
from guanxi.i18n import _
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.meta.field_types import FieldValueError
from guanxi.meta.registry import Snapshot
from guanxi.store import tagging
from guanxi.store.query import (
    AGGREGATES,
    CountResult,
    Page,
    QueryCompiler,
    check_limit,
    encode_cursor,
)
from guanxi.store.system_tables import history, stage_history

if TYPE_CHECKING:
    from guanxi.core import Guanxi

DEFAULT_COUNT_CAP = 10_000
MAX_COMPLETENESS_FIELDS = 20


_KNOWN_ACCESS: ContextVar[Access | None] = ContextVar("guanxi_known_access", default=None)


class RecordReader:
    def __init__(self, platform: Guanxi) -> None:
        self.platform = platform
        self.db = platform.db
        self.registry = platform.registry
        self.types = platform.types
        self.pm = platform.pm
        self.authorizer = platform.authorizer
        self._shape_cache: dict[tuple[str, int], tuple[tuple[str, bool], ...]] = {}

    # -- the per-call context ----------------------------------------------------------------

    def _open(
        self, connection: Connection, actor: Actor, entity_name: str, action: str
    ) -> tuple[Snapshot, EntityDef, Access]:
        """Metadata and the actor's access at this moment (one read for both versions), after
        the module gate for `action`: a refused actor learns nothing about the records."""
        meta_version, auth_version = versions(connection)
        snapshot = self.registry.snapshot(connection, meta_version)
        entity = snapshot.entity(entity_name)
        if actor.token_scope is not None:  # a narrowed API token (API-01): screens, API, export
            check_token_scope(actor.token_scope, entity, action)
        access = self.authorizer.access(connection, actor, auth_version)
        access.check_module(entity, action)
        return snapshot, entity, access

    def access(self, actor: Actor) -> Access:
        """The actor's current Access (for screens deciding which buttons to show)."""
        known = _KNOWN_ACCESS.get()
        if known is not None and known.actor == actor:
            return known
        with self.db.read() as connection:
            return self.authorizer.access(connection, actor, versions(connection)[1])

    @contextmanager
    def known_access(self, access: Access) -> Iterator[None]:
        """Within the block, `access(actor)` for the same actor answers with `access` (read
        once for the request): a page's menu and record-action hooks each ask for it."""
        token = _KNOWN_ACCESS.set(access)
        try:
            yield
        finally:
            _KNOWN_ACCESS.reset(token)

    # -- public reads ----------------------------------------------------------------------

    def get(
        self,
        actor: Actor,
        entity_name: str,
        record_id: int,
        *,
        action: str = "view",
        log_view: bool = True,
    ) -> dict[str, Any]:
        """One record as the actor may see it; NotFound when it is outside their scope.
        `log_view=False` for parts of a page whose own read was already logged (PERM-08)."""
        with self.db.read() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "view")
            record = self._fetch(connection, snapshot, entity, record_id, access, action)
        if action in ("view", "binned") and log_view and access.logs_access(entity.name):
            access_log.record_view(self.db, actor, entity.name, record["id"])
        return access.mask(entity).apply(record)

    def query(
        self,
        actor: Actor,
        entity_name: str,
        filters: Any = None,
        *,
        sort: Any = None,
        limit: int = 50,
        after: str | None = None,
        offset: int | None = None,
        search: str | None = None,
        action: str = "view",
    ) -> Page:
        """One page of records; `after` (keyset cursor) stays fast at any depth, `offset` too for
        the first pages. The next cursor is None on the last page. `action="binned"` pages
        through the recycle bin instead (the same view scope)."""
        action = _read_action(action)
        limit = check_limit(limit)
        with self.db.read() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "view")
            mask = access.mask(entity)
            compiler = snapshot.compiler(entity.name, self.types)
            table = snapshot.tables[entity.name]
            keys = self._user_compiler(compiler, mask).sort_keys(sort)
            if offset and (after or not isinstance(offset, int) or offset < 0 or offset > 100_000):
                raise QueryError(
                    _("Use the page cursor for pages beyond 100,000 rows"), code="bad_offset"
                )
            columns = self._visible_columns(entity, table, mask)
            # On SQLite an OR-ed scope runs as one ordered branch per scope rule; with sort
            # keys beyond (column, id) an index on (department_id, column) cannot deliver the
            # order for an IN list, so the department tree splits into one branch each.
            branches = (
                access.scope_branches(connection, snapshot, entity, "view", split=len(keys) > 2)
                if connection.dialect.name == "sqlite"
                else None
            )
            if branches is not None and len(branches) > 1:
                where = self._where(
                    connection, snapshot, access, compiler, filters, search, action, scoped=False
                )
                if after:
                    where = sa.and_(where, compiler.after(keys, after))
                statement = self._merged_branches(
                    compiler, keys, columns, where, branches, limit + 1, offset or 0
                )
            else:
                where = self._where(connection, snapshot, access, compiler, filters, search, action)
                if after:
                    where = sa.and_(where, compiler.after(keys, after))
                statement = (
                    sa.select(*columns)
                    .where(where)
                    .order_by(*compiler.order_by(keys))
                    .limit(limit + 1)
                )
                if offset:
                    statement = statement.offset(offset)
            rows = self._page_rows(connection, entity, compiler, keys, statement, mask)
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = encode_cursor([rows[-1][k.field] for k in keys]) if more and rows else None
        return Page(mask.apply_rows(rows), cursor, limit)

    def _merged_branches(
        self,
        compiler: QueryCompiler,
        keys: list[Any],
        columns: list[sa.Column[Any]],
        where: sa.ColumnElement[bool],
        branches: list[sa.ColumnElement[bool]],
        page_limit: int,
        offset: int,
    ) -> sa.Select[Any]:
        """A page over an OR-ed scope: each branch (e.g. "mine", each department of my tree)
        picks its first ids in sort order from its own index range, the union of those ids is
        ordered and cut to the page, and only then are the page's rows read. SQLite would
        otherwise read and sort every row in scope (~100 ms at 50k rows). Branches carry only
        the sort keys, so the statement stays small to build with dozens of departments."""
        table = compiler.table
        key_columns = list(dict.fromkeys([table.c[k.field] for k in keys] + [table.c.id]))
        parts = [
            sa.select(*key_columns)
            .where(where, branch)
            .order_by(*compiler.order_by(keys))
            .limit(page_limit + offset)
            .subquery(f"branch{index}")
            for index, branch in enumerate(branches)
        ]
        merged = sa.union(*(sa.select(part) for part in parts)).subquery("scoped")
        page_ids = (
            sa.select(merged.c.id)
            .order_by(*compiler.order_by(keys, merged.c))
            .limit(page_limit)
            .offset(offset)
        )
        return (
            sa.select(*columns).where(table.c.id.in_(page_ids)).order_by(*compiler.order_by(keys))
        )

    def export(
        self,
        actor: Actor,
        entity_name: str,
        filters: Any = None,
        *,
        sort: Any = None,
        batch: int = 500,
        search: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record the actor may export, page by page (scoped and masked like a list),
        and one access-log row with the count and the filter when the export ends (PERM-08).
        A quick search narrows what leaves too, so it is logged with the filter."""
        with self.db.read() as connection:
            _snapshot, entity, _access = self._open(connection, actor, entity_name, "export")
        logged = {"filter": filters, "search": search} if search and search.strip() else filters
        count, after = 0, None
        try:
            while True:
                page = self.query(
                    actor, entity.name, filters, sort=sort, limit=batch, after=after, search=search
                )
                for row in page.rows:
                    count += 1
                    yield row
                if page.next_cursor is None:
                    break
                after = page.next_cursor
        finally:
            access_log.record_export(self.db, actor, entity.name, count, logged)

    def _page_rows(
        self,
        connection: Connection,
        entity: EntityDef,
        compiler: Any,
        keys: list[Any],
        statement: sa.Select[Any],
        mask: FieldMask,
    ) -> list[dict[str, Any]]:
        """Run a page query; with a tags field, the page's tags come in the same statement
        (aggregated per row of the already-limited page, so never for rows outside it)."""
        tag_fields = [f for f in self._tag_fields(entity) if f.key in mask.levels]
        if not tag_fields:
            return [dict(row) for row in connection.execute(statement).mappings().all()]
        page = statement.subquery("page")
        tags = tagging.tags_column(entity.name, page.c.id).label("gx_tags")
        outer = sa.select(page, tags).order_by(*compiler.order_by(keys, page.c))
        rows = []
        for mapping in connection.execute(outer).mappings().all():
            row = dict(mapping)
            codes = row.pop("gx_tags")
            for field in tag_fields:
                row[field.key] = sorted(codes.split("|")) if codes else []
            rows.append(row)
        return rows

    def count(
        self,
        actor: Actor,
        entity_name: str,
        filters: Any = None,
        *,
        search: str | None = None,
        cap: int = DEFAULT_COUNT_CAP,
        action: str = "view",
    ) -> CountResult:
        """Count up to `cap` rows: a list of a million rows never scans them all to show a total."""
        action = _read_action(action)
        with self.db.read() as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "view")
            compiler = snapshot.compiler(entity.name, self.types)
            table = snapshot.tables[entity.name]
            where = self._where(connection, snapshot, access, compiler, filters, search, action)
            limited = sa.select(table.c.id).where(where).limit(cap + 1).subquery()
            value = int(
                connection.execute(sa.select(sa.func.count()).select_from(limited)).scalar_one()
            )
        return CountResult(min(value, cap), value <= cap)

    def aggregate(
        self,
        actor: Actor,
        entity_name: str,
        filters: Any = None,
        *,
        group_by: Sequence[str] = (),
        measures: Sequence[tuple[str, str | None]] = (("count", None),),
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Grouped figures, e.g. group_by=["stage"], measures=[("sum", "amount")], within scope."""
        with self.db.read(transaction=True) as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "view")
            compiler = snapshot.compiler(entity.name, self.types)
            user_compiler = self._user_compiler(compiler, access.mask(entity))
            table = snapshot.tables[entity.name]
            if len(group_by) > 3:
                raise QueryError(_("Group by at most three fields"), code="too_many_groups")
            groups = []
            for key in group_by:
                field = user_compiler.field(key)
                if not self.types.for_field(field).stored_in_column:
                    raise QueryError(
                        _("Cannot group by {field}", field=field.label), field=key, code="bad_group"
                    )
                groups.append(table.c[field.column].label(field.key))
            columns = list(groups)
            for measure in measures:
                if not isinstance(measure, list | tuple) or len(measure) != 2:
                    raise QueryError(
                        _('A measure is a pair such as ("sum", "amount")'), code="bad_measure"
                    )
                columns.append(self._measure(user_compiler, table, *measure))
            where = self._where(connection, snapshot, access, compiler, filters, None, "view")
            statement = sa.select(*columns).where(where).group_by(*groups).limit(check_limit(limit))
            if connection.dialect.name == "postgresql":
                # Page queries run without parallel workers (Gather Merge slows LIMIT queries);
                # a full-table aggregate is where they pay off (389 -> 235 ms at 1M rows).
                connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 2")
            rows = [dict(row) for row in connection.execute(statement).mappings().all()]
        return rows

    def completeness(
        self,
        actor: Actor,
        entity_name: str,
        fields: Sequence[str],
        filters: Any = None,
        *,
        group_by: str | None = "owner_id",
    ) -> list[dict[str, Any]]:
        """How many records in the actor's scope miss each of `fields` (DATA-11), per value of
        `group_by` (None: one row): [{"group": 7, "count": 120, "missing": {"mobile": 30}}].
        One GROUP BY with a conditional sum per field, so a million rows cost one scan, never
        a loop over records. "Missing" is the filter `is_empty`, so the list behind a number
        shows exactly those records; a field the actor may not read in full is refused."""
        keys = list(dict.fromkeys(str(key) for key in fields))
        if not keys:
            raise QueryError(_("Choose at least one field"), field="fields", code="no_fields")
        if len(keys) > MAX_COMPLETENESS_FIELDS:
            raise QueryError(
                _("Choose at most {limit} fields", limit=MAX_COMPLETENESS_FIELDS),
                field="fields",
                code="too_many_fields",
            )
        with self.db.read(transaction=True) as connection:
            snapshot, entity, access = self._open(connection, actor, entity_name, "view")
            compiler = snapshot.compiler(entity.name, self.types)
            user_compiler = self._user_compiler(compiler, access.mask(entity))
            table = snapshot.tables[entity.name]
            groups = []
            if group_by is not None:
                field = user_compiler.field(group_by)
                if not self.types.for_field(field).stored_in_column:
                    raise QueryError(
                        _("Cannot group by {field}", field=field.label), field=field.key,
                        code="bad_group",
                    )  # fmt: skip
                groups.append(table.c[field.column].label("gx_group"))
            columns: list[Any] = [*groups, sa.func.count().label("gx_count")]
            for position, key in enumerate(keys):
                empty = user_compiler.where({"field": key, "op": "is_empty"})
                columns.append(sa.func.sum(sa.case((empty, 1), else_=0)).label(f"gx_m{position}"))
            where = self._where(connection, snapshot, access, compiler, filters, None, "view")
            statement = sa.select(*columns).where(where).group_by(*groups)
            if connection.dialect.name == "postgresql":  # a full scan, as in aggregate()
                connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 2")
            found = connection.execute(statement).mappings().all()
        return [
            {
                "group": row["gx_group"] if groups else None,
                "count": int(row["gx_count"]),
                "missing": {key: int(row[f"gx_m{i}"] or 0) for i, key in enumerate(keys)},
            }
            for row in found
            if row["gx_count"]
        ]

    def history(self, actor: Actor, entity_name: str, record_id: int) -> list[dict[str, Any]]:
        """Change history (DATA-05) of a record the actor may see, oldest first. Diffs show only
        fields the actor may see, masked as in the record: no old value leaks through history."""
        with self.db.read() as connection:
            entity, access = self._readable(connection, actor, entity_name, record_id)
            mask = access.mask(entity)
            rows = connection.execute(
                sa.select(history)
                .where(history.c.entity == entity.name, history.c.record_id == record_id)
                .order_by(history.c.id)
            )
            entries = []
            for row in rows.mappings():
                entry = dict(row)
                changes = open_changes(self.platform.cipher, entity.name, row["changes"])
                entry["changes"] = mask.apply_changes(changes)
                entry["field_reasons"] = {
                    k: v for k, v in (row["field_reasons"] or {}).items() if k in mask.levels
                }
                entries.append(entry)
            return entries

    def stage_history(
        self, actor: Actor, entity_name: str, record_id: int, field: str
    ) -> list[dict[str, Any]]:
        """Stage entries with time spent in each (CORE-06); the current stage's left_at is None."""
        with self.db.read() as connection:
            entity, access = self._readable(connection, actor, entity_name, record_id)
            stage_field = entity.get_field(field)
            if (
                stage_field is None
                or stage_field.hidden
                or field not in entity.pipelines
                or field not in access.mask(entity).readable
            ):
                raise QueryError(
                    _("'{key}' is not a stage field", key=str(field)),
                    field=str(field),
                    code="bad_field",
                )
            rows = connection.execute(
                sa.select(stage_history)
                .where(
                    stage_history.c.entity == entity.name,
                    stage_history.c.record_id == record_id,
                    stage_history.c.field == field,
                )
                .order_by(stage_history.c.id)
            )
            entries = [dict(row) for row in rows.mappings()]
        now = clock.now_utc()
        for entry in entries:
            entry["seconds_in_stage"] = (
                (entry["left_at"] or now) - entry["entered_at"]
            ).total_seconds()
        return entries

    def _readable(
        self, connection: Connection, actor: Actor, entity_name: str, record_id: int
    ) -> tuple[EntityDef, Access]:
        """The entity, once the actor may view the module and this record (else NotFound)."""
        snapshot, entity, access = self._open(connection, actor, entity_name, "view")
        self._fetch(connection, snapshot, entity, record_id, access, "view")
        return entity, access

    # -- shared helpers --------------------------------------------------------------------

    def present(self, entity: EntityDef, row: Mapping[str, Any]) -> dict[str, Any]:
        """The record as the platform holds it: visible and system fields, tags as lists of
        codes, admin-hidden fields dropped. Per-actor masks apply on top (present_for)."""
        return {
            key: row.get(key, []) if is_list else row.get(key)
            for key, is_list in self._shape(entity)
        }

    def present_for(self, actor: Actor, entity_name: str, record: Mapping[str, Any]) -> dict:
        """A record (e.g. from an event) as `actor` may see it: for notifications, webhooks and
        anything else that shows one person's data to another."""
        with self.db.read() as connection:
            meta_version, auth_version = versions(connection)
            entity = self.registry.snapshot(connection, meta_version).entity(entity_name)
            access = self.authorizer.access(connection, actor, auth_version)
        if not access.allows(entity.name, "view"):
            return {}
        return access.mask(entity).apply(self.present(entity, record))

    def _shape(self, entity: EntityDef) -> tuple[tuple[str, bool], ...]:
        """(key, kept outside the row as a list) for each visible field, cached per version."""
        cache_key = (entity.name, entity.version)
        shape = self._shape_cache.get(cache_key)
        if shape is None:
            shape = tuple(
                (f.key, not self.types.for_field(f).stored_in_column)
                for f in entity.fields
                if not f.hidden
            )
            self._shape_cache[cache_key] = shape
        return shape

    def to_json(self, entity: EntityDef, record: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in record.items():
            field = entity.get_field(key)
            out[key] = (
                self.types.for_field(field).to_json(value) if field and value is not None else value
            )
        return out

    def _user_compiler(self, compiler: QueryCompiler, mask: FieldMask) -> QueryCompiler:
        return compiler.restricted(mask.readable, mask.visible)

    def _where(
        self,
        connection: Connection,
        snapshot: Snapshot,
        access: Access,
        compiler: QueryCompiler,
        filters: Any,
        search: str | None,
        action: str,
        *,
        scoped: bool = True,
    ) -> sa.ColumnElement[bool]:
        """The caller's filters and search (on fields they may read) AND their record scope
        (unless the caller adds it itself: `scoped=False`) AND every plugin's query conditions
        (which may use any field)."""
        entity = compiler.entity
        mask = access.mask(entity)
        user_compiler = self._user_compiler(compiler, mask)
        clauses = [user_compiler.where(filters)]
        scope = (
            access.scope_clause(connection, snapshot, entity, SCOPED_ACTION.get(action, action))
            if scoped
            else None
        )
        if scope is not None:
            clauses.append(scope)
        for found in self.pm.hook.query_conditions(
            platform=self.platform, actor=access.actor, entity=entity, action=action
        ):
            for condition in found or []:
                clauses.append(compiler.where(condition))
        if search and search.strip():
            clauses.append(
                user_compiler.where(self._search_filter(entity, search.strip(), mask.readable))
            )
        return sa.and_(*clauses)

    def _search_filter(
        self, entity: EntityDef, text: str, readable: frozenset[str]
    ) -> dict[str, Any]:
        searchable = [
            f
            for f in entity.visible_fields
            if (f.search or f.key == "number")
            and f.key in readable
            and "contains" in self.types.for_field(f).operators
            and not is_sealable(f, self.types)
        ]
        title = entity.get_field(entity.title_field)
        if (
            title is not None
            and title not in searchable
            and not title.hidden
            and title.key in readable
            and "contains" in self.types.for_field(title).operators
        ):
            searchable.append(title)
        conditions = [{"field": f.key, "op": "contains", "value": text} for f in searchable]
        # Encrypted fields (DATA-12) are found by their whole value: a full mobile number or
        # e-mail address typed into the search box finds its record through the blind index.
        for field in entity.visible_fields:
            if field.key in readable and is_sealable(field, self.types):
                try:
                    value = self.types.for_field(field).parse(text, field)
                except FieldValueError:
                    continue
                if value is not None:
                    conditions.append({"field": field.key, "op": "eq", "value": value})
        return {"or": conditions}

    def _visible_record(
        self,
        connection: Connection,
        snapshot: Snapshot,
        access: Access,
        entity: EntityDef,
        record_id: Any,
    ) -> bool:
        """Whether the actor may view record `record_id` (module, scope and plugins' query
        conditions): what a reference to it needs."""
        if not access.allows(entity.name, "view"):
            return False
        table = snapshot.tables[entity.name]
        compiler = snapshot.compiler(entity.name, self.types)
        where = self._where(connection, snapshot, access, compiler, None, None, "view")
        query = sa.select(table.c.id).where(table.c.id == record_id, where)
        return connection.execute(query).first() is not None

    def _fetch(
        self,
        connection: Connection,
        snapshot: Snapshot,
        entity: EntityDef,
        record_id: Any,
        access: Access,
        action: str,
        *,
        for_update: bool = False,
    ) -> dict[str, Any]:
        """One stored record within the actor's scope for `action`, or NotFound (never 'forbidden':
        that would confirm the record exists). Unmasked: callers mask what they return."""
        try:
            record_id = int(record_id)
        except (TypeError, ValueError):
            raise NotFound(_("No such record")) from None
        compiler = snapshot.compiler(entity.name, self.types)
        table = snapshot.tables[entity.name]
        where = sa.and_(
            table.c.id == record_id,
            self._where(connection, snapshot, access, compiler, None, None, action),
        )
        statement = sa.select(*self._stored_columns(entity, table)).where(where)
        if for_update and connection.dialect.name == "postgresql":
            statement = statement.with_for_update()
        row = connection.execute(statement).first()
        if row is None:
            raise NotFound(_("No such record"))
        return self._with_tags(connection, entity, dict(row._mapping))

    def _with_tags(
        self, connection: Connection, entity: EntityDef, row: dict[str, Any]
    ) -> dict[str, Any]:
        """A row holding any columns -> the presented record (hidden fields dropped, tags added)."""
        return self.present(entity, self._attach_tags(connection, entity, [row])[0])

    def _attach_tags(
        self, connection: Connection, entity: EntityDef, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Add each row's tag codes, one query per page (none for entities without tags)."""
        tag_fields = self._tag_fields(entity)
        if tag_fields and rows:
            tags = tagging.tags_for(connection, entity.name, [row["id"] for row in rows])
            for row in rows:
                for field in tag_fields:
                    row[field.key] = tags.get(row["id"], [])
        return rows

    def _stored_columns(self, entity: EntityDef, table: sa.Table) -> list[sa.Column[Any]]:
        """The stored columns of the entity's visible fields (admin-hidden ones never read)."""
        return [table.c[key] for key, is_list in self._shape(entity) if not is_list]

    def _visible_columns(
        self, entity: EntityDef, table: sa.Table, mask: FieldMask
    ) -> list[sa.Column[Any]]:
        """The columns this actor may see: a hidden field is never even selected."""
        return [
            table.c[key]
            for key, is_list in self._shape(entity)
            if not is_list and key in mask.levels
        ]

    def _tag_fields(self, entity: EntityDef) -> list[FieldDef]:
        """Visible fields kept outside the row (tags): derived from the same shape as
        `present`, so a hidden tags field is neither read nor returned anywhere."""
        return [entity.field(key) for key, is_list in self._shape(entity) if is_list]

    def _measure(self, compiler: Any, table: sa.Table, function: str, key: str | None) -> Any:
        if function not in AGGREGATES:
            raise QueryError(_("Unknown measure '{name}'", name=function), code="bad_measure")
        if function == "count":
            return sa.func.count().label("count")
        field = compiler.field(key)
        if not self.types.for_field(field).aggregatable and function in ("sum", "avg"):
            raise QueryError(
                _("Cannot sum {field}", field=field.label), field=field.key, code="bad_measure"
            )
        return getattr(sa.func, function)(table.c[field.column]).label(f"{function}_{field.key}")


def _read_action(action: str) -> str:
    """Lists and counts read live records ("view") or the recycle bin ("binned")."""
    if action not in ("view", "binned"):
        raise ValueError(f"a list reads 'view' or 'binned', not {action!r}")
    return action
