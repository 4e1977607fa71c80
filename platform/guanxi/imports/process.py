"""Running an import: the file read from `next_row` in chunks; each chunk converted, checked
for duplicates per the policy, created through `records.create_many`, and its progress
(next_row, counts, the rows' issues) written in the SAME transaction as its records — a
crash loses a whole chunk or none of it, so a resumed run never creates a row twice.

The job (guanxi.defaults.imports) and `guanxi import` both call `run_import`.
"""

from __future__ import annotations

import json
import logging
import time as timer
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from guanxi import clock
from guanxi.actor import Actor
from guanxi.auth import identity
from guanxi.errors import ConflictError, FieldError, GuanxiError, NotFound
from guanxi.i18n import Message, _
from guanxi.imports import read_ahead, service
from guanxi.imports.convert import CellProblem, Column, Converted, RowConverter
from guanxi.imports.files import Row
from guanxi.imports.service import ImportRun
from guanxi.meta.entity import EntityDef
from guanxi.store.system_tables import import_issue, import_run

log = logging.getLogger(__name__)

CHUNK_ROWS = 500
SOURCE = "import"  # find_duplicate's `source` for imported rows
Progress = Callable[[ImportRun], None]


class ImportInterrupted(Exception):
    """The import's row changed under this run (another worker took it over, or it was
    stopped): the chunk is rolled back and this run ends quietly."""


@dataclass
class ChunkTally:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    issues: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Context:
    platform: Any
    run: ImportRun
    actor: Actor
    entity: EntityDef
    columns: list[Column]
    converter: RowConverter
    reason: str


def run_import(
    platform: Any,
    import_id: int,
    *,
    seconds: float | None = None,
    progress: Progress | None = None,
) -> ImportRun:
    """Process chunks until the file ends, a cancel is seen, or `seconds` have passed (the
    job then queues its continuation). Returns the import as it stands."""
    run = _claim(platform, import_id)
    if run is None:
        raise NotFound(_("No such import"))
    if run.status != "running":
        return run
    try:
        context = _context(platform, run)
    except GuanxiError as error:  # kept in both languages: the progress page shows either
        return _fail(platform, run.id, json.dumps(error.message.all_locales(), ensure_ascii=False))
    if run.total_rows is None:
        run = _set_total(platform, run)
    if progress:
        progress(run)
    rows = read_ahead.rows(run.table(platform), run.next_row, len(run.header), run.total_rows)
    with closing(rows):  # stops a reader process when the run ends early
        return _run_chunks(context, rows, seconds, progress)


def _run_chunks(
    context: Context, rows: Iterator[Row], seconds: float | None, progress: Progress | None
) -> ImportRun:
    platform, run = context.platform, context.run
    began = timer.monotonic()
    carried: list[Row] = []  # rows a chunk handed on to the next (see _process_chunk)
    done = 0
    while chunk := carried + list(islice(rows, CHUNK_ROWS - len(carried))):
        if done and seconds is not None and timer.monotonic() - began >= seconds:
            return _current(platform, run.id)  # the rest in the next slice
        current = _current(platform, run.id)
        if current.cancel_requested:
            return _finish(platform, current, "cancelled")
        if current.status != "running":
            return current
        context.run = current
        try:
            carried = _process_chunk(context, chunk)
        except ImportInterrupted:
            log.info("import %s moved on without this run", run.id)
            return _current(platform, run.id)
        done += 1
        if progress:
            progress(_current(platform, run.id))
    current = _current(platform, run.id)
    if current.cancel_requested:
        return _finish(platform, current, "cancelled")
    return _finish(platform, current, "done")


# -- state changes ------------------------------------------------------------------------------


def _current(platform: Any, import_id: int) -> ImportRun:
    with platform.db.read() as connection:
        run = service.load(connection, import_id)
    if run is None:
        raise NotFound(_("No such import"))
    return run


def _claim(platform: Any, import_id: int) -> ImportRun | None:
    """queued -> running (a resumed run finds it running already)."""
    now = clock.now_utc()
    with platform.db.unit_of_work() as connection:
        run = service.load(connection, import_id)
        if run is None:
            return None
        if run.status == "queued":
            if run.cancel_requested:
                connection.execute(
                    sa.update(import_run)
                    .where(import_run.c.id == import_id)
                    .values(status="cancelled", finished_at=now, updated_at=now)
                )
            else:
                connection.execute(
                    sa.update(import_run)
                    .where(import_run.c.id == import_id)
                    .values(status="running", started_at=run.started_at or now, updated_at=now)
                )
        return service.load(connection, import_id)


def _set_total(platform: Any, run: ImportRun) -> ImportRun:
    try:
        total = run.table(platform).estimate_rows()
    except (OSError, GuanxiError):
        total = None
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(import_run).where(import_run.c.id == run.id).values(total_rows=total)
        )
        updated = service.load(connection, run.id)
    assert updated is not None
    return updated


def _finish(platform: Any, run: ImportRun, status: str) -> ImportRun:
    """done or cancelled. A done dry run keeps its file for "run for real"; every other
    finished import's upload is deleted (its issues hold what the error workbook needs)."""
    now = clock.now_utc()
    values: dict[str, Any] = {"status": status, "finished_at": now, "updated_at": now}
    if status == "done":
        values["total_rows"] = run.processed
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(import_run)
            .where(import_run.c.id == run.id, import_run.c.status == "running")
            .values(**values)
        )
    if not (status == "done" and run.dry_run):
        service.delete_file(platform, run.id)
    return _current(platform, run.id)


def _fail(platform: Any, import_id: int, error: str) -> ImportRun:
    """The run cannot go on (its user lost the right to import, the file is unreadable);
    the file stays, so it can be resumed once the cause is fixed."""
    now = clock.now_utc()
    with platform.db.unit_of_work() as connection:
        connection.execute(
            sa.update(import_run)
            .where(import_run.c.id == import_id, import_run.c.status.in_(("queued", "running")))
            .values(status="failed", error=error[:4000], finished_at=now, updated_at=now)
        )
    return _current(platform, import_id)


def fail(platform: Any, import_id: int, error: str) -> ImportRun:
    """For the job runner: its last attempt failed."""
    return _fail(platform, import_id, error)


# -- one chunk ----------------------------------------------------------------------------------


def _context(platform: Any, run: ImportRun) -> Context:
    with platform.db.read() as connection:
        actor = identity.load_actor(connection, run.user_id)
    if actor is None:
        raise GuanxiError(_("The user who started this import is no longer active"))
    entity = service.importable_entity(platform, actor, run.entity)
    writable = {f.key: f for f in service.fields_for(platform, actor, entity)}
    columns = [
        Column(index, header, writable[key])
        for index, (header, key) in enumerate(zip(run.header, run.mapping or [], strict=False))
        if key and key in writable
    ]
    reason = _("Imported from {file} (import {id})", file=run.filename, id=run.id)
    return Context(
        platform,
        run,
        actor,
        entity,
        columns,
        RowConverter(platform, actor, entity, columns),
        reason.render(actor.locale),
    )


def _process_chunk(context: Context, chunk: list[Row]) -> list[Row]:
    """Import the chunk's rows up to the first one repeating a duplicate key of an earlier row
    of the same chunk (the rows of one create_many cannot see each other); that row and the
    rest are returned, to start the next chunk once the earlier row is committed."""
    platform, run = context.platform, context.run
    converted_rows = context.converter.convert(chunk)
    cut = _first_repeat(context, converted_rows) if run.policy != "create" else None
    carried = chunk[cut:] if cut else []
    converted_rows = converted_rows[:cut] if cut else converted_rows
    start = run.next_row
    end = carried[0].row_no if carried else chunk[-1].row_no + 1
    tally = ChunkTally()
    creating: list[Converted] = []
    with _prefetched(context, converted_rows):
        for converted in converted_rows:
            if converted.problems:
                _failed(context, tally, converted.row, converted.problems)
                continue
            if run.policy != "create" and _handled_duplicate(context, tally, converted):
                continue
            creating.append(converted)

        def write_progress(connection: Connection, outcomes: list[Any]) -> None:
            for outcome in outcomes:
                if outcome.errors:
                    row = creating[outcome.index].row
                    _failed(context, tally, row, _problems(context, outcome.errors))
                else:
                    tally.created += 1
            _store_progress(connection, run, start, end, tally)

        if creating:
            _create_many(context, creating, write_progress)
        else:
            with platform.db.unit_of_work() as connection:
                write_progress(connection, [])
    return carried


def _prefetched(context: Context, converted_rows: list[Converted]) -> AbstractContextManager:
    """The chunk's duplicate keys read in one query per rule (guanxi.defaults.duplicates),
    so neither the policy's look-up nor the pipeline's check queries per row."""
    book = getattr(context.platform, "duplicates", None)
    if book is None:
        return nullcontext()
    records = [converted.parsed for converted in converted_rows if not converted.problems]
    return book.prefetched(context.entity.name, records)


def _first_repeat(context: Context, converted_rows: list[Converted]) -> int | None:
    """The index of the first row whose duplicate-rule key an earlier row of the chunk has.
    Keys come from the duplicate rules (guanxi.defaults.duplicates) when they are loaded."""
    book = getattr(context.platform, "duplicates", None)
    rules = book.covering(context.entity.name) if book is not None else []
    if not rules:
        return None
    from guanxi.defaults.duplicates.keys import match_text  # the rules' own normalization

    entity, types = context.entity, context.platform.types
    seen: set[tuple[int, str]] = set()
    for index, converted in enumerate(converted_rows):
        if converted.problems:
            continue
        keys = set()
        for rule in rules:
            fields = rule.fields_for(entity.name) or ()
            text = match_text(types, entity, fields, rule.methods, converted.parsed)
            if text is not None:
                keys.add((rule.id, text))
        if keys & seen:
            return index
        seen |= keys
    return None


def _create_many(
    context: Context, creating: list[Converted], within: Callable[[Connection, list[Any]], None]
) -> None:
    records = context.platform.records
    rows = [converted.data for converted in creating]
    records.create_many(
        context.actor,
        context.entity.name,
        rows,
        dry_run=context.run.dry_run,
        within=within,
        confirm_duplicates=context.run.policy == "create",
    )


def _handled_duplicate(context: Context, tally: ChunkTally, converted: Converted) -> bool:
    """skip: the row is recorded against the existing record; update: the existing record
    gets the row's filled-in values (an update that changes nothing writes nothing, so a
    resumed chunk updates idempotently). False when the row duplicates nothing."""
    platform, run = context.platform, context.run
    existing = platform.pm.hook.find_duplicate(
        platform=platform,
        entity=context.entity,
        record=dict(converted.parsed),
        actor=context.actor,
        source=SOURCE,
    )
    if not existing:
        return False
    existing = int(existing)
    if run.policy == "skip":
        tally.skipped += 1
        tally.issues.append(_issue(converted.row.row_no, "skipped", existing))
        return True
    if not run.dry_run:
        try:
            _update(context, existing, converted.data)
        except NotFound:  # outside the importer's edit scope: say so, show nothing of it
            problem = CellProblem(
                "",
                None,
                "duplicate_not_editable",
                _("The row duplicates an existing record you may not edit"),
            )
            _failed(context, tally, converted.row, [problem], existing)
            return True
        except GuanxiError as error:
            problems = _problems(context, error.errors)
            _failed(context, tally, converted.row, problems, existing)
            return True
    tally.updated += 1
    tally.issues.append(_issue(converted.row.row_no, "updated", existing))
    return True


def _update(context: Context, record_id: int, data: dict[str, Any]) -> None:
    records = context.platform.records
    for attempt in range(3):  # someone saving the record at the same moment: read again
        current = records.get(
            context.actor, context.entity.name, record_id, action="edit", log_view=False
        )
        try:
            records.update(
                context.actor,
                context.entity.name,
                record_id,
                data,
                version=current["version"],
                reason=context.reason,
            )
            return
        except ConflictError:
            if attempt == 2:
                raise


def _store_progress(
    connection: Connection, run: ImportRun, start: int, end: int, tally: ChunkTally
) -> None:
    """Advance next_row and the counts, only from where this run started the chunk: if
    another run got there first, this chunk's writes are rolled back with ImportInterrupted."""
    moved = connection.execute(
        sa.update(import_run)
        .where(
            import_run.c.id == run.id,
            import_run.c.next_row == start,
            import_run.c.status == "running",
        )
        .values(
            next_row=end,
            created=import_run.c.created + tally.created,
            updated=import_run.c.updated + tally.updated,
            skipped=import_run.c.skipped + tally.skipped,
            failed=import_run.c.failed + tally.failed,
            updated_at=clock.now_utc(),
        )
    ).rowcount
    if moved != 1:
        raise ImportInterrupted(run.id)
    if tally.issues:
        connection.execute(
            sa.insert(import_issue), [{**issue, "import_id": run.id} for issue in tally.issues]
        )


# -- issues -------------------------------------------------------------------------------------


def _issue(row_no: int, outcome: str, record_id: int | None = None, **values: Any) -> dict:
    return {
        "row_no": row_no,
        "outcome": outcome,
        "record_id": record_id,
        "messages": None,
        "raw": None,
        **values,
    }


def _failed(
    context: Context,
    tally: ChunkTally,
    row: Row,
    problems: list[CellProblem],
    record_id: int | None = None,
) -> None:
    tally.failed += 1
    sealed = context.platform.cipher.seal(json.dumps(row.cells, ensure_ascii=False))
    tally.issues.append(
        _issue(
            row.row_no, "failed", record_id, messages=[p.to_json() for p in problems], raw=sealed
        )
    )


def _problems(context: Context, errors: list[FieldError]) -> list[CellProblem]:
    """The pipeline's field errors, each named by its column (or by the field's label when
    no column fills it, e.g. a required field the file lacks)."""
    headers = {column.field.key: column.header for column in context.columns}
    problems = []
    for error in errors:
        if error.field in headers:
            column = headers[error.field]
        elif error.field and context.entity.get_field(error.field):
            column = context.entity.field(error.field).title(context.actor.locale)
        else:
            column = ""
        message = error.message if isinstance(error.message, Message) else _(str(error.message))
        problems.append(CellProblem(column, error.field, error.code, message))
    return problems
