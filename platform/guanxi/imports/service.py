"""Imports as the rest of the platform sees them: upload (stored under a random name), the
column mapping, start (queued as a job), cancel, list and read. Every call checks that the
user may create records of the entity, and that an import is theirs (or they are an admin)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.attachments import clean_filename
from guanxi.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from guanxi.i18n import _
from guanxi.imports import mapping as mappings
from guanxi.imports.files import FileRefused, TableFile, refuse_suffix
from guanxi.imports.runs import ACTIVE, FINISHED, ImportRun, load
from guanxi.imports.storage import (
    ImportTooLarge,
    delete_file,
    imports_dir,
    max_bytes,
    store_upload,
    stored_path,
    too_large,
)
from guanxi.meta.entity import EntityDef, FieldDef
from guanxi.store.system_tables import import_issue, import_run

POLICIES = ("skip", "update", "create")
JOB = "imports.run"
SAMPLES = 3

__all__ = [  # the service is the imports' facade: screens, job and command line use it
    "ACTIVE", "FINISHED", "ImportRun", "ImportTooLarge", "cancel", "delete_file", "enqueue",
    "fields_for", "get", "importable_entity", "imports_dir", "issue_rows", "list_imports",
    "load", "max_bytes", "repeat_for_real", "resume", "samples", "start", "too_large", "upload",
]  # fmt: skip


# -- checks -------------------------------------------------------------------------------------


def importable_entity(platform: Any, actor: Actor, entity_name: str) -> EntityDef:
    """The entity, if the user may create its records (the import creates them as that user)."""
    entity = platform.registry.snapshot().entities.get(entity_name)
    access = platform.records.access(actor)
    if entity is None or not access.allows(entity.name, "view"):
        raise NotFound(_("Unknown module '{name}'", name=entity_name))
    if not access.allows(entity.name, "create"):
        raise PermissionDenied(
            _("You may not create {entity} records, so you cannot import them", entity=entity.label)
        )
    return entity


def fields_for(platform: Any, actor: Actor, entity: EntityDef) -> list[FieldDef]:
    """Fields this user's columns may fill: what they may write on the entity."""
    writable = platform.records.access(actor).mask(entity).writable
    return mappings.importable_fields(entity, writable)


def _is_admin(platform: Any, actor: Actor) -> bool:
    return bool(actor.is_system or platform.records.access(actor).is_admin)


# -- reading ------------------------------------------------------------------------------------


def get(platform: Any, actor: Actor, import_id: int) -> ImportRun:
    """The import, if it is the actor's or the actor is an admin (else NotFound)."""
    with platform.db.read() as connection:
        run = load(connection, import_id)
    if run is None or (run.user_id != actor.user_id and not _is_admin(platform, actor)):
        raise NotFound(_("No such import"))
    return run


def list_imports(
    platform: Any, actor: Actor, *, entity: str | None = None, limit: int = 50
) -> list[ImportRun]:
    """The actor's imports, newest first; administrators see everyone's."""
    query = sa.select(import_run).order_by(import_run.c.id.desc()).limit(limit)
    if not _is_admin(platform, actor):
        query = query.where(import_run.c.user_id == actor.user_id)
    if entity:
        query = query.where(import_run.c.entity == entity)
    with platform.db.read() as connection:
        return [ImportRun.from_row(row._mapping) for row in connection.execute(query)]


def samples(platform: Any, run: ImportRun, count: int = SAMPLES) -> list[list[str]]:
    """The first values of each column (for the mapping screen), one list per column."""
    columns: list[list[str]] = [[] for _header in run.header]
    for taken, row in enumerate(run.table(platform).rows(width=len(run.header))):
        if taken >= count:
            break
        for index, cell in enumerate(row.cells):
            if cell:
                columns[index].append(cell)
    return columns


def issue_rows(
    platform: Any, import_id: int, outcome: str, limit: int = 20
) -> list[dict[str, Any]]:
    """The first rows with this outcome (the result page lists a few; the workbook has all)."""
    with platform.db.read() as connection:
        rows = connection.execute(
            sa.select(import_issue.c.row_no, import_issue.c.record_id, import_issue.c.messages)
            .where(import_issue.c.import_id == import_id, import_issue.c.outcome == outcome)
            .order_by(import_issue.c.row_no)
            .limit(limit)
        )
        return [dict(row._mapping) for row in rows]


# -- writing ------------------------------------------------------------------------------------


def upload(
    platform: Any,
    actor: Actor,
    entity_name: str,
    filename: str,
    source: IO[bytes],
    *,
    policy: str = "skip",
    dry_run: bool = False,
    sheet: str | None = None,
) -> ImportRun:
    """Store the file, read its header and map the columns: a draft the user then confirms."""
    entity = importable_entity(platform, actor, entity_name)
    policy = _policy(policy)
    name = clean_filename(filename)
    if not name:
        raise ValidationFailed([FieldError("file", "required", _("Choose a file to upload"))])
    refuse_suffix(name)
    key = store_upload(platform, name, source)
    try:
        table = TableFile.open(stored_path(platform, key), name)
        if sheet and table.format == "xlsx":
            if sheet not in table.sheet_names():
                raise FileRefused(
                    _("The workbook has no sheet called '{sheet}'", sheet=sheet), field="sheet"
                )
            table = TableFile(table.path, "xlsx", sheet=sheet)
        header = table.header()
        if not any(header):
            raise FileRefused(
                _("The first row must hold the column names; it is empty"), field="file"
            )
        header = [text or f"#{index + 1}" for index, text in enumerate(header)]
        fields_ = fields_for(platform, actor, entity)
        now = clock.now_utc()
        with platform.db.unit_of_work() as connection:
            saved = mappings.load_saved(connection, actor.user_id, entity.name)
            chosen = mappings.auto_map(header, fields_, saved)
            import_id = connection.execute(
                sa.insert(import_run)
                .values(
                    entity=entity.name,
                    user_id=actor.user_id,
                    filename=name,
                    storage_key=key,
                    format=table.format,
                    encoding=table.encoding,
                    delimiter=table.delimiter,
                    sheet=table.sheet,
                    header=header,
                    mapping=chosen,
                    policy=policy,
                    dry_run=dry_run,
                    status="draft",
                    created_at=now,
                    updated_at=now,
                )
                .returning(import_run.c.id)
            ).scalar_one()
            run = load(connection, import_id)
    except BaseException:
        stored_path(platform, key).unlink(missing_ok=True)
        raise
    assert run is not None
    return run


def start(
    platform: Any,
    actor: Actor,
    import_id: int,
    mapping: Sequence[str | None] | None = None,
    *,
    policy: str | None = None,
    dry_run: bool | None = None,
    save_mapping: bool = False,
    queue: bool = True,
) -> ImportRun:
    """Confirm a draft's mapping (and policy) and queue it; `queue=False` leaves running it to
    the caller (the command line runs it in its own process)."""
    run = get(platform, actor, import_id)
    if run.user_id != actor.user_id:
        raise PermissionDenied(_("Only the user who uploaded the file may start its import"))
    if run.status != "draft":
        raise ValidationFailed(
            [FieldError("status", "already_started", _("This import has already been started"))]
        )
    entity = importable_entity(platform, actor, run.entity)
    chosen = mappings.check_mapping(
        run.header,
        run.mapping if mapping is None else list(mapping),
        fields_for(platform, actor, entity),
    )
    values: dict[str, Any] = {"mapping": chosen, "status": "queued", "updated_at": clock.now_utc()}
    if policy is not None:
        values["policy"] = _policy(policy)
    if dry_run is not None:
        values["dry_run"] = bool(dry_run)
    with platform.db.unit_of_work() as connection:
        changed = connection.execute(
            sa.update(import_run)
            .where(import_run.c.id == run.id, import_run.c.status == "draft")
            .values(**values)
        ).rowcount
        if not changed:
            raise ValidationFailed(
                [FieldError("status", "already_started", _("This import has already been started"))]
            )
        if save_mapping and actor.user_id is not None:
            mappings.save(connection, actor.user_id, run.entity, run.header, chosen)
        if queue:
            enqueue(platform, run.id, connection)
        started = load(connection, run.id)
    assert started is not None
    return started


def enqueue(platform: Any, import_id: int, connection: Connection, *, key: str | None = "") -> None:
    """Queue the import's job in the caller's transaction (the first run has a fixed key, so
    it is queued once; continuations and resumes name their own)."""
    platform.jobs.enqueue(
        JOB,
        {"import_id": import_id},
        key=f"import:{import_id}" if key == "" else key,
        connection=connection,
    )


def repeat_for_real(platform: Any, actor: Actor, import_id: int) -> ImportRun:
    """After a dry run: the same file, mapping and policy, this time written."""
    run = get(platform, actor, import_id)
    if run.user_id != actor.user_id:
        raise PermissionDenied(_("Only the user who uploaded the file may start its import"))
    if not run.dry_run or run.status != "done" or run.storage_key is None:
        raise ValidationFailed(
            [
                FieldError(
                    "status",
                    "not_repeatable",
                    _("Only a finished dry run whose file is still kept can be run for real"),
                )
            ]
        )
    importable_entity(platform, actor, run.entity)
    now = clock.now_utc()
    with platform.db.unit_of_work() as connection:
        new_id = connection.execute(
            sa.insert(import_run)
            .values(
                entity=run.entity,
                user_id=run.user_id,
                filename=run.filename,
                storage_key=run.storage_key,
                format=run.format,
                encoding=run.encoding,
                delimiter=run.delimiter,
                sheet=run.sheet,
                header=run.header,
                mapping=run.mapping,
                policy=run.policy,
                dry_run=False,
                status="queued",
                source_id=run.id,
                created_at=now,
                updated_at=now,
            )
            .returning(import_run.c.id)
        ).scalar_one()
        # The real run owns the file from now on; the dry run keeps its counts and issues.
        connection.execute(
            sa.update(import_run).where(import_run.c.id == run.id).values(storage_key=None)
        )
        enqueue(platform, new_id, connection)
        created = load(connection, new_id)
    assert created is not None
    return created


def cancel(platform: Any, actor: Actor, import_id: int) -> ImportRun:
    """Stop between two chunks: rows already imported stay. A draft or queued import stops
    at once; a running one when its current chunk commits."""
    run = get(platform, actor, import_id)
    if run.finished:
        return run
    now = clock.now_utc()
    with platform.db.unit_of_work() as connection:
        if run.status in ("draft", "queued"):
            connection.execute(
                sa.update(import_run)
                .where(import_run.c.id == run.id, import_run.c.status.in_(("draft", "queued")))
                .values(status="cancelled", cancel_requested=True, finished_at=now, updated_at=now)
            )
            platform.jobs.cancel_queued(connection, JOB, {"import_id": run.id})
        connection.execute(
            sa.update(import_run)
            .where(import_run.c.id == run.id)
            .values(cancel_requested=True, updated_at=now)
        )
        current = load(connection, run.id)
    assert current is not None
    if current.status == "cancelled":
        delete_file(platform, run.id)
    return current


def resume(platform: Any, actor: Actor, import_id: int) -> ImportRun:
    """Queue a stopped (failed) or stalled import again: it continues from its next row (a
    second run of one import cannot write a chunk twice: see process._store_progress)."""
    run = get(platform, actor, import_id)
    if not run.resumable:
        raise ValidationFailed(
            [
                FieldError(
                    "status",
                    "not_resumable",
                    _("Only an import that stopped with its file still kept can be resumed"),
                )
            ]
        )
    importable_entity(platform, actor, run.entity)
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(import_run)
            .where(import_run.c.id == run.id, import_run.c.status.in_(("failed", *ACTIVE)))
            .values(
                status=sa.case((import_run.c.status == "running", "running"), else_="queued"),
                error=None,
                finished_at=None,
                updated_at=clock.now_utc(),
            )
        )
        enqueue(platform, run.id, connection, key=f"import:{run.id}:resume:{secrets.token_hex(4)}")
        current = load(connection, run.id)
    assert current is not None
    return current


def _policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValidationFailed(
            [
                FieldError(
                    "policy",
                    "bad_choice",
                    _("Choose what to do with duplicates: skip, update or create"),
                )
            ]
        )
    return policy
